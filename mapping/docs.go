package mapping

import (
	"fmt"
	"io"
	"strings"
)

// WriteDocs writes the function reference in Markdown, generated from the
// registry (names, signatures, docs, examples with their results).
func WriteDocs(w io.Writer) error {
	var b strings.Builder
	b.WriteString("# crmhub mapping functions\n\n")
	b.WriteString("Generated from the function registry (`crmhub mapping docs`); every example is run by the tests.\n")
	b.WriteString("expr-lang's built-in functions (len, split, map, filter, int, string, …) stay available; see SPEC.md for the language.\n\n")
	b.WriteString("Cleaners (phone, email, emails, country, gender, birth_date) leave out a value they cannot read: the record goes on, `crmhub mapping test` " +
		"shows a warning naming the field and the reason, and crmhub_mapping_values_dropped_total{mapping,field,reason} counts it, " +
		"also inside map() and filter(). A field written as `{expr: ..., required: true}` dead-letters the record instead.\n\n")
	b.WriteString("| function | returns |\n|---|---|\n")
	fs := Functions()
	for _, f := range fs {
		name, ret, _ := strings.Cut(f.Signature, " → ")
		fmt.Fprintf(&b, "| [`%s`](#%s) | %s |\n", name, f.Name, strings.ReplaceAll(ret, "|", "\\|"))
	}
	for _, f := range fs {
		fmt.Fprintf(&b, "\n## %s\n\n`%s`\n\n%s\n\n", f.Name, f.Signature, f.Doc)
		for _, ex := range f.Examples {
			fmt.Fprintf(&b, "    %s  →  %s\n", ex.Expr, ex.Want)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Lint loads every mapping of dir and reports every problem at once.
func Lint(dir string) ([]*Mapping, error) {
	all, _, err := loadAll(dir)
	return all, err
}
