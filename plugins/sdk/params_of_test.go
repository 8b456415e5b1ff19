package sdk

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

type ofItem struct {
	Name  string `json:"name" param:"required" doc:"Column name."`
	Start int    `json:"start"`
}

type ofAuth struct {
	Type  string `json:"type" oneof:"basic|bearer" param:"foldcase"`
	Token string `json:"token" param:"secret"`
}

type ofEmbedded struct {
	Inlined string `json:"inlined"`
}

type ofConfig struct {
	ofEmbedded
	Listen   string            `json:"listen,omitempty" param:"required" doc:"Address." example:":80"`
	Secret   string            `json:"secret" param:"secret"`
	Count    int64             `json:"count" default:"3"`
	Small    uint8             `json:"small"`
	On       bool              `json:"on" default:"true"`
	Opt      *bool             `json:"opt"`
	Wait     Duration          `json:"wait" default:"5s"`
	StdWait  time.Duration     `json:"std_wait"`
	Zone     string            `json:"zone" type:"timezone" default:"UTC"`
	Mode     string            `json:"mode" oneof:"a|b|c"`
	Enc      string            `json:"enc"`
	Names    []string          `json:"names"`
	Items    []ofItem          `json:"items"`
	ItemPtrs []*ofItem         `json:"item_ptrs"`
	Auth     ofAuth            `json:"auth"`
	AuthPtr  *ofAuth           `json:"auth_ptr"`
	Labels   map[string]string `json:"labels"`
	Skipped  string            `json:"-"`
	NoTag    string
	hidden   string // unexported: not a parameter (a json tag on it would fail go vet)
}

func TestParamsOf(t *testing.T) {
	itemFields := []Param{
		{Name: "name", Type: TypeString, Required: true, Description: "Column name."},
		{Name: "start", Type: TypeInt},
	}
	authFields := []Param{
		{Name: "type", Type: TypeString, OneOf: []string{"basic", "bearer"}, FoldCase: true},
		{Name: "token", Type: TypeString, Secret: true},
	}
	want := []Param{
		{Name: "inlined", Type: TypeString},
		{Name: "listen", Type: TypeString, Required: true, Description: "Address.", Example: ":80"},
		{Name: "secret", Type: TypeString, Secret: true},
		{Name: "count", Type: TypeInt, Default: "3"},
		{Name: "small", Type: TypeInt},
		{Name: "on", Type: TypeBool, Default: "true"},
		{Name: "opt", Type: TypeBool},
		{Name: "wait", Type: TypeDuration, Default: "5s"},
		{Name: "std_wait", Type: TypeDuration},
		{Name: "zone", Type: TypeTimezone, Default: "UTC"},
		{Name: "mode", Type: TypeString, OneOf: []string{"a", "b", "c"}},
		{Name: "enc", Type: TypeString, OneOf: []string{"utf-8", "latin1"}},
		{Name: "names", Type: TypeList},
		{Name: "items", Type: TypeList, Fields: itemFields},
		{Name: "item_ptrs", Type: TypeList, Fields: itemFields},
		{Name: "auth", Type: TypeObject, Fields: authFields},
		{Name: "auth_ptr", Type: TypeObject, Fields: authFields},
		{Name: "labels", Type: TypeObject},
	}
	got := ParamsOf(&ofConfig{}, WithOneOf("enc", "utf-8", "latin1"))
	if len(got) != len(want) {
		t.Fatalf("got %d params, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("param %d:\n got  %+v\n want %+v", i, got[i], want[i])
		}
	}
}

