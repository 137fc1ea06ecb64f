package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
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
		"T3_unfused": {Armap: &bench.Result{LatencyMS: 69.78, MeanStepMS: 77}, Ratio: r(3), RatioFirstRun: r(5.5)},
	}}
	var lines []string
	logRatios(rep, func(f string, a ...any) {
		lines = append(lines, strings.Join(strings.Fields(fmt.Sprintf(f, a...)), " "))
	})
	want := []string{
		"T1 ratio armap/peer 1.11x",
		"T1_serial ratio armap/peer 1.20x -4.25 ms a step against T1",
		"T1_unfused +6.90 ms a step against T1",
		"T3_unfused ratio armap/peer 3.00x (5.50x against the peer's first run) +7.00 ms a step against T3",
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

// bench merge takes the merged figures from --peer-dir and keeps the first run's apart, in the
// file it writes: the ratios are the warm peer's.
func TestBenchMergeKeepsFirstRunApart(t *testing.T) {
	dir := t.TempDir()
	rep := bench.Report{Card: "H100", Workloads: map[string]*bench.Entry{
		"T1": {Armap: &bench.Result{RealTokensPerS: 600}},
		"T3": {Armap: &bench.Result{RealTokensPerS: 500}},
	}}
	data, _ := json.Marshal(rep)
	path := filepath.Join(dir, "report.json")
	warm, first := filepath.Join(dir, "warm"), filepath.Join(dir, "first")
	for _, d := range []string{warm, first} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(path, string(data))
	write(filepath.Join(warm, "peer_bench.json"), `{"train":[{"kind":"bert-base","compile":true,"tokens_per_s":500}]}`)
	write(filepath.Join(warm, "varlen_bench.json"), `{"train_varlen_bert_base":{"real_tokens_per_s":160},"train_varlen_bert_base_grouped":{"real_tokens_per_s":150}}`)
	write(filepath.Join(first, "varlen_bench.json"), `{"train_varlen_bert_base":{"real_tokens_per_s":90},"train_varlen_bert_base_grouped":{"real_tokens_per_s":100}}`)
	if _, err := runArmap(t, "bench", "merge", path, "--peer-dir", warm, "--peer-first-run-dir", filepath.Join(dir, "missing")); err == nil ||
		!strings.Contains(err.Error(), "--peer-first-run-dir") {
		t.Fatalf("a first-run folder without peer files: %v", err)
	}
	if _, err := runArmap(t, "bench", "merge", path, "--peer-dir", warm, "--peer-first-run-dir", first); err != nil {
		t.Fatal(err)
	}
	var got bench.Report
	data, _ = os.ReadFile(path)
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	t3, t1 := got.Workloads["T3"], got.Workloads["T1"]
	if t3.Ratio == nil || *t3.Ratio != 500.0/160 {
		t.Errorf("T3 ratio %v, want the warm peer's %v", t3.Ratio, 500.0/160)
	}
	if t3.RatioFirstRun == nil || *t3.RatioFirstRun != 5 || t3.PeerFirstRun == nil {
		t.Errorf("T3 first-run ratio %v (peer %v), want 5 against the grouped 100", t3.RatioFirstRun, t3.PeerFirstRun)
	}
	if t1.Ratio == nil || *t1.Ratio != 1.2 || t1.RatioFirstRun != nil || t1.PeerFirstRun != nil {
		t.Errorf("T1: ratio %v, first run %v %v; want 1.2 and no first-run figure", t1.Ratio, t1.RatioFirstRun, t1.PeerFirstRun)
	}
	// Merged again without a first run, the report keeps none from the merge before.
	if _, err := runArmap(t, "bench", "merge", path, "--peer-dir", warm); err != nil {
		t.Fatal(err)
	}
	data, _ = os.ReadFile(path)
	got = bench.Report{}
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if e := got.Workloads["T3"]; e.RatioFirstRun != nil || e.PeerFirstRun != nil || e.Ratio == nil {
		t.Errorf("T3 after a merge without a first run: ratio %v, first run %v %v", e.Ratio, e.RatioFirstRun, e.PeerFirstRun)
	}
}
