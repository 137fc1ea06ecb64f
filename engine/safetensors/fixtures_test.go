package safetensors

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fixtureModels finds the HuggingFace checkpoints of ../../../shared (relative to this package);
// their absence is a failure, not a skip.
func fixtureModels(t *testing.T) []string {
	t.Helper()
	root := filepath.Join("..", "..", "..", "shared", "fixtures", "hf", "models")
	dirs, err := filepath.Glob(filepath.Join(root, "*", "model.safetensors"))
	if err != nil || len(dirs) == 0 {
		abs, _ := filepath.Abs(root)
		t.Fatalf("no HuggingFace fixture checkpoints under %s (expected shared/fixtures/hf/models/*/model.safetensors): %v", abs, err)
	}
	for i := range dirs {
		dirs[i] = filepath.Dir(dirs[i])
	}
	return dirs
}

type hfConfig struct {
	ModelType string            `json:"model_type"`
	Vocab     int               `json:"vocab_size"`
	Hidden    int               `json:"hidden_size"`
	Inter     int               `json:"intermediate_size"`
	Layers    int               `json:"num_hidden_layers"`
	Heads     int               `json:"num_attention_heads"`
	KVHeads   int               `json:"num_key_value_heads"`
	HeadDim   int               `json:"head_dim"`
	MaxPos    int               `json:"max_position_embeddings"`
	TypeVocab int               `json:"type_vocab_size"`
	AttnBias  *bool             `json:"attention_bias"`
	ID2Label  map[string]string `json:"id2label"`
}

// expectedTensors derives the HuggingFace parameter names and shapes of a *ForSequenceClassification
// model from its config, independently of the checkpoint.
func expectedTensors(t *testing.T, c hfConfig) map[string][]int {
	h, labels := c.Hidden, len(c.ID2Label)
	want := map[string][]int{}
	switch c.ModelType {
	case "bert":
		want["bert.embeddings.word_embeddings.weight"] = []int{c.Vocab, h}
		want["bert.embeddings.position_embeddings.weight"] = []int{c.MaxPos, h}
		want["bert.embeddings.token_type_embeddings.weight"] = []int{c.TypeVocab, h}
		want["bert.embeddings.LayerNorm.weight"] = []int{h}
		want["bert.embeddings.LayerNorm.bias"] = []int{h}
		for i := range c.Layers {
			p := fmt.Sprintf("bert.encoder.layer.%d.", i)
			for _, m := range []string{"attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"} {
				want[p+m+".weight"] = []int{h, h}
				want[p+m+".bias"] = []int{h}
			}
			for _, ln := range []string{"attention.output.LayerNorm", "output.LayerNorm"} {
				want[p+ln+".weight"] = []int{h}
				want[p+ln+".bias"] = []int{h}
			}
			want[p+"intermediate.dense.weight"] = []int{c.Inter, h}
			want[p+"intermediate.dense.bias"] = []int{c.Inter}
			want[p+"output.dense.weight"] = []int{h, c.Inter}
			want[p+"output.dense.bias"] = []int{h}
		}
		want["bert.pooler.dense.weight"] = []int{h, h}
		want["bert.pooler.dense.bias"] = []int{h}
		want["classifier.weight"] = []int{labels, h}
		want["classifier.bias"] = []int{labels}
	case "llama", "qwen2", "mistral":
		hd := c.HeadDim
		if hd == 0 {
			hd = h / c.Heads
		}
		bias := c.ModelType == "qwen2" || (c.AttnBias != nil && *c.AttnBias)
		want["model.embed_tokens.weight"] = []int{c.Vocab, h}
		for i := range c.Layers {
			p := fmt.Sprintf("model.layers.%d.", i)
			want[p+"input_layernorm.weight"] = []int{h}
			want[p+"post_attention_layernorm.weight"] = []int{h}
			want[p+"self_attn.q_proj.weight"] = []int{c.Heads * hd, h}
			want[p+"self_attn.k_proj.weight"] = []int{c.KVHeads * hd, h}
			want[p+"self_attn.v_proj.weight"] = []int{c.KVHeads * hd, h}
			want[p+"self_attn.o_proj.weight"] = []int{h, c.Heads * hd}
			if bias {
				want[p+"self_attn.q_proj.bias"] = []int{c.Heads * hd}
				want[p+"self_attn.k_proj.bias"] = []int{c.KVHeads * hd}
				want[p+"self_attn.v_proj.bias"] = []int{c.KVHeads * hd}
			}
			want[p+"mlp.gate_proj.weight"] = []int{c.Inter, h}
			want[p+"mlp.up_proj.weight"] = []int{c.Inter, h}
			want[p+"mlp.down_proj.weight"] = []int{h, c.Inter}
		}
		want["model.norm.weight"] = []int{h}
		want["score.weight"] = []int{labels, h}
	default:
		t.Fatalf("fixture model_type %q has no expectation here", c.ModelType)
	}
	return want
}

