package store

import (
	"container/list"
	"sync"

	"github.com/crmhub/crmhub/hub/identity"
)

// DefaultRecordCache is the default size cap of the parsed-record cache.
const DefaultRecordCache = 100000

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
	mu    sync.Mutex
	max   int
	lru   *list.List // front: most recently used; values *cacheEntry
	byKey map[string]*list.Element
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
	rec         identity.Record
}

func newRecordCache(max int) *recordCache {
	return &recordCache{max: max, lru: list.New(), byKey: map[string]*list.Element{}}
}

// get returns the record parsed from event, if cached.
func (c *recordCache) get(rkey, event string) (identity.Record, bool) {
	if c == nil || c.max <= 0 {
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
	if c == nil || c.max <= 0 {
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
	if c == nil || c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[rkey]; ok {
		e := el.Value.(*cacheEntry)
		e.event, e.rec, e.gen = event, rec, c.gen
		c.lru.MoveToFront(el)
		return
	}
	c.byKey[rkey] = c.lru.PushFront(&cacheEntry{rkey: rkey, event: event, gen: c.gen, rec: rec})
	for c.lru.Len() > c.max {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.byKey, old.Value.(*cacheEntry).rkey)
	}
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
			c.lru.Remove(el)
			delete(c.byKey, k)
		}
	}
}

func (c *recordCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

func (c *recordCache) stats() (hits, misses uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits, c.miss
}
