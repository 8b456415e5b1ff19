package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/crmhub/crmhub/hub/identity"
)

// Config is crmhub.yaml.
type Config struct {
	// File is the path the config was read from.
	File string `yaml:"-"`

	DataDir    string      `yaml:"data_dir"`
	HTTP       HTTP        `yaml:"http"`
	Kafka      Kafka       `yaml:"kafka"`
	Store      Store       `yaml:"store"`
	Mappings   Mappings    `yaml:"mappings"`
	Plugins    Plugins     `yaml:"plugins"`
	Hub        Hub         `yaml:"hub"`
	Identity   Identity    `yaml:"identity"`
	Log        Log         `yaml:"log"`
	Connectors []Connector `yaml:"connectors"`
	Targets    []Target    `yaml:"targets"` // write-back; see targets.go
	Auth       Auth        `yaml:"auth"`
	Value      Value       `yaml:"value"` // customer value figures; see value.go
	// Roles this instance runs (RoleConnectors, RoleApply, RoleAPI);
	// empty or "all" runs every one. `crmhub run --role` overrides it.
	Roles []string `yaml:"roles"`
	// MemoryMB is the hub process's memory budget in MB, split between
	// SQLite's caches, the record cache, the applier's transactions, Kafka
	// fetches and Go's heap (see MemoryBudget); 0 is DefaultMemoryMB, -1
	// no budget.
	MemoryMB int `yaml:"memory_mb"`

	// lines gives the line of every key by path ("store.driver"), so the
	// checks after decoding can point at it.
	lines map[string]int
}

// Roles of a hub instance, so that the connector tier, the applier and the
// API scale separately: every instance opens the store and the bus, and
// serves /healthz, /readyz and /metrics; each role adds its part.
const (
	RoleConnectors = "connectors" // source runners, reconciliation, write-back targets
	RoleApply      = "apply"      // the applier, the golden change stream, the dead-letter indexer
	RoleAPI        = "api"        // the HTTP API beyond the probes and metrics
	RoleAll        = "all"
)

// Runs reports whether the instance runs role.
func (c *Config) Runs(role string) bool {
	if len(c.Roles) == 0 {
		return true
	}
	for _, r := range c.Roles {
		if r == role || r == RoleAll {
			return true
		}
	}
	return false
}

// ParseRoles reads a comma-separated role list (the --role flag).
func ParseRoles(s string) ([]string, error) {
	var out []string
	for _, r := range strings.Split(s, ",") {
		r = strings.TrimSpace(r)
		switch r {
		case RoleConnectors, RoleApply, RoleAPI, RoleAll:
			out = append(out, r)
		case "":
		default:
			return nil, fmt.Errorf("%w: role %q: want connectors, apply, api or all (comma-separated)", ErrInvalid, r)
		}
	}
	return out, nil
}

// Auth configures API token authentication (hub/auth, crmhub tokens).
type Auth struct {
	// Enabled requires a bearer token on every API route but the probes,
	// /metrics and the OpenAPI document. Unset means on.
	Enabled *bool `yaml:"enabled"`
}

// On reports whether the API requires tokens: true unless enabled: false.
func (a Auth) On() bool { return a.Enabled == nil || *a.Enabled }

// HTTP configures the API listener.
type HTTP struct {
	Listen string `yaml:"listen"`
	// PProf serves Go's profiles under /debug/pprof/ to admin tokens.
	PProf bool `yaml:"pprof"`
}

// Kafka configures the bus. No brokers means the embedded broker.
type Kafka struct {
	Brokers        []string `yaml:"brokers"`
	EmbeddedListen string   `yaml:"embedded_listen"`
	TopicPrefix    string   `yaml:"topic_prefix"`
	Partitions     int      `yaml:"partitions"`
	ClientID       string   `yaml:"client_id"`
	// MaxMessageBytes caps one message crmhub publishes; 0 reads each
	// topic's max.message.bytes from the brokers. A canonical record over
	// it is dead-lettered as too_large instead of blocking its connector.
	MaxMessageBytes int `yaml:"max_message_bytes"`
	// Compression of the batches crmhub produces: none, gzip, snappy, lz4
	// or zstd; empty is snappy (bus.DefaultCompression).
	Compression string     `yaml:"compression"`
	TLS         *KafkaTLS  `yaml:"tls"`
	SASL        *KafkaSASL `yaml:"sasl"`
}

