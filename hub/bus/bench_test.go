package bus_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/crmhub/crmhub/hub/bus"
)

// BenchmarkPublish publishes 1 KB messages in batches of 500 to the
// embedded broker over TCP, each batch acknowledged (acks=all).
//
//	go test -run '^$' -bench Publish ./hub/bus
func BenchmarkPublish(b *testing.B) {
	bs := mustOpen(b, b.TempDir(), nil)
	ctx := context.Background()
	topic := bs.Topics().Canonical("customer")
	batch := benchBatch(topic, 500)
	b.SetBytes(int64(len(batch) * 1024))
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if err := bs.Publish(ctx, batch...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/time.Since(start).Seconds(), "records/s")
}

// BenchmarkConsume reads and commits 1 KB messages in a consumer group;
// each iteration consumes one batch of 500 published beforehand.
//
//	go test -run '^$' -bench Consume ./hub/bus
func BenchmarkConsume(b *testing.B) {
	bs := mustOpen(b, b.TempDir(), nil)
	ctx := context.Background()
	topic := bs.Topics().Canonical("order")
	batch := benchBatch(topic, 500)
	total := 0
	for range b.N {
		if err := bs.Publish(ctx, batch...); err != nil {
			b.Fatal(err)
		}
		total += len(batch)
	}
	c := bs.NewConsumer("bench", []string{topic})
	b.SetBytes(int64(len(batch) * 1024))
	b.ResetTimer()
	start := time.Now()
	got := 0
	for got < total {
		msgs, err := c.Fetch(ctx, 500, 20*time.Millisecond)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Commit(ctx, msgs); err != nil {
			b.Fatal(err)
		}
		got += len(msgs)
	}
	b.ReportMetric(float64(got)/time.Since(start).Seconds(), "records/s")
}

func benchBatch(topic string, n int) []bus.Message {
	value := make([]byte, 1024)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	out := make([]bus.Message, n)
	for i := range out {
		out[i] = bus.Message{Topic: topic, Key: fmt.Appendf(nil, "erp/customer/%d", i), Value: value}
	}
	return out
}

// BenchmarkPublishOne publishes one 1 KB message per call and waits for
// the acknowledgement: the latency a webhook change pays on its way in.
//
//	go test -run '^$' -bench PublishOne ./hub/bus
func BenchmarkPublishOne(b *testing.B) {
	bs := mustOpen(b, b.TempDir(), nil)
	ctx := context.Background()
	batch := benchBatch(bs.Topics().Canonical("customer"), 1)
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if err := bs.Publish(ctx, batch...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N), "µs/publish")
}
