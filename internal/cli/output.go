package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// printJSON writes v as indented JSON and a newline.
func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// printList prints items as a JSON array (never null) with asJSON, else through human.
func printList[T any](w io.Writer, items []T, asJSON bool, human func(io.Writer, []T) error) error {
	if !asJSON {
		return human(w, items)
	}
	if items == nil {
		items = []T{}
	}
	return printJSON(w, items)
}

// table writes aligned columns.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, headers ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	t.row(headers...)
	return t
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		if c == "" {
			cells[i] = "-"
		}
		cells[i] = strings.ReplaceAll(strings.ReplaceAll(cells[i], "\t", " "), "\n", " ")
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

// fields writes "Key:  value" lines, aligned.
type fields struct{ tw *tabwriter.Writer }

func newFields(w io.Writer) *fields { return &fields{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)} }

func (f *fields) add(key, value string) {
	if value == "" {
		value = "-"
	}
	fmt.Fprintf(f.tw, "%s:\t%s\n", key, value)
}

func (f *fields) flush() error { return f.tw.Flush() }

// jsonBlock writes a titled, indented JSON value (or "{}" when v is empty).
func jsonBlock(w io.Writer, title string, v map[string]any) error {
	if v == nil {
		v = map[string]any{}
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", title, err)
	}
	_, err = fmt.Fprintf(w, "%s:\n%s\n", title, b)
	return err
}

// when formats a timestamp cell: Azure's zero time ("0001-01-01T00:00:00Z") shows as "-".
func when(s string) string {
	if strings.HasPrefix(s, "0001-01-01") {
		return ""
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
