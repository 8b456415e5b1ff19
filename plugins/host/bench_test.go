package host_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/crmhub/crmhub/plugins/host"
	"github.com/crmhub/crmhub/plugins/host/testdata/testconn"
	"github.com/crmhub/crmhub/plugins/sdk"
)

// hopBatch is the batch size the hop's goal is stated for.
const hopBatch = 1000

// BenchmarkPluginHop reads 1 KB records in batches of 1000 through a plugin
// process over gRPC and through the same connector in-process; compare the
// records/s of the two. Both produce every payload afresh (json.Marshal per
// record), as a real source copies rows out of its driver, and both ack
// every batch, off the read loop as the pipeline's checkpointer does (the
// newest position wins when acks queue up).
//
// records/s alone hides what the hop costs: through gRPC the plugin
// process builds the next batch while the host decodes this one (read
// ahead, two processes in parallel), in-process one goroutine does both.
// So each sub-benchmark also reports the CPU time spent per record, of the
// host (this process) and, for grpc, of the plugin process (counted once
// the host stopped and reaped it): cpu-µs/record is their sum, the figure
// to compare.
//
// On a shared machine the load changes between the two sub-benchmarks, so
// "interleaved" also runs both in alternating blocks of batches and reports
// each one's records/s and their ratio (grpc/inprocess) from the same
// period.
//
// Set CRMHUB_TEST_PLUGIN_CPUPROFILE=/tmp/plugin.prof to get a CPU profile of
// the plugin process (written as /tmp/plugin.prof.PID when the host closes
// it); -cpuprofile covers the host side.
func BenchmarkPluginHop(b *testing.B) {
	// The in-process connector logs through the default logger; keep the
	// benchmark lines readable.
	def := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer slog.SetDefault(def)
	for _, mode := range []struct {
		name      string
		inProcess bool
	}{{"grpc", false}, {"inprocess", true}} {
		b.Run(mode.name, func(b *testing.B) {
			h, src := hopHost(b, mode.inProcess)
			ctx := context.Background()
			ack := startAcker(ctx, b, src)
			var bytes int64
			self0, children0 := cpuTimes()
			b.ResetTimer()
			for b.Loop() {
				bytes += readHopBatch(ctx, b, src, ack)
			}
			b.StopTimer()
			ack.stop()
			// Closing reaps the plugin process, so its CPU time shows in
			// the children's; the teardown's share is small against the
			// loop's.
			if err := h.Close(ctx); err != nil {
				b.Fatal(err)
			}
			self1, children1 := cpuTimes()
			records := float64(b.N) * hopBatch
			hostCPU := float64((self1 - self0).Microseconds()) / records
			pluginCPU := float64((children1 - children0).Microseconds()) / records
			b.ReportMetric(records/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(hostCPU, "host-cpu-µs/record")
			if !mode.inProcess {
				b.ReportMetric(pluginCPU, "plugin-cpu-µs/record")
			}
			b.ReportMetric(hostCPU+pluginCPU, "cpu-µs/record")
			b.SetBytes(bytes / int64(b.N))
		})
	}
	b.Run("interleaved", func(b *testing.B) {
		ctx := context.Background()
		srcs := []sdk.Source{hopSource(b, false), hopSource(b, true)}
		acks := []*acker{startAcker(ctx, b, srcs[0]), startAcker(ctx, b, srcs[1])}
		defer acks[0].stop()
		defer acks[1].stop()
		// Blocks long enough that the plugin's read-ahead at a block
		// boundary does not overlap the in-process block much.
		const block = 10
		var spent [2]time.Duration
		var batches [2]int
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			m := i / block % 2
			start := time.Now()
			readHopBatch(ctx, b, srcs[m], acks[m])
			spent[m] += time.Since(start)
			batches[m]++
		}
		var rate [2]float64
		for m := range rate {
			if spent[m] > 0 {
				rate[m] = float64(batches[m]) * hopBatch / spent[m].Seconds()
			}
		}
		b.ReportMetric(rate[0], "grpc-records/s")
		b.ReportMetric(rate[1], "inprocess-records/s")
		if rate[1] > 0 {
			b.ReportMetric(rate[0]/rate[1], "grpc/inprocess")
		}
	})
}

// hopSource starts the test connector endless with 1 KB payloads.
func hopSource(b *testing.B, inProcess bool) sdk.Source {
	b.Helper()
	_, src := hopHost(b, inProcess)
	return src
}

// hopHost is hopSource with its host, for a caller that closes it itself.
func hopHost(b *testing.B, inProcess bool) (*host.Host, sdk.Source) {
	b.Helper()
	h, err := host.New(host.Options{
		Builtins:  map[string]sdk.Connector{"crashy": testconn.Connector},
		SelfCmd:   []string{pluginBin, "plugin", "serve"},
		InProcess: inProcess,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.Close(context.Background()) })
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
	return h, src
}

// readHopBatch reads one full batch, hands its last position to ack and
// returns its payload bytes.
func readHopBatch(ctx context.Context, b *testing.B, src sdk.Source, ack *acker) int64 {
	recs, err := src.Read(ctx, hopBatch)
	if err != nil || len(recs) != hopBatch {
		b.Fatalf("read: %d records, %v", len(recs), err)
	}
	var n int64
	for i := range recs {
		n += int64(len(recs[i].Payload))
	}
	ack.ack(recs[hopBatch-1].Position)
	return n
}

// acker acks positions in the background, the newest one when several
// wait, like hub/pipeline's checkpointer.
type acker struct {
	next chan sdk.Position
	done chan struct{}
}

func startAcker(ctx context.Context, b *testing.B, src sdk.Source) *acker {
	a := &acker{next: make(chan sdk.Position, 1), done: make(chan struct{})}
	go func() {
		defer close(a.done)
		for pos := range a.next {
			if err := src.Ack(ctx, pos); err != nil {
				b.Error(err)
				return
			}
		}
	}()
	return a
}

func (a *acker) ack(pos sdk.Position) {
	for {
		select {
		case a.next <- pos:
			return
		default:
		}
		// Replace the position still waiting with the newer one.
		select {
		case <-a.next:
		default:
		}
	}
}

func (a *acker) stop() {
	close(a.next)
	<-a.done
}
