package rest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/crmhub/crmhub/connectors/internal/apiclient"
	"github.com/crmhub/crmhub/connectors/internal/statefile"
	"github.com/crmhub/crmhub/plugins/sdk"
)

// ErrHTTP is wrapped by errors for responses that retrying cannot fix (a
// 4xx other than 429, or retries exhausted).
var ErrHTTP = apiclient.ErrHTTP

// Source pulls the configured entities. Read runs on one goroutine; Ack
// only removes state files (state.go) an acknowledged position superseded.
type Source struct {
	sdk.UnimplementedSource
	cfg    Config
	client *apiclient.Client
	log    *slog.Logger
	// backoff is the first retry delay; tests shorten it.
	backoff time.Duration

	entities []*entity
	next     int
	pos      position
	// pending holds the records of the last page fetched that Read has
	// not handed out yet (it hands out at most max).
	pending []sdk.Record
	acks    stateAcks
}

var _ sdk.Source = (*Source)(nil)

type position struct {
	Entities map[string]entityPos `json:"entities"`
}

type entityPos struct {
	// Since is the newest updated_at of the last complete pass.
	Since time.Time `json:"since,omitzero"`
	// Max is the newest updated_at of the running pass so far.
	Max time.Time `json:"max,omitzero"`
	// Full says a full pass has completed.
	Full bool `json:"full,omitempty"`
	// Resume is where the running pass stands after this record, so a
	// restart goes on there instead of reading the pass again; nil
	// between passes, or when the page's URL holds a secret (a position
	// is stored in the hub, and secrets never are).
	Resume *resumePoint `json:"resume,omitempty"`
	// State is the version of the entity's saved fingerprints (under
	// state_dir) that the records up to here are covered by, Log the
	// length of its log of changes they are also covered by; 0: none.
	State uint32 `json:"state,omitempty"`
	Log   int64  `json:"log,omitempty"`
}

// resumePoint is a page of a running pass and how many of its items were
// handed out.
type resumePoint struct {
	URL    string `json:"url"`
	Skip   int    `json:"skip,omitempty"`
	Page   int    `json:"page,omitempty"`
	Offset int    `json:"offset,omitempty"`
}

type entity struct {
	cfg     Entity
	inPass  bool
	nextURL string // next page; empty when the pass is done
	page    int
	offset  int
	skip    int // items of the next page handed out before a restart
	// seen holds the fingerprint (updated_at or content hash) of records
	// emitted, so overlapping passes do not emit an unchanged record
	// again, and the pass that last returned each (deletes: missing).
	seen map[string]seenEntry
	gen  uint32 // the running pass
	// fromStart says the running pass began at the first page in this
	// process: only such a pass has seen every record there is.
	fromStart bool
	// returned counts the records with an id the running pass returned.
	returned int
	state    entityState
}

type seenEntry struct {
	fp  uint64 // updated_at as Unix nanoseconds, or the payload's FNV-1a
	gen uint32
}

// Configure checks the settings without touching the network.
func (s *Source) Configure(_ context.Context, cfg sdk.Config) error {
	c, err := parseConfig(cfg)
	if err != nil {
		return err
	}
	s.cfg = c
	s.log = slog.Default().With("connector", "rest")
	if s.backoff == 0 {
		s.backoff = 500 * time.Millisecond
	}
	return nil
}

// Open restores the per-entity since values.
func (s *Source) Open(ctx context.Context, pos sdk.Position) error {
	s.pos = position{Entities: map[string]entityPos{}}
	if len(pos) > 0 {
		if err := json.Unmarshal(pos, &s.pos); err != nil {
			return fmt.Errorf("rest: decode position: %w", err)
		}
		if s.pos.Entities == nil {
			s.pos.Entities = map[string]entityPos{}
		}
	}
	s.client = s.cfg.newClient(s.backoff, s.log)
	for _, e := range s.entities {
		e.state.closeLog() // opened again: the previous run's logs
	}
	s.entities = nil
	s.pending = nil
	for _, e := range s.cfg.Entities {
		// gen 1: a pass resumed from the position is not the one the
		// loaded fingerprints (gen 0) come from.
		ent := &entity{cfg: e, seen: map[string]seenEntry{}, gen: 1}
		if r := s.pos.Entities[e.Name].Resume; r != nil && r.URL != "" {
			ent.inPass, ent.nextURL, ent.skip, ent.page, ent.offset = true, r.URL, r.Skip, r.Page, r.Offset
		}
		if err := s.openState(ent); err != nil {
			return err
		}
		s.entities = append(s.entities, ent)
	}
	return nil
}