func meanStd(v []float32) (mean, std float64) {
	for _, x := range v {
		mean += float64(x)
	}
	mean /= float64(len(v))
	for _, x := range v {
		std += (float64(x) - mean) * (float64(x) - mean)
	}
	return mean, math.Sqrt(std / float64(len(v)))
}

func TestHuggingFaceFixtures(t *testing.T) {
	for _, dir := range fixtureModels(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
			if err != nil {
				t.Fatal(err)
			}
			var c hfConfig
			if err := json.Unmarshal(raw, &c); err != nil {
				t.Fatal(err)
			}
			want := expectedTensors(t, c)
			set, err := OpenDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer set.Close()
			if got := set.Metadata()["format"]; got != "pt" {
				t.Errorf("metadata format %q", got)
			}
			names := set.Names()
			wantNames := make([]string, 0, len(want))
			for n := range want {
				wantNames = append(wantNames, n)
			}
			slices.Sort(wantNames)
			if !slices.Equal(names, wantNames) {
				t.Fatalf("names differ from config:\n got %v\nwant %v", names, wantNames)
			}
			for _, n := range names {
				info, err := set.Info(n)
				if err != nil {
					t.Fatal(err)
				}
				if info.DType != F32 || !slices.Equal(info.Shape, want[n]) {
					t.Errorf("%s: %s %v, want F32 %v", n, info.DType, info.Shape, want[n])
				}
				v, err := set.Float32(n)
				if err != nil {
					t.Fatal(err)
				}
				for _, x := range v {
					if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
						t.Fatalf("%s holds %v", n, x)
					}
				}
			}
			// make_fixtures.py draws norm weights from 1+0.1*N(0,1), embeddings from N(0,1) and
			// everything else from N(0,0.1): statistics that bytes read at a wrong offset or in a
			// wrong format would not reproduce.
			for _, n := range names {
				v, _ := set.Float32(n)
				if len(v) < 64 {
					continue
				}
				mean, std := meanStd(v)
				wantMean, wantStd := 0.0, 0.1
				switch lower := strings.ToLower(n); {
				case strings.Contains(lower, "norm") && strings.HasSuffix(n, ".weight"):
					wantMean = 1
				case strings.Contains(lower, "norm"):
				case strings.Contains(n, "embed"):
					wantStd = 1
				}
				se := wantStd / math.Sqrt(float64(len(v)))
				if math.Abs(mean-wantMean) > 5*se || math.Abs(std-wantStd) > 5*wantStd/math.Sqrt(2*float64(len(v))) {
					t.Errorf("%s: mean %.4f std %.4f, want about %.1f and %.1f", n, mean, std, wantMean, wantStd)
				}
			}
		})
	}
}

// Rewriting a transformers-written file from its own tensors reproduces it byte for byte:
// the writer's layout is the reference layout.
func TestRewriteFixtureIsByteIdentical(t *testing.T) {
	for _, dir := range fixtureModels(t) {
		src := filepath.Join(dir, SingleFileName)
		f := mustOpen(t, src)
		var tensors []Tensor
		for _, n := range f.Names() {
			info, _ := f.Info(n)
			tensors = append(tensors, Tensor{Name: n, DType: info.DType, Shape: info.Shape, Data: f.Raw(n)})
		}
		out := filepath.Join(t.TempDir(), SingleFileName)
		if err := Write(out, tensors, f.Metadata()); err != nil {
			t.Fatal(err)
		}
		a, _ := os.ReadFile(src)
		b, _ := os.ReadFile(out)
		if !bytes.Equal(a, b) {
			n := 0
			for n < min(len(a), len(b)) && a[n] == b[n] {
				n++
			}
			t.Errorf("%s: rewrite differs from byte %d (sizes %d, %d)", src, n, len(a), len(b))
		}
	}
}
