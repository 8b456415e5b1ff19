package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync/atomic"
	"time"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/identity"
)

// resolverRef is the store's resolver. The hub swaps it when it adopts a
// person model it estimated (UseModel); every call reads the current one.
// Apply and Rescore's chunks hold applyMu, and UseModel swaps under it, so
// one Apply scores all its pairs under one model.
type resolverRef struct {
	base identity.Config // as configured: the defaults or the params file
	p    atomic.Pointer[identity.Resolver]
}

func newResolverRef(cfg identity.Config) *resolverRef {
	r := &resolverRef{base: cfg}
	r.p.Store(identity.New(cfg))
	return r
}

func (r *resolverRef) get() *identity.Resolver { return r.p.Load() }

func (r *resolverRef) MatchKeys(rec identity.Record) []string { return r.get().MatchKeys(rec) }
func (r *resolverRef) Explain(a, b identity.Record) (hub.MatchEvidence, bool) {
	return r.get().Explain(a, b)
}
func (r *resolverRef) Config() identity.Config { return r.get().Config() }
func (r *resolverRef) Fingerprint() string     { return r.get().Fingerprint() }
func (r *resolverRef) ModelSource() string     { return r.get().ModelSource() }
func (r *resolverRef) ResolveLinks(recs []identity.Record, rules []identity.Rule, links []identity.Link) identity.Result {
	return r.get().ResolveLinks(recs, rules, links)
}
func (r *resolverRef) Survive(recs []identity.Record) (hub.Customer, identity.Lineage) {
	return r.get().Survive(recs)
}
func (r *resolverRef) MaxBlock() int { return r.get().MaxBlock() }
func (r *resolverRef) ScorePair(a, b identity.Record) (identity.Link, bool) {
	return r.get().ScorePair(a, b)
}

// withPeople is the configured resolver with p as its person model; the
// thresholds stay the configured ones (a stored model keeps those it was
// estimated under, which the config may have changed since).
func (r *resolverRef) withPeople(p *identity.Params) *identity.Resolver {
	cfg := r.base
	if cfg.Fuzzy == nil {
		cfg.Fuzzy = identity.DefaultFuzzy()
	}
	f := *cfg.Fuzzy
	q := *p
	if f.People != nil {
		q.AutoMerge, q.Review = f.People.AutoMerge, f.People.Review
	}
	f.People = &q
	cfg.Fuzzy = &f
	return identity.New(cfg)
}

// Model is one version of the person model the hub estimated from the
// store's records (or `crmhub identity train` stored).
type Model struct {
	Version   int
	CreatedAt time.Time
	// Records is how many person records it was estimated on; Digest
	// identifies that record set (identity.ModelDigest).
	Records     int
	Digest      string
	Fingerprint string // the resolver's with this model (identity.Resolver.Fingerprint)
	Origin      string // "auto" or "train"
	Params      *identity.Params
}

// LatestModel is the newest stored person model, nil when there is none.
func (s *Store) LatestModel(ctx context.Context) (*Model, error) {
	var (
		m      Model
		at     int64
		params string
	)
	err := s.rdb.QueryRowContext(ctx, `SELECT version, created_at, records, digest, params, fingerprint, origin
FROM identity_models ORDER BY version DESC LIMIT 1`).Scan(&m.Version, &at, &m.Records, &m.Digest, &params, &m.Fingerprint, &m.Origin)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("latest identity model: %w", infra(err))
	}
	m.CreatedAt = time.Unix(0, at).UTC()
	if m.Params, err = storedParams(m.Version, params); err != nil {
		return nil, err
	}
	return &m, nil
}

// storedParams parses the params column of an identity_models row.
func storedParams(version int, params string) (*identity.Params, error) {
	p := identity.DefaultParams()
	// A stored model says every level and name frequency it knows.
	p.Levels, p.TF = nil, nil
	if err := json.Unmarshal([]byte(params), p); err != nil {
		return nil, fmt.Errorf("identity model version %d: %w", version, err)
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("identity model version %d: %w", version, err)
	}
	return p, nil
}

