package identity

import "github.com/crmhub/crmhub/hub"

// ComparePairs puts each pair of recs (indexes) on its comparison levels
// as the estimate does, for the equivalence test and the benchmark in
// package identity_test (which imports hub/quality, itself importing this
// package).
func ComparePairs(recs []hub.Customer, pairs [][2]int, region string, taxIsEvidence bool, p *Params) (gs [][8]string, swapped []bool) {
	gs, swapped = make([][8]string, len(pairs)), make([]bool, len(pairs))
	for i, pr := range pairs {
		g, s := comparePeople(recs[pr[0]], recs[pr[1]], region, taxIsEvidence, p)
		gs[i], swapped[i] = g, s
	}
	return gs, swapped
}
