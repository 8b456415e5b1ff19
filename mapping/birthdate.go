package mapping

import (
	"fmt"
	"strings"

	"github.com/crmhub/crmhub/mapping/funcs"
)

func init() {
	register(&Func{Name: "birth_date", Signature: "birth_date(s, order?) → string|nil",
		Doc: "Reads a birth date as YYYY-MM-DD: 1990-01-02 (or a timestamp's date), 02.01.1990, 1990/01/02, 19900102, " +
			"2 January 1990, Jan 2, 1990 (English, German, French months), an Excel serial day (32875), " +
			"a slashed or dashed date with order \"dmy\" or \"mdy\" (without order only when a part exceeds 12); YYYY-MM and " +
			"a bare year stay partial. nil (with a warning) for a value it cannot read or an impossible date.",
		Examples: []Example{{`birth_date("02.01.1990")`, `"1990-01-02"`}, {`birth_date("1/2/1990", "mdy")`, `"1990-01-02"`},
			{`birth_date("1/2/1990", "dmy")`, `"1990-02-01"`}, {`birth_date("19900102")`, `"1990-01-02"`},
			{`birth_date("2 January 1990")`, `"1990-01-02"`}, {`birth_date("1990-01-02 00:00:00")`, `"1990-01-02"`},
			{`birth_date("1990")`, `"1990"`}, {`birth_date("32875")`, `"1990-01-02"`}, {`birth_date("31.02.1990")`, `null`},
			{`birth_date("1/2/1990")`, `null`}},
		types: []any{anyFn1, anyFn2}, nilOnInvalid: true,
		fn: func(args ...any) (any, error) {
			s, ok, err := text(args[0])
			if err != nil || !ok {
				return nil, err
			}
			order := ""
			if len(args) > 1 {
				o, _, err := text(args[1])
				if err != nil {
					return nil, err
				}
				order = strings.ToLower(strings.TrimSpace(o))
			}
			return nilIfEmpty(funcs.BirthDate(s, order)), nil
		}})
}

// BirthDateExpr is the expression that reads column id as a birth date,
// with its slashed dates in the order the column's own values show
// (funcs.SlashOrder), so that 1/2/1990 is read too; order is that order,
// "" where the values do not tell.
func BirthDateExpr(id string, values []string) (expr, order string) {
	if order = funcs.SlashOrder(values); order != "" {
		return fmt.Sprintf("birth_date(%s, %q)", id, order), order
	}
	return "birth_date(" + id + ")", ""
}