// SaveModel stores m as the next version and returns it with its version
// and creation time set.
func (s *Store) SaveModel(ctx context.Context, m Model) (Model, error) {
	data, err := json.Marshal(m.Params)
	if err != nil {
		return m, fmt.Errorf("save identity model: %w", err)
	}
	m.CreatedAt = time.Now().UTC()
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) + 1 FROM identity_models`).Scan(&m.Version); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO identity_models (version, created_at, records, digest, params, fingerprint, origin)
VALUES (?, ?, ?, ?, ?, ?, ?)`), m.Version, m.CreatedAt.UnixNano(), m.Records, m.Digest, string(data), m.Fingerprint, m.Origin)
		return err
	})
	if err != nil {
		return m, fmt.Errorf("save identity model: %w", infra(err))
	}
	return m, nil
}

// UseModel makes p the person model of every Apply from now on (nil: the
// configured one). It does not rescore: the caller asks ModelChanged and
// runs Rescore, as at start. It waits for a running Apply to finish.
func (s *Store) UseModel(p *identity.Params) {
	r := identity.New(s.res.base)
	if p != nil {
		r = s.res.withPeople(p)
	}
	s.applyMu.Lock()
	s.res.p.Store(r)
	s.applyMu.Unlock()
}

// Fingerprint is the fingerprint of the resolver the store uses now.
func (s *Store) Fingerprint() string { return s.res.Fingerprint() }

// EstimateOptions configure Reestimate.
type EstimateOptions struct {
	// MinRecords: with fewer person records nothing is estimated and the
	// configured model stays (default identity.DefaultEstimateMinRecords;
	// never below 100).
	MinRecords int
	// Sample caps the customer records read: those with the smallest
	// identity.KeyHash of their key (default 50,000), so the sample is a
	// function of the record set and a new record changes it by one.
	Sample int
	// Progress hears each committed rescore chunk.
	Progress func(pass string, done, total int)
}

// EstimateResult says what Reestimate did.
type EstimateResult struct {
	// Persons is how many person records the sample held.
	Persons int
	// Model is the model in use afterwards; nil when none was estimated
	// (too few records).
	Model *Model
	// Estimated: a new version was estimated and stored; false when the
	// latest stored one was estimated on the same record set.
	Estimated bool
	// Rescored: the links were scored again under the model, and these
	// are the re-clustering's figures.
	Rescored bool
	Rescore  hub.ApplyStats
	// Took is where the time went.
	Took EstimateTimes
}

// EstimateTimes is how long each step of Reestimate took, and how many
// customer records the rescore's second pass re-clustered of those its
// first pass relinked.
type EstimateTimes struct {
	Estimate, Links, Customers time.Duration
	Relinked, Reclustered      int
}