// KafkaTLS configures TLS to an external cluster.
type KafkaTLS struct {
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// KafkaSASL configures SASL to an external cluster.
type KafkaSASL struct {
	Mechanism string `yaml:"mechanism"` // PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512
	Username  string `yaml:"username"`
	Password  string `yaml:"password"`
}

// Store selects the database.
type Store struct {
	Driver string `yaml:"driver"` // sqlite | postgres
	DSN    string `yaml:"dsn"`    // empty with sqlite: <data_dir>/crmhub.db
	// SQLiteCacheMB is SQLite's page cache for the whole store (default
	// 256: half the writer's, half shared by four read connections).
	SQLiteCacheMB int `yaml:"sqlite_cache_mb"`
	// SQLiteMmapMB is how much of the database file the writer maps into
	// memory (0: none under memory_mb, the store's 256 with memory_mb -1;
	// -1 maps nothing). What it maps comes out of memory_mb's Go share.
	SQLiteMmapMB int `yaml:"sqlite_mmap_mb"`
}

// Mappings says where the mapping files are.
type Mappings struct {
	Dir string `yaml:"dir"`
}

// Plugins configures the plugin host.
type Plugins struct {
	Dir         string   `yaml:"dir"`
	MaxRestarts int      `yaml:"max_restarts"`
	InProcess   bool     `yaml:"in_process"` // run built-in connectors in the hub process (development)
	BackoffMax  Duration `yaml:"backoff_max"`
}

// Hub configures the consuming side.
type Hub struct {
	ConsumerGroup string `yaml:"consumer_group"`
	// BatchSize is the most records the applier takes per fetch (a backlog
	// is applied in transactions of up to eight fetches).
	BatchSize int `yaml:"batch_size"`
	// BatchWait is how long the applier waits for more records when fewer
	// than batch_size have arrived. The default 0 applies at once: batches
	// grow by themselves while the store applies the previous one.
	BatchWait Duration `yaml:"batch_wait"`
}

// Identity configures identity resolution and survivorship.
type Identity struct {
	// DefaultRegion reads phone numbers written without a country code.
	DefaultRegion string `yaml:"default_region"`
	// FieldPriority: per golden field, source systems in order of trust
	// (e.g. credit_limit: [finance, erp]).
	FieldPriority map[string][]string `yaml:"field_priority"`
	// FieldRule: per golden field, most_recent (default), most_complete or earliest.
	FieldRule map[string]string `yaml:"field_rule"`
	Fuzzy     Fuzzy             `yaml:"fuzzy"`
	// TaxIDVeto: whose differing tax ids keep records apart, organizations
	// (default), all or none; elsewhere a person's tax id is evidence.
	TaxIDVeto string `yaml:"tax_id_veto"`
}

// Fuzzy configures fuzzy matching: auto-merge above AutoMerge, review queue
// between Review and AutoMerge, a new golden customer below.
type Fuzzy struct {
	Enabled       bool    `yaml:"enabled"`
	AutoMerge     float64 `yaml:"auto_merge"`
	Review        float64 `yaml:"review"`
	NameWeight    float64 `yaml:"name_weight"`
	AddressWeight float64 `yaml:"address_weight"`
	MaxBlock      int     `yaml:"max_block"`
	// Method scores persons: fellegi_sunter (default) or weighted (the
	// hand weights above, as organizations always are).
	Method string `yaml:"method"`
	// People tunes the Fellegi-Sunter model of persons.
	People People `yaml:"people"`
}

// People configures the Fellegi-Sunter model: a parameter file written by
// `crmhub identity train` (relative to the config file), and thresholds on
// the match probability (defaults 0.99 and 0.8).
type People struct {
	Params    string  `yaml:"params"`
	AutoMerge float64 `yaml:"auto_merge"`
	Review    float64 `yaml:"review"`
	// Estimate: auto (the default) lets the hub estimate the model from
	// the store's records once it holds EstimateMinRecords person records,
	// and again whenever it has been idle for EstimateIdle after the
	// records changed; off keeps the defaults. A Params file wins over
	// both.
	Estimate string `yaml:"estimate"`
	// EstimateMinRecords: default 250; from about there on the estimate
	// scored at least as the defaults, in the mean, on every data set
	// measured, while at 120-150 records it lost up to 0.044 in F1 on some
	// draws of one (docs/identity-quality.md, "How many records an estimate
	// needs").
	EstimateMinRecords int `yaml:"estimate_min_records"`
	// EstimateIdle: how long no record was applied before the hub
	// estimates (default 5s), so estimates follow quiet moments, not
	// every batch.
	EstimateIdle Duration `yaml:"estimate_idle"`
	// EstimateInterval: the least time from the end of one estimate to
	// the start of the next (default 1m; the hub also waits nine times
	// as long as the last one took, so estimating and rescoring take at
	// most a tenth of its time while records keep coming). A quiet store
	// still estimates once it has passed: at quiescence the model is the
	// estimate of the current records.
	EstimateInterval Duration `yaml:"estimate_interval"`
	// EstimateSample caps the customer records an estimate reads, those of
	// the smallest key hash (default 50,000).
	EstimateSample int `yaml:"estimate_sample"`
}

// AutoEstimate reports whether the hub estimates the person model itself:
// estimate is auto (the default) and no params file is named. The default
// since the estimate keeps the configured m (identity.AutoEstimate): on
// data the defaults were not written for (FEBRL without the id) it finds
// far more of the duplicates, and on the demo's it scores as the defaults
// do (docs/identity-model.md). Its cost is a rescore of every fuzzy link
// whenever the model changed, at most a tenth of the hub's time.
func (p People) AutoEstimate() bool { return p.Estimate == EstimateAuto && p.Params == "" }

// DefaultEstimateMinRecords is identity.fuzzy.people.estimate_min_records'
// default: below it the hub keeps the configured model.
const DefaultEstimateMinRecords = identity.DefaultEstimateMinRecords

// Values of identity.fuzzy.people.estimate.
const (
	EstimateAuto = "auto"
	EstimateOff  = "off"
)

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // debug | info | warn | error
	Format string `yaml:"format"` // text | json
	// ProgressInterval is how often a reading source logs its progress
	// (records, rate, position, estimate); default 10s.
	ProgressInterval Duration `yaml:"progress_interval"`
}

