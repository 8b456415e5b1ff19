package mapping

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Set is the mappings of a directory, looked up by source system and
// entity. It is safe for concurrent use; Reload swaps it atomically.
type Set struct {
	mu     sync.RWMutex
	bySrc  map[string]*Mapping
	all    []*Mapping
	digest [32]byte
}

// LoadDir loads every *.yaml / *.yml file in dir (not recursive) and
// reports every problem of every file at once.
func LoadDir(dir string) (*Set, error) {
	s := &Set{}
	if err := s.Reload(dir); err != nil {
		return nil, err
	}
	return s, nil
}

// Lookup finds the mapping for a source system and entity.
func (s *Set) Lookup(system, entity string) (*Mapping, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m, ok := s.bySrc[system+"\x00"+entity]
	return m, ok
}

// ByName finds a mapping by its name (write-back targets name their
// reverse mapping).
func (s *Set) ByName(name string) (*Mapping, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, m := range s.all {
		if m.name == name {
			return m, true
		}
	}
	return nil, false
}

// All returns the mappings sorted by name.
func (s *Set) All() []*Mapping {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]*Mapping(nil), s.all...)
}

// Reload loads dir again. When the new mappings are broken the set keeps
// the ones it has and returns why, so a bad edit never stops the pipeline.
// Mappings keep their identity: callers holding an old *Mapping may finish
// with it.
func (s *Set) Reload(dir string) error {
	all, digest, err := loadAll(dir)
	if err != nil {
		return err
	}
	by := make(map[string]*Mapping, len(all))
	for _, m := range all {
		if !m.Reverse() {
			by[m.system+"\x00"+m.entity] = m
		}
	}
	s.mu.Lock()
	s.bySrc, s.all, s.digest = by, all, digest
	s.mu.Unlock()
	return nil
}

func mappingFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read mapping dir: %w", err)
	}
	var files []string
	for _, e := range entries {
		if n := e.Name(); !e.IsDir() && (strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml")) && !strings.HasPrefix(n, ".") {
			files = append(files, filepath.Join(dir, n))
		}
	}
	return files, nil
}

func loadAll(dir string) ([]*Mapping, [32]byte, error) {
	files, err := mappingFiles(dir)
	if err != nil {
		return nil, [32]byte{}, err
	}
	digest, _ := dirDigest(dir)
	var errs []error
	var all []*Mapping
	names := map[string]string{}
	sources := map[string]string{}
	for _, f := range files {
		m, err := LoadFile(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if other, dup := names[m.name]; dup {
			errs = append(errs, &LoadError{File: f, Line: 1, Field: "mapping", Msg: fmt.Sprintf("name %q is also used by %s", m.name, other)})
			continue
		}
		src := m.system + "/" + m.entity
		if m.Reverse() {
			// Reverse mappings are found by name (a write-back target
			// names its own); many may read the canonical customer.
			src = "reverse:" + m.name
		}
		if other, dup := sources[src]; dup {
			errs = append(errs, &LoadError{File: f, Line: 1, Field: "source", Msg: fmt.Sprintf("source %s is also mapped by %s", src, other)})
			continue
		}
		names[m.name], sources[src] = f, f
		all = append(all, m)
	}
	if len(errs) > 0 {
		return nil, digest, errors.Join(errs...)
	}
	if len(all) == 0 {
		return nil, digest, fmt.Errorf("no mappings (*.yaml) in %s", dir)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].name < all[j].name })
	return all, digest, nil
}

// dirDigest fingerprints the mapping files and the table files next to
// them, so a watcher reloads only on a real change.
func dirDigest(dir string) ([32]byte, error) {
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != dir {
				return filepath.SkipDir
			}
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", d.Name(), len(b))
		h.Write(b)
		return nil
	})
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, err
}

// Watch polls dir every interval and reloads when a file changed; polling
// works the same on every file system and in containers. A broken change is
// reported to onError (once per change) and the old mappings stay. It
// returns when ctx ends.
func (s *Set) Watch(ctx context.Context, dir string, interval time.Duration, onReload func(err error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	s.mu.RLock()
	last := s.digest
	s.mu.RUnlock()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		d, err := dirDigest(dir)
		if err != nil || d == last {
			continue
		}
		last = d
		err = s.Reload(dir)
		if onReload != nil {
			onReload(err)
		}
	}
}
