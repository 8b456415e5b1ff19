package quality

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/crmhub/crmhub/mapping"
)

// columnTargets say, per short canonical name a user gives in a column
// map, the target path and the cleaner a person mapping would use (%s is
// the column, %[2]s the region literal where one is given).
var columnTargets = map[string]struct{ path, expr string }{
	"given_name":   {"given_name", "collapse(trim(%s))"},
	"family_name":  {"family_name", "collapse(trim(%s))"},
	"full_name":    {"full_name", "collapse(trim(%s))"},
	"birth_date":   {"birth_date", "birth_date(%s)"},
	"gender":       {"gender", "gender(%s)"},
	"email":        {"emails[]", "email(%s)"},
	"phone":        {"phones[]", "phone(%s%s)"},
	"street":       {"addresses[0].street", "collapse(trim(%s))"},
	"street2":      {"addresses[0].street2", "collapse(trim(%s))"},
	"postal_code":  {"addresses[0].postal_code", "trim(%s)"},
	"city":         {"addresses[0].city", "collapse(trim(%s))"},
	"region":       {"addresses[0].region", "trim(%s)"},
	"country":      {"addresses[0].country", "country(%s)"},
	"identifier":   {"identifiers[]", "person_id(%q, %s%s)"},
	"tax_id":       {"tax_id", "upper(nospace(%s))"},
	"organization": {"organization_name", "collapse(trim(%s))"},
}

var columnAlias = map[string]string{"first_name": "given_name", "last_name": "family_name", "surname": "family_name",
	"name": "full_name", "birthdate": "birth_date", "dob": "birth_date", "sex": "gender", "emails": "email",
	"phones": "phone", "postcode": "postal_code", "zip": "postal_code", "state": "region", "id": "identifier",
	"identifiers": "identifier", "organization_name": "organization"}

// ColumnsMapping writes the mapping YAML a --columns map stands for:
// "given_name=first_name,birth_date=dob,identifier:ssn=ssn_col", each pair
// a canonical attribute (or a full target path such as addresses[0].street)
// and the file's column; with a given and a family name it writes the full
// name too. region (ISO alpha-2, may be empty) reads phone
// numbers without a country prefix and is the address country when no
// column gives one. The result is the mapping a user would write for the
// file, and is printed so they can start from it. values, when not nil,
// gives a sample of a column's values: a birth-date column's slashed dates
// are then read in the order they show (mapping.BirthDateExpr).
func ColumnsMapping(spec, region string, values func(col string) []string) ([]byte, error) {
	type field struct{ path, expr string }
	var fields []field
	appends := map[string]int{}
	hasCountry, hasAddress := false, false
	regionArg := ""
	if region != "" {
		regionArg = fmt.Sprintf(", %q", strings.ToUpper(region))
	}
	for _, pair := range strings.Split(spec, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		target, col, ok := strings.Cut(pair, "=")
		target, col = strings.TrimSpace(target), strings.TrimSpace(col)
		if !ok || target == "" || col == "" {
			return nil, fmt.Errorf("columns: %q: want attribute=column", pair)
		}
		id := mapping.Ident(col)
		scheme := "national_id"
		if t, s, ok := strings.Cut(target, ":"); ok {
			target, scheme = t, s
		}
		if a, ok := columnAlias[target]; ok {
			target = a
		}
		var f field
		if t, ok := columnTargets[target]; ok {
			f.path = t.path
			switch target {
			case "phone":
				f.expr = fmt.Sprintf(t.expr, id, regionArg)
			case "identifier":
				f.expr = fmt.Sprintf(t.expr, scheme, id, regionArg)
			case "birth_date":
				f.expr = fmt.Sprintf(t.expr, id)
				if values != nil {
					f.expr, _ = mapping.BirthDateExpr(id, values(col))
				}
			default:
				f.expr = fmt.Sprintf(t.expr, id)
			}
		} else if strings.ContainsAny(target, ".[") || target == "language" || target == "status" || target == "segment" {
			f = field{target, fmt.Sprintf("trim(%s)", id)}
		} else {
			known := make([]string, 0, len(columnTargets))
			for k := range columnTargets {
				known = append(known, k)
			}
			slices.Sort(known)
			return nil, fmt.Errorf("columns: unknown attribute %q (known: %s, or a target path)", target, strings.Join(known, ", "))
		}
		if base, ok := strings.CutSuffix(f.path, "[]"); ok {
			// YAML keys are unique: the second append is path[+1].
			if n := appends[base]; n > 0 {
				f.path = base + "[+" + strconv.Itoa(n) + "]"
			}
			appends[base]++
		}
		hasCountry = hasCountry || f.path == "addresses[0].country"
		hasAddress = hasAddress || strings.HasPrefix(f.path, "addresses[0].")
		fields = append(fields, f)
	}
	if len(fields) == 0 {
		return nil, fmt.Errorf("columns: no attribute=column pair")
	}
	given, family, full := "", "", false
	for _, f := range fields {
		switch f.path {
		case "given_name":
			given = f.expr
		case "family_name":
			family = f.expr
		case "full_name":
			full = true
		}
	}
	if given != "" && family != "" && !full {
		// The schema wants a person's family name or full name: the full
		// name keeps a row whose family name is missing from being
		// dead-lettered, as a careful mapping would.
		fields = append(fields, field{"full_name", fmt.Sprintf(`join(" ", %s, %s)`, given, family)})
	}
	if hasAddress {
		fields = append(fields, field{"addresses[0].type", `"home"`})
		if !hasCountry && region != "" {
			fields = append(fields, field{"addresses[0].country", fmt.Sprintf("%q", strings.ToUpper(region))})
		}
	}
	var b strings.Builder
	b.WriteString("mapping: bench_columns\nversion: 1\nsource: {system: file, entity: person}\ntarget: {entity: customer, schema: v1}\nfields:\n")
	b.WriteString("  kind: '\"person\"'\n")
	for _, f := range fields {
		fmt.Fprintf(&b, "  %s: %s\n", f.path, yamlQuote(f.expr))
	}
	return []byte(b.String()), nil
}

// yamlQuote writes an expression as a single-quoted YAML scalar.
func yamlQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
