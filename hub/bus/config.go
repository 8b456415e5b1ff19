package bus

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	kcompress "github.com/segmentio/kafka-go/compress"
	ksnappy "github.com/segmentio/kafka-go/compress/snappy"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// Defaults applied by Open to zero fields of Config.
const (
	DefaultEmbeddedListen = "127.0.0.1:9092"
	DefaultTopicPrefix    = "crmhub"
	DefaultPartitions     = 3
	DefaultClientID       = "crmhub"
	// DefaultHealthInterval is how often the bus asks the brokers whether
	// they answer (crmhub_bus_up).
	DefaultHealthInterval = 5 * time.Second
	// DefaultFetchMaxBytes bounds one fetch response (Config.FetchMaxBytes).
	DefaultFetchMaxBytes = 16 << 20
	// DefaultCompression is what franz-go, and so Redpanda Connect, produce
	// with by default: canonical envelopes repeat their keys record after
	// record, so a batch shrinks several times for little CPU, and every
	// Kafka broker and client since 0.8 reads it.
	DefaultCompression = "snappy"
)

// Config says which Kafka the bus talks to and how.
type Config struct {
	// Brokers of an external cluster; empty starts the embedded broker.
	Brokers []string `yaml:"brokers"`
	// EmbeddedListen is the TCP address the embedded broker listens on,
	// e.g. "127.0.0.1:9092"; "127.0.0.1:0" picks a free port (tests).
	EmbeddedListen string `yaml:"embedded_listen"`
	// DataDir is where the embedded broker persists topics and group
	// offsets; empty keeps them in memory only (lost on restart).
	DataDir string `yaml:"data_dir"`
	// TopicPrefix prefixes every topic name (hub.Topics).
	TopicPrefix string `yaml:"topic_prefix"`
	// Partitions of the topics the bus creates.
	Partitions int `yaml:"partitions"`
	// ReplicationFactor of the topics the bus creates; 0 or -1 leaves it to
	// the cluster's default.replication.factor.
	ReplicationFactor int `yaml:"replication_factor"`
	// ClientID identifies crmhub in broker logs and quotas.
	ClientID string `yaml:"client_id"`
	// MaxMessageBytes caps one published message; 0 reads each topic's
	// max.message.bytes (or the brokers' message.max.bytes) at Open.
	MaxMessageBytes int `yaml:"max_message_bytes"`
	// TLS to an external cluster; nil means plaintext.
	TLS *TLSConfig `yaml:"tls"`
	// SASL to an external cluster; nil means no authentication.
	SASL *SASLConfig `yaml:"sasl"`
	// FetchMaxBytes is the most a consumer's fetch from one broker
	// returns (kafka-go's MaxBytes); 0 is DefaultFetchMaxBytes. A fetch
	// response is held in memory while it is read, so it is part of the
	// hub's memory (memory_mb sets it). The broker truncates a message
	// larger than it, so it must stay above the largest message.
	FetchMaxBytes int `yaml:"fetch_max_bytes"`
	// Compression is the codec of the batches the bus produces: none,
	// gzip, snappy, lz4 or zstd; empty is DefaultCompression. Brokers store
	// and serve a batch as it was sent, so the codec saves broker memory
	// copies, disk and network for a little producer CPU; consumers
	// (crmhub's, kcat, Kafka Connect) decompress whatever codec a batch says.
	Compression string `yaml:"compression"`
	// HealthInterval is how often a probe checks that the brokers answer
	// and updates crmhub_bus_up; 0 is DefaultHealthInterval.
	HealthInterval time.Duration `yaml:"health_interval"`
}

// TLSConfig is TLS to the brokers, from PEM files.
type TLSConfig struct {
	// CAFile verifies the brokers' certificates; empty uses the system pool.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a client certificate for mutual TLS; both or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// InsecureSkipVerify disables certificate verification; for tests only.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// ServerName overrides the name checked in the brokers' certificates.
	ServerName string `yaml:"server_name"`
}

