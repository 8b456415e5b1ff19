package bus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/crmhub/crmhub/hub"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// Sentinel errors callers test for.
var (
	// ErrClosed is returned by operations on a closed Bus or Consumer.
	ErrClosed = errors.New("bus closed")
	// ErrUnreachable wraps failures to reach the brokers.
	ErrUnreachable = errors.New("kafka brokers unreachable")
	// ErrAuth wraps SASL authentication failures.
	ErrAuth = errors.New("kafka authentication failed")
)

// Message is one Kafka record. Topic, Key, Value and Headers are what a
// publisher sets; Partition, Offset and Time are filled on consumption.
type Message struct {
	Topic     string
	Partition int
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   map[string]string
	Time      time.Time

	hwm int64 // high watermark of the partition when fetched, for lag
}

// Bus is a connection to Kafka (embedded or external) with a shared
// producer. It is safe for concurrent use.
type Bus struct {
	cfg       Config
	log       *slog.Logger
	brokers   []string
	cluster   *kfake.Cluster // nil with an external cluster
	dialer    *kafka.Dialer
	transport *kafka.Transport
	client    *kafka.Client
	writer    *kafka.Writer
	metrics   *metrics

	// health is the probe of the brokers (health.go).
	health health

	mu        sync.Mutex
	closed    bool
	consumers map[*Consumer]struct{}
	limits    map[string]int // max.message.bytes by topic, read at Open
}

// Open connects to the configured cluster, or starts the embedded broker
// when cfg.Brokers is empty, and makes sure crmhub's topics exist: the
// canonical topics, the dead-letter topic and the compacted golden-changes
// topic. It fails when the brokers cannot be reached or reject the
// credentials. reg may be nil (no metrics); log may be nil.
func Open(ctx context.Context, cfg Config, reg prometheus.Registerer, log *slog.Logger) (*Bus, error) {
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "bus")
	tlsCfg, err := cfg.TLS.tlsConfig()
	if err != nil {
		return nil, err
	}
	mech, err := cfg.SASL.mechanism()
	if err != nil {
		return nil, err
	}
	codec, err := cfg.compression()
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("register bus metrics: %w", err)
	}
	b := &Bus{cfg: cfg, log: log, metrics: m, consumers: map[*Consumer]struct{}{}}

	if len(cfg.Brokers) == 0 {
		if cfg.TLS != nil || cfg.SASL != nil {
			return nil, fmt.Errorf("%w: tls and sasl apply to external brokers; set kafka.brokers or remove them", ErrConfig)
		}
		if err := b.startEmbedded(); err != nil {
			return nil, err
		}
	} else {
		b.brokers = slices.Clone(cfg.Brokers)
	}

	b.dialer = &kafka.Dialer{
		ClientID:      cfg.ClientID,
		Timeout:       10 * time.Second,
		DualStack:     true,
		TLS:           tlsCfg,
		SASLMechanism: mech,
	}
	b.transport = &kafka.Transport{
		ClientID:    cfg.ClientID,
		DialTimeout: 10 * time.Second,
		IdleTimeout: time.Minute,
		MetadataTTL: 10 * time.Second,
		TLS:         tlsCfg,
		SASL:        mech,
	}
	b.client = &kafka.Client{Addr: kafka.TCP(b.brokers...), Transport: b.transport, Timeout: 10 * time.Second}
	b.writer = &kafka.Writer{
		Addr: kafka.TCP(b.brokers...),
		// Murmur2 is the Java client's partitioner: a key lands on the same
		// partition whichever client (crmhub, Kafka Connect, kcat -X
		// partitioner=murmur2_random) produces it.
		Balancer:     &kafka.Murmur2Balancer{Consistent: true},
		RequiredAcks: kafka.RequireAll,
		MaxAttempts:  5,
		// Publish is synchronous and callers publish whole batches, so a
		// partition's batch is complete when the call has added its
		// messages: kafka-go has no "flush at the end of the call", and
		// every microsecond of linger is added to each Publish (2ms was
		// most of a one-message publish). Concurrent publishers still share
		// the batches formed while a produce request is in flight.
		BatchTimeout: 200 * time.Microsecond,
		BatchSize:    1000,
		Compression:  codec,
		ReadTimeout:  30 * time.Second,
		WriteTimeout: 30 * time.Second,
		Transport:    b.transport,
		ErrorLogger:  kafka.LoggerFunc(func(f string, a ...any) { log.Warn("kafka writer", "detail", fmt.Sprintf(f, a...)) }),
	}

	if err := b.Ping(ctx); err != nil {
		b.Close()
		return nil, err
	}
	if err := b.ensureTopics(ctx); err != nil {
		b.Close()
		return nil, err
	}
	b.readLimits(ctx)
	b.health.start(b)
	log.Info("kafka bus open", "brokers", strings.Join(b.brokers, ","), "embedded", b.cluster != nil, "topic_prefix", cfg.TopicPrefix)
	return b, nil
}

