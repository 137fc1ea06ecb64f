package model

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/armap/armap/internal/testenv"
)

// fixtureConfig decodes a fixture model's config.json, for ParseHF tests that need no backend.
func fixtureConfig(t *testing.T, name string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testenv.Fixtures(t), "models", name, ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// Every value that HF would honour differently, or that could only fail later (a NaN loss at the
// first step, a backend error), is refused at load with the file and the field.
func TestParseHFRefuses(t *testing.T) {
	cases := []struct {
		fixture string
		edit    func(m map[string]any)
		want    string
	}{
		{"llama_tiny", func(m map[string]any) { m["partial_rotary_factor"] = 0.5 },
			`partial_rotary_factor 0.5 is not supported`},
		{"llama_tiny", func(m map[string]any) { m["rope_parameters"].(map[string]any)["partial_rotary_factor"] = 0.25 },
			`rope_parameters.partial_rotary_factor 0.25 is not supported`},
		{"llama_tiny", func(m map[string]any) { m["partial_rotary_factor"] = "half" },
			`field "partial_rotary_factor": expected a number, got string`},
		{"llama_tiny", func(m map[string]any) { m["rope_parameters"].(map[string]any)["rope_theta"] = "abc" },
			`field "rope_parameters.rope_theta": expected a number, got string`},
		{"llama_tiny", func(m map[string]any) { m["rope_parameters"].(map[string]any)["rope_type"] = 3.0 },
			`field "rope_parameters.rope_type": expected a string, got 3`},
		{"llama_tiny", func(m map[string]any) { m["rope_parameters"] = "default" },
			`field "rope_parameters": expected an object, got default`},
		{"llama_tiny", func(m map[string]any) { m["rope_parameters"].(map[string]any)["rope_theta"] = 0.0 },
			`field "rope_parameters.rope_theta": expected a positive number, got 0`},
		{"llama_tiny", func(m map[string]any) { delete(m, "rope_parameters"); m["rope_theta"] = -1.0 },
			`field "rope_theta": expected a positive number, got -1`},
		{"llama_tiny", func(m map[string]any) { m["rms_norm_eps"] = -1.0 },
			`field "rms_norm_eps": expected a positive number, got -1`},
		{"llama_tiny", func(m map[string]any) { m["rms_norm_eps"] = 0.0 },
			`field "rms_norm_eps": expected a positive number, got 0`},
		{"bert_tiny", func(m map[string]any) { m["layer_norm_eps"] = 0.0 },
			`field "layer_norm_eps": expected a positive number, got 0`},
		{"bert_tiny", func(m map[string]any) { m["hidden_dropout_prob"] = 1.0 },
			`field "hidden_dropout_prob": expected a probability in [0, 1), got 1`},
		{"llama_tiny", func(m map[string]any) { m["hidden_size"] = 0.0 },
			`field "hidden_size": expected a positive integer, got 0`},
		{"llama_tiny", func(m map[string]any) { m["num_hidden_layers"] = -2.0 },
			`field "num_hidden_layers": expected a non-negative integer, got -2`},
		{"llama_tiny", func(m map[string]any) { m["num_key_value_heads"] = 0.0 },
			`field "num_key_value_heads": expected a positive integer, got 0`},
		{"llama_tiny", func(m map[string]any) { m["num_key_value_heads"] = 3.0 },
			`num_attention_heads 4 is not a multiple of num_key_value_heads 3`},
		{"llama_tiny", func(m map[string]any) { m["head_dim"] = 0.0 },
			`field "head_dim": expected a positive integer, got 0`},
		{"bert_tiny", func(m map[string]any) { m["max_position_embeddings"] = 0.0 },
			`field "max_position_embeddings": expected a positive integer, got 0`},
		{"bert_tiny", func(m map[string]any) { m["type_vocab_size"] = 0.0 },
			`field "type_vocab_size": expected a positive integer, got 0`},
		{"bert_tiny", func(m map[string]any) { m["vocab_size"] = 0.0 },
			`field "vocab_size": expected a positive integer, got 0`},
		{"bert_tiny", func(m map[string]any) { m["pad_token_id"] = 0.5 },
			`field "pad_token_id": expected an integer, got 0.5`},
		{"bert_tiny", func(m map[string]any) { m["initializer_range"] = -0.02 },
			`field "initializer_range": expected a non-negative number, got -0.02`},
		{"bert_tiny", func(m map[string]any) { m["architectures"] = []any{7.0} },
			`field "architectures": expected a list of one architecture name`},
		{"qwen2_tiny", func(m map[string]any) { m["sliding_window"] = "64" },
			`field "sliding_window": expected a number, got string`},
		{"qwen2_tiny", func(m map[string]any) { m["sliding_window"] = 64.0; m["use_sliding_window"] = "yes" },
			`field "use_sliding_window": expected true or false, got yes`},
		{"llama_tiny", func(m map[string]any) { m["eos_token_id"] = []any{2.0, "3"} },
			`field "eos_token_id[1]": expected a number, got string`},
		{"bert_tiny", func(m map[string]any) { delete(m, "id2label"); m["num_labels"] = "1" },
			`field "num_labels": expected a number, got string`},
	}
	for _, c := range cases {
		m := fixtureConfig(t, c.fixture)
		c.edit(m)
		_, err := ParseHF("x/config.json", m)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "x/config.json: ") {
			t.Errorf("%s: error %v, want x/config.json: ...%s", c.fixture, err, c.want)
		}
	}
}

