package framework

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// Selector is one vector selector of a PromQL expression: a metric and its
// label matchers.
type Selector struct {
	Metric   string
	Matchers []Matcher
}

// Matcher is one label matcher of a selector: label, operator (=, !=, =~,
// !~) and value.
type Matcher struct {
	Label, Op, Value string
}

func (m Matcher) String() string { return fmt.Sprintf("%s%s%q", m.Label, m.Op, m.Value) }

// QueryParts is what an expression reads: the selectors of the series it
// names and the labels it groups or matches by.
type QueryParts struct {
	Selectors []Selector
	// Grouping are the labels of by, without, on, ignoring, group_left and
	// group_right clauses, sorted and without repeats.
	Grouping []string
}

var (
	identifier = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	matcher    = regexp.MustCompile(`^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*$`)
	grouping   = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)`)
)

// PartsOf finds the selectors of the metrics named with prefix, and the
// grouping labels, in a PromQL expression. It is not a PromQL parser: it
// reads the add-on's own expressions (deploy/grafana, deploy/prometheus),
// whose metrics all share one prefix, and its test runs it on every one of
// them; an expression it cannot read is an error, never an empty answer.
func PartsOf(expr, prefix string) (QueryParts, error) {
	var parts QueryParts
	rest := expr
	for {
		loc := identifier.FindStringIndex(rest)
		if loc == nil {
			break
		}
		name := rest[loc[0]:loc[1]]
		after := rest[loc[1]:]
		// A name inside a string (a matcher's value) or a longer word is
		// not a metric: only names starting the prefix after a non-word
		// character, outside quotes, count.
		if !strings.HasPrefix(name, prefix) || insideString(expr, len(expr)-len(rest)+loc[0]) {
			rest = after
			continue
		}
		selector := Selector{Metric: name}
		if trimmed := strings.TrimLeft(after, " \t\n"); strings.HasPrefix(trimmed, "{") {
			end := closingBrace(trimmed)
			if end < 0 {
				return parts, fmt.Errorf("selector %s in %q: no closing brace", name, expr)
			}
			matchers, err := matchersOf(trimmed[1:end])
			if err != nil {
				return parts, fmt.Errorf("selector %s in %q: %w", name, expr, err)
			}
			selector.Matchers = matchers
			after = trimmed[end+1:]
		}
		parts.Selectors = append(parts.Selectors, selector)
		rest = after
	}
	if len(parts.Selectors) == 0 {
		return parts, fmt.Errorf("no %s* metric in %q", prefix, expr)
	}
	for _, clause := range grouping.FindAllStringSubmatch(expr, -1) {
		for _, label := range strings.Split(clause[1], ",") {
			if label = strings.TrimSpace(label); label != "" && !slices.Contains(parts.Grouping, label) {
				parts.Grouping = append(parts.Grouping, label)
			}
		}
	}
	sort.Strings(parts.Grouping)
	return parts, nil
}

// insideString tells whether position i of expr is inside a double-quoted
// string.
func insideString(expr string, i int) bool {
	inside := false
	for j := 0; j < i; j++ {
		switch expr[j] {
		case '\\':
			if inside {
				j++
			}
		case '"':
			inside = !inside
		}
	}
	return inside
}

// closingBrace is the index of the brace closing s[0] == '{', skipping
// quoted strings; -1 when there is none.
func closingBrace(s string) int {
	inside := false
	for i := 1; i < len(s); i++ {
		switch {
		case inside && s[i] == '\\':
			i++
		case s[i] == '"':
			inside = !inside
		case !inside && s[i] == '}':
			return i
		}
	}
	return -1
}

func matchersOf(body string) ([]Matcher, error) {
	var out []Matcher
	for _, part := range splitOutsideQuotes(body) {
		if strings.TrimSpace(part) == "" {
			continue
		}
		m := matcher.FindStringSubmatch(part)
		if m == nil {
			return nil, fmt.Errorf("cannot read matcher %q", part)
		}
		out = append(out, Matcher{Label: m[1], Op: m[2], Value: m[3]})
	}
	return out, nil
}

// splitOutsideQuotes splits on commas that are not inside a string.
func splitOutsideQuotes(s string) []string {
	var parts []string
	inside, start := false, 0
	for i := 0; i < len(s); i++ {
		switch {
		case inside && s[i] == '\\':
			i++
		case s[i] == '"':
			inside = !inside
		case !inside && s[i] == ',':
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// Expression is one PromQL expression the add-on ships, and where.
type Expression struct {
	Source string // e.g. "dashboard panel \"Used\"" or "alert PGStorageVolumeUsageHigh"
	Query  string
}

// DashboardExpressions are the queries of every panel target and every
// query variable of a Grafana dashboard JSON.
func DashboardExpressions(path string) ([]Expression, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	type panel struct {
		Title   string                  `json:"title"`
		Targets []struct{ Expr string } `json:"targets"`
		Panels  []json.RawMessage       `json:"panels"`
	}
	var dashboard struct {
		Panels     []json.RawMessage `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &dashboard); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var out []Expression
	var walk func([]json.RawMessage) error
	walk = func(panels []json.RawMessage) error {
		for _, raw := range panels {
			var p panel
			if err := json.Unmarshal(raw, &p); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			for _, t := range p.Targets {
				if t.Expr != "" {
					out = append(out, Expression{Source: fmt.Sprintf("dashboard panel %q", p.Title), Query: t.Expr})
				}
			}
			if err := walk(p.Panels); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(dashboard.Panels); err != nil {
		return nil, err
	}
	labelValues := regexp.MustCompile(`^label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)
	for _, v := range dashboard.Templating.List {
		query, _ := v.Query.(string)
		if v.Type != "query" || query == "" {
			continue
		}
		// label_values(selector, label): the selector, grouped by the label.
		if m := labelValues.FindStringSubmatch(query); m != nil {
			query = fmt.Sprintf("count by (%s) (%s)", m[2], m[1])
		}
		out = append(out, Expression{Source: fmt.Sprintf("dashboard variable %q", v.Name), Query: query})
	}
	return out, nil
}

// RuleExpressions are the expressions of every alerting and recording rule
// of a Prometheus rules file.
func RuleExpressions(path string) ([]Expression, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var file struct {
		Groups []struct {
			Rules []struct {
				Alert, Record, Expr string
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := yaml.Unmarshal(data, &file); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var out []Expression
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			source := "alert " + r.Alert
			if r.Record != "" {
				source = "recording rule " + r.Record
			}
			out = append(out, Expression{Source: source, Query: r.Expr})
		}
	}
	return out, nil
}

// PrometheusSeries asks a Prometheus (its HTTP API at baseURL) for an
// instant query and returns how many series the answer holds.
func PrometheusSeries(ctx context.Context, baseURL, query string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/api/v1/query?"+url.Values{"query": {query}}.Encode(), nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var answer struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string            `json:"resultType"`
			Result     []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		return 0, fmt.Errorf("query %q: %s: %w", query, resp.Status, err)
	}
	if answer.Status != "success" {
		return 0, fmt.Errorf("query %q: %s", query, answer.Error)
	}
	if answer.Data.ResultType != "vector" {
		return 0, fmt.Errorf("query %q: a %s, not a vector", query, answer.Data.ResultType)
	}
	return len(answer.Data.Result), nil
}
