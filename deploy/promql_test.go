package deploy_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// promqlKeywords are identifiers of PromQL that are not metric names when
// they are not followed by '(' (functions are recognised by the '(').
var promqlKeywords = map[string]bool{
	"and": true, "or": true, "unless": true, "by": true, "without": true, "on": true, "ignoring": true,
	"group_left": true, "group_right": true, "offset": true, "bool": true, "atan2": true,
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
	"limitk": true, "limit_ratio": true, "inf": true, "nan": true,
}

// labelLists are keywords followed by a parenthesised list of label names.
var labelLists = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}

// metricNames returns the metric names a PromQL expression selects, in order
// of appearance, without duplicates. It is a tokenizer, not a parser: label
// matchers ({...}), ranges ([...]), strings, numbers and durations,
// functions, operators, label lists and Grafana variables ($x, ${x}) are
// skipped; what remains are metric names. Unbalanced brackets are errors.
func metricNames(expr string) ([]string, error) {
	var out []string
	isStart := func(c byte) bool { return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
	isPart := func(c byte) bool { return isStart(c) || c >= '0' && c <= '9' }
	skipString := func(i int) (int, error) { // expr[i] is the quote
		q := expr[i]
		for j := i + 1; j < len(expr); j++ {
			if expr[j] == '\\' && q != '`' {
				j++
				continue
			}
			if expr[j] == q {
				return j + 1, nil
			}
		}
		return 0, fmt.Errorf("unterminated string at %d in %q", i, expr)
	}
	skipTo := func(i int, open, close byte) (int, error) { // expr[i] is open
		for j := i + 1; j < len(expr); j++ {
			switch c := expr[j]; {
			case c == '"' || c == '\'' || c == '`':
				k, err := skipString(j)
				if err != nil {
					return 0, err
				}
				j = k - 1
			case c == close:
				return j + 1, nil
			case c == open:
				return 0, fmt.Errorf("nested %c at %d in %q", open, j, expr)
			}
		}
		return 0, fmt.Errorf("unbalanced %c at %d in %q", open, i, expr)
	}
	depth := 0
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			j, err := skipString(i)
			if err != nil {
				return nil, err
			}
			i = j
		case c == '{':
			j, err := skipTo(i, '{', '}')
			if err != nil {
				return nil, err
			}
			i = j
		case c == '[':
			j, err := skipTo(i, '[', ']')
			if err != nil {
				return nil, err
			}
			i = j
		case c == '(':
			depth++
			i++
		case c == ')':
			if depth--; depth < 0 {
				return nil, fmt.Errorf("unbalanced ) at %d in %q", i, expr)
			}
			i++
		case c == '}' || c == ']':
			return nil, fmt.Errorf("unbalanced %c at %d in %q", c, i, expr)
		case c == '$': // Grafana variable: $name or ${name}
			i++
			if i < len(expr) && expr[i] == '{' {
				j, err := skipTo(i, '{', '}')
				if err != nil {
					return nil, err
				}
				i = j
				continue
			}
			for i < len(expr) && isPart(expr[i]) {
				i++
			}
		case c >= '0' && c <= '9' || c == '.': // number or duration: 0.95, 1e3, 6h, 1h30m
			for i < len(expr) && (isPart(expr[i]) || expr[i] == '.') {
				i++
			}
		case isStart(c):
			j := i
			for j < len(expr) && isPart(expr[j]) {
				j++
			}
			word := expr[i:j]
			k := j
			for k < len(expr) && (expr[k] == ' ' || expr[k] == '\t' || expr[k] == '\n' || expr[k] == '\r') {
				k++
			}
			switch {
			case labelLists[word] && k < len(expr) && expr[k] == '(':
				end, err := skipTo(k, '(', ')')
				if err != nil {
					return nil, err
				}
				i = end
				continue
			case k < len(expr) && expr[k] == '(': // function or aggregation
			case promqlKeywords[strings.ToLower(word)]:
			default:
				if !slices.Contains(out, word) {
					out = append(out, word)
				}
			}
			i = j
		default: // operators, commas, spaces
			i++
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("unbalanced ( in %q", expr)
	}
	return out, nil
}

// grafanaQueryNames handles Grafana's templating functions around PromQL:
// label_values(selector, label), query_result(expr), metrics(regex) and
// label_names(); plain PromQL otherwise.
func grafanaQueryNames(q string) ([]string, error) {
	q = strings.TrimSpace(q)
	for _, fn := range []string{"label_values", "query_result", "label_names", "metrics"} {
		inner, ok := strings.CutPrefix(q, fn+"(")
		if !ok {
			continue
		}
		inner, ok = strings.CutSuffix(inner, ")")
		if !ok {
			return nil, fmt.Errorf("%s without closing ): %q", fn, q)
		}
		switch fn {
		case "label_values":
			// The label is the last top-level argument; one argument is a
			// bare label name.
			if i := strings.LastIndex(inner, ","); i >= 0 && !strings.Contains(inner[i:], "}") {
				return metricNames(inner[:i])
			}
			return nil, nil
		case "query_result":
			return metricNames(inner)
		default:
			return nil, nil
		}
	}
	return metricNames(q)
}

func TestMetricNames(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
		err  bool
	}{
		{expr: `up`, want: []string{"up"}},
		{expr: `sum by (connector, entity) (rate(crmhub_pipeline_records_read_total{job=~"$job",connector=~"$connector"}[$__rate_interval]))`,
			want: []string{"crmhub_pipeline_records_read_total"}},
		{expr: `histogram_quantile(0.95, sum by (le) (rate(crmhub_bus_produce_duration_seconds_bucket[5m])))`,
			want: []string{"crmhub_bus_produce_duration_seconds_bucket"}},
		{expr: `a / on (instance) group_left (version) b offset 6h > bool 1e3`, want: []string{"a", "b"}},
		{expr: `count(x == 0) or vector(0)`, want: []string{"x"}},
		{expr: `min_over_time((sum by (c) (increase(x[5m])))[15m:5m]) > 0 and x`, want: []string{"x"}},
		{expr: `time() - max(y{label="has } and { inside", other='q'})`, want: []string{"y"}},
		{expr: "sum without(instance)(z) unless ${var} > inf", want: []string{"z"}},
		{expr: `crmhub_hub_golden_customers{job=~"$job"} / topk(3, sum(w))`, want: []string{"crmhub_hub_golden_customers", "w"}},
		{expr: `rate(x[5m]`, err: true},
		{expr: `x{a="b"`, err: true},
		{expr: `x]`, err: true},
	} {
		got, err := metricNames(tc.expr)
		if tc.err {
			if err == nil {
				t.Errorf("metricNames(%q) = %v, want an error", tc.expr, got)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("metricNames(%q) = %v, %v; want %v", tc.expr, got, err, tc.want)
		}
	}
	for q, want := range map[string][]string{
		`label_values(crmhub_connector_up{job=~"$job"}, connector)`: {"crmhub_connector_up"},
		`label_values(job)`:                       nil,
		`query_result(max by (x) (y))`:            {"y"},
		`label_values(m{a=~"x,y"}, connector)`:    {"m"},
		`sum(rate(crmhub_hub_applied_total[1m]))`: {"crmhub_hub_applied_total"},
	} {
		if got, err := grafanaQueryNames(q); err != nil || !slices.Equal(got, want) {
			t.Errorf("grafanaQueryNames(%q) = %v, %v; want %v", q, got, err, want)
		}
	}
}