// The fixtures and the values HF writes for plain models still load.
func TestParseHFAccepts(t *testing.T) {
	for _, c := range []struct {
		fixture string
		edit    func(m map[string]any)
		theta   float64
	}{
		{"llama_tiny", func(m map[string]any) {}, 10000},
		{"llama_tiny", func(m map[string]any) { m["partial_rotary_factor"] = 1.0 }, 10000},
		{"llama_tiny", func(m map[string]any) {
			m["rope_parameters"] = map[string]any{"rope_theta": 5e5, "rope_type": "default", "partial_rotary_factor": 1.0}
		}, 5e5},
		{"llama_tiny", func(m map[string]any) { delete(m, "rope_parameters"); m["rope_theta"] = 1e6 }, 1e6},
		{"llama_tiny", func(m map[string]any) { m["rope_parameters"] = nil; m["rope_scaling"] = nil }, 10000},
		{"qwen2_tiny", func(m map[string]any) { m["sliding_window"] = 64.0; m["use_sliding_window"] = false }, 1e6},
		{"bert_tiny", func(m map[string]any) { m["hidden_dropout_prob"] = 0.1 }, 0},
	} {
		m := fixtureConfig(t, c.fixture)
		c.edit(m)
		cfg, err := ParseHF("x/config.json", m)
		if err != nil {
			t.Errorf("%s: %v", c.fixture, err)
			continue
		}
		if cfg.RopeTheta != c.theta || cfg.NormEps <= 0 {
			t.Errorf("%s: rope theta %v (want %v), norm eps %v", c.fixture, cfg.RopeTheta, c.theta, cfg.NormEps)
		}
	}
}

// YAML presets can spell what JSON cannot: infinities and NaN are refused too.
func TestParseHFNonFinite(t *testing.T) {
	for _, v := range []string{".nan", ".inf", "-.inf"} {
		var m map[string]any
		src := "architectures: [LlamaForSequenceClassification]\nvocab_size: 10\nhidden_size: 8\nnum_hidden_layers: 1\n" +
			"num_attention_heads: 2\nintermediate_size: 16\nrms_norm_eps: " + v + "\n"
		if err := yaml.Unmarshal([]byte(src), &m); err != nil {
			t.Fatal(err)
		}
		if x, ok := m["rms_norm_eps"].(float64); !ok || !math.IsNaN(x) && !math.IsInf(x, 0) {
			t.Fatalf("yaml gave %v for %s", m["rms_norm_eps"], v)
		}
		_, err := ParseHF("p.yaml", m)
		if err == nil || !strings.Contains(err.Error(), `p.yaml: field "rms_norm_eps": expected a finite number`) {
			t.Errorf("%s: %v", v, err)
		}
	}
}

// Llama 3 chat models list several end-of-turn ids in eos_token_id; they load, and an export
// writes the list back.
func TestEosTokenIDList(t *testing.T) {
	m := fixtureConfig(t, "llama_tiny")
	m["eos_token_id"] = []any{2.0, 7.0, 9.0}
	c, err := ParseHF("x/config.json", m)
	if err != nil {
		t.Fatal(err)
	}
	if c.EosTokenID == nil || *c.EosTokenID != 2 || len(c.EosTokenIDs) != 3 || c.EosTokenIDs[2] != 9 {
		t.Fatalf("eos %v %v", c.EosTokenID, c.EosTokenIDs)
	}
	data, _ := json.Marshal(c.HF())
	var back map[string]any
	json.Unmarshal(data, &back)
	c2, err := ParseHF("y/config.json", back)
	if err != nil || len(c2.EosTokenIDs) != 3 || c2.EosTokenIDs[1] != 7 || *c2.EosTokenID != 2 {
		t.Fatalf("round trip: %v, %v", c2, err)
	}
	m["eos_token_id"] = 5.0
	if c, err := ParseHF("x/config.json", m); err != nil || *c.EosTokenID != 5 || c.EosTokenIDs != nil {
		t.Fatalf("a single eos id: %+v, %v", c, err)
	}
}
