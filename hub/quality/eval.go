package quality

// Score is a pairwise evaluation: a pair of records is a true pair when the
// ground truth puts them in one entity, a found pair when the clustering does.
type Score struct {
	TruePairs, FoundPairs, CorrectPairs int
	Precision, Recall, F1               float64
}

// Evaluate scores assign (record key -> cluster id) against truth (record key
// -> entity id). Records missing from assign count as singletons.
func Evaluate(truth, assign map[string]string) Score {
	type pair struct{ t, c string }
	byTruth := map[string]int{}
	byCluster := map[string]int{}
	byBoth := map[pair]int{}
	for key, ent := range truth {
		c, ok := assign[key]
		if !ok {
			c = "\x00single:" + key
		}
		byTruth[ent]++
		byCluster[c]++
		byBoth[pair{ent, c}]++
	}
	var s Score
	for _, n := range byTruth {
		s.TruePairs += n * (n - 1) / 2
	}
	for _, n := range byCluster {
		s.FoundPairs += n * (n - 1) / 2
	}
	for _, n := range byBoth {
		s.CorrectPairs += n * (n - 1) / 2
	}
	s.Precision, s.Recall = 1, 1
	if s.FoundPairs > 0 {
		s.Precision = float64(s.CorrectPairs) / float64(s.FoundPairs)
	}
	if s.TruePairs > 0 {
		s.Recall = float64(s.CorrectPairs) / float64(s.TruePairs)
	}
	if s.Precision+s.Recall > 0 {
		s.F1 = 2 * s.Precision * s.Recall / (s.Precision + s.Recall)
	}
	return s
}