// Read returns at most max new records: the rest of the page last fetched,
// else of the next page that has any. A pass over an entity's pages ends at
// its last page; when every entity finished a pass without new records,
// Read returns an empty batch and the next Read starts new passes.
func (s *Source) Read(ctx context.Context, max int) ([]sdk.Record, error) {
	if s.client == nil {
		return nil, errors.New("rest: Read before Open")
	}
	if len(s.pending) == 0 {
		recs, err := s.readPage(ctx)
		if err != nil {
			return nil, err
		}
		s.pending = recs
	}
	n := min(max, len(s.pending))
	if n <= 0 {
		n = min(1, len(s.pending))
	}
	out := s.pending[:n:n]
	s.pending = s.pending[n:]
	return out, nil
}

// readPage returns the new records of the next page that has any.
func (s *Source) readPage(ctx context.Context) ([]sdk.Record, error) {
	idle := 0
	for idle < len(s.entities) {
		e := s.entities[s.next]
		if !e.inPass {
			s.startPass(e)
		}
		recs, err := s.fetchPage(ctx, e)
		if err != nil {
			// The pass restarts at the next Read; records already handed
			// out are deduplicated by seen.
			e.inPass = false
			return nil, err
		}
		if !e.inPass {
			s.next = (s.next + 1) % len(s.entities)
			if len(recs) == 0 {
				idle++
			}
		}
		if len(recs) > 0 {
			return recs, nil
		}
	}
	return nil, nil
}

func (s *Source) startPass(e *entity) {
	e.inPass, e.fromStart, e.returned = true, true, 0
	e.gen++
	e.page, e.offset = 1, 0
	ref, _ := url.Parse(e.cfg.Path)
	full := s.cfg.base.JoinPath(ref.Path)
	full.RawQuery = ref.RawQuery
	q := full.Query()
	p := e.cfg.Pagination
	if p.SizeParam != "" && p.Size > 0 {
		q.Set(p.SizeParam, strconv.Itoa(p.Size))
	}
	switch p.Type {
	case "page":
		q.Set(p.Param, "1")
	case "offset":
		q.Set(p.Param, "0")
	}
	ep := s.pos.Entities[e.cfg.Name]
	if e.cfg.SinceParam != "" && !ep.Since.IsZero() {
		q.Set(e.cfg.SinceParam, ep.Since.Add(-time.Duration(*e.cfg.Overlap)).UTC().Format(time.RFC3339))
	}
	full.RawQuery = q.Encode()
	e.nextURL = full.String()
	// Forget fingerprints older than the window this pass can return
	// again: only when the API filters by since; without since_param every
	// pass returns every record, and a forgotten one would be re-emitted.
	if !ep.Since.IsZero() && e.cfg.UpdatedAt != "" && e.cfg.SinceParam != "" {
		cut := ep.Since.Add(-2 * time.Duration(*e.cfg.Overlap)).UnixNano()
		for id, se := range e.seen {
			if int64(se.fp) < cut {
				delete(e.seen, id)
			}
		}
	}
}