// The derived declaration validates as a hand-written one would: nested
// keys from the element struct are checked, WithOneOf values are enforced.
func TestParamsOfValidates(t *testing.T) {
	type item struct {
		Enc string `json:"enc"`
	}
	type cfg struct {
		Files []item `json:"files" param:"required"`
	}
	spec := Spec{Name: "x", Params: ParamsOf(cfg{}, WithOneOf("files.enc", "utf-8"))}
	_, err := spec.Validate(Config{"files": []any{map[string]any{"enc": "ebcdic", "enk": "x"}}})
	if err == nil {
		t.Fatal("want errors for a bad value and a misspelt nested key")
	}
	for _, frag := range []string{`files[0].enc: "ebcdic": want one of utf-8`, "files[0].enk: unknown key (did you mean enc?)"} {
		if !strings.Contains(err.Error(), frag) {
			t.Errorf("error %q lacks %q", err, frag)
		}
	}
}

func TestParamsOfPanics(t *testing.T) {
	type badInt struct {
		N int `json:"n" default:"lots"`
	}
	type badDur struct {
		D Duration `json:"d" default:"5 sec"`
	}
	type badZone struct {
		Z string `json:"z" type:"timezone" default:"Mars/Olympus"`
	}
	type badWord struct {
		S string `json:"s" param:"requird"`
	}
	type badType struct {
		S string `json:"s" type:"text"`
	}
	type float struct {
		Amount float64 `json:"amount"`
	}
	type oneofInt struct {
		N int `json:"n" oneof:"1|2"`
	}
	type reqDefault struct {
		S string `json:"s" param:"required" default:"x"`
	}
	type nested struct {
		Items []badInt `json:"items"`
	}
	type plain struct {
		S string `json:"s"`
	}
	cases := []struct {
		name string
		v    any
		opts []ParamsOption
		want string
	}{
		{"bad int default", badInt{}, nil, `field sdk.badInt.N (n): default "lots": want an integer`},
		{"bad duration default", badDur{}, nil, `field sdk.badDur.D (d): default "5 sec"`},
		{"bad timezone default", badZone{}, nil, `field sdk.badZone.Z (z): default "Mars/Olympus": unknown time zone`},
		{"unknown param word", badWord{}, nil, `param tag: unknown word "requird"`},
		{"unknown type", badType{}, nil, `type tag: unknown type "text"`},
		{"float", float{}, nil, "field sdk.float.Amount (amount): unsupported Go type float64"},
		{"oneof on int", oneofInt{}, nil, "oneof on a int parameter"},
		{"required with default", reqDefault{}, nil, "required with a default"},
		{"nested bad default", nested{}, nil, `field sdk.nested.Items[].N (n): default "lots"`},
		{"WithOneOf unknown path", plain{}, []ParamsOption{WithOneOf("t", "a")}, `WithOneOf("t"): no such parameter`},
		{"not a struct", 3, nil, "want a struct, got int"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				r := recover()
				msg, _ := r.(string)
				if r == nil || !strings.Contains(msg, c.want) {
					t.Fatalf("panic %v, want one containing %q", r, c.want)
				}
			}()
			ParamsOf(c.v, c.opts...)
		})
	}
}

