package sdk

import (
	"fmt"
	"strings"
)

// ParamsMarkdown renders the parameter table for a connector README, so the
// README cannot drift from the declaration.
func (s Spec) ParamsMarkdown() string {
	var b strings.Builder
	b.WriteString("| name | type | required | default | description |\n|---|---|---|---|---|\n")
	for _, p := range Flatten(s.Params) {
		req := p.requirement()
		desc := p.Description + p.roleNote()
		if p.Secret {
			desc += " (secret: never logged)"
		}
		if p.Example != "" {
			desc += fmt.Sprintf(" Example: `%s`.", p.Example)
		}
		def := p.Default
		if def != "" {
			def = "`" + def + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", p.Name, p.Type, req, def, strings.ReplaceAll(desc, "|", "\\|"))
	}
	return b.String()
}

// requirement says when the key must be given: "yes", "no" or
// "if type=oauth2".
func (p Param) requirement() string {
	switch {
	case p.Required:
		return "yes"
	case p.RequiredIf != "":
		return "if " + p.RequiredIf
	}
	return "no"
}

// roleNote marks a key only one role reads, as the hub refuses it in the
// other role's settings.
func (p Param) roleNote() string {
	if p.Only == "" {
		return ""
	}
	return fmt.Sprintf(" (%s only)", p.Only)
}

// Flatten lists params with their nested Fields after each, named by path
// ("entities[].table", "auth.type"), for the README table and describe;
// a OneOf list is added to the description.
func Flatten(params []Param) []Param {
	var out []Param
	var walk func(prefix string, ps []Param)
	walk = func(prefix string, ps []Param) {
		for _, p := range ps {
			q := p
			q.Name = prefix + p.Name
			if len(p.OneOf) > 0 {
				q.Description = strings.TrimSpace(q.Description + " One of: `" + strings.Join(p.OneOf, "`, `") + "`.")
			}
			q.Fields = nil
			out = append(out, q)
			switch {
			case len(p.Fields) == 0:
			case p.Type == TypeList:
				walk(q.Name+"[].", p.Fields)
			default:
				walk(q.Name+".", p.Fields)
			}
		}
	}
	walk("", params)
	return out
}
