package main

import (
	"os"
	"testing"
)

// mapping's BenchmarkApplyPipeline measures the mapping that `crmhub bench
// pipeline` runs; its copy in mapping/testdata must stay the same, or the
// micro benchmark's figures stop describing the pipeline's.
func TestPipelineMappingMatchesMicroBenchmark(t *testing.T) {
	b, err := os.ReadFile("../../mapping/testdata/bench/pipeline19.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != benchMappingFull {
		t.Fatal("mapping/testdata/bench/pipeline19.yaml differs from benchMappingFull in bench_pipeline.go: copy one to the other")
	}
}

// A scrape is failed when it has none of the hub's metrics; the applier's
// counters are summed over their labels, and absent before the first apply.
func TestTakenOfScrape(t *testing.T) {
	for _, tc := range []struct {
		body    string
		want    float64
		wantErr bool
	}{
		{"# HELP x\ncrmhub_hub_applied_total{entity=\"customer\"} 7\ncrmhub_hub_applied_total{entity=\"order\"} 3\ncrmhub_hub_skipped_total{entity=\"customer\"} 2\n", 12, false},
		{"# HELP go_goroutines\ngo_goroutines 12\ncrmhub_bus_up 1\n", 0, false},
		{"An error has occurred while serving metrics:\n\ncollected metric ... store counts: not ready after 1s\n", 0, true},
		{"crmhub_hub_applied_total{entity=\"customer\"} x\n", 0, true},
	} {
		got, err := takenOf([]byte(tc.body))
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("takenOf(%q) = %v, %v; want %v, error %v", tc.body, got, err, tc.want, tc.wantErr)
		}
	}
}