// Connector is one configured connector instance.
type Connector struct {
	Name         string   `yaml:"name"`
	Plugin       string   `yaml:"plugin"`
	System       string   `yaml:"system"`
	PollInterval Duration `yaml:"poll_interval"`
	BatchSize    int      `yaml:"batch_size"`
	// MaxBatchBytes bounds a batch by its records' size too (0: 4 MiB,
	// pipeline.DefaultMaxBatchBytes): with large records the runner asks
	// for fewer than batch_size, so the batches it holds at once stay
	// within a few times this much memory.
	MaxBatchBytes int  `yaml:"max_batch_bytes"`
	Disabled      bool `yaml:"disabled"`
	// ReconcileInterval is how often the source's record counts are
	// compared with the hub's (default 10m; 0s turns reconciliation off).
	ReconcileInterval *Duration `yaml:"reconcile_interval"`
	// ReconcileReread: reconciliation has the source read again the
	// records whose version moved behind its position (default true;
	// false only lists them).
	ReconcileReread *bool `yaml:"reconcile_reread"`
	// Settings are the connector's own parameters, validated against its
	// declaration by the plugin host.
	Settings map[string]any `yaml:"settings"`

	// Line is where the instance starts in the file; SettingLines gives the
	// line of each settings key, so parameter errors can point at them.
	// Index is the instance's place in connectors[]. SettingLines holds
	// nested keys and list items too, by path ("entities[1].tabel").
	Line         int            `yaml:"-"`
	Index        int            `yaml:"-"`
	SettingLines map[string]int `yaml:"-"`
}

// Reconcile is the reconciliation interval, 0 when turned off.
func (c Connector) Reconcile() time.Duration {
	if c.ReconcileInterval == nil {
		return 10 * time.Minute
	}
	return c.ReconcileInterval.D()
}

// Where names a settings key's place in the file for error messages: the
// key's own line, or its nearest enclosing key's when it is missing.
func (c Connector) Where(file, key string) string {
	if key == "" {
		return fmt.Sprintf("%s:%d: connectors[%d]", file, c.Line, c.Index)
	}
	line, ok := lineOf(c.SettingLines, key)
	if !ok {
		line = c.Line
	}
	return fmt.Sprintf("%s:%d: connectors[%d].settings.%s", file, line, c.Index, key)
}

// Duration is a time.Duration written as "5s" in YAML.
type Duration time.Duration