// A declaration may embed a config and replace one of its fields: the
// outer key hides the embedded one and comes in the outer field's place.
func TestParamsOfOuterKeyHidesEmbedded(t *testing.T) {
	type inner struct {
		A string `json:"a"`
		B int    `json:"b"`
		C bool   `json:"c"`
	}
	type outer struct {
		inner
		B []ofItem `json:"b" doc:"Replaced."`
	}
	got := ParamsOf(outer{})
	want := []Param{
		{Name: "a", Type: TypeString},
		{Name: "c", Type: TypeBool},
		{Name: "b", Type: TypeList, Description: "Replaced.", Fields: []Param{
			{Name: "name", Type: TypeString, Required: true, Description: "Column name."},
			{Name: "start", Type: TypeInt},
		}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

// WithKeysOf declares the union of two structs' keys: the
// source's and the destination's config of one connector, each
// documenting the keys only it reads, give one list, nested items too.
func TestParamsOfMergesRoles(t *testing.T) {
	type srcItem struct {
		Name   string `json:"name" param:"required" doc:"Entity name."`
		Cursor string `json:"cursor" doc:"Change column."`
		ID     string `json:"id" doc:"Record id field."`
	}
	type dstItem struct {
		Name    string   `json:"name"`
		ID      string   `json:"id" doc:"Destination: id field of a create response."`
		Columns []string `json:"columns" doc:"Writable columns."`
	}
	type common struct {
		DSN string `json:"dsn" param:"required,secret" doc:"Where."`
	}
	type zone struct {
		Zone string `json:"zone" type:"timezone" default:"UTC"`
	}
	type src struct {
		common
		Zone  string    `json:"zone"`
		Batch int       `json:"batch" default:"10" doc:"Rows per page."`
		Items []srcItem `json:"items" param:"required" doc:"Entities."`
	}
	type dst struct {
		common
		zone
		Batch int       `json:"batch"`
		Items []dstItem `json:"items"`
	}
	got := ParamsOf(src{}, WithKeysOf(dst{}))
	want := []Param{
		{Name: "dsn", Type: TypeString, Required: true, Secret: true, Description: "Where."},
		{Name: "zone", Type: TypeTimezone, Default: "UTC"},
		{Name: "batch", Type: TypeInt, Default: "10", Description: "Rows per page."},
		{Name: "items", Type: TypeList, Required: true, Description: "Entities.", Fields: []Param{
			{Name: "name", Type: TypeString, Required: true, Description: "Entity name."},
			{Name: "cursor", Type: TypeString, Description: "Change column."},
			{Name: "id", Type: TypeString, Description: "Record id field. Destination: id field of a create response."},
			{Name: "columns", Type: TypeList, Description: "Writable columns."},
		}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	// The merged declaration checks nested keys of either role.
	spec := Spec{Name: "x", Params: got}
	_, err := spec.Validate(Config{"dsn": "d", "items": []any{map[string]any{"name": "a", "columns": []any{"c"}, "colums": 1}}})
	if err == nil || !strings.Contains(err.Error(), "items[0].colums: unknown key (did you mean columns?)") {
		t.Errorf("error %v, want the misspelt destination key named", err)
	}
}

func TestParamsOfMergeConflictsPanic(t *testing.T) {
	type a struct {
		N int    `json:"n" default:"1"`
		S string `json:"s" oneof:"x|y"`
	}
	type otherDefault struct {
		N int `json:"n" default:"2"`
	}
	type otherType struct {
		N string `json:"n"`
	}
	type otherOneOf struct {
		S string `json:"s" oneof:"x|z"`
	}
	type requiredToo struct {
		N int `json:"n" param:"required"`
	}
	for _, c := range []struct {
		v    any
		want string
	}{
		{otherDefault{}, `key n declared twice with different defaults: "1" and "2"`},
		{otherType{}, "key n declared twice with different types: int and string"},
		{otherOneOf{}, "key s declared twice with different accepted values"},
		{requiredToo{}, "key n declared twice with different requirement"},
	} {
		func() {
			defer func() {
				msg, _ := recover().(string)
				if !strings.Contains(msg, c.want) {
					t.Errorf("%T: panic %q, want one containing %q", c.v, msg, c.want)
				}
			}()
			ParamsOf(a{}, WithKeysOf(c.v))
		}()
	}
}

// WithRoles marks the keys only one role's struct holds, nested ones too,
// and ValidateFor refuses them in the other role's settings by name, where
// the strict decode would fail with "unknown field" when the connector
// starts.
func TestParamsOfRoles(t *testing.T) {
	type srcItem struct {
		Name   string `json:"name" param:"required"`
		Cursor string `json:"cursor"`
	}
	type dstItem struct {
		Name    string   `json:"name"`
		Columns []string `json:"columns"`
	}
	type src struct {
		DSN      string    `json:"dsn" param:"required"`
		StateDir string    `json:"state_dir"`
		Page     int       `json:"page" default:"100"`
		Items    []srcItem `json:"items"`
	}
	type dst struct {
		DSN   string    `json:"dsn"`
		Items []dstItem `json:"items"`
	}
	params := ParamsOf(src{}, WithKeysOf(dst{}), WithRoles(KindSource, KindDestination))
	only := map[string]Kind{}
	var walk func(prefix string, ps []Param)
	walk = func(prefix string, ps []Param) {
		for _, p := range ps {
			only[prefix+p.Name] = p.Only
			walk(prefix+p.Name+".", p.Fields)
		}
	}
	walk("", params)
	wantOnly := map[string]Kind{"dsn": "", "state_dir": KindSource, "page": KindSource, "items": "",
		"items.name": "", "items.cursor": KindSource, "items.columns": KindDestination}
	if !reflect.DeepEqual(only, wantOnly) {
		t.Fatalf("Only = %v, want %v", only, wantOnly)
	}
	spec := Spec{Name: "x", Params: params}
	tests := []struct {
		kind    Kind
		cfg     Config
		wantErr []string
		want    Config
	}{
		{KindDestination, Config{"dsn": "d", "state_dir": "/tmp/s"}, []string{"x: state_dir: a source setting: a destination does not read it"}, nil},
		{KindDestination, Config{"dsn": "d", "items": []any{map[string]any{"name": "a", "cursor": "u", "columns": []any{"c"}}}},
			[]string{"items[0].cursor: a source setting: a destination does not read it"}, nil},
		{KindSource, Config{"dsn": "d", "items": []any{map[string]any{"name": "a", "columns": []any{"c"}}}},
			[]string{"items[0].columns: a destination setting: a source does not read it"}, nil},
		// A source-only default is not given to a destination, whose
		// strict decode would refuse it.
		{KindDestination, Config{"dsn": "d"}, nil, Config{"dsn": "d"}},
		{KindSource, Config{"dsn": "d"}, nil, Config{"dsn": "d", "page": 100}},
		// Without a role (Validate) both roles' keys pass, as before.
		{"", Config{"dsn": "d", "state_dir": "/s", "items": []any{map[string]any{"name": "a", "columns": []any{"c"}}}}, nil, nil},
	}
	for i, tt := range tests {
		got, err := spec.ValidateFor(tt.kind, tt.cfg)
		if len(tt.wantErr) == 0 && err != nil {
			t.Errorf("%d: %v", i, err)
		}
		for _, w := range tt.wantErr {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%d: error %v, want %q", i, err, w)
			}
		}
		if tt.want != nil && !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%d: got %v, want %v", i, got, tt.want)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("WithRoles with a role missing did not panic")
		}
	}()
	ParamsOf(src{}, WithKeysOf(dst{}), WithRoles(KindSource))
}

// required_if: a key required only where a sibling has one of some values
// (an auth type's credentials) is refused at load when missing there, and
// nowhere else.
func TestParamsOfRequiredIf(t *testing.T) {
	type auth struct {
		Type  string `json:"type" oneof:"none|basic|bearer"`
		User  string `json:"username" required_if:"type=basic"`
		Token string `json:"token" required_if:"type=bearer|basic"`
	}
	type cfg struct {
		Auth auth `json:"auth"`
	}
	spec := Spec{Name: "x", Params: ParamsOf(cfg{})}
	tests := []struct {
		auth map[string]any
		want []string
	}{
		{map[string]any{"type": "none"}, nil},
		{map[string]any{}, nil},
		{map[string]any{"type": "bearer"}, []string{"x: auth.token: required when type is bearer"}},
		{map[string]any{"type": "bearer", "token": "t"}, nil},
		{map[string]any{"type": "basic"}, []string{"auth.username: required when type is basic", "auth.token: required when type is basic"}},
	}
	for i, tt := range tests {
		_, err := spec.Validate(Config{"auth": tt.auth})
		if len(tt.want) == 0 && err != nil {
			t.Errorf("%d: %v", i, err)
		}
		for _, w := range tt.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%d: error %v, want %q", i, err, w)
			}
		}
	}
	if got := Flatten(spec.Params)[3].requirement(); got != "if type=bearer|basic" {
		t.Errorf("requirement = %q", got)
	}
}
