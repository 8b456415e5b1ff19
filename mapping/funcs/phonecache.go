package funcs

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// Parsing a phone number with libphonenumber costs tens of microseconds
// (regular expressions over the region's metadata), while a re-sync sends
// the same numbers again and again. phone() is a pure function of region
// and raw text, so its results are kept in a bounded cache shared by every
// mapping: 16 shards, each an LRU of phoneCacheShardSize entries (about
// 64k numbers, a few MB at most), each shard behind its own mutex.

const (
	phoneCacheShards    = 16
	phoneCacheShardSize = 4096
)

type lruEntry struct {
	key, val   string
	prev, next int32 // neighbours in recency order; -1 at the ends
}

type lruShard struct {
	mu         sync.Mutex
	idx        map[string]int32
	ents       []lruEntry
	head, tail int32 // most and least recently used; -1 when empty
	size       int
}

// lruCache is a bounded, concurrency-safe string cache. The zero value is
// not usable; see newLRUCache.
type lruCache struct {
	seed   maphash.Seed
	shards []lruShard
}

func newLRUCache(shards, perShard int) *lruCache {
	c := &lruCache{seed: maphash.MakeSeed(), shards: make([]lruShard, shards)}
	for i := range c.shards {
		c.shards[i] = lruShard{idx: make(map[string]int32, perShard), head: -1, tail: -1, size: perShard}
	}
	return c
}

func (c *lruCache) shard(key []byte) *lruShard {
	return &c.shards[maphash.Bytes(c.seed, key)%uint64(len(c.shards))]
}

// get looks key up; key is a byte slice so that building it needs no
// allocation.
func (c *lruCache) get(key []byte) (string, bool) {
	s := c.shard(key)
	s.mu.Lock()
	i, ok := s.idx[string(key)]
	if !ok {
		s.mu.Unlock()
		return "", false
	}
	s.touch(i)
	v := s.ents[i].val
	s.mu.Unlock()
	return v, true
}

func (c *lruCache) put(key []byte, val string) {
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if i, ok := s.idx[string(key)]; ok {
		s.ents[i].val = val
		s.touch(i)
		return
	}
	var i int32
	if len(s.ents) < s.size {
		i = int32(len(s.ents))
		s.ents = append(s.ents, lruEntry{prev: -1, next: -1})
	} else {
		i = s.tail // evict the least recently used
		s.unlink(i)
		delete(s.idx, s.ents[i].key)
	}
	s.ents[i].key, s.ents[i].val = string(key), val
	s.idx[s.ents[i].key] = i
	s.pushFront(i)
}

func (s *lruShard) touch(i int32) {
	if s.head == i {
		return
	}
	s.unlink(i)
	s.pushFront(i)
}

func (s *lruShard) unlink(i int32) {
	e := &s.ents[i]
	if e.prev >= 0 {
		s.ents[e.prev].next = e.next
	} else {
		s.head = e.next
	}
	if e.next >= 0 {
		s.ents[e.next].prev = e.prev
	} else {
		s.tail = e.prev
	}
	e.prev, e.next = -1, -1
}

func (s *lruShard) pushFront(i int32) {
	e := &s.ents[i]
	e.prev, e.next = -1, s.head
	if s.head >= 0 {
		s.ents[s.head].prev = i
	}
	s.head = i
	if s.tail < 0 {
		s.tail = i
	}
}

func (c *lruCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.idx)
		s.mu.Unlock()
	}
	return n
}

// phoneCache maps region + NUL + raw text to the E.164 result ("" when the
// number is not valid).
var phoneCache = newLRUCache(phoneCacheShards, phoneCacheShardSize)

// phoneCacheOff is for benchmarks that measure the uncached parse.
var phoneCacheOff atomic.Bool