// UnmarshalYAML reads "5s"-style durations.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		// Parse has already reported it with its key (checkTree); failing
		// here would stop yaml.v3 decoding the rest of the file, and the
		// connectors after it would go unchecked.
		return nil
	}
	*d = Duration(v)
	return nil
}

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// ErrInvalid marks configuration errors.
var ErrInvalid = errors.New("invalid configuration")

// Load reads and checks a config file.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, b, os.LookupEnv)
}

// Parse reads a config from bytes; lookup resolves ${VAR}.
func Parse(path string, b []byte, lookup func(string) (string, bool)) (*Config, error) {
	cfg, err := parse(path, b, lookup)
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// parse reads a config and reports every problem in it at once; the config
// is returned as far as it could be read, for checks that go on (the
// connectors' settings), and is nil only when the YAML itself is unreadable.
func parse(path string, b []byte, lookup func(string) (string, bool)) (*Config, error) {
	var root yaml.Node
	// ${VAR} is swapped for a placeholder that is a plain scalar anywhere
	// before parsing: in a flow mapping ({partitions: ${N:-1}}) its braces
	// were YAML syntax. The placeholders are put back, and the values
	// expanded, on the parsed tree, so a value never becomes YAML.
	b, refs := protectEnv(b)
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, path, err)
	}
	restoreEnv(&root, refs)
	if len(root.Content) == 0 {
		return nil, fmt.Errorf("%w: %s: empty file", ErrInvalid, path)
	}
	var errs []error
	expandNode(path, &root, lookup, &errs)
	cfg := &Config{File: path}
	// Decoding the expanded tree keeps the file's own line numbers in
	// yaml.v3's type errors; unknown keys and wrong types are found first by
	// walking the tree against the struct tags (Node.Decode has no
	// KnownFields, and its type errors name no key).
	checkTree(path, root.Content[0], reflect.TypeOf(*cfg), "", &errs)
	if err := root.Decode(cfg); err != nil && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("%w: %s: %v", ErrInvalid, path, err))
	}
	recordLines(&root, cfg)
	cfg.lines = map[string]int{}
	settingLines(root.Content[0], "", cfg.lines)
	cfg.defaults()
	cfg.resolvePaths(filepath.Dir(path))
	if err := cfg.check(); err != nil {
		errs = append(errs, err)
	}
	return cfg, errors.Join(errs...)
}

// LoadChecked reads a config file and checks it whole: the file itself and
// every connector's settings against its declaration, found by specs (given
// the config, for its plugin directory). All problems come at once.
func LoadChecked(path string, specs func(*Config) (SpecFunc, error)) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	cfg, perr := parse(path, b, os.LookupEnv)
	if cfg == nil {
		return nil, perr
	}
	spec, err := specs(cfg)
	if err != nil {
		return nil, errors.Join(perr, err)
	}
	terr := CheckTargets(cfg)
	if _, err := CheckConnectors(cfg, spec); err != nil || perr != nil || terr != nil {
		return nil, errors.Join(perr, terr, err)
	}
	return cfg, nil
}

// Problems lists the single problems inside a (joined) configuration
// error, without the ErrInvalid prefix, ordered by file and line.
func Problems(err error) []string {
	if err == nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(err.Error(), "\n") {
		for strings.HasPrefix(line, ErrInvalid.Error()+": ") {
			line = strings.TrimPrefix(line, ErrInvalid.Error()+": ")
		}
		if line != "" {
			out = append(out, line)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return lineKey(out[i]) < lineKey(out[j]) })
	return out
}

// lineKey orders "file:line: ..." messages by file, then line number.
func lineKey(msg string) string {
	file, rest, _ := strings.Cut(msg, ":")
	num, _, _ := strings.Cut(rest, ":")
	if n, err := strconv.Atoi(num); err == nil {
		return fmt.Sprintf("%s:%09d", file, n)
	}
	return file + ":"
}

var envRe = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

var envPlaceholder = regexp.MustCompile(`crmhubenv([0-9]+)x`)

// protectEnv replaces each ${...} of the file by crmhubenv<n>x and
// returns what each stood for.
func protectEnv(b []byte) ([]byte, []string) {
	var refs []string
	out := envRe.ReplaceAllFunc(b, func(m []byte) []byte {
		refs = append(refs, string(m))
		return []byte(fmt.Sprintf("crmhubenv%dx", len(refs)-1))
	})
	return out, refs
}

