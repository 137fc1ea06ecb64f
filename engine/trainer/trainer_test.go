package trainer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/armap/armap/cgo"
	"github.com/armap/armap/engine/model"
	"github.com/armap/armap/engine/packer"
	"github.com/armap/armap/internal/testenv"
)

// toyPairs: chosen sequences contain token 7, rejected ones do not.
func toyPairs(n int, seed uint64) []packer.Pair {
	r := rand.New(rand.NewPCG(seed, 42))
	seq := func(with7 bool) []int32 {
		l := 4 + r.IntN(28)
		s := make([]int32, l)
		for i := range s {
			s[i] = int32(10 + r.IntN(200))
		}
		if with7 {
			s[r.IntN(l)] = 7
		}
		return s
	}
	ps := make([]packer.Pair, n)
	for i := range ps {
		ps[i] = packer.Pair{Index: i, Chosen: seq(true), Rejected: seq(false)}
	}
	return ps
}

func newTiny(t testing.TB, b *cgo.Backend, seed uint64) (*cgo.Model, *model.Config) {
	cfg, err := model.Preset("tiny")
	if err != nil {
		t.Fatal(err)
	}
	m, err := b.NewModel(cfg.Backend(), cgo.ModelOptions{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, cfg
}

func toyRecipe() Config {
	c := DefaultConfig()
	c.LR = 2e-3
	c.Epochs = 3
	c.BatchTokens = 1024
	c.WarmupRatio = 0.05
	c.LogEvery = 5
	return c
}

// The toy task: the tiny preset learns "token 7 is good" to >= 95% held-out pairwise accuracy.
func TestToyConvergence(t *testing.T) {
	b := testenv.CPUBackend(t)
	m, mc := newTiny(t, b, 1)
	out := t.TempDir()
	t0 := time.Now()
	sum, err := Run(context.Background(), Options{Config: toyRecipe(), Seed: 1, Out: out, Model: m, ModelConfig: mc,
		Train: toyPairs(600, 1), Eval: toyPairs(200, 2), TrainStats: DataStats{Fingerprint: "toy"}})
	if err != nil {
		t.Fatal(err)
	}
	// The steps are most of the run: their time (behind tokens_per_s) cannot be a sliver of it.
	if wall := time.Since(t0).Seconds(); sum.TrainSecond < 0.05*wall || sum.TrainSecond > wall {
		t.Errorf("train_seconds %.4f of a %.2f s run", sum.TrainSecond, wall)
	}
	if sum.FinalEval == nil || sum.FinalEval.Accuracy < 0.95 {
		t.Fatalf("held-out accuracy %+v, want >= 0.95", sum.FinalEval)
	}
	t.Logf("steps %d, held-out accuracy %.3f, %.0f tokens/s", sum.Steps, sum.FinalEval.Accuracy, sum.TokensPerS)
	for _, f := range []string{"config.json", "model.safetensors", "trainer_state.json", "metrics.jsonl"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("output lacks %s", f)
		}
	}
	data, _ := os.ReadFile(filepath.Join(out, "metrics.jsonl"))
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	var lastEval EvalMetrics
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &lastEval); err != nil || lastEval.Type != "eval" {
		t.Fatalf("last metrics line is not an eval: %s", lines[len(lines)-1])
	}
}

