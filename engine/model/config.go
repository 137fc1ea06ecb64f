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
	EosTokenIDs       []int // every id when eos_token_id is a list (Llama 3 chat models); EosTokenID is the first
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
	src    string
	prefix string // "rope_parameters." inside that object, so errors name the full path
	m      map[string]any
	err    error
}

func (f *fields) fail(key, format string, a ...any) {
	if f.err == nil {
		f.err = fmt.Errorf("%s: field %q: %s", f.src, f.prefix+key, fmt.Sprintf(format, a...))
	}
}

// has reports whether key is present with a non-null value.
func (f *fields) has(key string) bool {
	v, ok := f.m[key]
	return ok && v != nil
}

func (f *fields) num(key string) (float64, bool) {
	v, ok := f.m[key]
	if !ok || v == nil {
		return 0, false
	}
	var x float64
	switch n := v.(type) {
	case float64:
		x = n
	case int:
		x = float64(n)
	case int64:
		x = float64(n)
	case uint64:
		x = float64(n)
	default:
		f.fail(key, "expected a number, got %T", v)
		return 0, false
	}
	// JSON cannot spell NaN or infinity, but YAML presets can (.nan, .inf).
	if math.IsNaN(x) || math.IsInf(x, 0) {
		f.fail(key, "expected a finite number, got %v", x)
		return 0, false
	}
	return x, true
}

func (f *fields) integer(key string, def int, required bool) int {
	v, ok := f.num(key)
	if !ok {
		if required && !f.has(key) {
			f.fail(key, "missing")
		}
		return def
	}
	if v != math.Trunc(v) || v < 0 || v > math.MaxInt32 {
		f.fail(key, "expected a non-negative integer, got %v", v)
	}
	return int(v)
}

// size reads a dimension or count: a positive integer (a zero one would only fail later, in the
// backend or as NaN at the first step).
func (f *fields) size(key string, def int, required bool) int {
	v := f.integer(key, def, required)
	if f.has(key) && v == 0 {
		f.fail(key, "expected a positive integer, got 0")
	}
	return v
}

func (f *fields) float(key string, def float64) float64 {
	v, ok := f.num(key)
	if !ok {
		return def
	}
	return v
}

// positive reads a number that must be above zero (norm epsilons, RoPE theta): zero or a
// negative one makes the first step's loss NaN.
func (f *fields) positive(key string, def float64) float64 {
	v, ok := f.num(key)
	if !ok {
		return def
	}
	if v <= 0 {
		f.fail(key, "expected a positive number, got %v", v)
	}
	return v
}

// probability reads a dropout rate, in [0, 1).
func (f *fields) probability(key string, def float64) float64 {
	v, ok := f.num(key)
	if !ok {
		return def
	}
	if v < 0 || v >= 1 {
		f.fail(key, "expected a probability in [0, 1), got %v", v)
	}
	return v
}

func (f *fields) optInt(key string) *int {
	v, ok := f.num(key)
	if !ok {
		return nil
	}
	if v != math.Trunc(v) || math.Abs(v) > math.MaxInt32 {
		f.fail(key, "expected an integer, got %v", v)
	}
	i := int(v)
	return &i
}

