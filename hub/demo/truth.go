package demo

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
)

var truthHeader = []string{"person_id", "system", "entity", "source_id", "deterministic", "tax_id"}

// TruthRecord is one row of truth.csv: a source customer record and the real
// entity it belongs to.
type TruthRecord struct {
	PersonID string // the real entity: F… firm, P… private person, E… a firm's employee
	System   string
	Entity   string
	SourceID string
	// Deterministic: the record is linked to its entity's largest group of
	// records by strong keys (normalized e-mail, E.164 phone, tax id, cross
	// reference), so an exact matcher must find it.
	Deterministic bool
	TaxID         string // normalized tax id the record carries, "" if none
}

// Key is "system/entity/source_id", the key of Score's assignment.
func (r TruthRecord) Key() string { return Key(r.System, r.Entity, r.SourceID) }

// Truth is the ground truth of a generated data set: which source customer
// records are the same real entity. Deleted and broken records are not in it.
type Truth struct {
	Records []TruthRecord
}

// LoadTruth reads dir/truth.csv.
func LoadTruth(dir string) (*Truth, error) {
	path := filepath.Join(dir, "truth.csv")
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("demo: load truth: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = len(truthHeader)
	head, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("demo: %s: header: %w", path, err)
	}
	if !slices.Equal(head, truthHeader) {
		return nil, fmt.Errorf("demo: %s: header %v, want %v", path, head, truthHeader)
	}
	t := &Truth{}
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("demo: %s: %w", path, err)
		}
		if rec[4] != "0" && rec[4] != "1" {
			return nil, fmt.Errorf("demo: %s: line %d: field deterministic: %q is not 0 or 1", path, line, rec[4])
		}
		t.Records = append(t.Records, TruthRecord{rec[0], rec[1], rec[2], rec[3], rec[4] == "1", rec[5]})
	}
	return t, nil
}

// Deterministic returns the truth restricted to the deterministic records:
// scoring against it measures what exact matching on strong keys must get
// right.
func (t *Truth) Deterministic() *Truth {
	out := &Truth{}
	for _, r := range t.Records {
		if r.Deterministic {
			out.Records = append(out.Records, r)
		}
	}
	return out
}

// Score is the pairwise quality of a resolution against the truth: a pair
// of records is predicted when both got the same golden id, true when both
// are the same real entity.
type Score struct {
	Records        int     `json:"records"`
	Missing        int     `json:"missing"` // truth records the assignment lacks; scored as singletons
	TruePairs      int64   `json:"true_pairs"`
	PredictedPairs int64   `json:"predicted_pairs"`
	CorrectPairs   int64   `json:"correct_pairs"`
	Precision      float64 `json:"precision"`
	Recall         float64 `json:"recall"`
	F1             float64 `json:"f1"`
	// FalseMerges counts golden ids holding records of more than one real
	// entity; Splits real entities spread over more than one golden id.
	FalseMerges int `json:"false_merges"`
	Splits      int `json:"splits"`
	// TaxIDConflicts counts golden ids holding records with different tax ids.
	TaxIDConflicts int `json:"tax_id_conflicts"`
}

func (s Score) String() string {
	b, _ := json.Marshal(s)
	return string(b)
}

func pairs(n int) int64 { return int64(n) * int64(n-1) / 2 }

// Score scores assign ("system/entity/source_id" -> golden id) against the
// truth. Only records in the truth count; a record missing from assign is
// its own singleton.
func (t *Truth) Score(assign map[string]string) Score {
	s := Score{Records: len(t.Records)}
	type cell struct{ person, golden string }
	cells := map[cell]int{}
	persons := map[string]int{}
	goldens := map[string]int{}
	personGoldens := map[string]map[string]bool{}
	goldenPersons := map[string]map[string]bool{}
	goldenTax := map[string]map[string]bool{}
	for _, r := range t.Records {
		k := r.Key()
		g, ok := assign[k]
		if !ok {
			s.Missing++
			g = "\x00missing\x00" + k
		}
		cells[cell{r.PersonID, g}]++
		persons[r.PersonID]++
		goldens[g]++
		add := func(m map[string]map[string]bool, a, b string) {
			if m[a] == nil {
				m[a] = map[string]bool{}
			}
			m[a][b] = true
		}
		add(personGoldens, r.PersonID, g)
		add(goldenPersons, g, r.PersonID)
		if r.TaxID != "" {
			add(goldenTax, g, r.TaxID)
		}
	}
	for _, n := range persons {
		s.TruePairs += pairs(n)
	}
	for _, n := range goldens {
		s.PredictedPairs += pairs(n)
	}
	for _, n := range cells {
		s.CorrectPairs += pairs(n)
	}
	for _, m := range personGoldens {
		if len(m) > 1 {
			s.Splits++
		}
	}
	for _, m := range goldenPersons {
		if len(m) > 1 {
			s.FalseMerges++
		}
	}
	for _, m := range goldenTax {
		if len(m) > 1 {
			s.TaxIDConflicts++
		}
	}
	s.Precision, s.Recall = 1, 1
	if s.PredictedPairs > 0 {
		s.Precision = float64(s.CorrectPairs) / float64(s.PredictedPairs)
	}
	if s.TruePairs > 0 {
		s.Recall = float64(s.CorrectPairs) / float64(s.TruePairs)
	}
	if s.Precision+s.Recall > 0 {
		s.F1 = 2 * s.Precision * s.Recall / (s.Precision + s.Recall)
	}
	return s
}

// LoadManifest reads dir/manifest.json. A directory without one gives an
// error wrapping fs.ErrNotExist: nothing was generated there yet.
func LoadManifest(dir string) (*Manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, fmt.Errorf("demo: load manifest: %w", err)
	}
	m := &Manifest{}
	if err := json.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("demo: %s: %w", filepath.Join(dir, "manifest.json"), err)
	}
	return m, nil
}
