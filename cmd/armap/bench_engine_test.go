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
		"T1_serial":   {Armap: &bench.Result{LatencyMS: 51.25}, Ratio: r(1.2)},
		"T1_unfused":  {Armap: &bench.Result{LatencyMS: 62.4}},
		"S2_eager":    {Armap: &bench.Result{LatencyMS: 1.1}},
		"T2":          {Note: "failed: out of memory"},
		"T2_cudnn":    {Armap: &bench.Result{LatencyMS: 130}},
		"T1_normonly": {Note: "failed: boom"},
		// Varying lengths: the median step says the opposite of the throughput; the mean is compared.
		"T3":         {Armap: &bench.Result{LatencyMS: 72.26, MeanStepMS: 70}},
		"T3_unfused": {Armap: &bench.Result{LatencyMS: 69.78, MeanStepMS: 77}},
	}}
	var lines []string
	logRatios(rep, func(f string, a ...any) {
		lines = append(lines, strings.Join(strings.Fields(fmt.Sprintf(f, a...)), " "))
	})
	want := []string{
		"T1 ratio armap/peer 1.11x",
		"T1_serial ratio armap/peer 1.20x -4.25 ms a step against T1",
		"T1_unfused +6.90 ms a step against T1",
		"T3_unfused +7.00 ms a step against T3",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

func TestSelectWorkloads(t *testing.T) {
	names := func(ws []bench.Workload) string {
		var n []string
		for _, w := range ws {
			n = append(n, w.Name)
		}
		return strings.Join(n, ",")
	}
	for _, c := range []struct {
		all  []bench.Workload
		sel  string
		want string
	}{
		// A whole name is that workload alone, not its variants; each is kept once, in order.
		{bench.GPU(), "T1,T1_unfused,S1,S1_cudnn,T1", "T1,T1_unfused,S1,S1_cudnn"},
		{bench.GPU(), "s2_EAGER", "S2_eager"},
		// A prefix up to an underscore names the workloads it starts.
		{bench.CPU(), "C3,C1", "C3_train_fixed128,C1_train_varlen"},
		{bench.CPU(), "", "C1_train_varlen,C3_train_fixed128,C2_score_varlen"},
	} {
		got, err := selectWorkloads(c.all, c.sel)
		if err != nil || names(got) != c.want {
			t.Errorf("%q: %s, %v; want %s", c.sel, names(got), err, c.want)
		}
	}
	if _, err := selectWorkloads(bench.GPU(), "T9"); err == nil || !strings.Contains(err.Error(), `"T9"`) {
		t.Errorf("unknown workload: %v", err)
	}
}