// intOrList reads a token id that config.json may also give as a list of ids: the first, and the
// list when it is one.
func (f *fields) intOrList(key string) (*int, []int) {
	arr, ok := f.m[key].([]any)
	if !ok {
		return f.optInt(key), nil
	}
	ids := make([]int, 0, len(arr))
	for i, v := range arr {
		name := fmt.Sprintf("%s%s[%d]", f.prefix, key, i)
		sub := &fields{src: f.src, m: map[string]any{name: v}}
		if id := sub.optInt(name); id != nil {
			ids = append(ids, *id)
		} else if sub.err == nil {
			sub.fail(name, "expected an integer, got null")
		}
		f.merge(sub)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	first := ids[0]
	return &first, ids
}

func (f *fields) boolean(key string, def bool) bool {
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

// object reads a nested object; nil when absent or of another type (then an error is recorded).
// Errors of the returned fields must be passed on with merge.
func (f *fields) object(key string) *fields {
	v, ok := f.m[key]
	if !ok || v == nil {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		f.fail(key, "expected an object, got %v", v)
		return nil
	}
	return &fields{src: f.src, prefix: f.prefix + key + ".", m: m}
}

func (f *fields) merge(sub *fields) {
	if sub != nil && f.err == nil {
		f.err = sub.err
	}
}

// ParseHF reads a HuggingFace config object (config.json, or a preset with the same keys). src
// names the source in errors. Features armap does not implement are refused by name, and values
// that could only fail later (a zero size, a non-positive epsilon) are refused here.
func ParseHF(src string, m map[string]any) (*Config, error) {
	f := &fields{src: src, m: m}
	c := &Config{}
	c.ModelType = f.str("model_type")
	if v, ok := m["architectures"]; ok && v != nil {
		arr, ok := v.([]any)
		if !ok || len(arr) != 1 {
			return nil, fmt.Errorf("%s: field \"architectures\": expected a list of one architecture, got %v", src, v)
		}
		if c.Architecture, ok = arr[0].(string); !ok {
			return nil, fmt.Errorf("%s: field \"architectures\": expected a list of one architecture name, got %v", src, v)
		}
	}
	if f.err != nil {
		return nil, f.err
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
	if n := labels(f); n > 1 {
		return nil, fmt.Errorf("%s: %d labels: armap reward models have exactly one output (num_labels 1)", src, n)
	}
	c.VocabSize = f.size("vocab_size", 0, true)
	c.HiddenSize = f.size("hidden_size", 0, true)
	c.NumLayers = f.size("num_hidden_layers", 0, true)
	c.NumHeads = f.size("num_attention_heads", 0, true)
	c.IntermediateSize = f.size("intermediate_size", 0, true)
	c.MaxPositions = f.size("max_position_embeddings", 512, false)
	c.InitStd = f.float("initializer_range", 0.02)
	if c.InitStd < 0 {
		f.fail("initializer_range", "expected a non-negative number, got %v", c.InitStd)
	}
	c.PadTokenID = f.optInt("pad_token_id")
	c.BosTokenID = f.optInt("bos_token_id")
	c.EosTokenID, c.EosTokenIDs = f.intOrList("eos_token_id")
	c.TieWordEmbeddings = f.boolean("tie_word_embeddings", false)
	if c.ModelType == "bert" {
		c.NumKVHeads = c.NumHeads
		c.TypeVocabSize = f.size("type_vocab_size", 2, false)
		c.NormEps = f.positive("layer_norm_eps", 1e-12)
		c.HiddenDropout = f.probability("hidden_dropout_prob", 0.1)
		c.AttentionDropout = f.probability("attention_probs_dropout_prob", 0.1)
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
		c.NumKVHeads = f.size("num_key_value_heads", c.NumHeads, false)
		c.HeadDim = f.size("head_dim", 0, false)
		c.NormEps = f.positive("rms_norm_eps", 1e-6)
		c.AttentionDropout = f.probability("attention_dropout", 0)
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
		if err := rope(f, c); err != nil {
			return nil, err
		}
		if err := slidingWindow(f, c); err != nil {
			return nil, err
		}
	}
	if f.err != nil {
		return nil, f.err
	}
	if c.HiddenSize%c.NumHeads != 0 && c.HeadDim == 0 {
		return nil, fmt.Errorf("%s: hidden_size %d is not divisible by num_attention_heads %d", src, c.HiddenSize, c.NumHeads)
	}
	if c.NumHeads%c.NumKVHeads != 0 {
		return nil, fmt.Errorf("%s: num_attention_heads %d is not a multiple of num_key_value_heads %d", src, c.NumHeads, c.NumKVHeads)
	}
	return c, nil
}

// rope reads the RoPE settings of a decoder: theta from rope_theta (transformers 4) or
// rope_parameters.rope_theta (transformers 5, which wins), refusing every variant other than
// plain RoPE over the whole head.
func rope(f *fields, c *Config) error {
	c.RopeTheta = f.positive("rope_theta", 10000)
	partial, partialKey := f.float("partial_rotary_factor", 1), "partial_rotary_factor"
	if rp := f.object("rope_parameters"); rp != nil {
		c.RopeTheta = rp.positive("rope_theta", c.RopeTheta)
		if t := rp.str("rope_type"); t != "" && t != "default" {
			return fmt.Errorf("%s: rope_parameters.rope_type %q (RoPE scaling) is not supported", f.src, t)
		}
		if rp.has("partial_rotary_factor") {
			partial, partialKey = rp.float("partial_rotary_factor", 1), "rope_parameters.partial_rotary_factor"
		}
		f.merge(rp)
	}
	if f.err != nil {
		return f.err
	}
	// HF rotates only the first partial_rotary_factor * head_dim channels of each head; armap's
	// kernels rotate all of them, so any other factor would score differently from transformers.
	if partial != 1 {
		return fmt.Errorf("%s: %s %v is not supported (armap applies RoPE to the whole head)", f.src, partialKey, partial)
	}
	if rs, ok := f.m["rope_scaling"]; ok && rs != nil {
		if rm, ok := rs.(map[string]any); !ok || (rm["rope_type"] != "default" && rm["type"] != "default") {
			return fmt.Errorf("%s: rope_scaling %v is not supported (armap implements plain RoPE)", f.src, rs)
		}
	}
	return nil
}

func labels(f *fields) int {
	if l := f.object("id2label"); l != nil {
		return len(l.m)
	}
	if v, ok := f.num("num_labels"); ok {
		return int(v)
	}
	return 1
}

// slidingWindow refuses a sliding window that is actually in use: one shorter than the longest
// sequence the model accepts, on a layer that applies it.
func slidingWindow(f *fields, c *Config) error {
	w, ok := f.num("sliding_window")
	if f.err != nil {
		return f.err
	}
	if !ok || int(w) >= c.MaxPositions {
		return nil
	}
	if c.ModelType == "qwen2" {
		use := f.boolean("use_sliding_window", false)
		if f.err != nil {
			return f.err
		}
		if !use {
			return nil
		}
	}
	if lt, ok := f.m["layer_types"].([]any); ok {
		inUse := false
		for _, t := range lt {
			inUse = inUse || t == "sliding_attention"
		}
		if !inUse && c.ModelType == "qwen2" {
			return nil
		}
	}
	return fmt.Errorf("%s: sliding_window %d is in use (shorter than max_position_embeddings %d); armap implements full attention only", f.src, int(w), c.MaxPositions)
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
	if len(c.EosTokenIDs) > 1 {
		m["eos_token_id"] = c.EosTokenIDs
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