// fetchPage gets e.nextURL, advances the pagination and returns the records
// not emitted before. At the end of the pass it sets e.inPass false and
// moves the entity's since forward.
func (s *Source) fetchPage(ctx context.Context, e *entity) ([]sdk.Record, error) {
	pageURL := e.nextURL
	body, hdr, err := s.get(ctx, pageURL)
	if err != nil {
		return nil, err
	}
	name := e.cfg.Name
	var top json.RawMessage = body
	pg := &page{body: top}
	// Redacting parses the URL; do it once per page, not per record.
	shownURL := redact(pageURL)
	items, err := recordsAt(pg, e.cfg.Records)
	if err != nil {
		return nil, fmt.Errorf("rest: entity %s: %s: %w", name, shownURL, err)
	}
	ep := s.pos.Entities[name]
	skip := e.skip
	e.skip = 0
	// The page as it was asked for, to resume at: page and offset before
	// nextPage advances them.
	here := &resumePoint{URL: pageURL, Page: e.page, Offset: e.offset}
	if shownURL != pageURL && (strings.Contains(shownURL, "REDACTED") || strings.Contains(pageURL, "@")) {
		here = nil
	}
	recs := make([]sdk.Record, 0, len(items))
	// maxAt[i] is the pass's newest updated_at up to and including the
	// record recs[i]; item[i] its index in the page; logAt[i] the length
	// of the page's state log entries up to and including its own.
	var (
		maxAt []time.Time
		item  []int
		logAt []int
		batch statefile.Batch
	)
	add := func(r sdk.Record, i int) {
		recs, maxAt, item, logAt = append(recs, r), append(maxAt, ep.Max), append(item, i), append(logAt, batch.Len())
	}
	for i, raw := range items {
		if i < skip {
			continue // handed out before the restart
		}
		r := sdk.Record{Entity: name, Op: sdk.OpUpsert, Meta: map[string]string{"url": shownURL, "index": strconv.Itoa(i)}}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil {
			r.Error = fmt.Sprintf("rest: entity %s: %s: record %d is not a JSON object", name, shownURL, i)
			r.Payload = rawPayload(raw)
			r.ID = shownURL + "#" + strconv.Itoa(i)
			add(r, i)
			continue
		}
		id, ok := field(obj, e.cfg.ID)
		if !ok || id == "" {
			r.Error = fmt.Sprintf("rest: entity %s: %s: record %d has no id field %q", name, shownURL, i, e.cfg.ID)
			r.Payload = rawPayload(raw)
			r.ID = shownURL + "#" + strconv.Itoa(i)
			add(r, i)
			continue
		}
		r.ID = id
		r.Payload = bytes.TrimSpace(raw)
		e.returned++
		old, known := e.seen[id]
		var fp uint64
		if e.cfg.UpdatedAt != "" {
			v, _ := field(obj, e.cfg.UpdatedAt)
			t, err := parseTime(v)
			if err != nil {
				r.Error = fmt.Sprintf("rest: entity %s: record %s: field %s: %v", name, id, e.cfg.UpdatedAt, err)
				r.Payload = rawPayload(raw)
				if known {
					// Still there: not a delete (deletes: missing).
					old.gen = e.gen
					e.seen[id] = old
				}
				add(r, i)
				continue
			}
			r.UpdatedAt = t
			if t.After(ep.Max) {
				ep.Max = t
			}
			fp = uint64(t.UnixNano())
		} else {
			fp = fnv64(r.Payload)
		}
		e.seen[id] = seenEntry{fp: fp, gen: e.gen}
		if known && old.fp == fp {
			continue
		}
		e.state.dirty = true
		if e.state.on {
			batch.Set(id, fp)
		}
		add(r, i)
	}
	e.nextURL = s.nextPage(e, pageURL, pg, hdr, len(items))
	if e.nextURL == "" {
		// The deletes of a complete pass go out after its last page's
		// records, resuming past that page's items.
		for _, id := range s.gone(e) {
			if e.state.on {
				batch.Delete(id)
			}
			add(sdk.Record{Entity: name, ID: id, Op: sdk.OpDelete, Payload: []byte("{}"),
				Meta: map[string]string{"reason": "missing from a complete pass"}}, len(items)-1)
		}
	}
	// The page's fingerprints go to the state log before its records go
	// out, so each record's position can name the state up to it.
	logStart, logged := s.appendLog(e, &batch)
	// Each record's position is where the pass stands after it: a
	// restart from it resumes at its page, after its item, so records
	// handed out before it are not read again.
	for i := range recs {
		at := ep
		at.Max = maxAt[i]
		if logged {
			at.Log = logStart + int64(logAt[i])
		}
		if here != nil {
			r := *here
			r.Skip = item[i] + 1
			at.Resume = &r
		} else {
			at.Resume = nil
		}
		p, err := s.encodeWith(name, at)
		if err != nil {
			return nil, err
		}
		recs[i].Position = p
	}
	if logged {
		ep.Log = logStart + int64(batch.Len())
	}
	if e.nextURL == "" {
		// Only the pass's last record carries the state version that
		// holds the pass's fingerprints (state.go).
		if v, ok := s.commitState(e); ok {
			ep.State, ep.Log = v, 0
		}
		e.inPass = false
		if ep.Max.After(ep.Since) {
			ep.Since = ep.Max
		}
		ep.Max = time.Time{}
		ep.Full = true
		ep.Resume = nil
	} else if here != nil {
		ep.Resume = &resumePoint{URL: e.nextURL, Page: e.page, Offset: e.offset}
	}
	s.pos.Entities[name] = ep
	if len(recs) > 0 && (e.nextURL == "" || here != nil) {
		// The last record carries the page's end: the pass's end, or
		// the next page.
		p, err := s.encodeWith(name, ep)
		if err != nil {
			return nil, err
		}
		recs[len(recs)-1].Position = p
	}
	return recs, nil
}

