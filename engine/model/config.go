// Package model maps reward-model architectures between HuggingFace's config.json, armap's
// presets (configs/models/*.yaml, written with the same keys) and the backend's config struct,
// and loads and saves model directories in the HuggingFace layout.
package model

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/armap/armap/cgo"
	"github.com/armap/armap/configs"
)

// Config is an architecture as HuggingFace describes it, reduced to what armap runs.
type Config struct {
	Architecture      string // e.g. LlamaForSequenceClassification
	ModelType         string // bert, llama, mistral, qwen2
	VocabSize         int
	HiddenSize        int
	NumLayers         int
	NumHeads          int
	NumKVHeads        int
	HeadDim           int
	IntermediateSize  int
	MaxPositions      int
	TypeVocabSize     int
	QKVBias           bool
	OBias             bool
	MLPBias           bool
	NormEps           float64
	RopeTheta         float64
	HiddenDropout     float64
	AttentionDropout  float64
	InitStd           float64
	PadTokenID        *int
	BosTokenID        *int
	EosTokenID        *int
	TieWordEmbeddings bool
}

// Supported architectures and their model_type.
var architectures = map[string]string{
	"BertForSequenceClassification":    "bert",
	"LlamaForSequenceClassification":   "llama",
	"MistralForSequenceClassification": "mistral",
	"Qwen2ForSequenceClassification":   "qwen2",
}

// Family is the backend family of the architecture.
func (c *Config) Family() cgo.Family {
	if c.ModelType == "bert" {
		return cgo.Encoder
	}
	return cgo.Decoder
}

// Backend converts to the backend's architecture struct.
func (c *Config) Backend() cgo.ModelConfig {
	return cgo.ModelConfig{
		Family: c.Family(), VocabSize: c.VocabSize, HiddenSize: c.HiddenSize, NumLayers: c.NumLayers,
		NumHeads: c.NumHeads, NumKVHeads: c.NumKVHeads, HeadDim: c.HeadDim, IntermediateSize: c.IntermediateSize,
		MaxPositions: c.MaxPositions, TypeVocabSize: c.TypeVocabSize, QKVBias: c.QKVBias, OBias: c.OBias,
		MLPBias: c.MLPBias, NumLabels: 1, NormEps: float32(c.NormEps), RopeTheta: float32(c.RopeTheta),
		HiddenDropout: float32(c.HiddenDropout), AttentionDropout: float32(c.AttentionDropout), InitStd: float32(c.InitStd),
	}
}

// ParamCount estimates the parameter count (for logs and FLOP estimates).
func (c *Config) ParamCount() int64 {
	h, f, l := int64(c.HiddenSize), int64(c.IntermediateSize), int64(c.NumLayers)
	hd := int64(c.HeadDim)
	if hd == 0 {
		hd = h / int64(c.NumHeads)
	}
	q, kv := int64(c.NumHeads)*hd, int64(c.NumKVHeads)*hd
	if c.Family() == cgo.Encoder {
		return int64(c.VocabSize+c.MaxPositions+c.TypeVocabSize)*h + l*(4*h*h+2*h*f) + h*h
	}
	return int64(c.VocabSize)*h + l*(h*q+2*h*kv+q*h+3*h*f)
}

// fields reads typed values out of a decoded JSON/YAML object, remembering the first error.
type fields struct {
	src  string
	m    map[string]any
	err  error
	used map[string]bool
}

func (f *fields) fail(key, format string, a ...any) {
	if f.err == nil {
		f.err = fmt.Errorf("%s: field %q: %s", f.src, key, fmt.Sprintf(format, a...))
	}
}

func (f *fields) num(key string) (float64, bool) {
	f.used[key] = true
	v, ok := f.m[key]
	if !ok || v == nil {
		return 0, false
	}
	switch x := v.(type) {
	case float64:
		return x, true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	}
	f.fail(key, "expected a number, got %T", v)
	return 0, false
}

func (f *fields) integer(key string, def int, required bool) int {
	v, ok := f.num(key)
	if !ok {
		if required {
			f.fail(key, "missing")
		}
		return def
	}
	if v != math.Trunc(v) || v < 0 || v > math.MaxInt32 {
		f.fail(key, "expected a non-negative integer, got %v", v)
	}
	return int(v)
}

func (f *fields) float(key string, def float64) float64 {
	v, ok := f.num(key)
	if !ok {
		return def
	}
	return v
}

func (f *fields) optInt(key string) *int {
	v, ok := f.num(key)
	if !ok {
		return nil
	}
	i := int(v)
	return &i
}

func (f *fields) boolean(key string, def bool) bool {
	f.used[key] = true
	v, ok := f.m[key]
	if !ok || v == nil {
		return def
	}
	b, ok := v.(bool)
	if !ok {
		f.fail(key, "expected true or false, got %v", v)
	}
	return b
}

func (f *fields) str(key string) string {
	f.used[key] = true
	v, ok := f.m[key]
	if !ok || v == nil {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		f.fail(key, "expected a string, got %v", v)
	}
	return s
}

