package sdk

import (
	"fmt"
	"strings"
	"text/tabwriter"
)

// DescribeText renders a declaration for `crmhub connectors describe NAME`:
// a header, then one block per parameter. It prints declarations only, never
// configured values, so secrets cannot leak through it.
func DescribeText(spec Spec) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s", spec.Name)
	if spec.Version != "" {
		fmt.Fprintf(&b, " %s", spec.Version)
	}
	b.WriteString("\n")
	if spec.Summary != "" {
		fmt.Fprintf(&b, "  %s\n", spec.Summary)
	}
	if len(spec.Kinds) > 0 {
		kinds := make([]string, len(spec.Kinds))
		for i, k := range spec.Kinds {
			kinds[i] = string(k)
		}
		fmt.Fprintf(&b, "  kinds:  %s\n", strings.Join(kinds, ", "))
	}
	if spec.Author != "" {
		fmt.Fprintf(&b, "  author: %s\n", spec.Author)
	}
	if len(spec.Params) == 0 {
		b.WriteString("\nNo parameters.\n")
		return b.String()
	}
	b.WriteString("\nParameters:\n")
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  NAME\tTYPE\tREQUIRED\tDEFAULT\tDESCRIPTION")
	for _, p := range Flatten(spec.Params) {
		req := p.requirement()
		def := p.Default
		if def == "" {
			def = "-"
		}
		desc := p.Description + p.roleNote()
		if p.Secret {
			desc += " [secret]"
		}
		if p.Example != "" {
			desc += " (example: " + p.Example + ")"
		}
		typ := p.Type
		if typ == "" {
			typ = TypeString
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", p.Name, typ, req, def, desc)
	}
	_ = tw.Flush()
	return b.String()
}