func scoresOf(t *testing.T, m *cgo.Model, pairs []packer.Pair) []float32 {
	var seqs [][]int32
	for _, p := range pairs {
		seqs = append(seqs, p.Chosen, p.Rejected)
	}
	s, err := ScoreAll(m, seqs, 4096)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Training 2N steps equals training N, stopping, resuming from the checkpoint and training N
// more: same weights, same scores, same metrics.
func TestResumeEqualsUninterrupted(t *testing.T) {
	b := testenv.CPUBackend(t)
	train, probe := toyPairs(200, 3), toyPairs(20, 4)
	cfg := toyRecipe()
	cfg.Steps = 16
	cfg.Epochs = 0
	cfg.Schedule = "cosine"
	cfg.LoRA = LoRA{}
	run := func(out string, stopAfter int, resume bool, seedModel uint64) (*Summary, *cgo.Model) {
		m, mc := newTiny(t, b, seedModel)
		c := cfg
		c.StopAfter = stopAfter
		sum, err := Run(context.Background(), Options{Config: c, Seed: 9, Out: out, Resume: resume, Model: m, ModelConfig: mc,
			Train: train, TrainStats: DataStats{Fingerprint: "toy"}})
		if err != nil {
			t.Fatal(err)
		}
		return sum, m
	}
	full, mFull := run(t.TempDir(), 0, false, 5)
	dir := t.TempDir()
	half, _ := run(dir, 8, false, 5)
	if !half.Stopped || half.Steps != 8 || half.Checkpoint == "" {
		t.Fatalf("first half: %+v", half)
	}
	// A run ended by stop_after still says how fast its steps went.
	for name, s := range map[string]*Summary{"stopped": half, "full": full} {
		if s.TrainSecond <= 0 || s.TokensPerS <= 0 || s.PairsPerS <= 0 {
			t.Errorf("%s run: train_seconds %v, tokens/s %v, pairs/s %v", name, s.TrainSecond, s.TokensPerS, s.PairsPerS)
		}
	}
	// a different init seed proves the weights come from the checkpoint
	rest, mRest := run(dir, 0, true, 77)
	if rest.Steps != 16 || full.Steps != 16 {
		t.Fatalf("steps: %d vs %d", rest.Steps, full.Steps)
	}
	a, c := scoresOf(t, mFull, probe), scoresOf(t, mRest, probe)
	for i := range a {
		if a[i] != c[i] {
			t.Fatalf("score %d: uninterrupted %v, resumed %v", i, a[i], c[i])
		}
	}
	if full.LastTrain.Loss != rest.LastTrain.Loss || full.LastTrain.LR != rest.LastTrain.LR {
		t.Fatalf("last step differs: %+v vs %+v", full.LastTrain, rest.LastTrain)
	}
	// the resumed metrics file tells one history: steps 5, 10, 15, 16 once each
	data, _ := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
	if n := strings.Count(string(data), `"step":5,`); n != 1 {
		t.Fatalf("step 5 logged %d times:\n%s", n, data)
	}
}

// Steps launched one ahead of the read-back (the GPU loop) train exactly as steps run one by
// one: the same metrics line for line, evaluations and checkpoints at the same steps, the same
// weights; also when the run stops early and resumes.
func TestLaunchAheadEqualsSequential(t *testing.T) {
	b := testenv.CPUBackend(t)
	train, eval, probe := toyPairs(200, 5), toyPairs(40, 6), toyPairs(20, 7)
	cfg := toyRecipe()
	cfg.Steps = 13
	cfg.Epochs = 0
	cfg.LogEvery = 1
	cfg.EvalEvery = 4
	cfg.SaveEvery = 5
	run := func(ahead, stopAfter int, out string, resume bool) (*Summary, *cgo.Model, []string) {
		m, mc := newTiny(t, b, 3)
		c := cfg
		c.StopAfter = stopAfter
		var seen []int
		sum, err := Run(context.Background(), Options{Config: c, Seed: 4, Out: out, Resume: resume, Model: m, ModelConfig: mc,
			Train: train, Eval: eval, TrainStats: DataStats{Fingerprint: "toy"}, LaunchAhead: ahead,
			OnStep: func(s StepMetrics) { seen = append(seen, s.Step) }})
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i < len(seen); i++ {
			if seen[i] != seen[i-1]+1 {
				t.Fatalf("ahead %d: steps observed out of order: %v", ahead, seen)
			}
		}
		data, err := os.ReadFile(filepath.Join(out, "metrics.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			var v map[string]any
			if err := json.Unmarshal([]byte(l), &v); err != nil {
				t.Fatal(err)
			}
			// timing differs from run to run; everything else must not
			for _, k := range []string{"tokens_per_s", "pairs_per_s", "elapsed_s"} {
				delete(v, k)
			}
			norm, _ := json.Marshal(v)
			lines = append(lines, string(norm))
		}
		return sum, m, lines
	}
	_, mSeq, seq := run(1, 0, t.TempDir(), false)
	_, mAhead, ahead := run(2, 0, t.TempDir(), false)
	dir := t.TempDir()
	half, _, _ := run(2, 7, dir, false)
	if !half.Stopped || half.Steps != 7 {
		t.Fatalf("stopped run: %+v", half)
	}
	_, mResumed, resumed := run(2, 0, dir, true)
	if len(seq) != len(ahead) || len(seq) != len(resumed) {
		t.Fatalf("metrics lines: sequential %d, ahead %d, resumed %d", len(seq), len(ahead), len(resumed))
	}
	evals := 0
	for i := range seq {
		if ahead[i] != seq[i] {
			t.Errorf("metrics line %d:\nahead      %s\nsequential %s", i, ahead[i], seq[i])
		}
		if resumed[i] != seq[i] {
			t.Errorf("metrics line %d:\nresumed    %s\nsequential %s", i, resumed[i], seq[i])
		}
		evals += strings.Count(seq[i], `"type":"eval"`)
	}
	if evals != 4 { // steps 4, 8, 12 and the end
		t.Errorf("%d evaluations, want 4", evals)
	}
	want := scoresOf(t, mSeq, probe)
	for name, m := range map[string]*cgo.Model{"ahead": mAhead, "resumed": mResumed} {
		got := scoresOf(t, m, probe)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s: score %d is %v, sequential %v", name, i, got[i], want[i])
			}
		}
	}
}

