package bus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// Consumer is one member of a consumer group reading a set of topics. A
// new group starts at the earliest offset; offsets move only on Commit.
// Fetch and Commit may be called from different goroutines, but Fetch is
// not meant to be called concurrently with itself.
//
// From the first Fetch on, a goroutine moves the messages kafka-go fetched
// into a bounded buffer, so that Fetch can tell what has already arrived
// from what has not: it returns the former at once instead of lingering for
// more (the caller's batches grow by themselves while it works on the last
// one).
type Consumer struct {
	b     *Bus
	group string
	r     *kafka.Reader
	err   error // configuration error, returned by Fetch

	startOnce sync.Once
	buf       chan kafka.Message // fetched, not yet handed to Fetch
	errs      chan error         // fetch errors, in order with buf
	stop      context.CancelFunc // stops the pump
	pumped    chan struct{}      // closed when the pump returned
	done      chan struct{}      // closed by Close

	mu     sync.Mutex
	seen   map[topicPartition]struct{} // lag series this member set
	closed bool
}

// prefetch bounds the messages the pump holds beyond kafka-go's own queue:
// a few fetches' worth, so a Fetch after a busy spell finds a full batch,
// while a rebalance finds few messages of a partition that moved on.
const prefetch = 2048

type topicPartition struct {
	topic     string
	partition int
}

// NewConsumer joins group for topics. Joining happens on the first Fetch.
func (b *Bus) NewConsumer(group string, topics []string) *Consumer {
	c := &Consumer{b: b, group: group, seen: map[topicPartition]struct{}{},
		buf: make(chan kafka.Message, prefetch), errs: make(chan error), done: make(chan struct{})}
	switch {
	case group == "":
		c.err = fmt.Errorf("%w: consumer group name is empty", ErrConfig)
	case len(topics) == 0:
		c.err = fmt.Errorf("%w: consumer group %s: no topics", ErrConfig, group)
	}
	if c.err != nil {
		return c
	}
	log := b.log.With("group", group)
	c.r = kafka.NewReader(kafka.ReaderConfig{
		Brokers:     b.brokers,
		GroupID:     group,
		GroupTopics: topics,
		Dialer:      b.dialer,
		StartOffset: kafka.FirstOffset,
		// Commits are explicit and synchronous: the hub commits only after
		// its store committed.
		CommitInterval: 0,
		MinBytes:       1,
		MaxBytes:       b.cfg.FetchMaxBytes,
		// The broker holds an idle fetch for MaxWait minus kafka-go's RTT
		// allowance (1s, or a quarter of MaxWait below that). At 500ms the
		// margin was 125ms, which a loaded machine overran: the fetch timed
		// out and the connection was redialled. Data still returns at once
		// (MinBytes 1), so a longer MaxWait costs no latency.
		MaxWait: 3 * time.Second,
		// Short group timings so that a member joining or leaving (scale
		// out, restart) rebalances in seconds, not half a minute.
		HeartbeatInterval:     time.Second,
		SessionTimeout:        10 * time.Second,
		RebalanceTimeout:      10 * time.Second,
		JoinGroupBackoff:      500 * time.Millisecond,
		ReadBackoffMin:        50 * time.Millisecond,
		ReadBackoffMax:        time.Second,
		WatchPartitionChanges: true,
		ErrorLogger: kafka.LoggerFunc(func(f string, a ...any) {
			log.Warn("kafka consumer", "detail", fmt.Sprintf(f, a...))
		}),
	})
	b.mu.Lock()
	if b.closed {
		c.err = ErrClosed
	} else {
		b.consumers[c] = struct{}{}
	}
	b.mu.Unlock()
	return c
}

// Group is the consumer group's name.
func (c *Consumer) Group() string { return c.group }