// startEmbedded starts the kfake broker on cfg.EmbeddedListen, persisting
// to cfg.DataDir.
func (b *Bus) startEmbedded() error {
	addr := b.cfg.EmbeddedListen
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("%w: embedded_listen %q: %w", ErrConfig, addr, err)
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.ClusterID("crmhub-embedded"),
		kfake.DefaultNumPartitions(b.cfg.Partitions),
		// kfake listens on 127.0.0.1 unless told otherwise; ListenFn puts
		// it on the configured address (host and port).
		kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, addr) }),
		kfake.WithLogger(kfakeLogger{b.log}),
	}
	if b.cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(b.cfg.DataDir))
	} else {
		b.log.Warn("embedded kafka broker without data_dir: messages and offsets are lost on restart")
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return fmt.Errorf("start embedded kafka broker on %s (data dir %q): %w", addr, b.cfg.DataDir, err)
	}
	b.cluster = c
	b.brokers = c.ListenAddrs()
	return nil
}

// kfakeLogger forwards the embedded broker's warnings and errors.
type kfakeLogger struct{ log *slog.Logger }

func (l kfakeLogger) Logf(level kfake.LogLevel, format string, args ...any) {
	switch level {
	case kfake.LogLevelError:
		l.log.Error("embedded kafka broker", "detail", fmt.Sprintf(format, args...))
	case kfake.LogLevelWarn:
		l.log.Debug("embedded kafka broker", "detail", fmt.Sprintf(format, args...))
	}
}

// Topics names crmhub's topics under the configured prefix.
func (b *Bus) Topics() hub.Topics { return hub.Topics{Prefix: b.cfg.TopicPrefix} }

// Brokers returns the bootstrap addresses in use; for the embedded broker,
// the address it really listens on.
func (b *Bus) Brokers() []string { return slices.Clone(b.brokers) }

// Embedded reports whether the bus runs its own broker.
func (b *Bus) Embedded() bool { return b.cluster != nil }

func (b *Bus) ensureTopics(ctx context.Context) error {
	t := b.Topics()
	var req kafka.CreateTopicsRequest
	for _, name := range append(t.AllCanonical(), t.DeadLetter()) {
		req.Topics = append(req.Topics, kafka.TopicConfig{Topic: name, NumPartitions: b.cfg.Partitions, ReplicationFactor: b.cfg.ReplicationFactor})
	}
	req.Topics = append(req.Topics, kafka.TopicConfig{
		Topic: t.GoldenChanges(), NumPartitions: b.cfg.Partitions, ReplicationFactor: b.cfg.ReplicationFactor,
		// The latest state per golden id is what consumers of this topic
		// need; compaction keeps the topic bounded by the customer count.
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact"}},
	})
	return b.CreateTopics(ctx, req.Topics...)
}

// DefaultMaxMessageBytes is Kafka's default message.max.bytes, used when
// the brokers do not say.
const DefaultMaxMessageBytes = 1048588

// recordOverhead is what the record batch around one message adds to its
// key, value and headers (batch header 61 bytes, record framing and
// varints); a message is checked against the limit with it.
const recordOverhead = 100

// ErrTooLarge marks a message over its topic's size limit (TooLargeError).
var ErrTooLarge = errors.New("message too large for the topic")

// TooLargeError is a message the brokers would refuse for its size.
type TooLargeError struct {
	Topic     string
	Key       []byte
	Size, Max int
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("message of %d bytes (key %.64q) exceeds the limit of %d bytes of topic %s (kafka.max_message_bytes or the topic's max.message.bytes)", e.Size, e.Key, e.Max, e.Topic)
}

func (e *TooLargeError) Unwrap() error { return ErrTooLarge }

