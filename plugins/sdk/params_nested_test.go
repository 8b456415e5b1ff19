package sdk

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateNested(t *testing.T) {
	spec := Spec{Name: "x", Params: []Param{
		{Name: "timezone", Type: TypeTimezone, Default: "UTC"},
		{Name: "entities", Type: TypeList, Fields: []Param{
			{Name: "name", Type: TypeString, Required: true},
			{Name: "table", Type: TypeString},
			{Name: "encoding", Type: TypeString, OneOf: []string{"utf-8", "windows-1252"}, FoldCase: true},
			{Name: "driver", Type: TypeString, OneOf: []string{"postgres", "sqlite"}},
			{Name: "every", Type: TypeDuration},
			{Name: "page", Type: TypeObject, Fields: []Param{{Name: "size", Type: TypeInt}}},
		}},
	}}
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string // each ParamError, in order
	}{
		{"good", Config{"entities": []any{map[string]any{"name": "a", "table": "t", "encoding": "UTF-8", "every": "1m", "page": map[string]any{"size": 3}}}}, nil},
		{"one of, exact unless folded", Config{"entities": []any{map[string]any{"name": "a", "encoding": "Windows-1252", "driver": "Postgres"}}},
			[]string{`x: entities[0].driver: "Postgres": want one of postgres, sqlite`}},
		{"misspelt nested key", Config{"entities": []any{map[string]any{"name": "a"}, map[string]any{"name": "b", "tabel": "t"}}},
			[]string{"x: entities[1].tabel: unknown key (did you mean table?)"}},
		{"all at once", Config{"timezone": "Mars/Olympus", "entities": []any{map[string]any{"encoding": "ebcdic", "every": "soon", "page": map[string]any{"size": "three"}}, "oops"}},
			[]string{
				`x: entities[0].encoding: "ebcdic": want one of utf-8, windows-1252`,
				`x: entities[0].every: want a duration like 5s or 1m, got "soon"`,
				`x: entities[0].page.size: want an integer, got "three"`,
				`x: entities[0].name: required`,
				`x: entities[1]: want an object, got a string`,
				`x: timezone: unknown time zone "Mars/Olympus" (want an IANA name like UTC or Europe/Berlin)`,
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := spec.Validate(tc.cfg)
			var got []string
			if err != nil {
				for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
					var pe *ParamError
					if !errors.As(e, &pe) {
						t.Errorf("%v is not a *ParamError", e)
					}
					got = append(got, e.Error())
				}
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestDescribeShowsNestedFields(t *testing.T) {
	spec := Spec{Name: "x", Params: []Param{{Name: "files", Type: TypeList, Fields: []Param{{Name: "encoding", OneOf: []string{"utf-8"}}}}}}
	for _, out := range []string{DescribeText(spec), spec.ParamsMarkdown()} {
		if !strings.Contains(out, "files[].encoding") || !strings.Contains(out, "One of: `utf-8`") {
			t.Errorf("nested field missing:\n%s", out)
		}
	}
}
