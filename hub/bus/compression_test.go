package bus_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/crmhub/crmhub/hub/bus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The codec configured is the one on the wire (read off the produce
// requests' record batches at the broker), consumers read every codec
// back, and an unknown codec is refused at Open.
func TestCompression(t *testing.T) {
	for _, tc := range []struct {
		setting string
		want    int16 // the record batch's attributes & 7
		wantErr bool
	}{
		{"", 2, false}, // DefaultCompression: snappy
		{"none", 0, false},
		{"gzip", 1, false},
		{"snappy", 2, false},
		{"LZ4", 3, false},
		{"zstd", 4, false},
		{"brotli", 0, true},
	} {
		t.Run(tc.setting, func(t *testing.T) {
			cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(1))
			if err != nil {
				t.Fatal(err)
			}
			defer cluster.Close()
			var (
				mu     sync.Mutex
				codecs = map[int16]int{}
			)
			cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
				cluster.KeepControl()
				for _, tp := range req.(*kmsg.ProduceRequest).Topics {
					for _, p := range tp.Partitions {
						var rb kmsg.RecordBatch
						if err := rb.ReadFrom(p.Records); err == nil {
							mu.Lock()
							codecs[rb.Attributes&7]++
							mu.Unlock()
						}
					}
				}
				return nil, nil, false
			})
			ctx := testCtx(t, time.Minute)
			b, err := bus.Open(ctx, bus.Config{Brokers: cluster.ListenAddrs(), Partitions: 1, Compression: tc.setting}, nil, testLogger(t))
			if tc.wantErr {
				if !errors.Is(err, bus.ErrConfig) {
					b.Close()
					t.Fatalf("Open with compression %q: %v, want ErrConfig", tc.setting, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			topic := b.Topics().Canonical("customer")
			var msgs []bus.Message
			for i := range 200 {
				msgs = append(msgs, bus.Message{Topic: topic, Key: fmt.Appendf(nil, "erp/customer/%d", i),
					Value: fmt.Appendf(nil, `{"source_system":"erp","entity":"customer","data":{"id":%d,"name":"anna"}}`, i)})
			}
			if err := b.Publish(ctx, msgs...); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			got := codecs
			mu.Unlock()
			if len(got) != 1 || got[tc.want] == 0 {
				t.Errorf("produced batches by codec %v, want all of codec %d", got, tc.want)
			}
			c := b.NewConsumer("test-compression", []string{topic})
			defer c.Close()
			back := fetchN(ctx, t, c, len(msgs))
			for i, m := range back {
				if string(m.Value) != string(msgs[i].Value) {
					t.Fatalf("message %d read back as %q, want %q", i, m.Value, msgs[i].Value)
				}
			}
		})
	}
}