// Fetch blocks until a first message arrives (or ctx ends), then adds the
// messages already fetched from the brokers, up to max, in partition order.
// With wait > 0 and fewer than max at hand it gathers more for at most wait
// after the first; with wait 0 it returns at once. A ctx ending after the
// first message returns what was gathered.
func (c *Consumer) Fetch(ctx context.Context, max int, wait time.Duration) ([]Message, error) {
	if c.err != nil {
		return nil, c.err
	}
	if max < 1 {
		max = 1
	}
	c.startOnce.Do(c.startPump)
	var first kafka.Message
	select {
	case first = <-c.buf:
	case err := <-c.errs:
		return nil, c.fetchErr(err)
	case <-c.done:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	out := make([]Message, 0, min(max, 1024))
	out = append(out, fromKafka(first))
	c.drain(&out, max)
	if len(out) < max && wait > 0 {
		timer := time.NewTimer(wait)
	gather:
		for len(out) < max {
			select {
			case m := <-c.buf:
				out = append(out, fromKafka(m))
				c.drain(&out, max)
			case <-timer.C:
				break gather
			case <-ctx.Done():
				break gather
			}
		}
		timer.Stop()
	}
	c.observe(out)
	return out, nil
}

// drain appends what the pump holds, up to max, without waiting.
func (c *Consumer) drain(out *[]Message, max int) {
	for len(*out) < max {
		select {
		case m := <-c.buf:
			*out = append(*out, fromKafka(m))
		default:
			return
		}
	}
}

// startPump starts the goroutine that moves fetched messages into buf. An
// error goes to errs, in order with the messages before it; the pump goes on
// after a transient one (kafka-go retries inside) and stops on close.
func (c *Consumer) startPump() {
	ctx, cancel := context.WithCancel(context.Background())
	c.stop = cancel
	c.pumped = make(chan struct{})
	go func() {
		defer close(c.pumped)
		for {
			m, err := c.r.FetchMessage(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				select {
				case c.errs <- err:
				case <-ctx.Done():
					return
				}
				if errors.Is(err, io.EOF) {
					return // the reader is closed
				}
				continue
			}
			select {
			case c.buf <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
}

func (c *Consumer) fetchErr(err error) error {
	if errors.Is(err, io.EOF) {
		return ErrClosed
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return c.b.brokerErr("fetch for consumer group "+c.group, err)
}

// observe counts fetched messages and updates the lag per partition from
// the high watermark the broker reported with the last message.
func (c *Consumer) observe(msgs []Message) {
	last := map[topicPartition]Message{}
	perTopic := map[string]int{}
	for _, m := range msgs {
		last[topicPartition{m.Topic, m.Partition}] = m
		perTopic[m.Topic]++
	}
	for t, n := range perTopic {
		c.b.metrics.consumed.WithLabelValues(c.group, t).Add(float64(n))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for tp, m := range last {
		lag := max(m.hwm-(m.Offset+1), 0)
		c.b.metrics.lag.WithLabelValues(c.group, tp.topic, strconv.Itoa(tp.partition)).Set(float64(lag))
		c.seen[tp] = struct{}{}
	}
}

// Commit commits the offsets after msgs (per partition, the highest one
// wins) and returns once the group coordinator stored them.
func (c *Consumer) Commit(ctx context.Context, msgs []Message) error {
	if c.err != nil {
		return c.err
	}
	if len(msgs) == 0 {
		return nil
	}
	kms := make([]kafka.Message, len(msgs))
	for i, m := range msgs {
		kms[i] = kafka.Message{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset}
	}
	if err := c.r.CommitMessages(ctx, kms...); err != nil {
		if errors.Is(err, io.ErrClosedPipe) {
			return ErrClosed
		}
		return c.b.brokerErr(fmt.Sprintf("commit %d messages for consumer group %s", len(msgs), c.group), err)
	}
	return nil
}

// Close leaves the group (its partitions go to the other members) and
// removes this member's lag series.
func (c *Consumer) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.done)
	for tp := range c.seen {
		c.b.metrics.lag.DeleteLabelValues(c.group, tp.topic, strconv.Itoa(tp.partition))
	}
	c.mu.Unlock()
	c.b.mu.Lock()
	delete(c.b.consumers, c)
	c.b.mu.Unlock()
	if c.r == nil {
		return nil
	}
	// No Fetch may start the pump from here on; one that did is stopped
	// before the reader closes under it.
	c.startOnce.Do(func() {})
	if c.stop != nil {
		c.stop()
		<-c.pumped
	}
	if err := c.r.Close(); err != nil {
		return fmt.Errorf("close consumer group %s: %w", c.group, err)
	}
	return nil
}

func fromKafka(m kafka.Message) Message {
	out := Message{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value, Time: m.Time, hwm: m.HighWaterMark}
	if len(m.Headers) > 0 {
		out.Headers = make(map[string]string, len(m.Headers))
		for _, h := range m.Headers {
			out.Headers[h.Key] = string(h.Value)
		}
	}
	return out
}