// Reestimate brings the person model up to date with the store's records:
// it samples them (EstimateOptions.Sample), and unless the latest stored
// model was estimated on the same record set, estimates a model from them
// (identity.Resolver.AutoEstimate: m from the configured model, u, the
// prior, name frequencies and twin share from the records) and stores
// it as a new version; then it uses that model and, when its fingerprint
// differs from the one the links were scored with, rescores every link
// and re-clusters every customer (Rescore). Estimating reads through the
// read pool and holds no lock: Apply goes on meanwhile, and the next call
// sees what it wrote. With the same records, in whatever order they
// arrived, the model, and after the rescore the golden customers, are the
// same.
func (s *Store) Reestimate(ctx context.Context, opt EstimateOptions) (EstimateResult, error) {
	var res EstimateResult
	start := time.Now()
	if opt.MinRecords <= 0 {
		opt.MinRecords = identity.DefaultEstimateMinRecords
	}
	if opt.Sample <= 0 {
		opt.Sample = 50000
	}
	people, err := s.modelSample(ctx, opt.Sample)
	if err != nil {
		return res, err
	}
	res.Persons = len(people)
	if len(people) < max(opt.MinRecords, 100) {
		return res, nil
	}
	digest := identity.ModelDigest(people)
	latest, err := s.LatestModel(ctx)
	if err != nil {
		return res, err
	}
	m := latest
	// A model of the same records is estimated again where it lacks a
	// level the configured model has: it was estimated before the level
	// existed (an older matcher revision), and would weigh it 0.
	if latest == nil || latest.Digest != digest || latest.Params.LacksLevelsOf(peopleOf(s.res.base)) {
		base := s.res.withPeople(peopleOf(s.res.base))
		p, _, err := base.AutoEstimate(people, peopleOf(s.res.base))
		if errors.Is(err, identity.ErrTooFewRecords) {
			// Enough records but no pairs to learn from (no two share a
			// blocking key): the configured model stays, as below the
			// minimum.
			return res, nil
		}
		if err != nil {
			return res, fmt.Errorf("estimate the person model from %d records: %w", len(people), err)
		}
		saved, err := s.SaveModel(ctx, Model{Records: len(people), Digest: digest, Origin: "auto", Params: p,
			Fingerprint: s.res.withPeople(p).Fingerprint()})
		if err != nil {
			return res, err
		}
		m, res.Estimated = &saved, true
	}
	res.Model = m
	res.Took.Estimate = time.Since(start)
	if s.res.withPeople(m.Params).Fingerprint() != s.res.Fingerprint() {
		s.UseModel(m.Params)
	}
	changed, err := s.ModelChanged(ctx)
	if err != nil {
		return res, err
	}
	if changed {
		passStart := time.Now()
		progress := func(pass string, done, total int) {
			if done == total {
				switch pass {
				case "links":
					res.Took.Links, res.Took.Relinked = time.Since(passStart), total
				case "customers":
					res.Took.Customers, res.Took.Reclustered = time.Since(passStart), total
				}
				passStart = time.Now()
			}
			if opt.Progress != nil {
				opt.Progress(pass, done, total)
			}
		}
		if res.Rescore, err = s.Rescore(ctx, progress); err != nil {
			return res, err
		}
		res.Rescored = true
	}
	return res, nil
}

// peopleOf is the configured person model (the defaults unless a params
// file was named), the start of every estimate.
func peopleOf(cfg identity.Config) *identity.Params {
	if cfg.Fuzzy == nil || cfg.Fuzzy.People == nil {
		return identity.DefaultParams()
	}
	return cfg.Fuzzy.People
}

// modelSample reads the live person records among the n customer records
// of smallest identity.KeyHash, sorted by key.
func (s *Store) modelSample(ctx context.Context, n int) ([]identity.Record, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT rkey FROM records WHERE entity = 'customer' AND deleted = 0 AND data IS NOT NULL`)
	if err != nil {
		return nil, fmt.Errorf("model sample: %w", infra(err))
	}
	type kh struct {
		key string
		h   uint64
	}
	var keys []kh
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			rows.Close()
			return nil, fmt.Errorf("model sample: %w", err)
		}
		keys = append(keys, kh{k, identity.KeyHash(k)})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("model sample: %w", infra(err))
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].h < keys[j].h || keys[i].h == keys[j].h && keys[i].key < keys[j].key
	})
	keys = keys[:min(n, len(keys))]
	want := make([]string, len(keys))
	for i, k := range keys {
		want[i] = k.key
	}
	byKey, err := s.recordsByKey(ctx, want)
	if err != nil {
		return nil, fmt.Errorf("model sample: %w", err)
	}
	out := make([]identity.Record, 0, len(byKey))
	for _, r := range byKey {
		if r.Customer.Kind != "organization" {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out, nil
}

// WriteEpoch is the store's write epoch: it grows with every Apply of any
// hub instance sharing the database, so a reader that sees it unchanged
// for a while knows nothing was applied meanwhile.
func (s *Store) WriteEpoch(ctx context.Context) (int64, error) {
	var e int64
	if err := s.rdb.QueryRowContext(ctx, `SELECT epoch FROM write_epoch WHERE id = 1`).Scan(&e); err != nil {
		return 0, fmt.Errorf("write epoch: %w", infra(err))
	}
	return e, nil
}

func (r *resolverRef) Recluster(ctx context.Context, st identity.ResolveStore, records, goldens []string, maxComponent int) (identity.Reclustered, error) {
	return r.get().Recluster(ctx, st, records, goldens, maxComponent)
}

func (r *resolverRef) Relink(ctx context.Context, st identity.LinkStore, rkeys []string, keysOf map[string][]string) (map[string]int, error) {
	return r.get().Relink(ctx, st, rkeys, keysOf)
}
