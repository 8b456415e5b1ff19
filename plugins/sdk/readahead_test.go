package sdk

import (
	"context"
	"strconv"
	"testing"
)

// TestReadAheadTakesUpLargerLimit: a host that starts with a small batch
// and then asks for full ones gets full ones from both read-aheads (the
// host's and the plugin's) at once, not batches of the first size until
// the source catches up; every record still arrives once and in order.
func TestReadAheadTakesUpLargerLimit(t *testing.T) {
	const total = 20000
	src, cs := openNumberSource(t, total)
	ctx := context.Background()
	next, calls := 0, 0
	for limit := 10; next < total && calls < total; limit = 1000 {
		recs, err := src.Read(ctx, limit)
		if err != nil {
			t.Fatal(err)
		}
		calls++
		for _, r := range recs {
			if r.ID != strconv.Itoa(next) {
				t.Fatalf("record %s, want %d (lost or out of order)", r.ID, next)
			}
			next++
		}
	}
	if next != total {
		t.Fatalf("%d of %d records read", next, total)
	}
	t.Logf("%d host reads, %d source reads for %d records", calls, cs.readCalls(), total)
	// 20 batches of 1000, and the few of 10 read ahead before the host
	// asked for more: keeping the first limit took about 2,000 reads.
	if n := cs.readCalls(); n > 40 {
		t.Errorf("the source was read %d times for %d records; the read-aheads kept the first limit of 10", n, total)
	}
	if calls > 40 {
		t.Errorf("the host needed %d reads for %d records", calls, total)
	}
}

// openNumberSource serves a numberSource of total records over gRPC and
// opens it at the start.
func openNumberSource(t *testing.T, total int) (Source, *numberSource) {
	t.Helper()
	cs := &numberSource{total: total}
	conn := Connector{Spec: Spec{Name: "count"}, NewSource: func() Source { return cs }}
	src := serveSource(t, conn, grpcServerOptions()...)
	ctx := context.Background()
	if err := src.Configure(ctx, Config{}); err != nil {
		t.Fatal(err)
	}
	if err := src.Open(ctx, nil); err != nil {
		t.Fatal(err)
	}
	return src, cs
}