// encodeWith encodes the position with entity name's entry set to ep.
func (s *Source) encodeWith(name string, ep entityPos) ([]byte, error) {
	saved := s.pos.Entities[name]
	s.pos.Entities[name] = ep
	p, err := json.Marshal(s.pos)
	s.pos.Entities[name] = saved
	if err != nil {
		return nil, fmt.Errorf("rest: encode position: %w", err)
	}
	return p, nil
}

// nextPage works out the URL of the page after cur, or "" at the end.
func (s *Source) nextPage(e *entity, cur string, top *page, hdr http.Header, n int) string {
	p := e.cfg.Pagination
	u, err := url.Parse(cur)
	if err != nil {
		return ""
	}
	q := u.Query()
	switch p.Type {
	case "page":
		if n == 0 {
			return ""
		}
		if p.TotalPagesPath != "" {
			if v, ok := top.value(p.TotalPagesPath); ok {
				if total, err := strconv.Atoi(v); err == nil && e.page >= total {
					return ""
				}
			}
		}
		e.page++
		q.Set(p.Param, strconv.Itoa(e.page))
	case "offset":
		if n == 0 {
			return ""
		}
		e.offset += n
		q.Set(p.Param, strconv.Itoa(e.offset))
	case "cursor":
		c, ok := top.value(p.CursorPath)
		if !ok || c == "" {
			return ""
		}
		q.Set(p.Param, c)
	case "link":
		next := linkNext(hdr.Values("Link"))
		if next == "" {
			return ""
		}
		ref, err := url.Parse(next)
		if err != nil {
			return ""
		}
		return u.ResolveReference(ref).String()
	default:
		return ""
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// get performs one GET with rate limit, auth, retries and backoff.
func (s *Source) get(ctx context.Context, u string) ([]byte, http.Header, error) {
	resp, err := s.client.Do(ctx, http.MethodGet, u, nil, nil)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("rest: %w", err)
	}
	return resp.Body, resp.Header, nil
}

// redact removes secrets from a URL for errors and logs.
func redact(raw string) string { return apiclient.Redact(raw) }

// Teardown releases idle connections.
func (s *Source) Teardown(context.Context) error {
	if s.client != nil {
		s.client.CloseIdleConnections()
	}
	for _, e := range s.entities {
		e.state.closeLog()
	}
	return nil
}

func rawPayload(raw []byte) []byte {
	return []byte(`{"raw":"` + base64.StdEncoding.EncodeToString(raw) + `"}`)
}

func fnv64(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}
