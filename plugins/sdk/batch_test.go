package sdk

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	pluginv1 "github.com/crmhub/crmhub/plugins/proto/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestPackedBatchRoundTrip(t *testing.T) {
	ts := time.Date(2024, 5, 1, 12, 30, 0, 123456789, time.UTC)
	for _, tc := range []struct {
		name string
		recs []Record
	}{
		{"empty", []Record{}},
		{"full record", []Record{{Entity: "customers", ID: "1", UpdatedAt: ts, Op: OpUpsert, Payload: []byte(`{"a":1}`),
			Position: Position("p1"), Meta: map[string]string{"line": "1", "file": "a.csv"}}}},
		{"delete without payload or time", []Record{{Entity: "customers", ID: "2", Op: OpDelete, Position: Position("p2")}}},
		{"error record, empty meta", []Record{{Entity: "invoices", ID: "x", Op: OpUpsert, Error: "bad line", Payload: []byte(`{}`), Meta: map[string]string{}}}},
		{"before 1970", []Record{{Entity: "e", ID: "old", UpdatedAt: time.Date(1901, 2, 3, 4, 5, 6, 7, time.UTC)}}},
		{"entities alternate", []Record{{Entity: "a", ID: "1"}, {Entity: "b", ID: "2"}, {Entity: "a", ID: "3", Op: OpDelete}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := packBatch(make([]byte, 0, packedSize(tc.recs)), tc.recs)
			if len(b) > packedSize(tc.recs) {
				t.Errorf("packed %d bytes, estimate %d must be an upper bound", len(b), packedSize(tc.recs))
			}
			got, err := unpackBatch(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.recs) {
				t.Errorf("round trip changed the batch:\n got %+v\nwant %+v", got, tc.recs)
			}
		})
	}
}

// Appending to one record's payload must not overwrite the next record,
// although both are slices of the batch's buffer.
func TestPackedPayloadsDoNotOverlap(t *testing.T) {
	recs := []Record{{ID: "1", Payload: []byte("aaaa")}, {ID: "2", Payload: []byte("bbbb")}}
	got, err := unpackBatch(packBatch(nil, recs))
	if err != nil {
		t.Fatal(err)
	}
	_ = append(got[0].Payload, "XXXXXXXXXXXXXXXX"...)
	if string(got[1].Payload) != "bbbb" || got[1].ID != "2" {
		t.Fatalf("appending to record 0 changed record 1: %+v", got[1])
	}
}

func TestPackedBatchRejectsBadInput(t *testing.T) {
	good := packBatch(nil, []Record{{Entity: "customers", ID: "1", UpdatedAt: time.Unix(5, 0), Payload: []byte(`{"a":1}`), Meta: map[string]string{"k": "v"}}})
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"nothing", nil},
		{"huge count", []byte{0xff, 0xff, 0xff, 0xff, 0x0f}},
		{"unknown flag", append([]byte{1, 0x80, 0x01}, good[2:]...)},
		{"trailing bytes", append(append([]byte{}, good...), 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := unpackBatch(tc.b); !errors.Is(err, errPacked) {
				t.Fatalf("unpack = %v, want errPacked", err)
			}
		})
	}
	for i := 1; i < len(good); i++ {
		if _, err := unpackBatch(good[:i]); !errors.Is(err, errPacked) {
			t.Fatalf("batch cut at %d of %d bytes: %v, want errPacked", i, len(good), err)
		}
	}
}

// numberSource produces numbered records and counts its Read calls.
type numberSource struct {
	UnimplementedSource
	mu    sync.Mutex
	next  int
	total int
	reads int
}

func (c *numberSource) Configure(context.Context, Config) error { return nil }
func (c *numberSource) Open(_ context.Context, pos Position) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.next = 0
	if len(pos) > 0 {
		c.next, _ = strconv.Atoi(string(pos))
	}
	return nil
}
func (c *numberSource) Read(_ context.Context, max int) ([]Record, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reads++
	var out []Record
	for len(out) < max && c.next < c.total {
		out = append(out, Record{Entity: "e", ID: strconv.Itoa(c.next), Payload: []byte(fmt.Sprintf(`{"n":%d}`, c.next)),
			Position: Position(strconv.Itoa(c.next + 1))})
		c.next++
	}
	return out, nil
}

func (c *numberSource) readCalls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reads
}