// ParseHF reads a HuggingFace config object (config.json, or a preset with the same keys). src
// names the source in errors. Features armap does not implement are refused by name.
func ParseHF(src string, m map[string]any) (*Config, error) {
	f := &fields{src: src, m: m, used: map[string]bool{}}
	c := &Config{}
	c.ModelType = f.str("model_type")
	if v, ok := m["architectures"]; ok && v != nil {
		arr, ok := v.([]any)
		if !ok || len(arr) != 1 {
			return nil, fmt.Errorf("%s: field \"architectures\": expected a list of one architecture, got %v", src, v)
		}
		c.Architecture, _ = arr[0].(string)
	}
	if c.Architecture == "" {
		for a, t := range architectures {
			if t == c.ModelType {
				c.Architecture = a
			}
		}
	}
	mt, ok := architectures[c.Architecture]
	if !ok {
		names := make([]string, 0, len(architectures))
		for a := range architectures {
			names = append(names, a)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("%s: architecture %q (model_type %q) is not supported; armap runs %s", src, c.Architecture, c.ModelType, strings.Join(names, ", "))
	}
	if c.ModelType == "" {
		c.ModelType = mt
	} else if c.ModelType != mt {
		return nil, fmt.Errorf("%s: model_type %q does not match architecture %s", src, c.ModelType, c.Architecture)
	}
	if n := labels(m); n > 1 {
		return nil, fmt.Errorf("%s: %d labels: armap reward models have exactly one output (num_labels 1)", src, n)
	}
	c.VocabSize = f.integer("vocab_size", 0, true)
	c.HiddenSize = f.integer("hidden_size", 0, true)
	c.NumLayers = f.integer("num_hidden_layers", 0, true)
	c.NumHeads = f.integer("num_attention_heads", 0, true)
	c.IntermediateSize = f.integer("intermediate_size", 0, true)
	c.MaxPositions = f.integer("max_position_embeddings", 512, false)
	c.InitStd = f.float("initializer_range", 0.02)
	c.PadTokenID = f.optInt("pad_token_id")
	c.BosTokenID = f.optInt("bos_token_id")
	c.EosTokenID = f.optInt("eos_token_id")
	c.TieWordEmbeddings = f.boolean("tie_word_embeddings", false)
	if c.ModelType == "bert" {
		c.NumKVHeads = c.NumHeads
		c.TypeVocabSize = f.integer("type_vocab_size", 2, false)
		c.NormEps = f.float("layer_norm_eps", 1e-12)
		c.HiddenDropout = f.float("hidden_dropout_prob", 0.1)
		c.AttentionDropout = f.float("attention_probs_dropout_prob", 0.1)
		if act := f.str("hidden_act"); act != "" && act != "gelu" {
			return nil, fmt.Errorf("%s: hidden_act %q is not supported (armap's encoder uses exact gelu)", src, act)
		}
		if pe := f.str("position_embedding_type"); pe != "" && pe != "absolute" {
			return nil, fmt.Errorf("%s: position_embedding_type %q is not supported (only absolute)", src, pe)
		}
		if f.boolean("is_decoder", false) || f.boolean("add_cross_attention", false) {
			return nil, fmt.Errorf("%s: BERT as a decoder / with cross-attention is not supported", src)
		}
	} else {
		c.NumKVHeads = f.integer("num_key_value_heads", c.NumHeads, false)
		c.HeadDim = f.integer("head_dim", 0, false)
		c.NormEps = f.float("rms_norm_eps", 1e-6)
		c.AttentionDropout = f.float("attention_dropout", 0)
		c.MLPBias = f.boolean("mlp_bias", false)
		switch c.ModelType {
		case "qwen2":
			c.QKVBias = true
		default:
			ab := f.boolean("attention_bias", false)
			c.QKVBias, c.OBias = ab, ab
		}
		if act := f.str("hidden_act"); act != "" && act != "silu" {
			return nil, fmt.Errorf("%s: hidden_act %q is not supported (armap's decoder uses SwiGLU with silu)", src, act)
		}
		c.RopeTheta = 10000
		if v, ok := f.num("rope_theta"); ok {
			c.RopeTheta = v
		}
		if rp, ok := m["rope_parameters"].(map[string]any); ok {
			if v, ok := rp["rope_theta"].(float64); ok {
				c.RopeTheta = v
			}
			if t, _ := rp["rope_type"].(string); t != "" && t != "default" {
				return nil, fmt.Errorf("%s: rope_parameters.rope_type %q (RoPE scaling) is not supported", src, t)
			}
		}
		f.used["rope_parameters"] = true
		if rs, ok := m["rope_scaling"]; ok && rs != nil {
			if rm, ok := rs.(map[string]any); !ok || (rm["rope_type"] != "default" && rm["type"] != "default") {
				return nil, fmt.Errorf("%s: rope_scaling %v is not supported (armap implements plain RoPE)", src, rs)
			}
		}
		if err := slidingWindow(src, c, m); err != nil {
			return nil, err
		}
	}
	if f.err != nil {
		return nil, f.err
	}
	if c.NumHeads == 0 || c.HiddenSize%c.NumHeads != 0 && c.HeadDim == 0 {
		return nil, fmt.Errorf("%s: hidden_size %d is not divisible by num_attention_heads %d", src, c.HiddenSize, c.NumHeads)
	}
	return c, nil
}

func labels(m map[string]any) int {
	if v, ok := m["id2label"].(map[string]any); ok {
		return len(v)
	}
	if v, ok := m["num_labels"].(float64); ok {
		return int(v)
	}
	return 1
}

// slidingWindow refuses a sliding window that is actually in use: one shorter than the longest
// sequence the model accepts, on a layer that applies it.
func slidingWindow(src string, c *Config, m map[string]any) error {
	w, ok := m["sliding_window"].(float64)
	if !ok || int(w) >= c.MaxPositions {
		return nil
	}
	if c.ModelType == "qwen2" {
		if use, _ := m["use_sliding_window"].(bool); !use {
			return nil
		}
	}
	if lt, ok := m["layer_types"].([]any); ok {
		inUse := false
		for _, t := range lt {
			inUse = inUse || t == "sliding_attention"
		}
		if !inUse && c.ModelType == "qwen2" {
			return nil
		}
	}
	return fmt.Errorf("%s: sliding_window %d is in use (shorter than max_position_embeddings %d); armap implements full attention only", src, int(w), c.MaxPositions)
}

// HF renders the config.json that transformers reads back as this architecture.
func (c *Config) HF() map[string]any {
	m := map[string]any{
		"architectures":           []string{c.Architecture},
		"model_type":              c.ModelType,
		"vocab_size":              c.VocabSize,
		"hidden_size":             c.HiddenSize,
		"num_hidden_layers":       c.NumLayers,
		"num_attention_heads":     c.NumHeads,
		"intermediate_size":       c.IntermediateSize,
		"max_position_embeddings": c.MaxPositions,
		"initializer_range":       c.InitStd,
		"id2label":                map[string]string{"0": "LABEL_0"},
		"label2id":                map[string]int{"LABEL_0": 0},
		"dtype":                   "float32",
		"torch_dtype":             "float32",
		"tie_word_embeddings":     c.TieWordEmbeddings,
		"transformers_version":    "4.46.0",
	}
	for k, v := range map[string]*int{"pad_token_id": c.PadTokenID, "bos_token_id": c.BosTokenID, "eos_token_id": c.EosTokenID} {
		if v != nil {
			m[k] = *v
		}
	}
	if c.ModelType == "bert" {
		m["type_vocab_size"] = c.TypeVocabSize
		m["layer_norm_eps"] = c.NormEps
		m["hidden_act"] = "gelu"
		m["hidden_dropout_prob"] = c.HiddenDropout
		m["attention_probs_dropout_prob"] = c.AttentionDropout
		m["position_embedding_type"] = "absolute"
		return m
	}
	m["num_key_value_heads"] = c.NumKVHeads
	if c.HeadDim != 0 {
		m["head_dim"] = c.HeadDim
	}
	m["rms_norm_eps"] = c.NormEps
	m["hidden_act"] = "silu"
	m["attention_dropout"] = c.AttentionDropout
	// Both spellings, so that transformers 4.x (rope_theta) and 5.x (rope_parameters) read it.
	m["rope_theta"] = c.RopeTheta
	m["rope_parameters"] = map[string]any{"rope_theta": c.RopeTheta, "rope_type": "default"}
	m["mlp_bias"] = c.MLPBias
	switch c.ModelType {
	case "qwen2":
		m["use_sliding_window"] = false
		m["sliding_window"] = nil
	case "mistral":
		m["sliding_window"] = nil
		m["attention_bias"] = c.QKVBias
	default:
		m["attention_bias"] = c.QKVBias
	}
	return m
}

// ReadHF reads dir/config.json.
func ReadHF(dir string) (*Config, error) {
	p := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("read model config: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: invalid JSON: %w", p, err)
	}
	return ParseHF(p, m)
}

// Presets lists the names of the built-in presets (configs/models/*.yaml).
func Presets() []string {
	ents, _ := fs.Glob(configs.FS, "models/*.yaml")
	var out []string
	for _, e := range ents {
		out = append(out, strings.TrimSuffix(filepath.Base(e), ".yaml"))
	}
	return out
}

// Preset loads a built-in preset by name.
func Preset(name string) (*Config, error) {
	p := "models/" + name + ".yaml"
	data, err := configs.FS.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("unknown model preset %q (presets: %s; or give a model directory)", name, strings.Join(Presets(), ", "))
	}
	var m map[string]any
	if err := yaml.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("configs/%s: %w", p, err)
	}
	return ParseHF("configs/"+p, m)
}

// IsDir reports whether spec names a model directory (as opposed to a preset).
func IsDir(spec string) bool {
	st, err := os.Stat(filepath.Join(spec, "config.json"))
	return err == nil && !st.IsDir()
}
