package identity

import "github.com/crmhub/crmhub/hub"

// ComparePairs puts each pair of recs (indexes) on its comparison levels
// as the estimate does, each record prepared once, for the equivalence
// test and the benchmark in package identity_test (which imports
// hub/quality, itself importing this package).
func ComparePairs(recs []hub.Customer, pairs [][2]int, region string, taxIsEvidence bool, p *Params) (gs [][8]string, swapped []bool) {
	prepared := make([]*person, len(recs))
	for i, c := range recs {
		prepared[i] = preparePerson(c, region, taxIsEvidence)
	}
	gs, swapped = make([][8]string, len(pairs)), make([]bool, len(pairs))
	for i, pr := range pairs {
		g, s := comparePrepared(prepared[pr[0]], prepared[pr[1]], p)
		gs[i], swapped[i] = g, s
	}
	return gs, swapped
}
