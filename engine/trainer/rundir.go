package trainer

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/armap/armap/cgo"
	"github.com/armap/armap/engine/model"
)

const metricsFile = "metrics.jsonl"

// runFiles are what a run writes into its output directory. Any of them there means the directory
// already holds a run (or a model): a new run in it would mix with the old one's files. Not
// tokenizer.json: a tokenizer trained into the folder first (tokenizer train --out DIR/...) is
// what the run reads, and the export's copy of it is the same file.
var runFiles = []string{metricsFile, stateFile, checkpointDir, model.ConfigFile, model.WeightsFile}

// CheckOut refuses to start a new run in a directory that already holds one: the new run's
// checkpoints would be pruned by the old run's newer ones, a later resume would continue the
// old run, and the old model would stay beside the new metrics. A missing or empty directory,
// or one holding none of a run's files, is fine; with resume any directory is (Run checks that
// it continues the same run).
func CheckOut(out string, resume bool) error {
	if resume {
		return nil
	}
	found := presentRunFiles(out)
	if len(found) == 0 {
		return nil
	}
	return fmt.Errorf("output directory %s already holds a run (%s): resume it with --resume, or start the new run in another --out (or remove those files first)",
		out, strings.Join(found, ", "))
}

func presentRunFiles(out string) []string {
	var found []string
	for _, f := range runFiles {
		if _, err := os.Lstat(filepath.Join(out, f)); err == nil {
			found = append(found, f)
		}
	}
	return found
}

// loraModules are the modules LoRA can target, in canonical order, with the names they are also
// known by (HuggingFace's Llama and BERT module names).
var loraModules = []struct {
	name    string
	bit     int
	aliases []string
	decoder bool // only decoders (Llama, Mistral, Qwen2) have it
}{
	{"q", cgo.LoRAQ, []string{"q_proj", "query"}, false},
	{"k", cgo.LoRAK, []string{"k_proj", "key"}, false},
	{"v", cgo.LoRAV, []string{"v_proj", "value"}, false},
	{"o", cgo.LoRAO, []string{"o_proj", "dense", "attention.output.dense"}, false},
	{"gate", cgo.LoRAGate, []string{"gate_proj"}, true},
	{"up", cgo.LoRAUp, []string{"up_proj", "intermediate", "intermediate.dense"}, false},
	{"down", cgo.LoRADown, []string{"down_proj", "output.dense"}, false},
}

// defaultLoRATargets is what the backend adapts when no target is named.
var defaultLoRATargets = []string{"q", "v"}

func loraModule(name string) int {
	n := strings.ToLower(strings.TrimSpace(name))
	for i, m := range loraModules {
		if n == m.name || slices.Contains(m.aliases, n) {
			return i
		}
	}
	return -1
}

// canonicalTargets are the targets by their short names, in canonical order, once each; the
// backend's default when none is named.
func canonicalTargets(names []string) ([]string, error) {
	if len(names) == 0 {
		return slices.Clone(defaultLoRATargets), nil
	}
	seen := make([]bool, len(loraModules))
	for _, n := range names {
		i := loraModule(n)
		if i < 0 {
			all := make([]string, len(loraModules))
			for j, m := range loraModules {
				all[j] = m.name
			}
			return nil, fmt.Errorf("train.lora.targets: unknown module %q (%s)", n, strings.Join(all, ", "))
		}
		seen[i] = true
	}
	var out []string
	for i, m := range loraModules {
		if seen[i] {
			out = append(out, m.name)
		}
	}
	return out, nil
}

// TargetBits parses the targets (short names such as q or gate, or HuggingFace module names such
// as q_proj) into the backend's bit set, refusing those the architecture does not have: a target
// that matches no module would leave the run training the head alone.
func (l LoRA) TargetBits(mc *model.Config) (int, error) {
	names, err := canonicalTargets(l.Targets)
	if err != nil {
		return 0, err
	}
	decoder := mc.Family() == cgo.Decoder
	var has, missing []string
	for _, m := range loraModules {
		if !m.decoder || decoder {
			has = append(has, m.name)
		}
	}
	bits := 0
	for _, n := range names {
		m := loraModules[loraModule(n)]
		if m.decoder && !decoder {
			missing = append(missing, n)
		}
		bits |= m.bit
	}
	if len(missing) > 0 {
		return 0, fmt.Errorf("train.lora.targets: %s has no %s module (its modules: %s)", mc.Architecture,
			strings.Join(missing, ", "), strings.Join(has, ", "))
	}
	return bits, nil
}

