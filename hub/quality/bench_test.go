package quality

import (
	"strings"
	"testing"

	"github.com/crmhub/crmhub/hub/identity"
)

// BenchmarkLinks scores every blocked pair of 2,000 generated people (no
// e-mail or phone) with each person scoring method; ns/op per run of
// Links, pairs/op says how many pairs were scored.
func BenchmarkLinks(b *testing.B) {
	recs := Generate(2000, 1, false, false)
	in := make([]identity.Record, len(recs))
	for i, r := range recs {
		parts := strings.SplitN(r.Key, "/", 3)
		in[i] = identity.Record{System: parts[0], SourceEntity: parts[1], SourceID: parts[2], Customer: r.Customer}
	}
	for _, method := range []string{identity.MethodWeighted, identity.MethodFellegiSunter} {
		b.Run(method, func(b *testing.B) {
			f := identity.DefaultFuzzy()
			f.Method = method
			r := identity.New(identity.Config{DefaultRegion: "DE", Fuzzy: f})
			for b.Loop() {
				r.Links(in)
			}
		})
	}
}
