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
	for _, p := range s.Params {
		req := "no"
		if p.Required {
			req = "yes"
		}
		desc := p.Description
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
