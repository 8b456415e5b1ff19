package sdk

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pluginv1 "github.com/crmhub/crmhub/plugins/proto/v1"
)

// serveBulkSource is serveSource with a bulk channel between the two sides.
// It returns the host's client and the plugin's writer.
func serveBulkSource(t *testing.T, conn Connector) (*sourceClient, *bulkWriter, *bulkChannel) {
	t.Helper()
	ch, err := newBulkChannel()
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skip("no socket pairs on this platform")
	}
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.FileConn(ch.plugin)
	if err != nil {
		t.Fatal(err)
	}
	ch.Started()
	w := &bulkWriter{conn: pc}
	t.Cleanup(func() { pc.Close(); ch.Close() })

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpcServerOptions()...)
	pluginv1.RegisterSourceServer(srv, newSourceServer(conn, w))
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	cc, err := grpc.NewClient(lis.Addr().String(), append(grpcDialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	c := &sourceClient{c: pluginv1.NewSourceClient(cc)}
	if !ch.Attach(c) {
		t.Fatal("Attach refused a source client")
	}
	return c, w, ch
}

func openNumbers(t *testing.T, total int) (*sourceClient, *bulkWriter, *bulkChannel) {
	t.Helper()
	cs := &numberSource{total: total}
	c, w, ch := serveBulkSource(t, Connector{Spec: Spec{Name: "count"}, NewSource: func() Source { return cs }})
	ctx := context.Background()
	if err := c.Configure(ctx, Config{}); err != nil {
		t.Fatal(err)
	}
	if err := c.Open(ctx, nil); err != nil {
		t.Fatal(err)
	}
	return c, w, ch
}

// Batches travel through the bulk channel, every record once and in order,
// and the plugin's frames are what the host decodes.
func TestBulkChannelCarriesBatches(t *testing.T) {
	c, w, _ := openNumbers(t, 2500)
	ctx := context.Background()
	next := 0
	for {
		recs, err := c.Read(ctx, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			break
		}
		for _, r := range recs {
			if r.ID != strconv.Itoa(next) || string(r.Payload) != `{"n":`+strconv.Itoa(next)+`}` {
				t.Fatalf("record %d arrived as %s %s", next, r.ID, r.Payload)
			}
			next++
		}
	}
	if next != 2500 {
		t.Fatalf("read %d records, want 2500", next)
	}
	w.mu.Lock()
	frames := w.seq
	w.mu.Unlock()
	// Three non-empty batches and the empty one that said "caught up".
	if frames != 4 {
		t.Errorf("plugin wrote %d bulk frames, want 4 (batches went inline?)", frames)
	}
}

// A frame whose Read the host gave up on is still on the channel; the next
// Read skips it instead of returning its records.
func TestBulkChannelDropsAbandonedFrames(t *testing.T) {
	c, w, _ := openNumbers(t, 10)
	ctx := context.Background()
	stale := packBatch(nil, []Record{{Entity: "e", ID: "stale"}})
	if _, err := w.write(stale); err != nil {
		t.Fatal(err)
	}
	recs, err := c.Read(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || recs[0].ID != "0" {
		t.Fatalf("read %+v, want records 0..2", recs)
	}
}

// The plugin's end closing (the process died) fails a Read waiting for its
// frame with ErrTransport, the error the host restarts a plugin on.
func TestBulkChannelLostIsTransportError(t *testing.T) {
	ch, err := newBulkChannel()
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skip("no socket pairs on this platform")
	}
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	pc, err := net.FileConn(ch.plugin)
	if err != nil {
		t.Fatal(err)
	}
	ch.Started()
	r := newBulkReader(ch.host)
	defer r.stop()

	// A context that ends first wins over a channel that stays silent.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.frame(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
	pc.Close()
	if _, err := r.frame(context.Background(), 1); !errors.Is(err, ErrTransport) {
		t.Fatalf("read on a channel the plugin closed: %v, want ErrTransport", err)
	}
}

// The plugin reads ahead, but never more than pluginReadAhead batches
// beyond what the host asked for: that bound is the backpressure.
func TestPluginReadAheadIsBounded(t *testing.T) {
	cs := &numberSource{total: 100000}
	c, _, _ := serveBulkSource(t, Connector{Spec: Spec{Name: "count"}, NewSource: func() Source { return cs }})
	ctx := context.Background()
	if err := c.Configure(ctx, Config{}); err != nil {
		t.Fatal(err)
	}
	if err := c.Open(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(ctx, 10); err != nil {
		t.Fatal(err)
	}
	// Delivered: the batch read and the one the host reads ahead.
	want := 2 + pluginReadAhead
	waitFor(t, func() bool { return cs.readCalls() >= want })
	time.Sleep(50 * time.Millisecond) // room to overshoot, if it would
	if got := cs.readCalls(); got != want {
		t.Fatalf("plugin made %d source reads with 2 batches delivered, want %d", got, want)
	}
}