// restoreEnv puts the ${...} text back into every scalar (keys too).
func restoreEnv(n *yaml.Node, refs []string) {
	if len(refs) == 0 {
		return
	}
	if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "crmhubenv") {
		n.Value = envPlaceholder.ReplaceAllStringFunc(n.Value, func(m string) string {
			i, err := strconv.Atoi(envPlaceholder.FindStringSubmatch(m)[1])
			if err != nil || i >= len(refs) {
				return m
			}
			return refs[i]
		})
	}
	for _, c := range n.Content {
		restoreEnv(c, refs)
	}
}

// expandNode replaces ${VAR} in scalar values (never in keys).
func expandNode(path string, n *yaml.Node, lookup func(string) (string, bool), errs *[]error) {
	if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "${") {
		missing := false
		n.Value = envRe.ReplaceAllStringFunc(n.Value, func(s string) string {
			m := envRe.FindStringSubmatch(s)
			if v, ok := lookup(m[1]); ok && v != "" {
				return v
			}
			if m[2] != "" {
				return m[3]
			}
			*errs = append(*errs, fmt.Errorf("%w: %s:%d: environment variable %s is not set (use ${%s:-default} for a default)", ErrInvalid, path, n.Line, m[1], m[1]))
			missing = true
			return ""
		})
		// A plain ${PORT} is re-resolved after expansion, so it can fill an
		// int or bool field; a quoted one stays a string.
		// A missing variable is already reported: it stays an empty string,
		// not a null that would be reported again as the wrong type.
		if n.Style == 0 && !missing {
			n.Tag = ""
		}
		return
	}
	if n.Kind == yaml.MappingNode {
		for i := 1; i < len(n.Content); i += 2 {
			expandNode(path, n.Content[i], lookup, errs)
		}
		return
	}
	for _, c := range n.Content {
		expandNode(path, c, lookup, errs)
	}
}

// recordLines notes where each connector and each of its settings keys is.
func recordLines(root *yaml.Node, cfg *Config) {
	doc := root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		doc = doc.Content[0]
	}
	conns := mapValue(doc, "connectors")
	if conns == nil || conns.Kind != yaml.SequenceNode {
		return
	}
	for i, item := range conns.Content {
		if i >= len(cfg.Connectors) {
			break
		}
		c := &cfg.Connectors[i]
		c.Line = item.Line
		c.Index = i
		c.SettingLines = map[string]int{}
		if s := mapValue(item, "settings"); s != nil {
			settingLines(s, "", c.SettingLines)
		}
	}
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func (c *Config) defaults() {
	if c.DataDir == "" {
		c.DataDir = "data"
	}
	if c.HTTP.Listen == "" {
		c.HTTP.Listen = "127.0.0.1:8080"
	}
	if c.Kafka.EmbeddedListen == "" {
		c.Kafka.EmbeddedListen = "127.0.0.1:9092"
	}
	if c.Kafka.TopicPrefix == "" {
		c.Kafka.TopicPrefix = "crmhub"
	}
	if c.Kafka.Partitions == 0 {
		c.Kafka.Partitions = 3
	}
	if c.Kafka.ClientID == "" {
		c.Kafka.ClientID = "crmhub"
	}
	if c.Store.Driver == "" {
		c.Store.Driver = "sqlite"
	}
	if c.Mappings.Dir == "" {
		c.Mappings.Dir = "mappings"
	}
	if c.Plugins.Dir == "" {
		c.Plugins.Dir = "plugins"
	}
	if c.Plugins.MaxRestarts == 0 {
		c.Plugins.MaxRestarts = 5
	}
	if c.Plugins.BackoffMax == 0 {
		c.Plugins.BackoffMax = Duration(30 * time.Second)
	}
	if c.Hub.ConsumerGroup == "" {
		c.Hub.ConsumerGroup = "crmhub-hub"
	}
	if c.Hub.BatchSize == 0 {
		c.Hub.BatchSize = 500
	}
	if c.Identity.DefaultRegion == "" {
		c.Identity.DefaultRegion = "DE"
	}
	if p := &c.Identity.Fuzzy.People; p.Estimate == "" {
		p.Estimate = EstimateAuto
	}
	if p := &c.Identity.Fuzzy.People; p.EstimateMinRecords == 0 {
		p.EstimateMinRecords = DefaultEstimateMinRecords
	}
	if p := &c.Identity.Fuzzy.People; p.EstimateIdle == 0 {
		p.EstimateIdle = Duration(5 * time.Second)
	}
	if p := &c.Identity.Fuzzy.People; p.EstimateInterval == 0 {
		p.EstimateInterval = Duration(time.Minute)
	}
	if p := &c.Identity.Fuzzy.People; p.EstimateSample == 0 {
		p.EstimateSample = 50000
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	if c.Log.ProgressInterval <= 0 {
		c.Log.ProgressInterval = Duration(10 * time.Second)
	}
	for i := range c.Connectors {
		k := &c.Connectors[i]
		if k.System == "" {
			k.System = k.Name
		}
		if k.PollInterval == 0 {
			k.PollInterval = Duration(5 * time.Second)
		}
		if k.BatchSize == 0 {
			k.BatchSize = 500
		}
		if k.ReconcileInterval == nil {
			d := Duration(10 * time.Minute)
			k.ReconcileInterval = &d
		}
		if k.Settings == nil {
			k.Settings = map[string]any{}
		}
	}
}

func (c *Config) resolvePaths(base string) {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(base, p)
	}
	c.DataDir = abs(c.DataDir)
	c.Mappings.Dir = abs(c.Mappings.Dir)
	c.Plugins.Dir = abs(c.Plugins.Dir)
	c.Identity.Fuzzy.People.Params = abs(c.Identity.Fuzzy.People.Params)
	if c.Store.Driver == "sqlite" && c.Store.DSN == "" {
		c.Store.DSN = filepath.Join(c.DataDir, "crmhub.db")
	}
	if c.Kafka.TLS != nil {
		c.Kafka.TLS.CAFile = abs(c.Kafka.TLS.CAFile)
		c.Kafka.TLS.CertFile = abs(c.Kafka.TLS.CertFile)
		c.Kafka.TLS.KeyFile = abs(c.Kafka.TLS.KeyFile)
	}
}

