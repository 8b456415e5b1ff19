package demo

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkGenerate measures generation at the demo's size and at the size
// of the identity-quality benchmark:
//
//	go test ./hub/demo -run '^$' -bench Generate -benchtime 3x
func BenchmarkGenerate(b *testing.B) {
	for _, people := range []int{300, 30000} {
		b.Run(fmt.Sprintf("people=%d", people), func(b *testing.B) {
			dir := b.TempDir()
			var m *Manifest
			for b.Loop() {
				var err error
				if m, err = Generate(context.Background(), Options{Dir: dir, Seed: 1, People: people}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(m.Total()*b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(m.Total()), "records")
			b.ReportMetric(float64(m.CustomerRecords), "customer_records")
		})
	}
}
