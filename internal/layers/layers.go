package layers

import "strings"

// Module is the module path the table's package paths are relative to.
const Module = "github.com/crmhub/crmhub"

// Layer is one row of the layering: the packages in it may import packages
// of lower layers only, and of their own layer only where Peers says so.
type Layer struct {
	Name     string
	Packages []string // relative to Module; "x/..." is x's subtree below x
	Holds    string   // what the layer is for, as ARCHITECTURE.md says
	// Peers lets the layer's packages import each other: composition
	// builds on composition; domain packages and adapters stay apart.
	Peers bool
}

// Table is the allowed layering, lowest first. A new package goes in the
// lowest layer whose packages it does not need to import; if it fits
// nowhere, the design needs a look before the table does.
var Table = []Layer{
	{"core", []string{"hub", "schemas", "deploy", "plugins/proto", "plugins/proto/...", "plugins/internal/...", "internal/retry", "internal/grace", "internal/placeholder", "internal/textenc", "internal/layers", "hub/testenv"},
		"domain and wire types, interfaces, embedded data, the plugin protocol, small helpers", false},
	{"parts", []string{"mapping/internal/...", "mapping/funcs"},
		"what the mapping language is built from: its JSON codec, the compiled schema check, the function library", true},
	{"domain", []string{"hub/identity", "hub/value", "mapping", "plugins/sdk", "hub/demo", "hub/console"},
		"identity resolution, customer value figures, the mapping language, the connector SDK, the demo generator, the console's assets", false},
	{"support", []string{"hub/config", "hub/quality", "hub/auth", "hub/store/sqldb", "plugins/sdk/sdktest", "connectors/internal/...", "mapping/suggest", "mapping/mappingtest"},
		"what the adapters share: the config file, quality reports, API tokens, the SQL store's pools and dialect, the connector acceptance suites, connector helpers; tools on the mapping language (suggest, the test runner)", false},
	{"adapters", []string{"hub/bus", "hub/store", "hub/store/...", "hub/httpapi", "plugins/host", "connectors/..."},
		"one technology each: Kafka, SQL stores (the store, and a package each for the tables Apply never writes: dead letters, the write-back ledger), the HTTP API, plugin processes, the built-in connectors", false},
	{"stages", []string{"hub/pipeline", "hub/writeback"},
		"the hub's stages over the bus: source to topic, topic to store, golden to destinations", false},
	{"wiring", []string{"internal/app/server", "connectors", "internal/app/quickstart"},
		"composition: the hub process, the built-in connector registry, the quickstart read path", true},
	{"commands", []string{"cmd/...", "internal/app/demohub"},
		"what a user runs: the crmhub command and the demo hub", true},
}

// Of returns the index in Table of the layer that holds pkg (relative to
// Module), the most specific pattern winning, or -1.
func Of(pkg string) int {
	best, bestLen := -1, -1
	for i, l := range Table {
		for _, p := range l.Packages {
			n := matches(p, pkg)
			if n > bestLen {
				best, bestLen = i, n
			}
		}
	}
	return best
}

// matches returns how specific a match of pattern p on pkg is (its length;
// an exact match beats a subtree), or -1.
func matches(p, pkg string) int {
	if base, ok := strings.CutSuffix(p, "/..."); ok {
		if strings.HasPrefix(pkg, base+"/") {
			return len(base)
		}
		return -1
	}
	if p == pkg {
		return len(p) + 1
	}
	return -1
}
