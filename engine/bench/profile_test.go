package bench

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/armap/armap/cgo"
	"github.com/armap/armap/internal/testenv"
)

// Self time: a parent's time less its children's, on each thread separately.
func TestSummarizeTraceSelfTime(t *testing.T) {
	trace := `{"traceEvents":[
	 {"ph":"X","cat":"cpu_op","name":"aten::linear","pid":1,"tid":1,"ts":0,"dur":100},
	 {"ph":"X","cat":"cpu_op","name":"aten::addmm","pid":1,"tid":1,"ts":0,"dur":70},
	 {"ph":"X","cat":"cpu_op","name":"aten::copy_","pid":1,"tid":1,"ts":10,"dur":20},
	 {"ph":"X","cat":"cpu_op","name":"aten::gelu","pid":1,"tid":1,"ts":80,"dur":15},
	 {"ph":"X","cat":"cpu_op","name":"aten::addmm","pid":1,"tid":"2","ts":5,"dur":40},
	 {"ph":"i","cat":"cpu_op","name":"marker","pid":1,"tid":1,"ts":3}
	]}`
	path := filepath.Join(t.TempDir(), "t.json")
	os.WriteFile(path, []byte(trace), 0o644)
	got, err := SummarizeTrace(path, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	// per step (2 steps): addmm (70-20)+40 = 90 -> 45; copy_ 20 -> 10; linear 100-70-15 = 15 -> 7.5; gelu 15 -> 7.5
	want := map[string]float64{"aten::addmm": 0.045, "aten::copy_": 0.010, "aten::linear": 0.0075, "aten::gelu": 0.0075}
	if len(got) != len(want) {
		t.Fatalf("got %d entries: %+v", len(got), got)
	}
	share := 0.0
	for _, k := range got {
		if math.Abs(k.MSPerStep-want[k.Name]) > 1e-12 {
			t.Errorf("%s: %.4f ms per step, want %.4f", k.Name, k.MSPerStep, want[k.Name])
		}
		share += k.Share
	}
	if got[0].Name != "aten::addmm" || got[0].Calls != 1 || math.Abs(share-1) > 1e-9 {
		t.Fatalf("order, calls or shares wrong: %+v", got)
	}
	// With kernels in the trace, only the kernels count.
	os.WriteFile(path, []byte(`{"traceEvents":[{"ph":"X","cat":"cpu_op","name":"aten::mm","ts":0,"dur":9},
	 {"ph":"X","cat":"kernel","name":"sm90_gemm","ts":1,"dur":30},{"ph":"X","cat":"kernel","name":"ln_fwd","ts":40,"dur":10}]}`), 0o644)
	got, err = SummarizeTrace(path, 1, 1)
	if err != nil || len(got) != 1 || got[0].Name != "sm90_gemm" || math.Abs(got[0].Share-0.75) > 1e-12 {
		t.Fatalf("kernels: %+v, %v", got, err)
	}
	os.WriteFile(path, []byte(`{"traceEvents":[]}`), 0o644)
	if _, err := SummarizeTrace(path, 1, 0); err == nil {
		t.Fatal("an empty trace gave a breakdown")
	}
}

// The backend's profiler records a real training step on CPU: the trace is written and its
// breakdown names the matrix products and the fused add + LayerNorm (our own record scope).
func TestRunWithProfile(t *testing.T) {
	b := testenv.CPUBackend(t)
	dir := t.TempDir()
	w := Workload{Name: "P", Model: "tiny", Train: true, Count: 4, MinLen: 16, MaxLen: 32, Steps: 1, Warmup: 0}
	r, err := Run(context.Background(), b, w, Options{Device: cgo.CPU, Seed: 1, ProfileDir: dir, ProfileSteps: 1})
	if err != nil {
		t.Fatal(err)
	}
	if r.Trace != filepath.Join(dir, "P.trace.json") {
		t.Fatalf("trace at %q", r.Trace)
	}
	if _, err := os.Stat(r.Trace); err != nil {
		t.Fatal(err)
	}
	if len(r.Profile) == 0 || len(r.Profile) > 25 || !strings.Contains(r.Profile[0].Name, "mm") {
		t.Errorf("top operators: %+v", r.Profile)
	}
	for _, k := range r.Profile {
		if k.MSPerStep < 0 || k.Share < 0 || k.Share > 1 {
			t.Errorf("bad entry %+v", k)
		}
	}
	// Every operator of the trace, not only the top ones: the fused op is small in a tiny model.
	every, err := SummarizeTrace(r.Trace, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, k := range every {
		names = append(names, k.Name)
	}
	all := strings.Join(names, " ")
	for _, want := range []string{"aten::addmm", "armap::add_norm", "armap::add_norm_backward"} {
		if !strings.Contains(all, want) {
			t.Errorf("no %s in the trace: %s", want, all)
		}
	}
	// A second profile in the same process works too (the first was stopped).
	if _, err := Run(context.Background(), b, w, Options{Device: cgo.CPU, Seed: 1, ProfileDir: dir, ProfileSteps: 1}); err != nil {
		t.Fatal(err)
	}
}