// identity is the recipe as far as it decides the run, in one spelling: steps and epochs are
// compared as the total steps they give, warmup as the warmup steps, and LoRA targets by their
// canonical names (order and aliases do not matter; without LoRA they do not matter at all).
func (c Config) identity() Config {
	c.Steps, c.Epochs, c.WarmupSteps, c.WarmupRatio = 0, 0, 0, 0
	if c.LoRA.Rank <= 0 {
		c.LoRA = LoRA{}
	} else if t, err := canonicalTargets(c.LoRA.Targets); err == nil {
		c.LoRA.Targets = t
	}
	return c
}

// runDiffs lists how the run recorded in st (with dir's config.json) differs from the one being
// started (want, mc); none when it is the same run. Each names what changed with its old and new value.
func runDiffs(dir string, st, want State, mc *model.Config) ([]string, error) {
	var diffs []string
	if st.Data != want.Data {
		diffs = append(diffs, fmt.Sprintf("training data (fingerprint %s -> %s)", st.Data, want.Data))
	}
	if st.Seed != want.Seed {
		diffs = append(diffs, fmt.Sprintf("seed %d -> %d", st.Seed, want.Seed))
	}
	if st.TotalSteps != want.TotalSteps {
		diffs = append(diffs, fmt.Sprintf("total steps %d -> %d (train.steps/train.epochs)", st.TotalSteps, want.TotalSteps))
	}
	if st.WarmupSteps != want.WarmupSteps {
		diffs = append(diffs, fmt.Sprintf("warmup steps %d -> %d (train.warmup_steps/train.warmup_ratio)", st.WarmupSteps, want.WarmupSteps))
	}
	if d := jsonDiffs(st.Recipe.identity(), want.Recipe.identity()); len(d) > 0 {
		diffs = append(diffs, "recipe: "+strings.Join(d, ", "))
	}
	if mc != nil {
		data, err := os.ReadFile(filepath.Join(dir, model.ConfigFile))
		if err != nil {
			return nil, err
		}
		var old map[string]any
		if err := json.Unmarshal(data, &old); err != nil {
			return nil, fmt.Errorf("%s: %w", model.ConfigFile, err)
		}
		if d := jsonDiffs(old, mc.HF()); len(d) > 0 {
			// Another architecture differs in most keys: the first few say enough.
			const show = 6
			if len(d) > show {
				d = append(d[:show], fmt.Sprintf("and %d more", len(d)-show))
			}
			diffs = append(diffs, "model ("+model.ConfigFile+"): "+strings.Join(d, ", "))
		}
	}
	return diffs, nil
}

// jsonDiffs compares two values as JSON objects, key by key (nested objects by dotted keys):
// "key old -> new" for each key that differs, sorted.
func jsonDiffs(a, b any) []string {
	fa, fb := map[string]any{}, map[string]any{}
	flatten("", asJSON(a), fa)
	flatten("", asJSON(b), fb)
	keys := map[string]bool{}
	for k := range fa {
		keys[k] = true
	}
	for k := range fb {
		keys[k] = true
	}
	var out []string
	for k := range keys {
		va, oka := fa[k]
		vb, okb := fb[k]
		if oka == okb && reflect.DeepEqual(va, vb) {
			continue
		}
		out = append(out, fmt.Sprintf("%s %s -> %s", k, showJSON(va, oka), showJSON(vb, okb)))
	}
	sort.Strings(out)
	return out
}

// asJSON round-trips v through JSON so that both sides of a comparison have the same types.
func asJSON(v any) any {
	data, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var out any
	if json.Unmarshal(data, &out) != nil {
		return nil
	}
	return out
}

func flatten(prefix string, v any, into map[string]any) {
	m, ok := v.(map[string]any)
	if !ok || (len(m) == 0 && prefix != "") {
		into[prefix] = v
		return
	}
	for k, x := range m {
		if prefix != "" {
			k = prefix + "." + k
		}
		flatten(k, x, into)
	}
}

func showJSON(v any, ok bool) string {
	if !ok {
		return "(absent)"
	}
	if f, isNum := v.(float64); isNum {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	data, _ := json.Marshal(v)
	return string(data)
}
