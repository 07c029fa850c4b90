package sqlitestore

import (
	"container/list"
	"sync"

	"fieldsync/contract"
)

// recordCache keeps records as the last committed write transaction left
// them, so a push does not decode again what it stored a moment ago. Only
// the one writer fills it, after its transaction commits and before the
// next write transaction starts; its records are never modified in place.
// It is right only because this store has one writer, and one server
// process per database file.
type recordCache struct {
	mu  sync.Mutex
	max int
	m   map[string]*list.Element
	lru list.List // of *contract.Record, most recent at the front
}

func newRecordCache(max int) *recordCache {
	return &recordCache{max: max, m: map[string]*list.Element{}}
}

func (c *recordCache) get(id string) (*contract.Record, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[id]
	if !ok {
		return nil, false
	}
	c.lru.MoveToFront(e)
	return e.Value.(*contract.Record), true
}

func (c *recordCache) put(rec *contract.Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[rec.ID]; ok {
		e.Value = rec
		c.lru.MoveToFront(e)
		return
	}
	c.m[rec.ID] = c.lru.PushFront(rec)
	for c.lru.Len() > c.max {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.m, old.Value.(*contract.Record).ID)
	}
}

func (c *recordCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m = map[string]*list.Element{}
	c.lru.Init()
}