func (c *Config) check() error {
	var errs []error
	bad := func(line int, key, format string, args ...any) {
		if l, ok := c.lines[key]; ok && line == 0 {
			line = l
		}
		where := c.File
		if line > 0 {
			where = fmt.Sprintf("%s:%d", c.File, line)
		}
		errs = append(errs, fmt.Errorf("%w: %s: %s: %s", ErrInvalid, where, key, fmt.Sprintf(format, args...)))
	}
	switch c.Store.Driver {
	case "sqlite", "postgres":
	case "pgx": // the database/sql name of the PostgreSQL driver
		c.Store.Driver = "postgres"
	default:
		bad(0, "store.driver", "want sqlite or postgres, got %q", c.Store.Driver)
	}
	if dir, ok := sqliteDir(c.Store.DSN); ok && c.Store.Driver == "sqlite" && dir != c.DataDir {
		// SQLite itself says only "unable to open database file (14)".
		if _, err := os.Stat(dir); err != nil {
			bad(0, "store.dsn", "directory %s of the SQLite database does not exist", dir)
		}
	}
	c.checkValue(bad)
	if m := c.MemoryMB; m < -1 || (m > 0 && m < minMemoryMB) {
		bad(0, "memory_mb", "%d: want a budget in MB of at least %d (0 for the default %d, -1 for none)", m, minMemoryMB, DefaultMemoryMB)
	}
	if c.Store.SQLiteCacheMB < 0 {
		bad(0, "store.sqlite_cache_mb", "%d: want a size in MB (0 for the default 256)", c.Store.SQLiteCacheMB)
	}
	if c.Store.SQLiteMmapMB < -1 {
		bad(0, "store.sqlite_mmap_mb", "%d: want a size in MB (0 for the default, -1 for no memory map)", c.Store.SQLiteMmapMB)
	}
	if c.Store.Driver == "postgres" && c.Store.DSN == "" {
		bad(0, "store.dsn", "required with the postgres driver")
	}
	if c.Kafka.SASL != nil {
		switch c.Kafka.SASL.Mechanism {
		case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		default:
			bad(0, "kafka.sasl.mechanism", "want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, got %q", c.Kafka.SASL.Mechanism)
		}
	}
	for _, r := range c.Roles {
		if _, err := ParseRoles(r); err != nil || strings.Contains(r, ",") {
			bad(0, "roles", "want a list of connectors, apply, api or all, got %q", r)
		}
	}
	switch strings.ToLower(c.Kafka.Compression) {
	case "", "none", "gzip", "snappy", "lz4", "zstd":
	default:
		bad(0, "kafka.compression", "want none, gzip, snappy, lz4 or zstd, got %q", c.Kafka.Compression)
	}
	if n := c.Kafka.MaxMessageBytes; n != 0 && n < 4096 {
		bad(0, "kafka.max_message_bytes", "%d is below 4096: no canonical record would fit (0 reads the brokers' limit)", n)
	}
	if f := c.Identity.Fuzzy; f.Enabled && f.AutoMerge != 0 && f.Review != 0 && f.Review > f.AutoMerge {
		bad(0, "identity.fuzzy.review", "%.2f is above auto_merge %.2f: the review band would be empty", f.Review, f.AutoMerge)
	}
	if p := c.Identity.Fuzzy.People.Params; p != "" {
		if _, err := os.Stat(p); err != nil {
			bad(0, "identity.fuzzy.people.params", "%v (write it with crmhub identity train)", err)
		}
	}
	switch c.Identity.Fuzzy.Method {
	case "", "fellegi_sunter", "weighted":
	default:
		bad(0, "identity.fuzzy.method", "want fellegi_sunter or weighted, got %q", c.Identity.Fuzzy.Method)
	}
	if p := c.Identity.Fuzzy.People; p.AutoMerge < 0 || p.AutoMerge >= 1 || p.Review < 0 || p.Review >= 1 ||
		p.AutoMerge != 0 && p.Review != 0 && p.Review > p.AutoMerge {
		bad(0, "identity.fuzzy.people", "review %v and auto_merge %v: want probabilities with review <= auto_merge < 1", p.Review, p.AutoMerge)
	}
	switch p := c.Identity.Fuzzy.People; {
	case p.Estimate != EstimateAuto && p.Estimate != EstimateOff:
		bad(0, "identity.fuzzy.people.estimate", "want auto or off, got %q", p.Estimate)
	case p.EstimateMinRecords < 100:
		bad(0, "identity.fuzzy.people.estimate_min_records", "%d: want 100 or more (an estimate needs pairs to learn from)", p.EstimateMinRecords)
	case p.EstimateSample < p.EstimateMinRecords:
		bad(0, "identity.fuzzy.people.estimate_sample", "%d is below estimate_min_records %d: no estimate could start", p.EstimateSample, p.EstimateMinRecords)
	case p.EstimateIdle < 0:
		bad(0, "identity.fuzzy.people.estimate_idle", "%v: want a duration of 0 or more", p.EstimateIdle.D())
	case p.EstimateInterval < 0:
		bad(0, "identity.fuzzy.people.estimate_interval", "%v: want a duration of 0 or more", p.EstimateInterval.D())
	}
	switch c.Identity.TaxIDVeto {
	case "", "organizations", "all", "none":
	default:
		bad(0, "identity.tax_id_veto", "want organizations, all or none, got %q", c.Identity.TaxIDVeto)
	}
	for field, rule := range c.Identity.FieldRule {
		switch rule {
		case "most_recent", "most_complete", "earliest":
		default:
			bad(0, "identity.field_rule."+field, "want most_recent, most_complete or earliest, got %q", rule)
		}
	}
	seen := map[string]int{}
	for i, k := range c.Connectors {
		key := fmt.Sprintf("connectors[%d]", i)
		if k.Name == "" {
			bad(k.Line, key+".name", "required")
		} else if prev, dup := seen[k.Name]; dup {
			bad(k.Line, key+".name", "%q is already used at line %d", k.Name, prev)
		} else {
			seen[k.Name] = k.Line
		}
		if k.Plugin == "" {
			bad(k.Line, key+".plugin", "required (a built-in connector such as sql, file, rest, or an installed plugin)")
		}
		if k.BatchSize < 0 {
			bad(k.Line, key+".batch_size", "must be positive")
		}
		if n := k.MaxBatchBytes; n != 0 && n < 64<<10 {
			bad(k.Line, key+".max_batch_bytes", "%d is below 65536: batches of a record or two would each cost a round trip (0 is the default, 4 MiB)", n)
		}
		if k.ReconcileInterval != nil && *k.ReconcileInterval < 0 {
			bad(k.Line, key+".reconcile_interval", "must not be negative (0s turns reconciliation off)")
		}
	}
	return errors.Join(errs...)
}
