package statefile

import (
	"errors"
	"io/fs"
	"maps"
	"os"
	"slices"
	"testing"
)

func store(t *testing.T) Store {
	return Store{Dir: t.TempDir(), Prefix: Prefix("con tacts", "https://crm", "/contacts"), Ext: ".seen", Magic: "crmhub-test-v1\n"}
}

func load(s Store, ver uint32) (map[string]uint64, error) {
	got := map[string]uint64{}
	err := s.Load(ver, func(k string, v uint64) { got[k] = v })
	return got, err
}

func TestRoundTripAndDamage(t *testing.T) {
	s := store(t)
	rows := map[string]uint64{"a": 1, "b": 1 << 63, "": 7, "ü-long-key": 42}
	if err := s.Save(3, maps.All(rows)); err != nil {
		t.Fatal(err)
	}
	got, err := load(s, 3)
	if err != nil || !maps.Equal(got, rows) {
		t.Fatalf("round trip %v %v", got, err)
	}
	if _, err := load(s, 4); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing version: %v", err)
	}
	b, _ := os.ReadFile(s.Path(3))
	cases := map[string][]byte{
		"torn":       b[:len(b)-6],
		"flipped":    append(append([]byte{}, b[:20]...), append([]byte{b[20] ^ 1}, b[21:]...)...),
		"other kind": append([]byte("crmhub-sql-hash-v1\n"), b[len(s.Magic):]...),
		"empty":      nil,
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			os.WriteFile(s.Path(3), data, 0o644)
			if _, err := load(s, 3); !errors.Is(err, ErrDamaged) {
				t.Fatalf("%s file: %v", name, err)
			}
		})
	}
}

func TestRemove(t *testing.T) {
	s := store(t)
	other := s
	other.Prefix = Prefix("con tacts", "https://crm", "/other")
	for _, v := range []uint32{1, 2, 3, 4} {
		s.Save(v, maps.All(map[string]uint64{"a": uint64(v)}))
	}
	other.Save(1, maps.All(map[string]uint64{}))
	os.WriteFile(s.Path(9)+".tmp123", nil, 0o644) // not a version: left alone
	files := func() []string {
		ents, _ := os.ReadDir(s.Dir)
		var out []string
		for _, e := range ents {
			out = append(out, e.Name())
		}
		return out
	}
	if err := s.Remove(3, true); err != nil {
		t.Fatal(err)
	}
	want := []string{s.Prefix + ".3.seen", s.Prefix + ".4.seen", s.Prefix + ".9.seen.tmp123", other.Prefix + ".1.seen"}
	slices.Sort(want)
	if got := files(); !slices.Equal(got, want) {
		t.Fatalf("after Remove(3, below) %v, want %v", got, want)
	}
	if err := s.Remove(3, false); err != nil {
		t.Fatal(err)
	}
	want = []string{s.Prefix + ".3.seen", s.Prefix + ".9.seen.tmp123", other.Prefix + ".1.seen"}
	slices.Sort(want)
	if got := files(); !slices.Equal(got, want) {
		t.Fatalf("after Remove(3) %v, want %v", got, want)
	}
}

// The prefix is stable across releases: the sql source's existing state
// files are named by it (FNV-1a 64 of each part and a NUL).
func TestPrefix(t *testing.T) {
	if got := Prefix("a/b", "x", "y"); got != "a_b-4b03025278bc8cfc" {
		t.Fatalf("prefix %q", got)
	}
	if Prefix("n", "ab", "c") == Prefix("n", "a", "bc") {
		t.Error("parts are not separated in the digest")
	}
}

// A position names a log offset: Replay applies the entries before it and
// refuses a log cut short before it; a failed append leaves the offsets
// returned before it valid.
func TestLog(t *testing.T) {
	s := store(t)
	l, err := s.CreateLog(2)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var b1 Batch
	b1.Set("a", 1)
	afterB := b1.Set("b", 2)
	if start, err := l.Append(&b1); err != nil || start != 0 {
		t.Fatal(start, err)
	}
	var b2 Batch
	b2.Delete("a")
	b2.Set("c", 3)
	start, err := l.Append(&b2)
	if err != nil || start != int64(b1.Len()) || l.Offset() != int64(b1.Len()+b2.Len()) {
		t.Fatal(start, err, l.Offset())
	}
	replay := func(upTo int64) (map[string]uint64, error) {
		got := map[string]uint64{}
		err := s.Replay(2, upTo, func(k string, v uint64) { got[k] = v }, func(k string) { delete(got, k) })
		return got, err
	}
	afterDelete := int64(b1.Len() + 7) // kind, length, "a", CRC
	for upTo, want := range map[int64]map[string]uint64{
		0:             {},
		int64(afterB): {"a": 1, "b": 2},
		afterDelete:   {"b": 2},
		l.Offset():    {"b": 2, "c": 3},
	} {
		if got, err := replay(upTo); err != nil || !maps.Equal(got, want) {
			t.Errorf("replay to %d: %v %v, want %v", upTo, got, err, want)
		}
	}
	if _, err := replay(afterDelete + 2); !errors.Is(err, ErrDamaged) {
		t.Errorf("replay to the middle of an entry: %v", err)
	}
	if _, err := replay(l.Offset() + 1); !errors.Is(err, ErrDamaged) {
		t.Errorf("replay past the end: %v", err)
	}
	full, _ := os.ReadFile(s.LogPath(2))
	full[3] ^= 0xff // the key of the first entry
	os.WriteFile(s.LogPath(2), full, 0o644)
	if _, err := replay(int64(afterB)); !errors.Is(err, ErrDamaged) {
		t.Errorf("replay of a flipped entry: %v", err)
	}

	l.f.Close() // the next write fails
	var b3 Batch
	b3.Set("d", 4)
	off := l.Offset()
	if _, err := l.Append(&b3); err == nil || l.Offset() != off {
		t.Errorf("append to a closed file: %v, offset %d -> %d", err, off, l.Offset())
	}
	if err := s.Remove(3, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.LogPath(2)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Remove left the log of another version: %v", err)
	}
}