// The host-side client reads ahead after a full batch: every record arrives
// once and in order, also when the host asks for fewer than were read
// ahead, and a re-Open drops what was read ahead for the old position.
func TestSourceClientReadsAhead(t *testing.T) {
	for _, server := range []struct {
		name string
		opts []grpc.ServerOption
	}{{"plugin server options", grpcServerOptions()}, {"plain protobuf codec", nil}} {
		t.Run(server.name, func(t *testing.T) {
			cs := &numberSource{total: 25}
			conn := Connector{Spec: Spec{Name: "count"}, NewSource: func() Source { return cs }}
			src := serveSource(t, conn, server.opts...)
			ctx := context.Background()
			if err := src.Configure(ctx, Config{}); err != nil {
				t.Fatal(err)
			}
			if err := src.Open(ctx, nil); err != nil {
				t.Fatal(err)
			}
			var ids []string
			read := func(max int) []Record {
				t.Helper()
				recs, err := src.Read(ctx, max)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range recs {
					ids = append(ids, r.ID)
				}
				return recs
			}
			read(10) // full: the host reads 10..19 ahead, the plugin 20..24
			waitFor(t, func() bool { return cs.readCalls() == 3 })
			if got := read(4); len(got) != 4 || got[0].ID != "10" || string(got[0].Payload) != `{"n":10}` {
				t.Fatalf("first records read ahead = %+v", got)
			}
			read(10) // the 6 left over, no new read
			if cs.readCalls() != 3 {
				t.Errorf("a short batch from what was read ahead made %d source reads, want 3", cs.readCalls())
			}
			read(10) // 20..24, read ahead by the plugin: short, so nothing more is read ahead
			if cs.readCalls() != 3 {
				t.Errorf("after a short batch: %d source reads, want 3", cs.readCalls())
			}
			if got := read(10); len(got) != 0 {
				t.Fatalf("read past the end = %+v", got)
			}
			want := make([]string, 25)
			for i := range want {
				want[i] = strconv.Itoa(i)
			}
			if !reflect.DeepEqual(ids, want) {
				t.Fatalf("records lost or duplicated: %v", ids)
			}

			// Re-open at 5 while batches (10..19 on the host, 20..24 in the
			// plugin) are read ahead: the next Read starts at 5, not where
			// either read ahead stood.
			if err := src.Open(ctx, Position("0")); err != nil {
				t.Fatal(err)
			}
			before := cs.readCalls()
			read(10)
			waitFor(t, func() bool { return cs.readCalls() == before+3 })
			if err := src.Open(ctx, Position("5")); err != nil {
				t.Fatal(err)
			}
			if got := read(3); len(got) != 3 || got[0].ID != "5" {
				t.Fatalf("after re-open at 5 read %+v", got)
			}
			if err := src.Teardown(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A Read whose caller has gone reads nothing: the host cancels the Read its
// read-ahead had in flight before it re-opens, and that Read's handler may
// run here only after the Open. Reading then, it took the first batch at the
// new position for a caller that was gone, and the host's next Read began a
// batch later (TestSourceClientReadsAhead failed now and then: after a
// re-open at 5 it read 15).
func TestSourceServerReadAfterCallerGone(t *testing.T) {
	cs := &numberSource{total: 25}
	s := newSourceServer(Connector{Spec: Spec{Name: "count"}, NewSource: func() Source { return cs }}, nil)
	ctx := context.Background()
	if _, err := s.Configure(ctx, &pluginv1.ConfigureRequest{ConfigJson: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(ctx, &pluginv1.OpenRequest{Position: []byte("5")}); err != nil {
		t.Fatal(err)
	}
	gone, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Read(gone, &pluginv1.ReadRequest{Max: 10}); status.Code(err) != codes.Canceled {
		t.Errorf("a Read whose caller has gone: %v, want Canceled", err)
	}
	resp, err := s.Read(ctx, &pluginv1.ReadRequest{Max: 3})
	if err != nil {
		t.Fatal(err)
	}
	if recs := resp.GetRecords(); len(recs) != 3 || recs[0].GetId() != "5" {
		t.Fatalf("after a Read whose caller had gone: %v, want 5, 6, 7", recs)
	}
	if _, err := s.Teardown(ctx, &pluginv1.TeardownRequest{}); err != nil {
		t.Fatal(err)
	}
}

// serveSource runs conn's source behind a real gRPC server with opts and
// returns the host-side client with the options a host dials with.
func serveSource(t *testing.T, conn Connector, opts ...grpc.ServerOption) Source {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(opts...)
	pluginv1.RegisterSourceServer(srv, newSourceServer(conn, nil))
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	cc, err := grpc.NewClient(lis.Addr().String(), append(grpcDialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return &sourceClient{c: pluginv1.NewSourceClient(cc)}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

// The plugin codec's bytes are the standard protobuf encoding, so a host
// without it (or an older one) decodes them too.
func TestWireCodecIsProtobuf(t *testing.T) {
	packed := packBatch(nil, []Record{{Entity: "e", ID: "1", Payload: []byte(`{}`)}})
	bs, err := wireCodec{}.Marshal(&pluginv1.ReadResponse{Packed: append([]byte{}, packed...)})
	if err != nil {
		t.Fatal(err)
	}
	var plain pluginv1.ReadResponse
	if err := proto.Unmarshal(bs.Materialize(), &plain); err != nil || string(plain.GetPacked()) != string(packed) {
		t.Fatalf("protobuf decode = %v, packed %q", err, plain.GetPacked())
	}
	std, err := proto.Marshal(&pluginv1.ReadResponse{Records: []*pluginv1.Record{{Id: "old"}}})
	if err != nil {
		t.Fatal(err)
	}
	var got pluginv1.ReadResponse
	if err := (wireCodec{}).Unmarshal(mem.BufferSlice{mem.SliceBuffer(std)}, &got); err != nil || len(got.GetRecords()) != 1 || got.GetRecords()[0].GetId() != "old" {
		t.Fatalf("an older plugin's records: %v, %+v", err, &got)
	}
}

// TestSourceClientReadsAheadVaryingLimits: a host that asks for batches of
// different sizes (the source runner bounds batches in bytes and starts
// small) gets every record once and in order.
func TestSourceClientReadsAheadVaryingLimits(t *testing.T) {
	const total = 5000
	src, _ := openNumberSource(t, total)
	ctx := context.Background()
	limits := []int{10, 100, 7, 250, 250, 3, 1000, 50}
	next := 0
	for i := 0; next < total && i < 10000; i++ {
		recs, err := src.Read(ctx, limits[i%len(limits)])
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) > limits[i%len(limits)] {
			t.Fatalf("read %d: %d records for a limit of %d", i, len(recs), limits[i%len(limits)])
		}
		for _, r := range recs {
			if r.ID != strconv.Itoa(next) {
				t.Fatalf("read %d: record %s, want %d (records lost or out of order)", i, r.ID, next)
			}
			next++
		}
	}
	if next != total {
		t.Errorf("%d of %d records read", next, total)
	}
}
