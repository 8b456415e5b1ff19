package bus_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/crmhub/crmhub/hub/bus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"
)

// mustOpen opens a bus on an embedded broker in a temp dir, closed with the test.
func mustOpen(tb testing.TB, dir string, reg prometheus.Registerer) *bus.Bus {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, bus.Config{EmbeddedListen: "127.0.0.1:0", DataDir: dir}, reg, testLogger(tb))
	if err != nil {
		tb.Fatalf("open bus: %v", err)
	}
	tb.Cleanup(func() { b.Close() })
	return b
}

func testLogger(tb testing.TB) *slog.Logger {
	if os.Getenv("CRMHUB_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func testCtx(tb testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

// fetchN fetches until n messages arrived or ctx ends.
func fetchN(ctx context.Context, tb testing.TB, c *bus.Consumer, n int) []bus.Message {
	tb.Helper()
	var out []bus.Message
	for len(out) < n {
		msgs, err := c.Fetch(ctx, n-len(out), 100*time.Millisecond)
		if err != nil {
			tb.Fatalf("fetch (have %d of %d): %v", len(out), n, err)
		}
		out = append(out, msgs...)
	}
	return out
}

func TestPublishConsumeCommit(t *testing.T) {
	reg := prometheus.NewRegistry()
	b := mustOpen(t, t.TempDir(), reg)
	ctx := testCtx(t, time.Minute)
	topic := b.Topics().Canonical("customer")

	const keys, perKey = 7, 10
	var msgs []bus.Message
	for i := range perKey {
		for k := range keys {
			msgs = append(msgs, bus.Message{
				Topic:   topic,
				Key:     fmt.Appendf(nil, "erp/customer/%d", k),
				Value:   []byte(strconv.Itoa(i)),
				Headers: map[string]string{"mapping": "erp-customer", "seq": strconv.Itoa(i)},
			})
		}
	}
	// Two Publish calls: ordering must hold across calls too.
	if err := b.Publish(ctx, msgs[:30]...); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, msgs[30:]...); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(mustCounter(t, reg, "crmhub_bus_messages_produced_total", topic)); got != float64(len(msgs)) {
		t.Errorf("messages_produced_total{topic=%s} = %v, want %d", topic, got, len(msgs))
	}

	c := b.NewConsumer("test-group", []string{topic})
	got := fetchN(ctx, t, c, len(msgs))

	partOf := map[string]int{}
	next := map[string]int{}
	partitions := map[int]bool{}
	for _, m := range got {
		k := string(m.Key)
		if p, ok := partOf[k]; ok && p != m.Partition {
			t.Errorf("key %s on partitions %d and %d", k, p, m.Partition)
		}
		partOf[k] = m.Partition
		partitions[m.Partition] = true
		if v := string(m.Value); v != strconv.Itoa(next[k]) {
			t.Errorf("key %s: got value %s, want %d (out of order)", k, v, next[k])
		}
		if m.Headers["seq"] != string(m.Value) || m.Headers["mapping"] != "erp-customer" {
			t.Errorf("headers not kept: %v", m.Headers)
		}
		if m.Topic != topic || m.Time.IsZero() {
			t.Errorf("message metadata: topic %q time %v", m.Topic, m.Time)
		}
		next[k]++
	}
	if len(partOf) != keys {
		t.Errorf("got %d keys, want %d", len(partOf), keys)
	}
	if len(partitions) < 2 {
		t.Errorf("%d keys all landed on partitions %v; the hash balancer should spread them", keys, partitions)
	}
	if err := c.Commit(ctx, got); err != nil {
		t.Fatal(err)
	}
	// The committed offsets are visible to an admin client.
	cl := &kafka.Client{Addr: kafka.TCP(b.Brokers()...)}
	offs, err := cl.ConsumerOffsets(ctx, kafka.TopicAndGroup{Topic: topic, GroupId: "test-group"})
	if err != nil {
		t.Fatal(err)
	}
	var committed int64
	for _, o := range offs {
		committed += o
	}
	if committed != int64(len(msgs)) {
		t.Errorf("committed offsets sum to %d (%v), want %d", committed, offs, len(msgs))
	}
	// After reading everything the lag is zero on every partition read.
	for p := range partitions {
		g, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := gaugeValue(g, "crmhub_bus_consumer_lag", map[string]string{"group": "test-group", "topic": topic, "partition": strconv.Itoa(p)}); !ok || v != 0 {
			t.Errorf("consumer_lag partition %d = %v (present %v), want 0", p, v, ok)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestConsumerLagReported(t *testing.T) {
	reg := prometheus.NewRegistry()
	b := mustOpen(t, t.TempDir(), reg)
	ctx := testCtx(t, time.Minute)
	topic := b.Topics().DeadLetter()
	var msgs []bus.Message
	for i := range 20 {
		msgs = append(msgs, bus.Message{Topic: topic, Key: []byte("one-key"), Value: []byte(strconv.Itoa(i))})
	}
	if err := b.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	c := b.NewConsumer("lag-group", []string{topic})
	got := fetchN(ctx, t, c, 5)
	g, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	last := got[len(got)-1]
	v, ok := gaugeValue(g, "crmhub_bus_consumer_lag", map[string]string{"group": "lag-group", "topic": topic, "partition": strconv.Itoa(last.Partition)})
	if want := float64(20 - 1 - last.Offset); !ok || v != want {
		t.Errorf("lag after reading up to offset %d = %v (present %v), want %v", last.Offset, v, ok, want)
	}
}

func TestRestartKeepsMessagesAndOffsets(t *testing.T) {
	dir := t.TempDir()
	ctx := testCtx(t, 2*time.Minute)
	b := mustOpen(t, dir, nil)
	topic := b.Topics().Canonical("order")
	var msgs []bus.Message
	for i := range 10 {
		msgs = append(msgs, bus.Message{Topic: topic, Key: []byte("erp/order/42"), Value: []byte(strconv.Itoa(i))})
	}
	if err := b.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	c := b.NewConsumer("restart-group", []string{topic})
	got := fetchN(ctx, t, c, 10)
	if err := c.Commit(ctx, got[:6]); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b2 := mustOpen(t, dir, nil)
	if err := b2.Publish(ctx, bus.Message{Topic: topic, Key: []byte("erp/order/42"), Value: []byte("10")}); err != nil {
		t.Fatal(err)
	}
	c2 := b2.NewConsumer("restart-group", []string{topic})
	again := fetchN(ctx, t, c2, 5)
	var vals []string
	for _, m := range again {
		vals = append(vals, string(m.Value))
	}
	if want := []string{"6", "7", "8", "9", "10"}; !slices.Equal(vals, want) {
		t.Errorf("after restart the group read %v, want %v", vals, want)
	}
	if again[0].Offset != 6 {
		t.Errorf("first offset after restart = %d, want 6", again[0].Offset)
	}
	// A new group on the restarted broker sees every message from the start.
	fresh := fetchN(ctx, t, b2.NewConsumer("fresh-group", []string{topic}), 11)
	if string(fresh[0].Value) != "0" || string(fresh[10].Value) != "10" {
		t.Errorf("new group read %q..%q, want 0..10", fresh[0].Value, fresh[10].Value)
	}
}

func TestGroupMembersSplitPartitions(t *testing.T) {
	b := mustOpen(t, t.TempDir(), nil)
	ctx := testCtx(t, 2*time.Minute)
	topic := b.Topics().Canonical("payment")
	c1 := b.NewConsumer("split-group", []string{topic})
	c2 := b.NewConsumer("split-group", []string{topic})

	type result struct {
		msgs []bus.Message
	}
	var (
		mu    sync.Mutex
		total int
		res   [2]result
		wg    sync.WaitGroup
	)
	const n = 90
	fctx, stop := context.WithCancel(ctx)
	defer stop()
	for i, c := range []*bus.Consumer{c1, c2} {
		wg.Go(func() {
			for fctx.Err() == nil {
				msgs, err := c.Fetch(fctx, 100, 50*time.Millisecond)
				if err != nil {
					return
				}
				mu.Lock()
				res[i].msgs = append(res[i].msgs, msgs...)
				total += len(msgs)
				if total >= n {
					stop()
				}
				mu.Unlock()
			}
		})
	}
	waitStableGroup(ctx, t, b, "split-group", 2)

	var msgs []bus.Message
	for i := range n {
		msgs = append(msgs, bus.Message{Topic: topic, Key: fmt.Appendf(nil, "fin/payment/%d", i), Value: []byte("x")})
	}
	if err := b.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if total != n {
		t.Fatalf("the two members read %d messages, want %d", total, n)
	}
	parts := [2]map[int]bool{{}, {}}
	for i := range res {
		for _, m := range res[i].msgs {
			parts[i][m.Partition] = true
		}
		if len(res[i].msgs) == 0 {
			t.Errorf("member %d read nothing; partitions were not split", i+1)
		}
	}
	for p := range parts[0] {
		if parts[1][p] {
			t.Errorf("partition %d read by both members", p)
		}
	}
	if len(parts[0])+len(parts[1]) != bus.DefaultPartitions {
		t.Errorf("members read partitions %v and %v, want all %d between them", parts[0], parts[1], bus.DefaultPartitions)
	}
}

// waitStableGroup waits until the group has members and every member has
// partitions assigned.
func waitStableGroup(ctx context.Context, tb testing.TB, b *bus.Bus, group string, members int) {
	tb.Helper()
	cl := &kafka.Client{Addr: kafka.TCP(b.Brokers()...)}
	var last string
	for ctx.Err() == nil {
		res, err := cl.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
		if err == nil && len(res.Groups) == 1 {
			g := res.Groups[0]
			last = fmt.Sprintf("state %s, %d members", g.GroupState, len(g.Members))
			assigned := 0
			for _, m := range g.Members {
				if len(m.MemberAssignments.Topics) > 0 {
					assigned++
				}
			}
			if g.GroupState == "Stable" && len(g.Members) == members && assigned == members {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	tb.Fatalf("group %s not stable with %d members: %s", group, members, last)
}

func TestPublishToMissingTopicFails(t *testing.T) {
	b := mustOpen(t, t.TempDir(), nil)
	ctx := testCtx(t, 30*time.Second)
	err := b.Publish(ctx, bus.Message{Topic: "crmhub.nosuch.v1", Key: []byte("k"), Value: []byte("v")})
	if err == nil {
		t.Fatal("publish to a topic that does not exist succeeded")
	}
	if err := b.Publish(ctx, bus.Message{Key: []byte("k")}); err == nil {
		t.Fatal("publish without a topic succeeded")
	}
}

func TestTopicsCreated(t *testing.T) {
	b := mustOpen(t, t.TempDir(), nil)
	ctx := testCtx(t, 30*time.Second)
	cl := &kafka.Client{Addr: kafka.TCP(b.Brokers()...)}
	tp := b.Topics()
	want := append(tp.AllCanonical(), tp.DeadLetter(), tp.GoldenChanges())
	md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: want})
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range md.Topics {
		if topic.Error != nil || len(topic.Partitions) != bus.DefaultPartitions {
			t.Errorf("topic %s: err %v, %d partitions", topic.Name, topic.Error, len(topic.Partitions))
		}
	}
	if len(md.Topics) != len(want) {
		t.Errorf("metadata lists %d topics, want %d", len(md.Topics), len(want))
	}
	res, err := cl.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: tp.GoldenChanges(), ConfigNames: []string{"cleanup.policy"},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	var policy string
	for _, r := range res.Resources {
		for _, e := range r.ConfigEntries {
			if e.ConfigName == "cleanup.policy" {
				policy = e.ConfigValue
			}
		}
	}
	if policy != "compact" {
		t.Errorf("golden changes topic cleanup.policy = %q, want compact", policy)
	}
	if err := b.Ping(ctx); err != nil {
		t.Errorf("ping: %v", err)
	}
	b.Close()
	if err := b.Ping(ctx); err == nil {
		t.Error("ping after close succeeded")
	}
}

// Fetch with no wait hands over what the brokers delivered, each message
// once and in order per key, however the messages split into fetches.
func TestFetchWithoutWaitKeepsOrder(t *testing.T) {
	b := mustOpen(t, t.TempDir(), nil)
	ctx := testCtx(t, time.Minute)
	topic := b.Topics().Canonical("customer")
	const keys, perKey = 5, 60
	for i := range perKey {
		var msgs []bus.Message
		for k := range keys {
			msgs = append(msgs, bus.Message{Topic: topic, Key: fmt.Appendf(nil, "k%d", k), Value: []byte(strconv.Itoa(i))})
		}
		if err := b.Publish(ctx, msgs...); err != nil {
			t.Fatal(err)
		}
	}
	c := b.NewConsumer("nowait", []string{topic})
	t.Cleanup(func() { c.Close() })
	next := map[string]int{}
	for got := 0; got < keys*perKey; {
		msgs, err := c.Fetch(ctx, 1000, 0)
		if err != nil {
			t.Fatalf("fetch after %d messages: %v", got, err)
		}
		for _, m := range msgs {
			if v := string(m.Value); v != strconv.Itoa(next[string(m.Key)]) {
				t.Fatalf("key %s: got %s, want %d (duplicate or out of order)", m.Key, v, next[string(m.Key)])
			}
			next[string(m.Key)]++
		}
		got += len(msgs)
	}
}

// Closing a consumer ends a Fetch waiting on it with ErrClosed, and a later
// Fetch fails the same way instead of waiting for its context.
func TestCloseEndsFetch(t *testing.T) {
	b := mustOpen(t, t.TempDir(), nil)
	ctx := testCtx(t, time.Minute)
	topic := b.Topics().Canonical("order")
	c := b.NewConsumer("closing", []string{topic})
	errc := make(chan error, 1)
	go func() {
		_, err := c.Fetch(ctx, 10, 0) // nothing was published: waits
		errc <- err
	}()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, bus.ErrClosed) {
		t.Errorf("waiting Fetch returned %v, want ErrClosed", err)
	}
	if _, err := c.Fetch(ctx, 10, 0); !errors.Is(err, bus.ErrClosed) {
		t.Errorf("Fetch after Close returned %v, want ErrClosed", err)
	}
}
