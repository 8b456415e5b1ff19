package auth_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/crmhub/crmhub/hub/auth"
)

// BenchmarkVerify is the cost every authenticated API request pays: one
// hashed lookup in the store database (SQLite here), no cache.
func BenchmarkVerify(b *testing.B) {
	path := filepath.Join(b.TempDir(), "hub.db")
	migrated(b, "sqlite", path)
	s, err := auth.Open(context.Background(), "sqlite", path, auth.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	var secret string
	for i := range 100 {
		sec, _, err := s.Create(ctx, "t"+string(rune('a'+i%26))+string(rune('a'+i/26)), []auth.Scope{auth.ScopeSales})
		if err != nil {
			b.Fatal(err)
		}
		secret = sec
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Verify(ctx, secret); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
