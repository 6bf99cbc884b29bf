// Command chart draws the raw runs of bench/pull.sh as an SVG: for each (disk
// profile, image), one bar per tool, as long as the tool's median wall time
// over its successful runs, with a thin line from its fastest run to its
// slowest; haul's rows in one colour, a HAUL_BASE build's in another, the
// peers (crane, regctl, skopeo) in a third and the curl limits in grey.
//
//	go run ./bench/chart -o bench/results/X.svg RAW1.tsv RAW2.tsv
//
// It reads the TSVs' header to find the columns image, tool, rc and wall_s,
// and disk when there is one (older runs have none: they were all on this
// machine's disk, "fast"). Runs of the same (disk, image, tool) from several
// files are pooled. Standard library only.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"html"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// group is one panel of the chart.
type group struct{ disk, image string }

// runs holds the wall times of the successful runs, by panel and tool, and
// the panels in the order they first appear.
type runs struct {
	groups []group
	wall   map[group]map[string][]float64
}

func newRuns() *runs { return &runs{wall: map[group]map[string][]float64{}} }

// parse adds the successful runs of one raw TSV of bench/pull.sh to rs; name
// is for errors.
func (rs *runs) parse(r io.Reader, name string) error {
	sc := bufio.NewScanner(r)
	col := map[string]int{}
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimRight(sc.Text(), "\r")
		if text == "" {
			continue
		}
		f := strings.Split(text, "\t")
		if len(col) == 0 {
			for i, h := range f {
				col[h] = i
			}
			for _, need := range []string{"image", "tool", "rc", "wall_s"} {
				if _, ok := col[need]; !ok {
					return fmt.Errorf("%s: header has no %q column", name, need)
				}
			}
			continue
		}
		get := func(c string) string {
			i, ok := col[c]
			if !ok || i >= len(f) {
				return ""
			}
			return f[i]
		}
		if len(f) < len(col) {
			return fmt.Errorf("%s:%d: %d fields, the header has %d", name, line, len(f), len(col))
		}
		if get("rc") != "0" {
			continue // a failed run has no time worth drawing
		}
		w, err := strconv.ParseFloat(get("wall_s"), 64)
		if err != nil || w < 0 || math.IsInf(w, 0) || math.IsNaN(w) {
			return fmt.Errorf("%s:%d: wall_s %q is not a time in seconds", name, line, get("wall_s"))
		}
		g := group{disk: get("disk"), image: get("image")}
		if g.disk == "" {
			g.disk = "fast"
		}
		if rs.wall[g] == nil {
			rs.wall[g] = map[string][]float64{}
			rs.groups = append(rs.groups, g)
		}
		tool := get("tool")
		rs.wall[g][tool] = append(rs.wall[g][tool], w)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if len(col) == 0 {
		return fmt.Errorf("%s: empty, not a raw TSV of bench/pull.sh", name)
	}
	return nil
}

// median of vs (NaN for none); vs is not changed.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(vs)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// order is the rows' order in a panel: pull.sh's own, base-* after haul-*.
var order = []string{
	"haul-tar", "haul-tar-nocache", "haul-oci", "haul-oci-nocache", "haul-oci-repull",
	"base-tar", "base-tar-nocache", "base-oci", "base-oci-nocache",
	"crane-tar", "crane-oci", "regctl-tar", "skopeo-tar", "skopeo-oci",
	"curl-null", "curl-file",
}

func sortTools(tools []string) {
	rank := func(t string) int {
		if i := slices.Index(order, t); i >= 0 {
			return i
		}
		return len(order)
	}
	sort.SliceStable(tools, func(i, j int) bool {
		ri, rj := rank(tools[i]), rank(tools[j])
		if ri != rj {
			return ri < rj
		}
		return tools[i] < tools[j]
	})
}

// images is the panels' order within a disk profile; disks keep the order in
// which they first appear.
var images = []string{"big", "mid", "many", "s24", "tiny", "multi"}

func sortGroups(gs []group) []group {
	gs = slices.Clone(gs)
	var disks []string
	for _, g := range gs {
		if !slices.Contains(disks, g.disk) {
			disks = append(disks, g.disk)
		}
	}
	rank := func(img string) int {
		if i := slices.Index(images, img); i >= 0 {
			return i
		}
		return len(images)
	}
	sort.SliceStable(gs, func(i, j int) bool {
		a, b := gs[i], gs[j]
		if da, db := slices.Index(disks, a.disk), slices.Index(disks, b.disk); da != db {
			return da < db
		}
		if ra, rb := rank(a.image), rank(b.image); ra != rb {
			return ra < rb
		}
		return a.image < b.image
	})
	return gs
}

// colour of a tool's bar.
func colour(tool string) string {
	switch {
	case strings.HasPrefix(tool, "haul-"):
		return "#d9480f"
	case strings.HasPrefix(tool, "base-"):
		return "#f08c00"
	case strings.HasPrefix(tool, "curl-"):
		return "#adb5bd"
	default:
		return "#4263eb"
	}
}

func fmtSecs(s float64) string {
	if s < 1 {
		return fmt.Sprintf("%.1f ms", s*1000)
	}
	return fmt.Sprintf("%.2f s", s)
}

