package cgo

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
)

func openCPU(t testing.TB) *Backend {
	t.Helper()
	b, err := OpenDevice("cpu")
	if err != nil {
		t.Fatalf("the CPU backend is needed for this test (run `make backend`): %v", err)
	}
	if err := b.SetThreads(2); err != nil {
		t.Fatal(err)
	}
	return b
}

func tinyConfig(f Family) ModelConfig {
	c := ModelConfig{Family: f, VocabSize: 64, HiddenSize: 32, NumLayers: 2, NumHeads: 4, IntermediateSize: 64, MaxPositions: 48}
	if f == Decoder {
		c.NumKVHeads = 2
		c.IntermediateSize = 48
	}
	return c
}

func newModel(t testing.TB, b *Backend, cfg ModelConfig, seed uint64) *Model {
	t.Helper()
	m, err := b.NewModel(cfg, ModelOptions{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// adamW is the optimizer setting of tests that do not care about it.
var adamW = TrainConfig{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}

// newTrainer's trainer is closed when the test ends, before a model from newModel (cleanups run
// last-registered first).
func newTrainer(t testing.TB, m *Model, cfg TrainConfig) *Trainer {
	t.Helper()
	tr, err := m.NewTrainer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

func randSeqs(r *rand.Rand, n, minLen, maxLen, vocab int) [][]int32 {
	out := make([][]int32, n)
	for i := range out {
		l := minLen + r.IntN(maxLen-minLen+1)
		for j := 0; j < l; j++ {
			out[i] = append(out[i], int32(r.IntN(vocab)))
		}
	}
	return out
}

func pack(seqs [][]int32) *Batch {
	b := &Batch{CuSeqlens: []int32{0}}
	for _, s := range seqs {
		b.Tokens = append(b.Tokens, s...)
		b.CuSeqlens = append(b.CuSeqlens, int32(len(b.Tokens)))
	}
	return b
}

func TestInfo(t *testing.T) {
	b := openCPU(t)
	info := b.Info()
	if info.Backend != "cpu" || !strings.HasPrefix(info.TorchVersion, "1.") && !strings.HasPrefix(info.TorchVersion, "2.") {
		t.Fatalf("unexpected info %+v", info)
	}
	if info.Threads != 2 || info.ABIVersion != info.BindingABIVersion {
		t.Fatalf("threads/abi: %+v", info)
	}
	// The CPU build has every CPU part and no CUDA-only one.
	for _, f := range []string{"fused_linear", "add_norm_kernels", "profiler"} {
		if !info.Has(f) {
			t.Errorf("features %v lack %s", info.Features, f)
		}
	}
	for _, f := range []string{"cudnn_attention", "colsum_kernels"} {
		if info.Has(f) {
			t.Errorf("a CPU build claims %s: %v", f, info.Features)
		}
	}
}

// Scores of sequences packed together must equal scores computed one sequence at a time: no
// token may attend across a sequence boundary, and positions restart in every sequence.
func TestPackingEquivalence(t *testing.T) {
	b := openCPU(t)
	for _, fam := range []Family{Encoder, Decoder} {
		t.Run(fam.String(), func(t *testing.T) {
			m := newModel(t, b, tinyConfig(fam), 1)
			r := rand.New(rand.NewPCG(1, 2))
			// equal lengths too, so the grouped path is exercised
			seqs := append(randSeqs(r, 9, 1, 40, 64), randSeqs(r, 4, 17, 17, 64)...)
			packed, err := m.Score(pack(seqs))
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range seqs {
				one, err := m.Score(pack([][]int32{s}))
				if err != nil {
					t.Fatal(err)
				}
				if d := math.Abs(float64(one[0] - packed[i])); d > 1e-5 {
					t.Errorf("seq %d (len %d): packed %v alone %v (diff %g)", i, len(s), packed[i], one[0], d)
				}
			}
		})
	}
}

func TestSameSeedSameWeights(t *testing.T) {
	b := openCPU(t)
	seqs := randSeqs(rand.New(rand.NewPCG(3, 4)), 5, 3, 20, 64)
	s1, _ := newModel(t, b, tinyConfig(Decoder), 7).Score(pack(seqs))
	s2, _ := newModel(t, b, tinyConfig(Decoder), 7).Score(pack(seqs))
	s3, _ := newModel(t, b, tinyConfig(Decoder), 8).Score(pack(seqs))
	for i := range s1 {
		if s1[i] != s2[i] {
			t.Fatalf("same seed, different scores: %v vs %v", s1, s2)
		}
	}
	if s1[0] == s3[0] {
		t.Fatalf("different seeds gave the same score %v", s1[0])
	}
}

func TestTensorRoundTrip(t *testing.T) {
	b := openCPU(t)
	m := newModel(t, b, tinyConfig(Encoder), 1)
	ts, err := m.Tensors()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]int64{
		"bert.embeddings.word_embeddings.weight":                 {64, 32},
		"bert.encoder.layer.1.attention.self.query.weight":       {32, 32},
		"bert.encoder.layer.0.output.LayerNorm.bias":             {32},
		"classifier.weight":                                      {1, 32},
		"bert.pooler.dense.bias":                                 {32},
		"bert.embeddings.token_type_embeddings.weight":           {2, 32},
		"bert.encoder.layer.0.intermediate.dense.weight":         {64, 32},
		"bert.encoder.layer.1.attention.output.LayerNorm.weight": {32},
	}
	found := 0
	for _, ti := range ts {
		if s, ok := want[ti.Name]; ok {
			found++
			if len(s) != len(ti.Shape) || s[0] != ti.Shape[0] {
				t.Errorf("%s: shape %v, want %v", ti.Name, ti.Shape, s)
			}
		}
		if ti.Decay == (strings.HasSuffix(ti.Name, ".bias") || strings.Contains(ti.Name, "LayerNorm")) {
			t.Errorf("%s: decay=%v", ti.Name, ti.Decay)
		}
	}
	if found != len(want) {
		t.Fatalf("found %d of %d expected parameters in %d", found, len(want), len(ts))
	}
	w := make([]float32, 32)
	for i := range w {
		w[i] = float32(i) / 7
	}
	if err := m.WriteTensor("bert.pooler.dense.bias", w); err != nil {
		t.Fatal(err)
	}
	got := make([]float32, 32)
	if err := m.ReadTensor("bert.pooler.dense.bias", got); err != nil {
		t.Fatal(err)
	}
	for i := range w {
		if got[i] != w[i] {
			t.Fatalf("round trip: %v != %v", got, w)
		}
	}
}

// Every error path of the ABI comes back as a Go error with a message that says what is wrong.
func TestErrorPaths(t *testing.T) {
	b := openCPU(t)
	m := newModel(t, b, tinyConfig(Decoder), 1)
	tr := newTrainer(t, m, adamW)
	long := make([]int32, 49)
	cases := []struct {
		name   string
		run    func() error
		status error
		want   string
	}{
		{"bad config", func() error {
			c := tinyConfig(Decoder)
			c.NumKVHeads = 3
			_, err := b.NewModel(c, ModelOptions{})
			return err
		}, ErrInvalidArgument, "multiple of num_kv_heads"},
		{"zero vocab", func() error {
			c := tinyConfig(Encoder)
			c.VocabSize = 0
			_, err := b.NewModel(c, ModelOptions{})
			return err
		}, ErrInvalidArgument, "vocab_size"},
		{"unknown attention", func() error {
			_, err := b.NewModel(tinyConfig(Encoder), ModelOptions{Attention: 3})
			return err
		}, ErrInvalidArgument, "attention must be 0, 1 or 2"},
		{"unknown fused_kernels", func() error {
			_, err := b.NewModel(tinyConfig(Encoder), ModelOptions{FusedKernels: 3})
			return err
		}, ErrInvalidArgument, "fused_kernels must be -1, 0, 1 or 2"},
		{"f16 on cpu (libtorch 1.x, Debian's)", func() error {
			_, err := b.NewModel(tinyConfig(Encoder), ModelOptions{ComputeDType: F16})
			return err
		}, ErrUnsupported, "dtype f16 needs CUDA"},
		{"cuda on cpu build", func() error {
			_, err := b.NewModel(tinyConfig(Encoder), ModelOptions{Device: CUDA})
			return err
		}, ErrUnsupported, "CPU only"},
		{"id >= vocab", func() error {
			_, err := m.Score(pack([][]int32{{1, 2, 64}}))
			return err
		}, ErrInvalidArgument, "token id 64 at position 2 of sequence 0 is outside the vocabulary"},
		{"negative id", func() error {
			_, err := m.Score(pack([][]int32{{1}, {-5}}))
			return err
		}, ErrInvalidArgument, "token id -5"},
		{"too long", func() error {
			_, err := m.Score(pack([][]int32{{1}, long}))
			return err
		}, ErrInvalidArgument, "sequence 1 has 49 tokens, more than max_positions 48"},
		{"bad cu_seqlens", func() error {
			_, err := m.Score(&Batch{Tokens: []int32{1, 2, 3}, CuSeqlens: []int32{0, 2, 2, 3}})
			return err
		}, ErrInvalidArgument, "sequence 1 is empty"},
		{"cu_seqlens end", func() error {
			_, err := m.Score(&Batch{Tokens: []int32{1, 2, 3}, CuSeqlens: []int32{0, 2}})
			return err
		}, ErrInvalidArgument, "does not equal num_tokens 3"},
		{"cu_seqlens past the tokens", func() error {
			// Used to make the backend read and write past its buffers (a heap corruption abort).
			_, err := m.Score(&Batch{Tokens: []int32{1, 2, 3, 4}, CuSeqlens: []int32{0, 512, 4}})
			return err
		}, ErrInvalidArgument, "sequence 1 is empty"},
		{"cu_seqlens not from 0", func() error {
			_, err := m.Score(&Batch{Tokens: []int32{1, 2, 3}, CuSeqlens: []int32{1, 3}})
			return err
		}, ErrInvalidArgument, "cu_seqlens[0] must be 0"},
		{"zero backend", func() error {
			_, err := (&Backend{}).NewModel(tinyConfig(Encoder), ModelOptions{})
			return err
		}, errNotOpened, "not opened"},
		{"pair out of range", func() error {
			bt := pack([][]int32{{1, 2}, {3}})
			bt.Pairs, bt.LossWeight = []int32{0, 2}, 1
			_, err := tr.Accumulate(bt, nil)
			return err
		}, ErrInvalidArgument, "pair 0 refers to sequence 2"},
		{"unknown tensor", func() error {
			return m.WriteTensor("model.layers.9.mlp.up_proj.weight", make([]float32, 4))
		}, ErrNotFound, "no parameter named model.layers.9.mlp.up_proj.weight"},
		{"tensor size", func() error {
			return m.WriteTensor("score.weight", make([]float32, 5))
		}, ErrInvalidArgument, "has 32 elements [1, 32], buffer holds 5"},
		{"nan weights", func() error {
			w := make([]float32, 32)
			w[3] = float32(math.NaN())
			return m.WriteTensor("score.weight", w)
		}, ErrInvalidArgument, "NaN"},
		{"bad lr", func() error {
			_, err := m.NewTrainer(TrainConfig{LR: -1, Eps: 1e-8})
			return err
		}, ErrInvalidArgument, "lr must be"},
		{"bad rng state", func() error { return m.SetRNGState([]byte{1, 2, 3}) }, ErrInvalidArgument, "rng state has 3 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.run()
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, c.status) {
				t.Errorf("status: got %v, want %v", err, c.status)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("message %q does not contain %q", err.Error(), c.want)
			}
		})
	}
	// the model still works after all of that
	if _, err := m.Score(pack([][]int32{{1, 2, 3}})); err != nil {
		t.Fatal(err)
	}
	m.Close()
	if _, err := m.Score(pack([][]int32{{1}})); !errors.Is(err, ErrClosed) {
		t.Fatalf("closed model: %v", err)
	}
}

func logSigmoid(x float64) float64 {
	if x < 0 {
		return x - math.Log1p(math.Exp(x))
	}
	return -math.Log1p(math.Exp(-x))
}

// The backend's pairwise loss equals a Go computation from the same rewards, with margins and
// reward centering.
func TestLossMatchesReference(t *testing.T) {
	b := openCPU(t)
	r := rand.New(rand.NewPCG(5, 6))
	seqs := randSeqs(r, 8, 2, 30, 64)
	for _, tc := range []struct {
		name    string
		margins []float32
		center  float64
	}{
		{"plain", nil, 0},
		{"margin", []float32{0.5, -1, 2, 0}, 0},
		{"center", nil, 0.01},
		{"margin+center", []float32{1, 1, 0.25, 3}, 0.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newModel(t, b, tinyConfig(Encoder), 3)
			// larger weights so that rewards spread and the loss terms matter
			w := make([]float32, 32)
			for i := range w {
				w[i] = float32(r.NormFloat64())
			}
			if err := m.WriteTensor("classifier.weight", w); err != nil {
				t.Fatal(err)
			}
			cfg := adamW
			cfg.CenterRewardsCoefficient = tc.center
			tr := newTrainer(t, m, cfg)
			bt := pack(seqs)
			bt.Pairs = []int32{0, 1, 2, 3, 4, 5, 7, 6}
			bt.Margins = tc.margins
			bt.LossWeight = 1
			rewards := make([]float32, 8)
			st, err := tr.Accumulate(bt, rewards)
			if err != nil {
				t.Fatal(err)
			}
			scored, _ := m.Score(pack(seqs))
			var loss, center, msum float64
			correct := 0
			for p := 0; p < 4; p++ {
				rc, rr := float64(scored[bt.Pairs[2*p]]), float64(scored[bt.Pairs[2*p+1]])
				if math.Abs(rc-float64(rewards[bt.Pairs[2*p]])) > 1e-5 {
					t.Fatalf("training rewards differ from scores: %v vs %v", rewards, scored)
				}
				mg := 0.0
				if tc.margins != nil {
					mg = float64(tc.margins[p])
				}
				loss += -logSigmoid(rc - rr - mg)
				center += (rc + rr) * (rc + rr)
				msum += rc - rr
				if rc > rr {
					correct++
				}
			}
			want := loss/4 + tc.center*center/4
			if math.Abs(st.Loss-want) > 1e-5*math.Max(1, math.Abs(want)) {
				t.Errorf("loss %v, Go reference %v", st.Loss, want)
			}
			if st.Correct != correct || math.Abs(st.MarginSum-msum) > 1e-4 {
				t.Errorf("stats %+v, want correct %d margin sum %v", st, correct, msum)
			}
		})
	}
}

