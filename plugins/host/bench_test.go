package host_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/crmhub/crmhub/plugins/host"
	"github.com/crmhub/crmhub/plugins/host/testdata/testconn"
	"github.com/crmhub/crmhub/plugins/sdk"
)

// BenchmarkPluginHop reads 1 KB records in batches of 1000 through a plugin
// process over gRPC and through the same connector in-process; compare the
// records/s of the two.
func BenchmarkPluginHop(b *testing.B) {
	for _, mode := range []struct {
		name      string
		inProcess bool
	}{{"grpc", false}, {"inprocess", true}} {
		b.Run(mode.name, func(b *testing.B) {
			h, err := host.New(host.Options{
				Builtins:  map[string]sdk.Connector{"crashy": testconn.Connector},
				SelfCmd:   []string{pluginBin, "plugin", "serve"},
				InProcess: mode.inProcess,
				Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
			})
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close(context.Background())
			ctx := context.Background()
			src, err := h.Source(ctx, "bench", "crashy")
			if err != nil {
				b.Fatal(err)
			}
			// 1000 filler bytes give a payload of about 1 KB.
			if err := src.Configure(ctx, sdk.Config{"total": 0, "payload_bytes": 1000}); err != nil {
				b.Fatal(err)
			}
			if err := src.Open(ctx, nil); err != nil {
				b.Fatal(err)
			}
			const batch = 1000
			var bytes int64
			b.ResetTimer()
			for b.Loop() {
				recs, err := src.Read(ctx, batch)
				if err != nil || len(recs) != batch {
					b.Fatalf("read: %d records, %v", len(recs), err)
				}
				bytes += int64(len(recs[0].Payload)) * batch
				if err := src.Ack(ctx, recs[batch-1].Position); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)*batch/b.Elapsed().Seconds(), "records/s")
			b.SetBytes(bytes / int64(b.N))
		})
	}
}
