package kubectlplugin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/yaml"

	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/plan"
)

// table writes aligned columns, as kubectl get does.
type table struct{ writer *tabwriter.Writer }

func newTable(out io.Writer, headers ...string) *table {
	t := &table{writer: tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)}
	t.row(headers...)
	return t
}

// row writes one line; a cell's own tabs and line breaks would break the
// columns, so they become spaces.
func (t *table) row(cells ...string) {
	for index, cell := range cells {
		cells[index] = strings.NewReplacer("\t", " ", "\n", " ").Replace(cell)
	}
	fmt.Fprintln(t.writer, strings.Join(cells, "\t"))
}

func (t *table) flush() error { return t.writer.Flush() }

// printStructured writes value as JSON or YAML (-o).
func printStructured(out io.Writer, format string, value any) error {
	var encoded []byte
	var err error
	switch format {
	case "json":
		// Reasons hold ">=": no HTML escaping, they are read in a terminal.
		var buffer bytes.Buffer
		encoder := json.NewEncoder(&buffer)
		encoder.SetEscapeHTML(false)
		encoder.SetIndent("", "  ")
		err = encoder.Encode(value)
		encoded = buffer.Bytes()
	case "yaml":
		encoded, err = yaml.Marshal(value)
	default:
		return usagef("--output %q: use json or yaml", format)
	}
	if err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	_, err = out.Write(encoded)
	return err
}

// formatTime writes an instant in UTC, with seconds: what status holds.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// formatAge is kubectl's AGE column.
func formatAge(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return duration.HumanDuration(now.Sub(t))
}

// formatQuantity writes a size as the planner's reasons do.
func formatQuantity(q *resource.Quantity) string {
	if q == nil || q.IsZero() {
		return "-"
	}
	return plan.FormatBytes(q.Value())
}

// formatSize is a PVC's capacity, and the request it is growing to when
// that differs: "10Gi", "10Gi→12Gi".
func formatSize(capacity, requested *resource.Quantity) string {
	size := formatQuantity(capacity)
	if requested != nil && (capacity == nil || requested.Cmp(*capacity) != 0) {
		size += "→" + formatQuantity(requested)
	}
	return size
}

// formatUsed is "4.7Gi (47.3%)", or "-" without figures.
func formatUsed(observed bool, usedBytes int64, usedPercent float64) string {
	if !observed {
		return "-"
	}
	return fmt.Sprintf("%s (%s%%)", plan.FormatBytes(usedBytes), plan.FormatPercent(usedPercent))
}

func orDash(text string) string {
	if text == "" {
		return "-"
	}
	return text
}
