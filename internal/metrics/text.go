package metrics

// The Prometheus text exposition format, version 0.0.4: a family's HELP
// and TYPE lines, then its samples, each line ending in a newline.

import (
	"bytes"
	"fmt"
	"strconv"
)

// Family writes the HELP and TYPE lines of the metric family name, of type
// typ ("counter", "gauge" or "histogram"), in the Prometheus text format.
func Family(b *bytes.Buffer, name, typ, help string) {
	fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

// Sample writes one sample line of name, with value v; labels, if not "",
// are already formatted, as in `reason="full"`.
func Sample(b *bytes.Buffer, name, labels string, v int64) {
	b.WriteString(name)
	if labels != "" {
		b.WriteString("{" + labels + "}")
	}
	b.WriteByte(' ')
	b.WriteString(strconv.FormatInt(v, 10))
	b.WriteByte('\n')
}
