package model

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/armap/armap/cgo"
	"github.com/armap/armap/internal/testenv"
)

type reference struct {
	InputIDs      [][]int32 `json:"input_ids"`
	AttentionMask [][]int32 `json:"attention_mask"`
	Rewards       []float64 `json:"rewards"`
	TrainStep     struct {
		Pairs     [][2]int32 `json:"pairs"`
		Optimizer struct {
			LR          float64    `json:"lr"`
			Betas       [2]float64 `json:"betas"`
			Eps         float64    `json:"eps"`
			WeightDecay float64    `json:"weight_decay"`
		} `json:"optimizer"`
		LossValue        float64   `json:"loss_value"`
		GradNorm         float64   `json:"grad_norm"`
		RewardsAfterStep []float64 `json:"rewards_after_step"`
	} `json:"train_step"`
}

// unpadded packs the reference batch without its padding.
func (r *reference) unpadded() *cgo.Batch {
	b := &cgo.Batch{CuSeqlens: []int32{0}}
	for i, ids := range r.InputIDs {
		for j, id := range ids {
			if r.AttentionMask[i][j] == 1 {
				b.Tokens = append(b.Tokens, id)
			}
		}
		b.CuSeqlens = append(b.CuSeqlens, int32(len(b.Tokens)))
	}
	return b
}

func relClose(got, want, tol float64) bool {
	return math.Abs(got-want) <= tol*math.Max(1, math.Abs(want))
}

// The HuggingFace fixtures (transformers 5.17, float32): armap loads each checkpoint, reproduces
// its rewards within 1e-4 and one AdamW step on the pairwise loss within 1e-3.
func TestHFParity(t *testing.T) {
	b := testenv.CPUBackend(t)
	root := filepath.Join(testenv.Fixtures(t), "models")
	for _, name := range []string{"bert_tiny", "llama_tiny", "qwen2_tiny"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(root, name)
			var ref reference
			data, err := os.ReadFile(filepath.Join(dir, "reference.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(data, &ref); err != nil {
				t.Fatal(err)
			}
			m, cfg, rep, err := Load(b, dir, cgo.ModelOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if len(rep.Initialized) != 0 {
				t.Fatalf("parameters missing from the fixture: %v", rep.Initialized)
			}
			batch := ref.unpadded()
			got, err := m.Score(batch)
			if err != nil {
				t.Fatal(err)
			}
			for i, w := range ref.Rewards {
				if !relClose(float64(got[i]), w, 1e-4) {
					t.Errorf("%s reward %d: %v, transformers %v", cfg.Architecture, i, got[i], w)
				}
			}
			o := ref.TrainStep.Optimizer
			tr, err := m.NewTrainer(cgo.TrainConfig{LR: o.LR, Beta1: o.Betas[0], Beta2: o.Betas[1], Eps: o.Eps,
				WeightDecay: o.WeightDecay, DecayAll: true})
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			for _, p := range ref.TrainStep.Pairs {
				batch.Pairs = append(batch.Pairs, p[0], p[1])
			}
			batch.LossWeight = 1
			st, err := tr.Accumulate(batch, nil)
			if err != nil {
				t.Fatal(err)
			}
			ss, err := tr.Step()
			if err != nil {
				t.Fatal(err)
			}
			if !relClose(st.Loss, ref.TrainStep.LossValue, 1e-3) {
				t.Errorf("loss %v, transformers %v", st.Loss, ref.TrainStep.LossValue)
			}
			if !relClose(ss.GradNorm, ref.TrainStep.GradNorm, 1e-3) {
				t.Errorf("grad norm %v, transformers %v", ss.GradNorm, ref.TrainStep.GradNorm)
			}
			after, err := m.Score(batch)
			if err != nil {
				t.Fatal(err)
			}
			// The head's bias gets an exactly zero gradient from a pairwise loss (it cancels in
			// r_c - r_r). Float rounding leaves a residue near 1e-8 of either sign, in transformers
			// and here alike, which Adam's normalization turns into a step of up to lr. So where the
			// head has a bias, the rewards after the step are compared up to one common shift, and
			// the shift is bounded by two such steps in opposite directions.
			shift := 0.0
			if cfg.Family() == cgo.Encoder {
				shift = float64(after[0]) - ref.TrainStep.RewardsAfterStep[0]
				if math.Abs(shift) > 2*o.LR*1.01 {
					t.Errorf("common shift %v exceeds two Adam steps (lr %v)", shift, o.LR)
				}
			}
			for i, w := range ref.TrainStep.RewardsAfterStep {
				if !relClose(float64(after[i])-shift, w, 1e-3) {
					t.Errorf("reward %d after the step: %v (shift %v), transformers %v", i, after[i], shift, w)
				}
			}
		})
	}
}

