package main

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

const header = "image\ttool\tround\trc\twall_s\tuser_s\tsys_s\tmaxrss_kb\tblob_reqs\tdisk\n"

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		groups  []group
		wall    map[group]map[string][]float64
		wantErr string
	}{
		{
			name: "two runs, one failed",
			in: header +
				"big\thaul-tar\t1\t0\t1.5\t0.4\t0.6\t17660\t2\tslow\n" +
				"big\thaul-tar\t2\t1\t0.1\t0\t0\t9000\t0\tslow\n" +
				"big\tcrane-tar\t1\t0\t3.7043\t0.73\t2.99\t13848\t2\tslow\n",
			groups: []group{{"slow", "big"}},
			wall:   map[group]map[string][]float64{{"slow", "big"}: {"haul-tar": {1.5}, "crane-tar": {3.7043}}},
		},
		{
			name: "no disk column: fast",
			in: "image\ttool\tround\trc\twall_s\tuser_s\tsys_s\tmaxrss_kb\tblob_reqs\n" +
				"many\tcurl-file\t1\t0\t0.44\t0.1\t0.2\t11000\t41\n",
			groups: []group{{"fast", "many"}},
			wall:   map[group]map[string][]float64{{"fast", "many"}: {"curl-file": {0.44}}},
		},
		{
			name: "columns found by name, panels in order of appearance",
			in: "disk\twall_s\trc\ttool\timage\n" +
				"slow\t2\t0\thaul-oci\ts24\n" +
				"fast\t1\t0\thaul-oci\tmid\n" +
				"slow\t3\t0\thaul-oci\ts24\n",
			groups: []group{{"slow", "s24"}, {"fast", "mid"}},
			wall: map[group]map[string][]float64{
				{"slow", "s24"}: {"haul-oci": {2, 3}},
				{"fast", "mid"}: {"haul-oci": {1}},
			},
		},
		{
			name:   "header only",
			in:     header,
			groups: nil,
			wall:   map[group]map[string][]float64{},
		},
		{name: "empty", in: "", wantErr: "empty"},
		{name: "no wall column", in: "image\ttool\trc\n", wantErr: `no "wall_s" column`},
		{name: "short line", in: header + "big\thaul-tar\t1\t0\n", wantErr: "x.tsv:2: 4 fields"},
		{name: "bad time", in: header + "big\thaul-tar\t1\t0\tsoon\t0\t0\t1\t2\tfast\n", wantErr: `wall_s "soon"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := newRuns()
			err := rs.parse(strings.NewReader(tc.in), "x.tsv")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(rs.groups, tc.groups) {
				t.Errorf("groups = %v, want %v", rs.groups, tc.groups)
			}
			if !reflect.DeepEqual(rs.wall, tc.wall) {
				t.Errorf("wall = %v, want %v", rs.wall, tc.wall)
			}
		})
	}
}

func TestParsePoolsFiles(t *testing.T) {
	rs := newRuns()
	for _, in := range []string{
		header + "mid\thaul-tar\t1\t0\t0.3\t0\t0\t1\t2\tfast\n",
		header + "mid\thaul-tar\t1\t0\t0.5\t0\t0\t1\t2\tfast\n",
	} {
		if err := rs.parse(strings.NewReader(in), "x.tsv"); err != nil {
			t.Fatal(err)
		}
	}
	if got := rs.wall[group{"fast", "mid"}]["haul-tar"]; !reflect.DeepEqual(got, []float64{0.3, 0.5}) {
		t.Errorf("pooled runs = %v, want [0.3 0.5]", got)
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{2}, 2},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{1, 1, 9}, 1},
		{[]float64{0.5, 0.25}, 0.375},
	} {
		in := append([]float64(nil), tc.in...)
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
		if !reflect.DeepEqual(in, tc.in) {
			t.Errorf("median changed its input: %v, was %v", tc.in, in)
		}
	}
	if got := median(nil); !math.IsNaN(got) {
		t.Errorf("median(nil) = %v, want NaN", got)
	}
}

func TestSortTools(t *testing.T) {
	tools := []string{"curl-file", "zz-new", "crane-oci", "haul-oci", "base-tar", "haul-tar", "aa-new"}
	sortTools(tools)
	want := []string{"haul-tar", "haul-oci", "base-tar", "crane-oci", "curl-file", "aa-new", "zz-new"}
	if !reflect.DeepEqual(tools, want) {
		t.Errorf("sortTools = %v, want %v", tools, want)
	}
}

func TestSortGroups(t *testing.T) {
	in := []group{{"fast", "tiny"}, {"fast", "zz"}, {"slow", "s24"}, {"fast", "big"}, {"slow", "big"}, {"fast", "many"}, {"fast", "aa"}}
	want := []group{{"fast", "big"}, {"fast", "many"}, {"fast", "tiny"}, {"fast", "aa"}, {"fast", "zz"}, {"slow", "big"}, {"slow", "s24"}}
	if got := sortGroups(in); !reflect.DeepEqual(got, want) {
		t.Errorf("sortGroups = %v, want %v", got, want)
	}
	if in[0] != (group{"fast", "tiny"}) {
		t.Errorf("sortGroups changed its input: %v", in)
	}
}

func TestWrap(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want []string
	}{
		{"", 10, nil},
		{"short", 10, []string{"short"}},
		{"one two three", 7, []string{"one two", "three"}},
		{"a longerthanten b", 10, []string{"a", "longerthanten", "b"}},
		{"  spaces   between ", 20, []string{"spaces between"}},
	} {
		if got := wrap(tc.in, tc.n); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("wrap(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestSVG(t *testing.T) {
	rs := newRuns()
	in := header +
		"big\thaul-tar\t1\t0\t1.5\t0\t0\t1\t2\tslow\n" +
		"big\tcrane-tar\t1\t0\t3.5\t0\t0\t1\t2\tslow\n" +
		"mid\tcurl-file\t1\t0\t0.25\t0\t0\t1\t2\tfast\n"
	if err := rs.parse(strings.NewReader(in), "x.tsv"); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := rs.svg(&b, "a <title>"); err != nil {
		t.Fatal(err)
	}
	s := b.String()
	for _, want := range []string{"<svg ", "DISK=slow · big", "DISK=fast · mid", "1.50 s", "250.0 ms", "a &lt;title&gt;", colour("haul-tar"), colour("crane-tar"), "</svg>"} {
		if !strings.Contains(s, want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
	if strings.Contains(s, "HAUL_BASE") {
		t.Errorf("the legend names HAUL_BASE's colour, which no bar has")
	}
}