// readLimits takes each topic's max.message.bytes from the brokers, unless
// the config sets a limit; failing that, Kafka's default. The writer's
// batches are kept under the smallest, so that small messages batched
// together are never refused as one.
func (b *Bus) readLimits(ctx context.Context) {
	b.limits = map[string]int{}
	t := b.Topics()
	topics := append(t.AllCanonical(), t.DeadLetter(), t.GoldenChanges())
	least := DefaultMaxMessageBytes
	if n := b.cfg.MaxMessageBytes; n > 0 {
		least = n
	} else {
		req := &kafka.DescribeConfigsRequest{}
		for _, name := range topics {
			req.Resources = append(req.Resources, kafka.DescribeConfigRequestResource{
				ResourceType: kafka.ResourceTypeTopic, ResourceName: name, ConfigNames: []string{"max.message.bytes"}})
		}
		res, err := b.client.DescribeConfigs(ctx, req)
		if err != nil {
			b.log.Warn("topic size limits not read; assuming Kafka's default", "limit", DefaultMaxMessageBytes, "err", err)
		} else {
			for _, r := range res.Resources {
				for _, e := range r.ConfigEntries {
					if n, err := strconv.Atoi(e.ConfigValue); err == nil && n > 0 && e.ConfigName == "max.message.bytes" {
						b.limits[r.ResourceName] = n
					}
				}
			}
		}
		least = 0
		for _, name := range topics {
			if n := b.MaxMessageBytes(name); least == 0 || n < least {
				least = n
			}
		}
	}
	b.writer.BatchBytes = int64(least)
}

// MaxMessageBytes is the most bytes one message (key, value, headers and
// its framing) may take on topic.
func (b *Bus) MaxMessageBytes(topic string) int {
	if n := b.cfg.MaxMessageBytes; n > 0 {
		return n
	}
	if n, ok := b.limits[topic]; ok {
		return n
	}
	return DefaultMaxMessageBytes
}

// MessageSize is the size a message is checked against its topic's limit
// with: key, value, headers and the record framing.
func MessageSize(m Message) int {
	n := recordOverhead + len(m.Key) + len(m.Value)
	for k, v := range m.Headers {
		n += len(k) + len(v) + 4
	}
	return n
}

// CheckSize returns a *TooLargeError when m would exceed its topic's
// limit, nil when it fits.
func (b *Bus) CheckSize(m Message) error {
	if n, max := MessageSize(m), b.MaxMessageBytes(m.Topic); n > max {
		return &TooLargeError{Topic: m.Topic, Key: m.Key, Size: n, Max: max}
	}
	return nil
}

// CreateTopics creates topics that do not exist yet; existing ones are left
// as they are.
func (b *Bus) CreateTopics(ctx context.Context, topics ...kafka.TopicConfig) error {
	res, err := b.client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: topics})
	if err != nil {
		return b.brokerErr("create topics", err)
	}
	for _, tc := range topics {
		if err := res.Errors[tc.Topic]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s (%d partitions): %w", tc.Topic, tc.NumPartitions, err)
		}
	}
	return nil
}

// brokerErr wraps err with what was being done and, for authentication
// failures, which credentials were used (never the password).
func (b *Bus) brokerErr(op string, err error) error {
	if errors.Is(err, kafka.SASLAuthenticationFailed) || errors.Is(err, kafka.UnsupportedSASLMechanism) || errors.Is(err, kafka.IllegalSASLState) {
		return fmt.Errorf("%s on kafka brokers %s: %w: user %q with %s: %w", op, strings.Join(b.brokers, ","), ErrAuth, b.cfg.SASL.Username, b.cfg.SASL.Mechanism, err)
	}
	return fmt.Errorf("%s on kafka brokers %s: %w", op, strings.Join(b.brokers, ","), err)
}

