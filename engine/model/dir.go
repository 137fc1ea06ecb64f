package model

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/armap/armap/cgo"
	"github.com/armap/armap/engine/atomicfile"
	"github.com/armap/armap/engine/safetensors"
)

// Base architectures that carry the transformer but not the reward head: a model directory of
// one of these (a pretrained LM) starts a reward model whose head is initialized from scratch,
// as AutoModelForSequenceClassification.from_pretrained does.
var baseArchitectures = map[string]string{
	"BertModel":          "BertForSequenceClassification",
	"BertForMaskedLM":    "BertForSequenceClassification",
	"BertForPreTraining": "BertForSequenceClassification",
	"LlamaForCausalLM":   "LlamaForSequenceClassification",
	"LlamaModel":         "LlamaForSequenceClassification",
	"MistralForCausalLM": "MistralForSequenceClassification",
	"MistralModel":       "MistralForSequenceClassification",
	"Qwen2ForCausalLM":   "Qwen2ForSequenceClassification",
	"Qwen2Model":         "Qwen2ForSequenceClassification",
}

// Files of a model directory.
const (
	ConfigFile    = "config.json"
	WeightsFile   = "model.safetensors"
	TokenizerFile = "tokenizer.json"
	AdapterFile   = "adapter.safetensors" // LoRA adapters of an unmerged checkpoint
)

// LoadReport says what loading a directory did beyond the obvious.
type LoadReport struct {
	FromBase     string   // the base architecture converted to a reward model, if any
	Initialized  []string // parameters not in the checkpoint, initialized from scratch (the head)
	Ignored      []string // checkpoint tensors armap does not use (lm_head, position_ids, ...)
	SourceDTypes map[string]int
}

// ReadDirConfig reads a model directory's config.json, accepting base LM architectures too.
func ReadDirConfig(dir string) (*Config, string, error) {
	p := filepath.Join(dir, ConfigFile)
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, "", fmt.Errorf("read model config: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, "", fmt.Errorf("%s: invalid JSON: %w", p, err)
	}
	base := ""
	if arr, ok := m["architectures"].([]any); ok && len(arr) == 1 {
		if a, _ := arr[0].(string); baseArchitectures[a] != "" {
			base = a
			m["architectures"] = []any{baseArchitectures[a]}
			delete(m, "id2label")
			delete(m, "num_labels")
		}
	}
	c, err := ParseHF(p, m)
	return c, base, err
}

// Load creates a model from a HuggingFace directory: config.json plus model.safetensors (or
// shards). Every backend parameter must be found with the right shape, except the reward head
// when the directory holds a base LM.
func Load(b *cgo.Backend, dir string, opt cgo.ModelOptions) (*cgo.Model, *Config, *LoadReport, error) {
	cfg, base, err := ReadDirConfig(dir)
	if err != nil {
		return nil, nil, nil, err
	}
	m, err := b.NewModel(cfg.Backend(), opt)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", dir, err)
	}
	rep, err := loadWeights(m, cfg, dir, base)
	if err != nil {
		m.Close()
		return nil, nil, nil, err
	}
	return m, cfg, rep, nil
}

// headParam reports whether a parameter belongs to the reward head (absent from base LMs).
func headParam(name string) bool {
	return strings.HasPrefix(name, "classifier.") || strings.HasPrefix(name, "score.") || strings.HasPrefix(name, "bert.pooler.")
}

// candidates lists the checkpoint names under which a parameter may be stored: its own, without
// the "bert."/"model." prefix (BertModel / LlamaModel save without it), and the old BERT
// LayerNorm gamma/beta spelling.
func candidates(name string) []string {
	out := []string{name}
	for _, pre := range []string{"bert.", "model."} {
		if rest, ok := strings.CutPrefix(name, pre); ok {
			out = append(out, rest)
		}
	}
	for _, n := range append([]string(nil), out...) {
		if strings.Contains(n, "LayerNorm.weight") {
			out = append(out, strings.Replace(n, "LayerNorm.weight", "LayerNorm.gamma", 1))
		}
		if strings.Contains(n, "LayerNorm.bias") {
			out = append(out, strings.Replace(n, "LayerNorm.bias", "LayerNorm.beta", 1))
		}
	}
	return out
}

