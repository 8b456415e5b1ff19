package identity

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/crmhub/crmhub/hub"
)

// Config sets how records are matched and how the golden record survives.
type Config struct {
	// DefaultRegion (ISO 3166-1 alpha-2) reads phone numbers written
	// without a country code. Default "DE".
	DefaultRegion string
	// FieldPriority lists, per golden field (JSON name, e.g. "credit_limit"),
	// the source systems in order of trust. A system earlier in the list
	// wins whenever it has a non-empty value; systems not listed fall back
	// to the default rule, most recent non-empty.
	FieldPriority map[string][]string
}

// Record is one source customer record as the resolver sees it.
type Record struct {
	System       string
	SourceEntity string
	SourceID     string
	UpdatedAt    time.Time
	Customer     hub.Customer
}

// Key is the record's identity in the hub: system/entity/id.
func (r Record) Key() string { return RecordKey(r.System, r.SourceEntity, r.SourceID) }

// RecordKey is the identity of a source record: system/entity/id.
func RecordKey(system, entity, id string) string { return system + "/" + entity + "/" + id }

// Match key classes, strongest first. Clustering processes keys in this
// order, so a cross reference decides before a shared phone number does.
const (
	ClassRef   = "ref"
	ClassTax   = "tax"
	ClassEmail = "email"
	ClassPhone = "phone"
)

var classRank = map[string]int{ClassRef: 0, ClassTax: 1, ClassEmail: 2, ClassPhone: 3}

// Resolver matches records and builds golden records. It holds no state
// besides its configuration and is safe for concurrent use.
type Resolver struct {
	cfg Config
}

// New returns a Resolver for cfg.
func New(cfg Config) *Resolver {
	if cfg.DefaultRegion == "" {
		cfg.DefaultRegion = "DE"
	}
	return &Resolver{cfg: cfg}
}

// Config returns the resolver's configuration with defaults applied.
func (r *Resolver) Config() Config { return r.cfg }

// MatchKeys returns the record's match keys, sorted and de-duplicated. Each
// key is scoped by kind ("person|email:a@b.de"), so a person and an
// organization never share a key. Every record owns the key of its own
// source id (ref:<system>:<source_id>), which an external id in another
// system's record points at.
func (r *Resolver) MatchKeys(rec Record) []string {
	c := rec.Customer
	kind := c.Kind
	if kind == "" {
		kind = "person"
	}
	var keys []string
	add := func(class, v string) {
		if v != "" {
			keys = append(keys, kind+"|"+class+":"+v)
		}
	}
	add(ClassRef, rec.System+":"+rec.SourceID)
	for _, x := range c.ExternalIDs {
		if x.System != "" && x.ID != "" {
			add(ClassRef, x.System+":"+x.ID)
		}
	}
	add(ClassTax, NormalizeTaxID(c.TaxID))
	for _, e := range c.Emails {
		add(ClassEmail, NormalizeEmail(e))
	}
	for _, p := range c.Phones {
		if n, err := NormalizePhone(p, r.cfg.DefaultRegion); err == nil {
			add(ClassPhone, n)
		}
	}
	sort.Strings(keys)
	return slices.Compact(keys)
}

// keyClass returns the class of a match key ("person|email:x" -> "email").
func keyClass(k string) string {
	_, rest, _ := strings.Cut(k, "|")
	class, _, _ := strings.Cut(rest, ":")
	return class
}

// GoldenID derives a golden id from the smallest record key of a cluster:
// the same cluster always gets the same id, whatever order its records
// arrived in.
func GoldenID(minRecordKey string) string {
	h := sha256.Sum256([]byte(minRecordKey))
	return "g_" + hex.EncodeToString(h[:10])
}

// Cluster is one resolved real customer.
type Cluster struct {
	ID      string   // golden id, from the smallest record key
	Records []Record // sorted by Key
}

// Cluster groups records into real customers. The result depends only on
// the set of records: keys are visited in a fixed order (class strength,
// then key), each key joins the records holding it, and a join is refused
// when it would put different kinds or different non-empty tax ids into
// one cluster. Clusters come back sorted by ID.
func (r *Resolver) Cluster(recs []Record) []Cluster {
	recs = slices.Clone(recs)
	sort.Slice(recs, func(i, j int) bool { return recs[i].Key() < recs[j].Key() })
	recs = slices.CompactFunc(recs, func(a, b Record) bool { return a.Key() == b.Key() })

	n := len(recs)
	parent := make([]int, n)
	kind := make([]string, n)
	taxes := make([]map[string]bool, n)
	byKey := map[string][]int{}
	for i, rec := range recs {
		parent[i] = i
		kind[i] = rec.Customer.Kind
		taxes[i] = map[string]bool{}
		if t := NormalizeTaxID(rec.Customer.TaxID); t != "" {
			taxes[i][t] = true
		}
		for _, k := range r.MatchKeys(rec) {
			byKey[k] = append(byKey[k], i)
		}
	}
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	union := func(a, b int) {
		ra, rb := find(a), find(b)
		if ra == rb || kind[ra] != kind[rb] {
			return
		}
		if len(taxes[ra]) > 0 && len(taxes[rb]) > 0 && !maps2Equal(taxes[ra], taxes[rb]) {
			return
		}
		// The smaller index (smaller key) stays the root.
		if rb < ra {
			ra, rb = rb, ra
		}
		parent[rb] = ra
		for t := range taxes[rb] {
			taxes[ra][t] = true
		}
	}
	keys := make([]string, 0, len(byKey))
	for k, idx := range byKey {
		if len(idx) > 1 {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		ci, cj := classRank[keyClass(keys[i])], classRank[keyClass(keys[j])]
		if ci != cj {
			return ci < cj
		}
		return keys[i] < keys[j]
	})
	for _, k := range keys {
		idx := byKey[k]
		for _, j := range idx[1:] {
			union(idx[0], j)
		}
	}
	groups := map[int][]Record{}
	for i := range recs {
		root := find(i)
		groups[root] = append(groups[root], recs[i])
	}
	out := make([]Cluster, 0, len(groups))
	for root, g := range groups {
		out = append(out, Cluster{ID: GoldenID(recs[root].Key()), Records: g})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func maps2Equal(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}
