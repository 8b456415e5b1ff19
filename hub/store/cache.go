package store

import (
	"container/list"
	"sync"
	"unsafe"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/identity"
)

// DefaultRecordCache was the default entry cap of the parsed-record cache;
// the cache is bounded in bytes now (DefaultRecordCacheBytes), because an
// entry count said nothing about memory: 100,000 records of `crmhub bench
// pipeline` were 52 MB of heap, records with many addresses or a large
// custom object several times that. Options.RecordCache still caps entries
// for a caller that sets it.
const DefaultRecordCache = 100000

// DefaultRecordCacheBytes bounds the parsed-record cache when neither the
// caller nor a memory budget sizes it: about 60,000 records of the bench's
// shape (recordBytes). A memory budget (Options.RecordCacheBytes, set from
// memory_mb) replaces it.
const DefaultRecordCacheBytes = 32 << 20

// recordCache holds parsed customer records, keyed by record key and
// valid only for the event id they were parsed from. Relinking and
// re-clustering read the same neighbours batch after batch; decoding their
// JSON again each time was most of the cost of reading them. An entry is
// never trusted on its own: callers read the record's current event id
// (cheap, no data column) and use the entry only if it matches, so another
// hub instance writing the same PostgreSQL, or a rolled-back transaction,
// can at worst cause a miss. The records in it are shared: readers must
// not modify them. Safe for concurrent use.
type recordCache struct {
	mu  sync.Mutex
	max int // entries; 0: no cap on entries
	// maxBytes bounds the estimated heap of the entries (recordBytes);
	// bytes is their current sum.
	maxBytes, bytes int64
	lru             *list.List // front: most recently used; values *cacheEntry
	byKey           map[string]*list.Element
	// gen is the generation of trust: an entry stamped with the current
	// one is known to be the record's current version without asking
	// the database. See trusted.
	gen  uint64
	hits uint64
	miss uint64
}

type cacheEntry struct {
	rkey, event string
	gen         uint64
	size        int64 // recordBytes when put
	rec         identity.Record
}

// newRecordCache bounds the cache at max entries (0: no entry cap) and
// maxBytes of estimated heap (0: no byte cap).
func newRecordCache(max int, maxBytes int64) *recordCache {
	return &recordCache{max: max, maxBytes: maxBytes, lru: list.New(), byKey: map[string]*list.Element{}}
}

// Fixed heap cost of one entry beyond its strings and slices: the entry,
// its list element, its map slot (key header, pointer, bucket overhead).
const entryOverhead = int64(unsafe.Sizeof(cacheEntry{}) + unsafe.Sizeof(list.Element{}) + 48)

// recordBytes estimates the heap an entry of rec holds: its fixed size
// plus every string and slice it references. It undercounts shared
// backing arrays only in our favour (strings decoded from JSON are not
// shared), and takes a few hundred nanoseconds: no reflection.
func recordBytes(rkey, event string, rec *identity.Record) int64 {
	n := entryOverhead + int64(len(rkey)+len(event)+len(rec.System)+len(rec.SourceEntity)+len(rec.SourceID))
	c := &rec.Customer
	n += int64(len(c.Kind) + len(c.GivenName) + len(c.FamilyName) + len(c.FullName) + len(c.OrganizationName) +
		len(c.TaxID) + len(c.BirthDate) + len(c.Gender) + len(c.Language) + len(c.Status) + len(c.Segment) +
		len(c.AccountManager) + len(c.Custom))
	for _, p := range c.Identifiers {
		n += int64(unsafe.Sizeof(p)) + int64(len(p.Scheme)+len(p.Value)+len(p.Country))
	}
	for _, e := range c.Emails {
		n += 16 + int64(len(e))
	}
	for _, p := range c.Phones {
		n += 16 + int64(len(p))
	}
	for _, a := range c.Addresses {
		n += int64(unsafe.Sizeof(a)) + int64(len(a.Type)+len(a.Street)+len(a.PostalCode)+len(a.City)+len(a.Region)+len(a.Country))
	}
	if m := c.CreditLimit; m != nil {
		n += int64(unsafe.Sizeof(hub.Money{})) + int64(len(m.Amount)+len(m.Currency))
	}
	// A map of a few entries: its header and one bucket.
	n += int64(len(c.Consent)) * 24
	if c.Consent != nil {
		n += 200
	}
	if c.CreatedAt != nil {
		n += 24
	}
	if c.UpdatedAt != nil {
		n += 24
	}
	for _, r := range c.ExternalIDs {
		n += int64(unsafe.Sizeof(r)) + int64(len(r.System)+len(r.ID))
	}
	return n
}

// get returns the record parsed from event, if cached.
func (c *recordCache) get(rkey, event string) (identity.Record, bool) {
	if c == nil {
		return identity.Record{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[rkey]
	if !ok || el.Value.(*cacheEntry).event != event {
		c.miss++
		return identity.Record{}, false
	}
	c.hits++
	c.lru.MoveToFront(el)
	e := el.Value.(*cacheEntry)
	e.gen = c.gen // just validated against the database
	return e.rec, true
}

// trusted returns the cached record of rkey if it was put or validated
// since the last distrust: the store calls distrust whenever a write it
// did not make itself may have happened (another instance, a failed
// commit), so such an entry is the current version, and a record absent
// from the database (deleted, never written) is absent here too.
func (c *recordCache) trusted(rkey string) (identity.Record, bool) {
	if c == nil {
		return identity.Record{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[rkey]
	if !ok || el.Value.(*cacheEntry).gen != c.gen {
		c.miss++
		return identity.Record{}, false
	}
	c.hits++
	c.lru.MoveToFront(el)
	return el.Value.(*cacheEntry).rec, true
}

// distrust makes every entry unsure: each must be validated by its event
// id again before trusted returns it.
func (c *recordCache) distrust() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.gen++
	c.mu.Unlock()
}

// put records rec as the version of rkey written by event.
func (c *recordCache) put(rkey, event string, rec identity.Record) {
	if c == nil {
		return
	}
	size := recordBytes(rkey, event, &rec)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.maxBytes > 0 && size > c.maxBytes {
		// Larger than the whole cache: keeping it would evict everything.
		if el, ok := c.byKey[rkey]; ok {
			c.remove(el)
		}
		return
	}
	if el, ok := c.byKey[rkey]; ok {
		e := el.Value.(*cacheEntry)
		c.bytes += size - e.size
		e.event, e.rec, e.gen, e.size = event, rec, c.gen, size
		c.lru.MoveToFront(el)
	} else {
		c.byKey[rkey] = c.lru.PushFront(&cacheEntry{rkey: rkey, event: event, gen: c.gen, size: size, rec: rec})
		c.bytes += size
	}
	for (c.max > 0 && c.lru.Len() > c.max) || (c.maxBytes > 0 && c.bytes > c.maxBytes) {
		c.remove(c.lru.Back())
	}
}

// remove takes el out; c.mu is held.
func (c *recordCache) remove(el *list.Element) {
	e := el.Value.(*cacheEntry)
	c.lru.Remove(el)
	delete(c.byKey, e.rkey)
	c.bytes -= e.size
}

// drop forgets the entries of keys (the versions a rolled-back transaction
// wrote). Event-id validation would already refuse them; dropping keeps
// them from taking room.
func (c *recordCache) drop(keys []string) {
	if c == nil || len(keys) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		if el, ok := c.byKey[k]; ok {
			c.remove(el)
		}
	}
}

func (c *recordCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// size is the estimated heap of the entries (recordBytes).
func (c *recordCache) size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}

func (c *recordCache) stats() (hits, misses uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits, c.miss
}
