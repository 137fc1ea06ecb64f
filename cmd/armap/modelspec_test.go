package main

import (
	"github.com/armap/armap/engine/model"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/armap/armap/cgo"
)

func TestScoreOptions(t *testing.T) {
	for _, c := range []struct {
		device, dtype string
		graphs        bool
		attention     string
		want          cgo.ModelOptions
		bad           bool
	}{
		{device: "cpu", dtype: "auto", graphs: true, want: cgo.ModelOptions{Device: cgo.CPU, ComputeDType: cgo.F32}},
		{device: "cuda", dtype: "auto", graphs: true, want: cgo.ModelOptions{Device: cgo.CUDA, ComputeDType: cgo.BF16}},
		{device: "cuda", dtype: "f32", graphs: false, want: cgo.ModelOptions{Device: cgo.CUDA, ComputeDType: cgo.F32, NoCUDAGraphs: true}},
		{device: "cpu", dtype: "bf16", graphs: true, want: cgo.ModelOptions{Device: cgo.CPU, ComputeDType: cgo.BF16}},
		{device: "cuda", dtype: "f16", graphs: true, want: cgo.ModelOptions{Device: cgo.CUDA, ComputeDType: cgo.F16}},
		{device: "cuda", dtype: "fp8", graphs: true, bad: true},
		{device: "cuda", dtype: "auto", graphs: true, attention: "cudnn",
			want: cgo.ModelOptions{Device: cgo.CUDA, ComputeDType: cgo.BF16, Attention: cgo.AttentionCuDNN}},
		{device: "cuda", dtype: "auto", graphs: true, attention: "sdpa", bad: true},
	} {
		cfg := defaultConfig()
		cfg.Device, cfg.DType, cfg.CUDAGraphs = c.device, c.dtype, c.graphs
		if c.attention != "" {
			cfg.Attention = c.attention
		}
		got, err := scoreOptions(&cfg)
		if c.bad {
			if err == nil {
				t.Errorf("%s/%s: no error", c.device, c.dtype)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s/%s/graphs=%v: %+v, %v; want %+v", c.device, c.dtype, c.graphs, got, err, c.want)
		}
	}
}

// A --model that looks like a path names the missing folder, not the list of presets.
func TestResolveModelMissing(t *testing.T) {
	file := filepath.Join(t.TempDir(), "config.json")
	os.WriteFile(file, []byte("{}"), 0o644)
	for _, c := range []struct{ spec, want string }{
		{filepath.Join(t.TempDir(), "gone"), "does not exist"},
		{"no-such-preset", "unknown model preset"},
		{file, "is a file"},
	} {
		_, err := resolveModel(c.spec, "", 0)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.spec) {
			t.Errorf("%s: %v, want it named with %q", c.spec, err, c.want)
		}
	}
}

// max_length below the model's positions lowers the limit; above them it is capped, and the cap
// is remembered so that build can say so.
func TestResolveModelMaxLength(t *testing.T) {
	cfg, err := model.Preset("tiny")
	if err != nil {
		t.Fatal(err)
	}
	pos := cfg.MaxPositions
	for _, c := range []struct{ asked, maxLen, noted int }{
		{0, pos, 0}, {pos / 2, pos / 2, 0}, {pos, pos, 0}, {2 * pos, pos, 2 * pos},
	} {
		r, err := resolveModel("tiny", "", c.asked)
		if err != nil {
			t.Fatal(err)
		}
		if r.MaxLen != c.maxLen || r.AskedMaxLen != c.noted {
			t.Errorf("max_length %d: MaxLen %d, AskedMaxLen %d; want %d, %d", c.asked, r.MaxLen, r.AskedMaxLen, c.maxLen, c.noted)
		}
	}
}
