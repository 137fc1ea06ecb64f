package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/armap/armap/engine/bench"
)

// The ratio log is in name order, and a variant row says how far its step is from its base row's.
func TestLogRatios(t *testing.T) {
	r := func(v float64) *float64 { return &v }
	rep := &bench.Report{Workloads: map[string]*bench.Entry{
		"T1":          {Armap: &bench.Result{LatencyMS: 55.5}, Ratio: r(1.11)},
		"T1_cudnn":    {Armap: &bench.Result{LatencyMS: 51.25}, Ratio: r(1.2)},
		"T1_unfused":  {Armap: &bench.Result{LatencyMS: 62.4}},
		"S2_eager":    {Armap: &bench.Result{LatencyMS: 1.1}},
		"T2":          {Note: "failed: out of memory"},
		"T2_cudnn":    {Armap: &bench.Result{LatencyMS: 130}},
		"T1_normonly": {Note: "failed: boom"},
	}}
	var lines []string
	logRatios(rep, func(f string, a ...any) {
		lines = append(lines, strings.Join(strings.Fields(fmt.Sprintf(f, a...)), " "))
	})
	want := []string{
		"T1 ratio armap/peer 1.11x",
		"T1_cudnn ratio armap/peer 1.20x -4.25 ms a step against T1",
		"T1_unfused +6.90 ms a step against T1",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}
