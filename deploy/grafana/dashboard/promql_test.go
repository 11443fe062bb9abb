package dashboard

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode"
)

// promRead is what one PromQL expression reads: its series selectors and
// the labels it groups or joins by. It is a small lexer, not a parser: the
// dashboard's queries are plain PromQL, and a full parser would pull
// Prometheus itself into the module.
type promRead struct {
	selectors []seriesSelector
	// grouping are the labels of by, without, on, ignoring, group_left
	// and group_right.
	grouping []string
	// keptBy are the labels of the first by: the outermost aggregation's
	// in the prefix form the dashboard writes, sum by (…) (…), so the
	// only labels its result has.
	keptBy []string
}

// seriesSelector is a metric name and its matchers (label: value).
type seriesSelector struct {
	metric   string
	matchers map[string]string
}

var (
	groupingKeywords = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}
	otherKeywords    = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true, "atan2": true, "inf": true, "nan": true}
	// aggregations may be followed by by (...) before their parenthesis.
	aggregations = map[string]bool{"sum": true, "min": true, "max": true, "avg": true, "count": true, "group": true, "stddev": true,
		"stdvar": true, "topk": true, "bottomk": true, "quantile": true, "count_values": true, "limitk": true, "limit_ratio": true}
)

func isNameStart(r rune) bool { return r == '_' || r == ':' || unicode.IsLetter(r) }
func isNamePart(r rune) bool  { return isNameStart(r) || unicode.IsDigit(r) }

// readPromQL lexes expr; Grafana's variables may appear only inside label
// values and range brackets.
func readPromQL(expr string) (promRead, error) {
	var read promRead
	keptByRead := false
	runes := []rune(expr)
	i := 0
	skipSpace := func() {
		for i < len(runes) && unicode.IsSpace(runes[i]) {
			i++
		}
	}
	readName := func() string {
		start := i
		for i < len(runes) && isNamePart(runes[i]) {
			i++
		}
		return string(runes[start:i])
	}
	readString := func() (string, error) {
		quote := runes[i]
		i++
		var value strings.Builder
		for i < len(runes) && runes[i] != quote {
			if runes[i] == '\\' && quote != '`' {
				i++
			}
			if i < len(runes) {
				value.WriteRune(runes[i])
			}
			i++
		}
		if i >= len(runes) {
			return "", fmt.Errorf("unterminated string in %q", expr)
		}
		i++
		return value.String(), nil
	}
	readMatchers := func() (map[string]string, error) {
		matchers := map[string]string{}
		i++ // {
		for {
			skipSpace()
			if i >= len(runes) {
				return nil, fmt.Errorf("unterminated selector in %q", expr)
			}
			if runes[i] == '}' {
				i++
				return matchers, nil
			}
			if runes[i] == ',' {
				i++
				continue
			}
			if !isNameStart(runes[i]) {
				return nil, fmt.Errorf("unexpected %q in a selector of %q", runes[i], expr)
			}
			label := readName()
			skipSpace()
			for i < len(runes) && strings.ContainsRune("=!~", runes[i]) {
				i++
			}
			skipSpace()
			if i >= len(runes) || !strings.ContainsRune("\"'`", runes[i]) {
				return nil, fmt.Errorf("matcher %s without a quoted value in %q", label, expr)
			}
			value, err := readString()
			if err != nil {
				return nil, err
			}
			matchers[label] = value
		}
	}
	for i < len(runes) {
		r := runes[i]
		switch {
		case unicode.IsSpace(r):
			i++
		case strings.ContainsRune("\"'`", r):
			if _, err := readString(); err != nil {
				return promRead{}, err
			}
		case r == '[': // a range or subquery: durations and Grafana macros
			for i < len(runes) && runes[i] != ']' {
				i++
			}
			i++
		case r == '{':
			return promRead{}, fmt.Errorf("selector without a metric name in %q", expr)
		case unicode.IsDigit(r) || r == '.':
			for i < len(runes) && (isNamePart(runes[i]) || runes[i] == '.') {
				i++
			}
		case isNameStart(r):
			name := readName()
			skipSpace()
			next := rune(0)
			if i < len(runes) {
				next = runes[i]
			}
			switch {
			case groupingKeywords[name] && next == '(':
				i++
				for {
					skipSpace()
					if i >= len(runes) {
						return promRead{}, fmt.Errorf("unterminated %s list in %q", name, expr)
					}
					if runes[i] == ')' {
						i++
						break
					}
					if runes[i] == ',' {
						i++
						continue
					}
					label := readName()
					if label == "" {
						return promRead{}, fmt.Errorf("unexpected %q in the %s list of %q", runes[i], name, expr)
					}
					read.grouping = append(read.grouping, label)
					if name == "by" && !keptByRead {
						read.keptBy = append(read.keptBy, label)
					}
				}
				keptByRead = keptByRead || name == "by"
			case groupingKeywords[name] || otherKeywords[strings.ToLower(name)] || aggregations[name]:
			case next == '(': // a function or an aggregation
			default:
				selector := seriesSelector{metric: name, matchers: map[string]string{}}
				if next == '{' {
					matchers, err := readMatchers()
					if err != nil {
						return promRead{}, err
					}
					selector.matchers = matchers
				}
				read.selectors = append(read.selectors, selector)
			}
		default:
			i++
		}
	}
	return read, nil
}