// diagnoseAuth tells a rejected SASL login from other connection failures.
// Brokers answer a failed authentication by closing the connection, which
// kafka-go reports as an unexpected EOF (some send error 58 first); so when
// a connection with TLS but without SASL succeeds and the one with SASL
// does not, the credentials are the problem. It returns nil otherwise.
func (b *Bus) diagnoseAuth(ctx context.Context) error {
	if b.cfg.SASL == nil || len(b.brokers) == 0 {
		return nil
	}
	addr := b.brokers[0]
	conn, err := b.dialer.DialContext(ctx, "tcp", addr)
	if err == nil {
		conn.Close()
		return nil
	}
	saslErr := err
	noSASL := *b.dialer
	noSASL.SASLMechanism = nil
	conn, err = noSASL.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil // the broker is not reachable at all: not an auth problem
	}
	conn.Close()
	if errors.Is(saslErr, io.EOF) || errors.Is(saslErr, io.ErrUnexpectedEOF) || errors.Is(saslErr, syscall.ECONNRESET) ||
		errors.Is(saslErr, kafka.SASLAuthenticationFailed) || errors.Is(saslErr, kafka.UnsupportedSASLMechanism) || errors.Is(saslErr, kafka.IllegalSASLState) {
		return fmt.Errorf("connect to kafka broker %s: %w: user %q with %s was rejected (wrong username or password, or mechanism not enabled on the broker): %w",
			addr, ErrAuth, b.cfg.SASL.Username, strings.ToUpper(b.cfg.SASL.Mechanism), saslErr)
	}
	return nil
}

// Publish writes msgs and returns once every one is acknowledged by all
// in-sync replicas (acks=all). Messages with the same key go to the same
// partition in the order given. On error some messages may still have been
// written: the caller retries the whole call, and consumers deduplicate
// (envelopes carry deterministic event ids). Nothing fails silently.
func (b *Bus) Publish(ctx context.Context, msgs ...Message) error {
	if len(msgs) == 0 {
		return nil
	}
	if b.isClosed() {
		return ErrClosed
	}
	kms := make([]kafka.Message, len(msgs))
	for i, m := range msgs {
		if m.Topic == "" {
			return fmt.Errorf("publish message %d (key %q): empty topic", i, m.Key)
		}
		// Refused before sending: the brokers would refuse the whole
		// request, every retry alike. Callers check sizes first
		// (CheckSize) and turn such a record into a dead letter.
		if err := b.CheckSize(m); err != nil {
			return fmt.Errorf("publish message %d: %w", i, err)
		}
		kms[i] = kafka.Message{Topic: m.Topic, Key: m.Key, Value: m.Value, Headers: toHeaders(m.Headers), Time: m.Time}
	}
	start := time.Now()
	err := b.writer.WriteMessages(ctx, kms...)
	b.metrics.produceDuration.Observe(time.Since(start).Seconds())
	if err == nil {
		countByTopic(msgs, nil, b.metrics.produced)
		return nil
	}
	var werrs kafka.WriteErrors
	if !errors.As(err, &werrs) || len(werrs) != len(msgs) {
		countByTopic(msgs, nil, b.metrics.produceErrors)
		return b.brokerErr(fmt.Sprintf("publish %d messages", len(msgs)), err)
	}
	failed := func(i int) bool { return werrs[i] != nil }
	countByTopic(msgs, failed, b.metrics.produceErrors)
	countByTopic(msgs, func(i int) bool { return !failed(i) }, b.metrics.produced)
	first := slices.IndexFunc(werrs, func(e error) bool { return e != nil })
	return b.brokerErr(fmt.Sprintf("publish %d messages: %d not acknowledged, first topic %s key %q",
		len(msgs), werrs.Count(), msgs[first].Topic, msgs[first].Key), werrs[first])
}

func countByTopic(msgs []Message, keep func(int) bool, c interface {
	WithLabelValues(...string) prometheus.Counter
}) {
	n := map[string]int{}
	for i, m := range msgs {
		if keep == nil || keep(i) {
			n[m.Topic]++
		}
	}
	for t, k := range n {
		c.WithLabelValues(t).Add(float64(k))
	}
}

func toHeaders(h map[string]string) []kafka.Header {
	if len(h) == 0 {
		return nil
	}
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys) // deterministic bytes on the wire
	out := make([]kafka.Header, len(keys))
	for i, k := range keys {
		out[i] = kafka.Header{Key: k, Value: []byte(h[k])}
	}
	return out
}

func (b *Bus) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// Close closes the producer, every consumer still open, then the embedded
// broker (which flushes its state to the data directory).
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	consumers := make([]*Consumer, 0, len(b.consumers))
	for c := range b.consumers {
		consumers = append(consumers, c)
	}
	b.mu.Unlock()
	b.health.stop()

	var errs []error
	if b.writer != nil {
		if err := b.writer.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close kafka writer: %w", err))
		}
	}
	for _, c := range consumers {
		if err := c.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if b.transport != nil {
		b.transport.CloseIdleConnections()
	}
	if b.cluster != nil {
		b.cluster.Close()
	}
	return errors.Join(errs...)
}