// SASL mechanisms the bus supports.
const (
	MechanismPlain       = "PLAIN"
	MechanismScramSHA256 = "SCRAM-SHA-256"
	MechanismScramSHA512 = "SCRAM-SHA-512"
)

// SASLConfig is SASL authentication to the brokers.
type SASLConfig struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	Mechanism string `yaml:"mechanism"`
	Username  string `yaml:"username"`
	Password  string `yaml:"password"`
}

// ErrConfig is returned (wrapped) for an invalid Config.
var ErrConfig = errors.New("invalid kafka config")

func (c Config) withDefaults() Config {
	if c.EmbeddedListen == "" {
		c.EmbeddedListen = DefaultEmbeddedListen
	}
	if c.TopicPrefix == "" {
		c.TopicPrefix = DefaultTopicPrefix
	}
	if c.Partitions <= 0 {
		c.Partitions = DefaultPartitions
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = -1
	}
	if c.ClientID == "" {
		c.ClientID = DefaultClientID
	}
	if c.HealthInterval <= 0 {
		c.HealthInterval = DefaultHealthInterval
	}
	if c.FetchMaxBytes <= 0 {
		c.FetchMaxBytes = DefaultFetchMaxBytes
	}
	if c.Compression == "" {
		c.Compression = DefaultCompression
	}
	return c
}

// tlsConfig builds a crypto/tls config from the files; nil when TLS is off.
func (t *TLSConfig) tlsConfig() (*tls.Config, error) {
	if t == nil {
		return nil, nil
	}
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // explicit opt-in, documented as test-only
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: tls.ca_file: %w", ErrConfig, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: tls.ca_file %s: no PEM certificate found", ErrConfig, t.CAFile)
		}
		tc.RootCAs = pool
	}
	switch {
	case t.CertFile != "" && t.KeyFile != "":
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: tls.cert_file/key_file: %w", ErrConfig, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	case t.CertFile != "" || t.KeyFile != "":
		return nil, fmt.Errorf("%w: tls.cert_file and tls.key_file must be set together", ErrConfig)
	}
	return tc, nil
}

// mechanism builds the kafka-go SASL mechanism; nil when SASL is off.
func (s *SASLConfig) mechanism() (sasl.Mechanism, error) {
	if s == nil {
		return nil, nil
	}
	if s.Username == "" {
		return nil, fmt.Errorf("%w: sasl.username is empty", ErrConfig)
	}
	switch strings.ToUpper(s.Mechanism) {
	case MechanismPlain:
		return plain.Mechanism{Username: s.Username, Password: s.Password}, nil
	case MechanismScramSHA256, MechanismScramSHA512:
		algo := scram.SHA256
		if strings.ToUpper(s.Mechanism) == MechanismScramSHA512 {
			algo = scram.SHA512
		}
		m, err := scram.Mechanism(algo, s.Username, s.Password)
		if err != nil {
			return nil, fmt.Errorf("%w: sasl %s: %w", ErrConfig, s.Mechanism, err)
		}
		return m, nil
	default:
		return nil, fmt.Errorf("%w: sasl.mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", ErrConfig, s.Mechanism)
	}
}

// kafka-go's snappy codec is one table shared by every writer of the
// process; its default is s2's "better" encoder, which took 4% of a
// connector's CPU to save a few bytes per batch. The fast encoder is the
// one franz-go (and so Redpanda Connect) uses, and its output is plain
// snappy that every consumer reads.
func init() {
	kcompress.SnappyCodec.Compression = ksnappy.FasterCompression
}

// compression is c.Compression as kafka-go's codec.
func (c Config) compression() (kafka.Compression, error) {
	switch strings.ToLower(c.Compression) {
	case "", "none":
		return 0, nil
	case "gzip":
		return kafka.Gzip, nil
	case "snappy":
		return kafka.Snappy, nil
	case "lz4":
		return kafka.Lz4, nil
	case "zstd":
		return kafka.Zstd, nil
	}
	return 0, fmt.Errorf("%w: compression %q: want none, gzip, snappy, lz4 or zstd", ErrConfig, c.Compression)
}
