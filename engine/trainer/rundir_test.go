package trainer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/armap/armap/cgo"
	"github.com/armap/armap/engine/model"
	"github.com/armap/armap/engine/safetensors"
	"github.com/armap/armap/internal/testenv"
)

// quickRecipe is a few cheap steps: small budget, no warmup ratio surprises.
func quickRecipe(steps int) Config {
	c := toyRecipe()
	c.Steps, c.Epochs, c.BatchTokens, c.LogEvery = steps, 0, 256, 1
	return c
}

func newModel(t testing.TB, b *cgo.Backend, preset string, opt cgo.ModelOptions, edit func(*model.Config)) (*cgo.Model, *model.Config) {
	t.Helper()
	cfg, err := model.Preset(preset)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(cfg)
	}
	m, err := b.NewModel(cfg.Backend(), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, cfg
}

func quickRun(t *testing.T, m *cgo.Model, mc *model.Config, cfg Config, out string, resume bool) (*Summary, error) {
	t.Helper()
	return Run(context.Background(), Options{Config: cfg, Seed: 3, Out: out, Resume: resume, Model: m, ModelConfig: mc,
		Train: toyPairs(60, 8), TrainStats: DataStats{Fingerprint: "quick"}})
}

// A new run refuses a directory holding any file of a run (the two would mix), naming the file
// and --resume; a missing or empty directory, or one holding other files, is fine.
func TestNewRunRefusesUsedOut(t *testing.T) {
	b := testenv.CPUBackendThreads(t, 1)
	m, mc := newModel(t, b, "tiny", cgo.ModelOptions{Seed: 1}, nil)
	for _, f := range runFiles {
		t.Run(f, func(t *testing.T) {
			out := t.TempDir()
			if f == checkpointDir {
				os.Mkdir(filepath.Join(out, f), 0o755)
			} else {
				os.WriteFile(filepath.Join(out, f), []byte("{}"), 0o644)
			}
			_, err := quickRun(t, m, mc, quickRecipe(1), out, false)
			if err == nil || !strings.Contains(err.Error(), f) || !strings.Contains(err.Error(), "--resume") {
				t.Fatalf("err %v, want a refusal naming %s and --resume", err, f)
			}
		})
	}
	// The defect: a second run into a finished run's directory.
	out := t.TempDir()
	c := quickRecipe(4)
	c.SaveEvery = 2
	if _, err := quickRun(t, m, mc, c, out, false); err != nil {
		t.Fatal(err)
	}
	if _, err := quickRun(t, m, mc, quickRecipe(2), out, false); err == nil || !strings.Contains(err.Error(), "already holds a run") {
		t.Fatalf("second run into %s: %v", out, err)
	}
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "notes.txt"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(other, model.TokenizerFile), []byte("{}"), 0o644) // a tokenizer trained there first
	for _, dir := range []string{filepath.Join(t.TempDir(), "new"), t.TempDir(), other} {
		if _, err := quickRun(t, m, mc, quickRecipe(1), dir, false); err != nil {
			t.Errorf("%s: %v", dir, err)
		}
	}
}

// Resuming a finished run (here one that kept no checkpoint) reports it complete and changes
// nothing; its trainer_state.json places the last step in the schedule; a different recipe is
// still refused.
func TestResumeFinishedRun(t *testing.T) {
	b := testenv.CPUBackendThreads(t, 1)
	m, mc := newModel(t, b, "tiny", cgo.ModelOptions{Seed: 1}, nil)
	c := quickRecipe(0)
	c.Epochs = 2
	out := t.TempDir()
	sum, err := quickRun(t, m, mc, c, out, false)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, f := range []string{metricsFile, stateFile, model.WeightsFile} {
		files[f], _ = os.ReadFile(filepath.Join(out, f))
	}
	st, _, err := readState(filepath.Join(out, stateFile))
	if err != nil {
		t.Fatal(err)
	}
	sched, _ := buildSchedule(toyPairs(60, 8), c, 3)
	if st.Step != len(sched.steps) || st.Epoch != 1 || st.EpochPosition != 60 {
		t.Errorf("final state: step %d epoch %d position %d, want %d, 1, 60", st.Step, st.Epoch, st.EpochPosition, len(sched.steps))
	}
	again, err := quickRun(t, m, mc, c, out, true)
	if err != nil {
		t.Fatal(err)
	}
	if !again.AlreadyComplete || again.Steps != sum.Steps || again.LastTrain.Loss != sum.LastTrain.Loss {
		t.Errorf("resumed summary %+v, want the finished run's, marked complete", again)
	}
	for f, want := range files {
		if got, _ := os.ReadFile(filepath.Join(out, f)); !bytes.Equal(got, want) {
			t.Errorf("%s changed by resuming a finished run", f)
		}
	}
	c.LR *= 2
	if _, err := quickRun(t, m, mc, c, out, true); err == nil || !strings.Contains(err.Error(), "different run") {
		t.Errorf("finished run resumed with another lr: %v", err)
	}
}