// rssBytes reads the resident set size of this process.
func rssBytes(t testing.TB) int64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(data))
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// Models, trainers and steps must not leak native memory: 1000 create/free cycles and 2000 train
// steps grow RSS by less than 50 MB.
func TestNoLeak(t *testing.T) {
	b := openCPU(t)
	cfg := tinyConfig(Decoder)
	r := rand.New(rand.NewPCG(9, 9))
	seqs := randSeqs(r, 4, 4, 24, 64)
	bt := pack(seqs)
	bt.Pairs, bt.LossWeight = []int32{0, 1, 2, 3}, 1
	cycle := func() {
		m, err := b.NewModel(cfg, ModelOptions{Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		tr, err := m.NewTrainer(TrainConfig{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Score(bt); err != nil {
			t.Fatal(err)
		}
		tr.Close()
		m.Close()
	}
	for i := 0; i < 50; i++ { // warm up allocator pools
		cycle()
	}
	before := rssBytes(t)
	for i := 0; i < 1000; i++ {
		cycle()
	}
	m := newModel(t, b, cfg, 1)
	tr := newTrainer(t, m, TrainConfig{LR: 1e-4, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, MaxGradNorm: 1})
	for i := 0; i < 2000; i++ {
		if _, err := tr.Accumulate(bt, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := tr.Step(); err != nil {
			t.Fatal(err)
		}
	}
	grow := rssBytes(t) - before
	t.Logf("RSS growth over 1000 create/free cycles and 2000 steps: %.1f MB", float64(grow)/1e6)
	if grow > 50<<20 {
		t.Fatalf("RSS grew by %.1f MB", float64(grow)/1e6)
	}
}

// A model with several labels scores with its first one: exactly one float per sequence comes
// back, never num_seqs * num_labels written into a buffer sized for num_seqs.
func TestScoreWithSeveralLabels(t *testing.T) {
	b := openCPU(t)
	cfg := tinyConfig(Encoder)
	cfg.NumLabels = 3
	m := newModel(t, b, cfg, 1)
	s, err := m.Score(pack([][]int32{{1, 2, 3}, {4, 5}}))
	if err != nil || len(s) != 2 {
		t.Fatalf("%v %v", s, err)
	}
}

// Scoring keeps bf16 copies of the weights between calls; every write to the weights (an
// optimizer step, a tensor written by the host) must be seen by the next score.
func TestScoreSeesNewWeights(t *testing.T) {
	b := openCPU(t)
	for _, fam := range []Family{Encoder, Decoder} {
		t.Run(fam.String(), func(t *testing.T) {
			cfg := tinyConfig(fam)
			open := func() *Model {
				m, err := b.NewModel(cfg, ModelOptions{Seed: 9, ComputeDType: BF16})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { m.Close() })
				return m
			}
			// copyOf scores bt with a fresh model holding m's current weights: no cached copies.
			copyOf := func(m *Model, bt *Batch) []float32 {
				fresh := open()
				infos, err := m.Tensors()
				if err != nil {
					t.Fatal(err)
				}
				for _, ti := range infos {
					buf := make([]float32, ti.Numel)
					if err := m.ReadTensor(ti.Name, buf); err != nil {
						t.Fatal(err)
					}
					if err := fresh.WriteTensor(ti.Name, buf); err != nil {
						t.Fatal(err)
					}
				}
				s, err := fresh.Score(bt)
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			m := open()
			bt := pairBatch(5)
			before, err := m.Score(bt)
			if err != nil {
				t.Fatal(err)
			}
			trainSteps(t, m, bt, 3)
			after, _ := m.Score(bt)
			if maxDiff(before, after) == 0 {
				t.Fatal("three optimizer steps left the scores unchanged")
			}
			if d := maxDiff(after, copyOf(m, bt)); d != 0 {
				t.Fatalf("scores after training differ from a fresh copy of the weights by %g: stale cached weights", d)
			}
			head := map[Family]string{Encoder: "classifier.weight", Decoder: "score.weight"}[fam]
			w := make([]float32, cfg.HiddenSize)
			for i := range w {
				w[i] = float32(i%5) * 0.1
			}
			if err := m.WriteTensor(head, w); err != nil {
				t.Fatal(err)
			}
			written, _ := m.Score(bt)
			if maxDiff(written, after) == 0 {
				t.Fatal("writing the head left the scores unchanged")
			}
			if d := maxDiff(written, copyOf(m, bt)); d != 0 {
				t.Fatalf("scores after a write differ from a fresh copy by %g", d)
			}
		})
	}
}

// A trainer closed with a step in flight reports none pending: no result will come.
func TestPendingClearedByClose(t *testing.T) {
	b := openCPU(t)
	m := newModel(t, b, tinyConfig(Encoder), 1)
	tr := newTrainer(t, m, adamW)
	bt := pack([][]int32{{1, 2}, {3}})
	bt.Pairs, bt.LossWeight = []int32{0, 1}, 1
	if err := tr.LaunchStep([]*Batch{bt}); err != nil {
		t.Fatal(err)
	}
	if tr.Pending() != 1 {
		t.Fatalf("pending %d after a launch", tr.Pending())
	}
	tr.Close()
	if n := tr.Pending(); n != 0 {
		t.Errorf("pending %d after Close", n)
	}
}