const (
	panelW  = 470 // a panel's width
	labelW  = 120 // the tool names' column
	valueW  = 70  // room right of the longest bar for its value
	rowH    = 16
	headH   = 26
	gap     = 20 // between panels
	columns = 2
	titleH  = 20 // a line of the title
	titleN  = 95 // characters in a line of the title, at most (a word longer than that stays whole)
)

// wrap splits s into lines of at most n characters, at spaces.
func wrap(s string, n int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		switch {
		case line == "":
			line = w
		case len([]rune(line))+1+len([]rune(w)) <= n:
			line += " " + w
		default:
			lines = append(lines, line)
			line = w
		}
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}

// svg writes the chart of rs.
func (rs *runs) svg(w io.Writer, title string) error {
	type panel struct {
		g     group
		tools []string
		h     int
	}
	var ps []panel
	for _, g := range sortGroups(rs.groups) {
		var tools []string
		for t := range rs.wall[g] {
			tools = append(tools, t)
		}
		sortTools(tools)
		ps = append(ps, panel{g, tools, headH + len(tools)*rowH + 8})
	}
	titles := wrap(title, titleN)
	legendY := 4 + titleH*len(titles) + 22 // the legend's baseline
	// Rows of panels, each as tall as its tallest.
	var rowY []int
	y := legendY + 16
	for i := 0; i < len(ps); i += columns {
		rowY = append(rowY, y)
		h := 0
		for _, p := range ps[i:min(i+columns, len(ps))] {
			h = max(h, p.h)
		}
		y += h + gap
	}
	width := columns*panelW + (columns+1)*gap
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n", width, y, width, y)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#fff"/>`+"\n")
	for i, t := range titles {
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="15" font-weight="bold">%s</text>`+"\n", gap, 4+titleH*(i+1), html.EscapeString(t))
	}
	// The legend names the colours the chart uses.
	used := map[string]bool{}
	for _, p := range ps {
		for _, t := range p.tools {
			used[colour(t)] = true
		}
	}
	lx := gap
	for _, l := range []struct{ name, tool string }{
		{"haul", "haul-"}, {"haul (HAUL_BASE)", "base-"}, {"crane, regctl, skopeo", "x"}, {"curl (limits)", "curl-"},
	} {
		if !used[colour(l.tool)] {
			continue
		}
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="12" height="10" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n",
			lx, legendY-9, colour(l.tool), lx+16, legendY, html.EscapeString(l.name))
		lx += 32 + 7*len(l.name)
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#555">bar: median wall time; line: fastest to slowest run; each panel has its own scale</text>`+"\n", lx+10, legendY)
	for i, p := range ps {
		x0 := gap + (i%columns)*(panelW+gap)
		y0 := rowY[i/columns]
		fmt.Fprintf(&b, `<g transform="translate(%d,%d)">`+"\n", x0, y0)
		fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="none" stroke="#dee2e6"/>`+"\n", panelW, p.h)
		fmt.Fprintf(&b, `<text x="8" y="17" font-size="12" font-weight="bold">DISK=%s · %s</text>`+"\n", html.EscapeString(p.g.disk), html.EscapeString(p.g.image))
		top := 0.0
		for _, t := range p.tools {
			top = max(top, slices.Max(rs.wall[p.g][t]))
		}
		if top <= 0 {
			top = 1
		}
		scale := float64(panelW-labelW-valueW-8) / top
		for j, t := range p.tools {
			vs := rs.wall[p.g][t]
			md, lo, hi := median(vs), slices.Min(vs), slices.Max(vs)
			ry := headH + j*rowH
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`, labelW-6, ry+11, html.EscapeString(t))
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"><title>%s: median %s of %d runs (%s to %s)</title></rect>`,
				labelW, ry+2, md*scale, rowH-4, colour(t), html.EscapeString(t), fmtSecs(md), len(vs), fmtSecs(lo), fmtSecs(hi))
			fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#343a40" stroke-width="1"/>`,
				float64(labelW)+lo*scale, float64(labelW)+hi*scale, ry+rowH/2, ry+rowH/2)
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" fill="#343a40">%s</text>`+"\n", float64(labelW)+max(md, hi)*scale+4, ry+11, fmtSecs(md))
		}
		b.WriteString("</g>\n")
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func main() {
	out := flag.String("o", "", "SVG file to write (- for stdout)")
	title := flag.String("title", "", "the chart's title (default: haul pull, median wall time, and the TSVs' names)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: go run ./bench/chart -o OUT.svg RAW.tsv...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *out == "" || flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	rs := newRuns()
	var names []string
	for _, p := range flag.Args() {
		f, err := os.Open(p)
		if err != nil {
			fatal(err)
		}
		err = rs.parse(f, p)
		f.Close()
		if err != nil {
			fatal(err)
		}
		names = append(names, filepath.Base(p))
	}
	if len(rs.groups) == 0 {
		fatal(fmt.Errorf("no successful run in %s", strings.Join(flag.Args(), ", ")))
	}
	if *title == "" {
		*title = "haul pull: median wall time per tool, shorter is faster (" + strings.Join(names, ", ") + ")"
	}
	w := io.Writer(os.Stdout)
	var f *os.File
	if *out != "-" {
		var err error
		if f, err = os.Create(*out); err != nil {
			fatal(err)
		}
		w = f
	}
	if err := rs.svg(w, *title); err != nil {
		fatal(err)
	}
	if f != nil {
		if err := f.Close(); err != nil {
			fatal(err)
		}
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "chart:", err)
	os.Exit(1)
}