// Resume compares the model configuration the checkpoint was made with; the recipe difference
// names the keys with old -> new; equivalent spellings of a recipe resume.
func TestResumeChecksModelAndRecipe(t *testing.T) {
	b := testenv.CPUBackendThreads(t, 1)
	lora := cgo.ModelOptions{Seed: 1, LoRARank: 2, LoRAAlpha: 4, LoRATargets: cgo.LoRAQ | cgo.LoRAK}
	dropout := func(c *model.Config) { c.HiddenDropout, c.AttentionDropout = 0.1, 0.1 }
	m, mc := newModel(t, b, "tiny", lora, dropout)
	c := quickRecipe(0)
	c.Epochs, c.SaveEvery, c.StopAfter = 2, 2, 2
	c.LoRA = LoRA{Rank: 2, Alpha: 4, Targets: []string{"q", "k"}}
	out := t.TempDir()
	if _, err := quickRun(t, m, mc, c, out, false); err != nil {
		t.Fatal(err)
	}
	m0, mc0 := newModel(t, b, "tiny", lora, nil)
	_, err := quickRun(t, m0, mc0, c, out, true)
	if err == nil || !strings.Contains(err.Error(), "hidden_dropout_prob 0.1 -> 0") {
		t.Fatalf("resumed without dropout: %v", err)
	}
	ml, mcl := newModel(t, b, "tiny-llama", lora, nil)
	if _, err := quickRun(t, ml, mcl, c, out, true); err == nil || !strings.Contains(err.Error(), `architectures ["BertForSequenceClassification"] -> ["LlamaForSequenceClassification"]`) {
		t.Fatalf("resumed as another architecture: %v", err)
	}
	lr := c
	lr.LR = 1
	_, err = quickRun(t, m, mc, lr, out, true)
	if err == nil || !strings.Contains(err.Error(), "lr 0.002 -> 1") || strings.Contains(err.Error(), `"schedule"`) {
		t.Fatalf("another lr: %v", err)
	}
	// Same run, spelled differently: targets in another order and by HF names, the steps the
	// two epochs make instead of epochs.
	sched, _ := buildSchedule(toyPairs(60, 8), c, 3)
	same := c
	same.LoRA.Targets = []string{"k_proj", "q"}
	same.Steps, same.Epochs, same.StopAfter = len(sched.steps), 0, 1
	sum, err := quickRun(t, m, mc, same, out, true)
	if err != nil {
		t.Fatalf("equivalent recipe: %v", err)
	}
	if sum.Steps != 3 {
		t.Fatalf("resumed run stopped at step %d, want 3", sum.Steps)
	}
}

// Targets the architecture lacks are refused (naming them and its modules) instead of training
// the head alone; aliases and order do not matter.
func TestLoRATargets(t *testing.T) {
	bert, _ := model.Preset("tiny")
	llama, _ := model.Preset("tiny-llama")
	cases := []struct {
		mc      *model.Config
		targets []string
		bits    int
		err     string
	}{
		{bert, []string{"gate"}, 0, "has no gate module (its modules: q, k, v, o, up, down)"},
		{bert, []string{"q", "gate_proj"}, 0, "has no gate module"},
		{bert, []string{"query", "value"}, cgo.LoRAQ | cgo.LoRAV, ""},
		{bert, nil, cgo.LoRAQ | cgo.LoRAV, ""},
		{llama, []string{"gate", "up_proj", "down"}, cgo.LoRAGate | cgo.LoRAUp | cgo.LoRADown, ""},
		{llama, []string{"nope"}, 0, `unknown module "nope"`},
	}
	for _, c := range cases {
		bits, err := LoRA{Rank: 2, Targets: c.targets}.TargetBits(c.mc)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s %v: err %v, want %q", c.mc.ModelType, c.targets, err, c.err)
			}
			continue
		}
		if err != nil || bits != c.bits {
			t.Errorf("%s %v: bits %b err %v, want %b", c.mc.ModelType, c.targets, bits, err, c.bits)
		}
	}
	// Through Run: a BERT model asked for gate adapters has none, and the run is refused.
	b := testenv.CPUBackendThreads(t, 1)
	m, mc := newModel(t, b, "tiny", cgo.ModelOptions{Seed: 1, LoRARank: 2, LoRAAlpha: 4, LoRATargets: cgo.LoRAGate}, nil)
	c := quickRecipe(1)
	c.LoRA = LoRA{Rank: 2, Alpha: 4, Targets: []string{"gate"}}
	if _, err := quickRun(t, m, mc, c, t.TempDir(), false); err == nil || !strings.Contains(err.Error(), "no gate module") {
		t.Fatalf("gate on BERT: %v", err)
	}
}

