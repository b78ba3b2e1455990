package console

import (
	"fmt"
	"html/template"
	"slices"
	"strings"
	"time"
)

type usageReport struct {
	Since string `json:"since"`
	Until string `json:"until"`
	Usage []struct {
		Day     string `json:"day"`
		Feature string `json:"feature"`
		Count   int64  `json:"count"`
	} `json:"usage"`
	Totals map[string]int64 `json:"totals"`
}

type total struct {
	Feature string
	Count   int64
}

func (u usageReport) totalsSorted() []total {
	var out []total
	for k, v := range u.Totals {
		out = append(out, total{k, v})
	}
	slices.SortFunc(out, func(a, b total) int {
		if a.Count != b.Count {
			return int(b.Count - a.Count)
		}
		return strings.Compare(a.Feature, b.Feature)
	})
	return out
}

// chart draws daily usage (all features together) as an SVG bar chart,
// server-side: no script, and the numbers are in its title elements for
// screen readers and tooltips.
func (u usageReport) chart() template.HTML {
	since, err1 := time.Parse(time.DateOnly, u.Since)
	until, err2 := time.Parse(time.DateOnly, u.Until)
	if err1 != nil || err2 != nil || !since.Before(until) {
		return ""
	}
	days := int(until.Sub(since).Hours() / 24)
	perDay := make([]int64, days)
	var peak int64
	for _, row := range u.Usage {
		d, err := time.Parse(time.DateOnly, row.Day)
		if err != nil {
			continue
		}
		if i := int(d.Sub(since).Hours() / 24); i >= 0 && i < days {
			perDay[i] += row.Count
			peak = max(peak, perDay[i])
		}
	}
	const w, h, pad = 720, 200, 28
	bw := float64(w-2*pad) / float64(days)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="Feature usage per day from %s to %s">`, w, h+24, u.Since, u.Until)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" class="axis"/>`, pad, h, w-pad, h)
	for i, n := range perDay {
		bh := 0.0
		if peak > 0 {
			bh = float64(n) / float64(peak) * float64(h-pad)
		}
		day := since.AddDate(0, 0, i).Format(time.DateOnly)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" class="bar"><title>%s: %d</title></rect>`,
			float64(pad)+float64(i)*bw+1, float64(h)-bh, max(bw-2, 1), bh, day, n)
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" class="label">%s</text>`, pad, h+18, u.Since)
	fmt.Fprintf(&b, `<text x="%d" y="%d" class="label" text-anchor="end">%s</text>`, w-pad, h+18, until.AddDate(0, 0, -1).Format(time.DateOnly))
	fmt.Fprintf(&b, `<text x="%d" y="%d" class="label">peak %d/day</text>`, pad, 14, peak)
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // every value in it is a number or a parsed date
}
