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
