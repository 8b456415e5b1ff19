package file

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// BenchmarkCSV reads a 100k-line (CRMHUB_BENCH_ROWS) semicolon CSV export.
func BenchmarkCSV(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("CRMHUB_BENCH_ROWS")); err == nil && v > 0 {
		n = v
	}
	src := filepath.Join(b.TempDir(), "src.csv")
	f, _ := os.Create(src)
	w := bufio.NewWriter(f)
	w.WriteString("id;name;email;amount;changed\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(w, "%d;Customer %d;c%d@example.com;%d,50;01.02.2024 10:00:00\n", i, i, i, i)
	}
	w.Flush()
	f.Close()
	data, _ := os.ReadFile(src)
	total := 0
	for b.Loop() {
		b.StopTimer()
		dir := b.TempDir()
		os.WriteFile(filepath.Join(dir, "export.csv"), data, 0o644)
		s := Connector.NewSource()
		ctx := context.Background()
		if err := s.Configure(ctx, map[string]any{"dir": dir, "stable_for": "0s", "files": []any{map[string]any{"pattern": "*.csv", "entity": "customers",
			"format": "csv", "delimiter": ";", "key": "id", "updated_at": "changed", "updated_at_format": "02.01.2006 15:04:05"}}}); err != nil {
			b.Fatal(err)
		}
		if err := s.Open(ctx, nil); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		got := 0
		for {
			recs, err := s.Read(ctx, 5000)
			if err != nil {
				b.Fatal(err)
			}
			if len(recs) == 0 {
				break
			}
			got += len(recs)
		}
		s.Teardown(ctx)
		if got != n {
			b.Fatalf("read %d, want %d", got, n)
		}
		total += got
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "records/s")
}