func loadWeights(m *cgo.Model, cfg *Config, dir, base string) (*LoadReport, error) {
	set, err := safetensors.OpenDir(dir)
	if err != nil {
		return nil, err
	}
	defer set.Close()
	rep := &LoadReport{FromBase: base, SourceDTypes: map[string]int{}}
	params, err := m.Tensors()
	if err != nil {
		return nil, err
	}
	used := map[string]bool{}
	where := strings.Join(set.Files(), ", ")
	for _, p := range params {
		if strings.Contains(p.Name, ".lora_") {
			continue
		}
		var src string
		for _, c := range candidates(p.Name) {
			if set.Has(c) {
				src = c
				break
			}
		}
		if src == "" {
			if base != "" && headParam(p.Name) {
				rep.Initialized = append(rep.Initialized, p.Name)
				continue
			}
			return nil, fmt.Errorf("%s: tensor %s is missing (config says %s with %d layers)", where, p.Name, cfg.Architecture, cfg.NumLayers)
		}
		used[src] = true
		info, err := set.Info(src)
		if err != nil {
			return nil, err
		}
		if !sameShape(info.Shape, p.Shape) {
			return nil, fmt.Errorf("%s: tensor %s has shape %v, the model (config.json) expects %v", where, src, info.Shape, p.Shape)
		}
		var dt cgo.DType
		switch info.DType {
		case safetensors.F32:
			dt = cgo.F32
		case safetensors.F16:
			dt = cgo.F16
		case safetensors.BF16:
			dt = cgo.BF16
		default:
			return nil, fmt.Errorf("%s: tensor %s has dtype %s; armap loads F32, F16 and BF16", where, src, info.DType)
		}
		rep.SourceDTypes[string(info.DType)]++
		if err := m.WriteTensorRaw(p.Name, dt, set.Raw(src)); err != nil {
			return nil, fmt.Errorf("%s: load %s: %w", where, src, err)
		}
	}
	for _, n := range set.Names() {
		if !used[n] {
			rep.Ignored = append(rep.Ignored, n)
		}
	}
	return rep, nil
}

func sameShape(a []int, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if int64(a[i]) != b[i] {
			return false
		}
	}
	return true
}

// Save writes dir/config.json and dir/model.safetensors (float32, HuggingFace names), each
// atomically. LoRA adapters are not part of the HuggingFace weights: merge them first (export) or
// save them with SaveAdapters (checkpoints).
func Save(ctx context.Context, m *cgo.Model, cfg *Config, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := WriteConfig(cfg, dir); err != nil {
		return err
	}
	return saveTensors(ctx, m, filepath.Join(dir, WeightsFile), func(name string) bool { return !strings.Contains(name, ".lora_") },
		map[string]string{"format": "pt"})
}

// SaveAdapters writes the LoRA adapter tensors (a checkpoint of a LoRA run).
func SaveAdapters(ctx context.Context, m *cgo.Model, path string) error {
	return saveTensors(ctx, m, path, func(name string) bool { return strings.Contains(name, ".lora_") }, nil)
}