// A checkpoint whose step disagrees with its name or the run is refused as damaged, with the way
// past it; unfinished temporary checkpoints are cleaned up on resume.
func TestResumeValidatesCheckpoint(t *testing.T) {
	b := testenv.CPUBackendThreads(t, 1)
	m, mc := newModel(t, b, "tiny", cgo.ModelOptions{Seed: 1}, nil)
	c := quickRecipe(6)
	c.SaveEvery, c.StopAfter, c.KeepCheckpoints = 2, 4, 0
	out := t.TempDir()
	if _, err := quickRun(t, m, mc, c, out, false); err != nil {
		t.Fatal(err)
	}
	newest := filepath.Join(out, checkpointDir, "step-00000004")
	statePath := filepath.Join(newest, stateFile)
	orig, _ := os.ReadFile(statePath)
	var st map[string]any
	json.Unmarshal(orig, &st)
	for _, step := range []int{99, 3, 0} {
		st["step"] = step
		data, _ := json.Marshal(st)
		os.WriteFile(statePath, data, 0o644)
		_, err := quickRun(t, m, mc, c, out, true)
		if err == nil || !strings.Contains(err.Error(), "damaged") || !strings.Contains(err.Error(), "rm -r "+newest) ||
			!strings.Contains(err.Error(), "step-00000002") {
			t.Errorf("checkpoint edited to step %d: %v", step, err)
		}
	}
	os.WriteFile(statePath, orig, 0o644)
	weights := filepath.Join(newest, model.WeightsFile)
	data, _ := os.ReadFile(weights)
	os.WriteFile(weights, data[:len(data)/2], 0o644)
	if _, err := quickRun(t, m, mc, c, out, true); err == nil || !strings.Contains(err.Error(), "rm -r "+newest) {
		t.Errorf("truncated weights: %v", err)
	}
	// Weights the backend refuses (a tensor the model lacks, as after an upgrade that renamed
	// one) are not the checkpoint's fault: the error must not advise deleting it.
	extra, _ := safetensors.FromFloat32("bert.no_such.weight", safetensors.F32, []int{2}, []float32{1, 2})
	if err := safetensors.Write(weights, []safetensors.Tensor{extra}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := quickRun(t, m, mc, c, out, true); err == nil || strings.Contains(err.Error(), "rm -r") || strings.Contains(err.Error(), "damaged") {
		t.Errorf("weights the backend refuses: %v, want an error that does not call the checkpoint damaged", err)
	}
	os.RemoveAll(newest)
	tmp := filepath.Join(out, checkpointDir, ".tmp-step-123")
	os.Mkdir(tmp, 0o755)
	c.StopAfter = 0
	sum, err := quickRun(t, m, mc, c, out, true)
	if err != nil || sum.Steps != 6 {
		t.Fatalf("resume from the older checkpoint: %+v %v", sum, err)
	}
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary checkpoint left: %v", err)
	}
}

// A metrics line's tokens_per_s counts the steps' time only: a pause between steps (here in
// OnStep, as an evaluation or a checkpoint would be) does not lower it.
func TestStepThroughputExcludesPauses(t *testing.T) {
	b := testenv.CPUBackendThreads(t, 1)
	m, mc := newModel(t, b, "tiny", cgo.ModelOptions{Seed: 1}, nil)
	c := quickRecipe(4)
	c.LogEvery = 4
	const pause = 300 * time.Millisecond
	var last StepMetrics
	var tokens int64
	_, err := Run(context.Background(), Options{Config: c, Seed: 3, Out: t.TempDir(), Model: m, ModelConfig: mc,
		Train: toyPairs(60, 8), TrainStats: DataStats{Fingerprint: "quick"}, OnStep: func(s StepMetrics) {
			if s.Step == 2 {
				time.Sleep(pause)
			}
			tokens += s.Tokens
			last = s
		}})
	if err != nil {
		t.Fatal(err)
	}
	if last.Step != 4 || last.TokensPerS <= 0 {
		t.Fatalf("last step %+v", last)
	}
	// The window is steps 1-4: the seconds it reports and the pause are disjoint parts of the
	// time the run took to its end.
	window := float64(tokens) / last.TokensPerS
	if window+pause.Seconds() > last.ElapsedS+1e-3 {
		t.Fatalf("steps 1-4 report %.3f s of training; with the %.1f s pause that is more than the %.3f s they took", window, pause.Seconds(), last.ElapsedS)
	}
}

// A LoRA checkpoint whose adapter file is missing is damaged, with the way past it.
func TestResumeMissingAdapterIsDamaged(t *testing.T) {
	b := testenv.CPUBackendThreads(t, 1)
	m, mc := newModel(t, b, "tiny", cgo.ModelOptions{Seed: 1, LoRARank: 2, LoRAAlpha: 4, LoRATargets: cgo.LoRAQ}, nil)
	c := quickRecipe(6)
	c.LoRA = LoRA{Rank: 2, Alpha: 4, Targets: []string{"q"}}
	c.SaveEvery, c.StopAfter, c.KeepCheckpoints = 2, 4, 0
	out := t.TempDir()
	if _, err := quickRun(t, m, mc, c, out, false); err != nil {
		t.Fatal(err)
	}
	newest := filepath.Join(out, checkpointDir, "step-00000004")
	if err := os.Remove(filepath.Join(newest, model.AdapterFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := quickRun(t, m, mc, c, out, true); err == nil || !strings.Contains(err.Error(), "damaged") || !strings.Contains(err.Error(), "rm -r "+newest) {
		t.Errorf("adapter missing: %v, want a damaged checkpoint with the way past it", err)
	}
}