func TestResumeRefusesOtherRun(t *testing.T) {
	b := testenv.CPUBackend(t)
	train := toyPairs(100, 3)
	cfg := toyRecipe()
	cfg.Steps, cfg.Epochs, cfg.StopAfter = 6, 0, 3
	dir := t.TempDir()
	m, mc := newTiny(t, b, 1)
	if _, err := Run(context.Background(), Options{Config: cfg, Seed: 1, Out: dir, Model: m, ModelConfig: mc, Train: train,
		TrainStats: DataStats{Fingerprint: "a"}}); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(*Options){
		"data": func(o *Options) { o.TrainStats.Fingerprint = "b" },
		"lr":   func(o *Options) { o.Config.LR = 1 },
		"seed": func(o *Options) { o.Seed = 2 },
	} {
		o := Options{Config: cfg, Seed: 1, Out: dir, Resume: true, Model: m, ModelConfig: mc, Train: train, TrainStats: DataStats{Fingerprint: "a"}}
		edit(&o)
		_, err := Run(context.Background(), o)
		if err == nil || !strings.Contains(err.Error(), "different run") {
			t.Errorf("%s changed: %v", name, err)
		}
	}
}

func TestCancelLeavesCheckpoint(t *testing.T) {
	b := testenv.CPUBackend(t)
	m, mc := newTiny(t, b, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cfg := toyRecipe()
	cfg.Steps, cfg.Epochs, cfg.LogEvery = 50, 0, 1
	dir := t.TempDir()
	_, err := Run(ctx, Options{Config: cfg, Seed: 1, Out: dir, Model: m, ModelConfig: mc, Train: toyPairs(300, 1),
		TrainStats: DataStats{Fingerprint: "x"}, OnStep: func(s StepMetrics) {
			if s.Step == 3 {
				cancel()
			}
		}})
	if err == nil {
		t.Fatal("cancelled run returned no error")
	}
	ck, _ := LatestCheckpoint(dir)
	if ck == "" {
		t.Fatal("no checkpoint after cancel")
	}
	ents, _ := os.ReadDir(filepath.Join(dir, checkpointDir))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".tmp") {
			t.Fatalf("temporary checkpoint left: %s", e.Name())
		}
	}
}

// Cancelled before its first step (as by Ctrl-C while the data was read), a run leaves no
// output folder behind.
func TestCancelBeforeFirstStepWritesNothing(t *testing.T) {
	b := testenv.CPUBackend(t)
	m, mc := newTiny(t, b, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out := filepath.Join(t.TempDir(), "model")
	_, err := Run(ctx, Options{Config: toyRecipe(), Seed: 1, Out: out, Model: m, ModelConfig: mc, Train: toyPairs(50, 1),
		TrainStats: DataStats{Fingerprint: "x"}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("output folder left behind: %v", err)
	}
}

func TestLoadPairsErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct{ name, content, want string }{
		{"bad json", `{"id":"a","chosen_input_ids":[1,2],"rejected_input_ids":[3]}` + "\n{oops\n", ":2: invalid JSON"},
		{"id over vocab", `{"id":"a","chosen_input_ids":[1,2000],"rejected_input_ids":[3]}`, `:1: field "chosen_input_ids[1]": token id 2000 is outside the vocabulary [0, 1024)`},
		{"too long", `{"id":"a","chosen_input_ids":[1,2,3,4,5,6],"rejected_input_ids":[3]}`, `field "chosen_input_ids": 6 tokens, more than max_length 5`},
		{"one side", `{"id":"a","chosen_input_ids":[1,2]}`, `field "rejected_input_ids"`},
		{"text without tokenizer", `{"id":"a","instruction":"x","chosen":{"steps":[{"action":"a","observation":"b"}]},"rejected":{"steps":[{"action":"c","observation":"d"}]}}`, "need a tokenizer"},
		{"wrong type", `{"id":"a","chosen_input_ids":"1 2","rejected_input_ids":[3]}`, `field "chosen_input_ids": expected an array, got JSON string`},
		{"empty", "\n\n", "no preference pairs"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".jsonl")
			os.WriteFile(p, []byte(c.content), 0o644)
			_, _, err := LoadPairs(p, nil, 1024, 5)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
			if !strings.Contains(err.Error(), p) {
				t.Fatalf("error does not name the file: %v", err)
			}
		})
	}
}

func TestLoadPairsOK(t *testing.T) {
	p := filepath.Join(t.TempDir(), "d.jsonl")
	var lines []string
	for i := 0; i < 5; i++ {
		lines = append(lines, fmt.Sprintf(`{"id":"%d","chosen_input_ids":[1,2,%d],"rejected_input_ids":[3],"margin":0.5}`, i, i))
	}
	os.WriteFile(p, []byte(strings.Join(lines, "\n")), 0o644)
	pairs, st, err := LoadPairs(p, nil, 1024, 16)
	if err != nil {
		t.Fatal(err)
	}
	if len(pairs) != 5 || st.Tokens != 20 || st.MaxSeqLen != 3 || !pairs[2].HasMargin || pairs[2].Margin != 0.5 || st.Fingerprint == "" {
		t.Fatalf("pairs %v stats %+v", pairs, st)
	}
}