// LoadAdapters restores LoRA adapter tensors written by SaveAdapters.
func LoadAdapters(m *cgo.Model, path string) error {
	f, err := safetensors.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, n := range f.Names() {
		if err := m.WriteTensorRaw(n, cgo.F32, f.Raw(n)); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	return nil
}

// WriteConfig writes dir/config.json atomically.
func WriteConfig(cfg *Config, dir string) error {
	data, err := json.MarshalIndent(cfg.HF(), "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, ConfigFile), append(data, '\n'), 0o644)
}

func saveTensors(ctx context.Context, m *cgo.Model, path string, keep func(string) bool, meta map[string]string) error {
	params, err := m.Tensors()
	if err != nil {
		return err
	}
	var specs []safetensors.Spec
	for _, p := range params {
		if !keep(p.Name) {
			continue
		}
		shape := make([]int, len(p.Shape))
		for i, s := range p.Shape {
			shape[i] = int(s)
		}
		specs = append(specs, safetensors.Spec{Name: p.Name, DType: safetensors.F32, Shape: shape})
	}
	if len(specs) == 0 {
		return nil
	}
	var buf []byte
	// One tensor at a time, so a 1B-parameter model never needs a second full copy in Go memory.
	return safetensors.WriteStream(ctx, path, specs, meta, func(s safetensors.Spec, w io.Writer) error {
		n, _ := safetensors.ByteSize(s.DType, s.Shape)
		if int64(cap(buf)) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if err := m.ReadTensorRaw(s.Name, cgo.F32, buf); err != nil {
			return err
		}
		_, err := w.Write(buf)
		return err
	})
}

// CopyFile copies a file (the tokenizer) into a model directory atomically.
func CopyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return atomicfile.Write(dst, 0o644, func(w io.Writer) error {
		if _, err := io.Copy(w, in); err != nil {
			return fmt.Errorf("copy %s: %w", src, err)
		}
		return nil
	})
}

// TokenizerSideFiles are the files transformers' AutoTokenizer reads beside tokenizer.json: the
// settings tokenizer.json does not hold (tokenizer_class, pad_token, model_max_length, the chat
// template) and the slow tokenizers' vocabularies. Without them a fine-tuned model's tokenizer
// loads with other special tokens and limits than the one it was trained with.
var TokenizerSideFiles = []string{
	"tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
	"chat_template.jinja", "chat_template.json",
	"vocab.txt", "vocab.json", "merges.txt", "tokenizer.model", "spiece.model",
}

// CopyTokenizer copies the tokenizer at tokPath into model directory dir as tokenizer.json, each
// file atomically. When tokPath is itself a HuggingFace directory's tokenizer.json, the
// TokenizerSideFiles beside it are copied too, as they are, and those the source lacks are removed
// from dir, so that dir never pairs this tokenizer with another one's settings. It returns the side
// files copied. Copying a directory's tokenizer onto itself leaves it unchanged.
func CopyTokenizer(tokPath, dir string) ([]string, error) {
	srcDir := filepath.Dir(tokPath)
	dst := filepath.Join(dir, TokenizerFile)
	if same, err := sameFile(tokPath, dst); err != nil {
		return nil, fmt.Errorf("copy tokenizer: %w", err)
	} else if !same {
		if err := CopyFile(tokPath, dst); err != nil {
			return nil, fmt.Errorf("copy tokenizer: %w", err)
		}
	}
	// A tokenizer file under another name (one armap trained, or a copy) has no side files that
	// could be told to belong to it.
	withSide := filepath.Base(tokPath) == TokenizerFile
	var copied []string
	for _, name := range TokenizerSideFiles {
		src, out := filepath.Join(srcDir, name), filepath.Join(dir, name)
		st, err := os.Stat(src)
		switch {
		case withSide && err == nil && !st.IsDir():
			copied = append(copied, name)
			same, err := sameFile(src, out)
			if err == nil && !same {
				err = CopyFile(src, out)
			}
			if err != nil {
				return copied[:len(copied)-1], fmt.Errorf("copy tokenizer file %s: %w", name, err)
			}
		case withSide && err == nil && st.IsDir():
			return copied, fmt.Errorf("copy tokenizer: %s is a folder, not a file", src)
		case withSide && err != nil && !errors.Is(err, fs.ErrNotExist):
			return copied, fmt.Errorf("copy tokenizer: %w", err)
		default:
			if same, _ := sameFile(src, out); same {
				continue // the source folder is dir: what is there belongs to the tokenizer
			}
			if err := os.Remove(out); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return copied, fmt.Errorf("copy tokenizer: remove stale %s: %w", out, err)
			}
		}
	}
	return copied, nil
}

// sameFile reports whether a and b are one file (false when b does not exist).
func sameFile(a, b string) (bool, error) {
	sb, err := os.Stat(b)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	sa, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	return os.SameFile(sa, sb), nil
}
