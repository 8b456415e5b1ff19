package sdk

// ParamType is the type of a connector parameter value.
type ParamType string

const (
	TypeString   ParamType = "string"
	TypeInt      ParamType = "int"
	TypeBool     ParamType = "bool"
	TypeDuration ParamType = "duration" // Go duration string: "5s", "1m30s"
	TypeList     ParamType = "list"     // a YAML list
	TypeObject   ParamType = "object"   // a YAML mapping; the connector decodes its inner shape
	TypeTimezone ParamType = "timezone" // an IANA time zone name: "UTC", "Europe/Berlin"
)

// Param declares one connector parameter. It is the single source for
// validation, `crmhub connectors describe` and the connector README table.
type Param struct {
	Name        string
	Type        ParamType
	Required    bool
	Default     string // as it would be written in YAML; empty means none
	Description string
	Secret      bool // never logged, masked in describe output
	Example     string
	// OneOf lists the accepted values of a string parameter, compared
	// exactly, or without regard to case with FoldCase; empty accepts any.
	OneOf    []string `json:",omitempty"`
	FoldCase bool     `json:",omitempty"`
	// Fields declares the keys of an object, or of every item of a list
	// of objects, so a misspelt nested key is refused when the config is
	// loaded rather than when the connector starts. Empty: the inner shape
	// is left to the connector.
	Fields []Param `json:",omitempty"`
	// Only names the one role that reads the key (a source's state_dir, a
	// destination's columns); empty: every role. Set by ParamsOf with
	// WithRoles; the hub then refuses the key in the other role's settings.
	Only Kind `json:",omitempty"`
	// RequiredIf makes the key required where a sibling key has one of
	// some values: "type=api_key" or "type=basic|bearer" (tag required_if).
	RequiredIf string `json:",omitempty"`
}

// Kind says what a connector can do.
type Kind string

const (
	KindSource      Kind = "source"
	KindDestination Kind = "destination"
)

// Spec declares a connector.
type Spec struct {
	Name    string // the registered name, same as its folder: "sql", "file", "rest"
	Summary string
	Version string
	Author  string
	Kinds   []Kind
	Params  []Param
}

// Config is an instance's settings as decoded from YAML: string keys, values
// of the declared types (string, int, bool, []any, map[string]any).
type Config map[string]any