func TestReadPromQL(t *testing.T) {
	tests := []struct {
		expr      string
		selectors []seriesSelector
		grouping  []string
		keptBy    []string
	}{
		{
			expr:      `histogram_quantile(0.99, sum by (kind, le) (rate(latency_bucket{a="1", b=~"x|y"}[$__rate_interval])))`,
			selectors: []seriesSelector{{"latency_bucket", map[string]string{"a": "1", "b": "x|y"}}},
			grouping:  []string{"kind", "le"},
			keptBy:    []string{"kind", "le"},
		},
		{
			expr: `used{ns=~"$namespace"} / on (ns, pvc) group_left (gate) state{gate!="a,b}"} > bool 0.5`,
			selectors: []seriesSelector{
				{"used", map[string]string{"ns": "$namespace"}},
				{"state", map[string]string{"gate": "a,b}"}},
			},
			grouping: []string{"ns", "pvc", "gate"},
		},
		{
			expr:      `time() - last_success{pod=~"$cluster-[1-9][0-9]*"} or vector(0)`,
			selectors: []seriesSelector{{"last_success", map[string]string{"pod": "$cluster-[1-9][0-9]*"}}},
		},
		{
			expr:      `max by (pvc) (state == 1)`,
			selectors: []seriesSelector{{"state", map[string]string{}}},
			grouping:  []string{"pvc"},
			keptBy:    []string{"pvc"},
		},
		{
			expr:      `sum(increase(growths_total[5m])) without (outcome)`,
			selectors: []seriesSelector{{"growths_total", map[string]string{}}},
			grouping:  []string{"outcome"},
		},
	}
	for _, tc := range tests {
		read, err := readPromQL(tc.expr)
		if err != nil {
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		if !reflect.DeepEqual(read.selectors, tc.selectors) || !reflect.DeepEqual(read.grouping, tc.grouping) ||
			!reflect.DeepEqual(read.keptBy, tc.keptBy) {
			t.Errorf("%s:\nread %+v %v %v\nwant %+v %v %v", tc.expr, read.selectors, read.grouping, read.keptBy,
				tc.selectors, tc.grouping, tc.keptBy)
		}
	}
	for _, broken := range []string{`x{a="1"`, `{__name__="x"}`, `x{a=1}`, `sum by (a (x)`} {
		if _, err := readPromQL(broken); err == nil {
			t.Errorf("%s: read without an error", broken)
		}
	}
}