// A saved directory loads back to identical scores, and is a HuggingFace directory.
func TestSaveLoadRoundTrip(t *testing.T) {
	b := testenv.CPUBackend(t)
	for _, preset := range []string{"tiny", "tiny-llama"} {
		t.Run(preset, func(t *testing.T) {
			cfg, err := Preset(preset)
			if err != nil {
				t.Fatal(err)
			}
			m, err := b.NewModel(cfg.Backend(), cgo.ModelOptions{Seed: 5})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			dir := t.TempDir()
			if err := Save(context.Background(), m, cfg, dir); err != nil {
				t.Fatal(err)
			}
			m2, cfg2, rep, err := Load(b, dir, cgo.ModelOptions{Seed: 99})
			if err != nil {
				t.Fatal(err)
			}
			defer m2.Close()
			j1, _ := json.Marshal(cfg.HF())
			j2, _ := json.Marshal(cfg2.HF())
			if len(rep.Ignored)+len(rep.Initialized) != 0 || string(j1) != string(j2) {
				t.Fatalf("round trip changed things: %+v\n%s\n%s", rep, j1, j2)
			}
			batch := &cgo.Batch{Tokens: []int32{5, 6, 7, 8, 9, 1, 2, 3}, CuSeqlens: []int32{0, 5, 8}}
			s1, _ := m.Score(batch)
			s2, _ := m2.Score(batch)
			if s1[0] != s2[0] || s1[1] != s2[1] {
				t.Fatalf("scores differ after save/load: %v vs %v", s1, s2)
			}
			var hf map[string]any
			data, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
			if err := json.Unmarshal(data, &hf); err != nil {
				t.Fatal(err)
			}
			if hf["architectures"].([]any)[0] != cfg.Architecture || hf["num_hidden_layers"].(float64) != 2 {
				t.Fatalf("config.json: %v", hf)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	b := testenv.CPUBackend(t)
	src := filepath.Join(testenv.Fixtures(t), "models", "llama_tiny")
	cases := []struct {
		name  string
		setup func(dir string)
		want  string
	}{
		{"missing config", func(dir string) { os.Remove(filepath.Join(dir, ConfigFile)) }, "no such file"},
		{"missing weights", func(dir string) { os.Remove(filepath.Join(dir, WeightsFile)) }, "model.safetensors"},
		{"rope scaling", func(dir string) {
			editConfig(t, dir, func(m map[string]any) {
				m["rope_parameters"] = map[string]any{"rope_theta": 1e4, "rope_type": "yarn", "factor": 4.0}
			})
		}, "RoPE scaling"},
		{"sliding window", func(dir string) {
			editConfig(t, dir, func(m map[string]any) {
				m["architectures"] = []any{"MistralForSequenceClassification"}
				m["model_type"] = "mistral"
				m["sliding_window"] = 64.0
			})
		}, "sliding_window 64 is in use"},
		{"unknown architecture", func(dir string) {
			editConfig(t, dir, func(m map[string]any) { m["architectures"] = []any{"GPT2ForSequenceClassification"} })
		}, "GPT2ForSequenceClassification\" (model_type \"llama\") is not supported"},
		{"wrong shape", func(dir string) {
			editConfig(t, dir, func(m map[string]any) { m["intermediate_size"] = 128.0 })
		}, "mlp.gate_proj.weight has shape [160 64], the model (config.json) expects [128 64]"},
		{"bad field type", func(dir string) {
			editConfig(t, dir, func(m map[string]any) { m["hidden_size"] = "64" })
		}, "field \"hidden_size\": expected a number"},
		{"corrupt safetensors header", func(dir string) {
			p := filepath.Join(dir, WeightsFile)
			data, _ := os.ReadFile(p)
			data[10] = '!'
			os.WriteFile(p, data, 0o644)
		}, "model.safetensors"},
		{"truncated weights", func(dir string) {
			p := filepath.Join(dir, WeightsFile)
			data, _ := os.ReadFile(p)
			os.WriteFile(p, data[:len(data)/2], 0o644)
		}, "model.safetensors"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range []string{ConfigFile, WeightsFile} {
				data, err := os.ReadFile(filepath.Join(src, f))
				if err != nil {
					t.Fatal(err)
				}
				os.WriteFile(filepath.Join(dir, f), data, 0o644)
			}
			c.setup(dir)
			m, _, _, err := Load(b, dir, cgo.ModelOptions{})
			if err == nil {
				m.Close()
				t.Fatal("loaded")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not contain %q", err, c.want)
			}
		})
	}
}

func editConfig(t *testing.T, dir string, edit func(map[string]any)) {
	p := filepath.Join(dir, ConfigFile)
	data, _ := os.ReadFile(p)
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	data, _ = json.Marshal(m)
	os.WriteFile(p, data, 0o644)
}

func TestPresets(t *testing.T) {
	want := map[string]int64{"tiny": 0, "bert-base": 110e6, "llama-1b": 1.0e9}
	for name, approx := range want {
		c, err := Preset(name)
		if err != nil {
			t.Fatal(err)
		}
		if approx > 0 && math.Abs(float64(c.ParamCount()-approx)) > 0.15*float64(approx) {
			t.Errorf("%s: %d parameters, expected about %d", name, c.ParamCount(), approx)
		}
	}
	if c, _ := Preset("llama-1b"); c.NumKVHeads != 4 || c.HiddenSize != 2048 || c.NumLayers != 22 || c.IntermediateSize != 5632 {
		t.Fatalf("llama-1b: %+v", c)
	}
	if _, err := Preset("nope"); err == nil || !strings.Contains(err.Error(), "tiny") {
		t.Fatalf("unknown preset error should list presets: %v", err)
	}
}

// Exporting a fine-tuned HuggingFace directory keeps its tokenizer's side files (pad_token,
// model_max_length, tokenizer_class live there, not in tokenizer.json), byte for byte, and drops
// stale ones a previous export left.
func TestCopyTokenizer(t *testing.T) {
	src, out := t.TempDir(), t.TempDir()
	files := map[string]string{
		TokenizerFile:             `{"version": "1.0", "model": {"type": "WordPiece"}}`,
		"tokenizer_config.json":   `{"tokenizer_class": "BertTokenizer", "pad_token": "[PAD]", "model_max_length": 128}`,
		"special_tokens_map.json": `{"pad_token": "[PAD]", "cls_token": "[CLS]"}`,
		"vocab.txt":               "[PAD]\n[CLS]\nhello\n",
		"generation_config.json":  `{"max_length": 20}`, // not a tokenizer file
	}
	for n, c := range files {
		if err := os.WriteFile(filepath.Join(src, n), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stale := filepath.Join(out, "chat_template.jinja")
	os.WriteFile(stale, []byte("{{ messages }}"), 0o644)
	copied, err := CopyTokenizer(filepath.Join(src, TokenizerFile), out)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(copied, ",") != "tokenizer_config.json,special_tokens_map.json,vocab.txt" {
		t.Errorf("copied %v", copied)
	}
	for n, c := range files {
		got, err := os.ReadFile(filepath.Join(out, n))
		if n == "generation_config.json" {
			if err == nil {
				t.Errorf("%s was copied", n)
			}
			continue
		}
		if err != nil || string(got) != c {
			t.Errorf("%s: %q, %v; want %q", n, got, err, c)
		}
	}
	if _, err := os.Stat(stale); err == nil {
		t.Error("a stale chat_template.jinja survived the export")
	}
	// A tokenizer file under another name brings no side files, and those of an earlier export go.
	other := filepath.Join(src, "tok.json")
	os.WriteFile(other, []byte(`{"other": 1}`), 0o644)
	if copied, err := CopyTokenizer(other, out); err != nil || len(copied) != 0 {
		t.Fatalf("copied %v, %v", copied, err)
	}
	ents, _ := os.ReadDir(out)
	if len(ents) != 1 || ents[0].Name() != TokenizerFile {
		t.Errorf("out holds %v", ents)
	}
	// A model directory's own tokenizer copied onto itself stays as it is.
	if copied, err := CopyTokenizer(filepath.Join(src, TokenizerFile), src); err != nil || len(copied) != 3 {
		t.Fatalf("copy onto itself: %v, %v", copied, err)
	}
	for n, c := range files {
		if got, _ := os.ReadFile(filepath.Join(src, n)); string(got) != c {
			t.Errorf("copy onto itself changed %s", n)
		}
	}
	// A side file that cannot be read is an error naming it, not a silent drop.
	os.Remove(filepath.Join(src, "special_tokens_map.json"))
	os.Mkdir(filepath.Join(src, "special_tokens_map.json"), 0o755)
	if _, err := CopyTokenizer(filepath.Join(src, TokenizerFile), out); err == nil || !strings.Contains(err.Error(), "special_tokens_map.json") {
		t.Fatalf("unreadable side file: %v", err)
	}
	if _, err := CopyTokenizer(filepath.Join(src, "missing.json"), out); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Fatalf("missing tokenizer: %v", err)
	}
}
