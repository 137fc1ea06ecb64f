package trainer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/armap/armap/cgo"
	"github.com/armap/armap/engine/atomicfile"
	"github.com/armap/armap/engine/model"
	"github.com/armap/armap/engine/safetensors"
)

// State is trainer_state.json: where a run is and what it must match to be resumed.
type State struct {
	Step          int    `json:"step"`
	TotalSteps    int    `json:"total_steps"`
	WarmupSteps   int    `json:"warmup_steps"`
	Epoch         int    `json:"epoch"`
	EpochPosition int    `json:"epoch_position"` // pairs of the epoch's order consumed
	Seed          uint64 `json:"seed"`
	Data          string `json:"data_fingerprint"`
	Recipe        Config `json:"recipe"`
	RNG           string `json:"rng_state,omitempty"` // base64 of the dropout generator state
}

const (
	checkpointDir = "checkpoints"
	optimizerFile = "optimizer.safetensors"
	stateFile     = "trainer_state.json"
)

func writeFile(path string, data []byte) error {
	return atomicfile.WriteFile(path, append(data, '\n'), 0o644)
}

// saveCheckpoint writes out/checkpoints/step-NNNNNNNN as a whole: into a temporary folder first,
// renamed into place only when every file is complete and synced, so a crash never leaves a
// checkpoint that looks complete but is not. Older checkpoints beyond keep are removed after.
func saveCheckpoint(ctx context.Context, out string, m *cgo.Model, mc *model.Config, tr *cgo.Trainer, st State, keep int) (string, error) {
	root := filepath.Join(out, checkpointDir)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	final := filepath.Join(root, fmt.Sprintf("step-%08d", st.Step))
	tmp, err := os.MkdirTemp(root, ".tmp-step-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if err := model.Save(ctx, m, mc, tmp); err != nil {
		return "", err
	}
	if m.Options().LoRARank > 0 {
		if err := model.SaveAdapters(ctx, m, filepath.Join(tmp, model.AdapterFile)); err != nil {
			return "", err
		}
	}
	if err := saveOptimizer(ctx, tr, filepath.Join(tmp, optimizerFile)); err != nil {
		return "", err
	}
	rng, err := m.RNGState()
	if err != nil {
		return "", err
	}
	st.RNG = base64.StdEncoding.EncodeToString(rng)
	data, _ := json.MarshalIndent(st, "", "  ")
	if err := writeFile(filepath.Join(tmp, stateFile), data); err != nil {
		return "", err
	}
	os.RemoveAll(final) // a checkpoint of the same step from an earlier, diverged attempt
	if err := os.Rename(tmp, final); err != nil {
		return "", err
	}
	if err := atomicfile.SyncDir(root); err != nil {
		return "", err
	}
	if keep > 0 {
		all, _ := listCheckpoints(out)
		for len(all) > keep {
			os.RemoveAll(all[0])
			all = all[1:]
		}
	}
	return final, nil
}

func saveOptimizer(ctx context.Context, tr *cgo.Trainer, path string) error {
	infos, err := tr.Tensors()
	if err != nil {
		return err
	}
	step, err := tr.StepCount()
	if err != nil {
		return err
	}
	specs := make([]safetensors.Spec, len(infos))
	for i, ti := range infos {
		shape := make([]int, len(ti.Shape))
		for j, s := range ti.Shape {
			shape[j] = int(s)
		}
		specs[i] = safetensors.Spec{Name: ti.Name, DType: safetensors.F32, Shape: shape}
	}
	var buf []float32
	return safetensors.WriteStream(ctx, path, specs, map[string]string{"step": strconv.FormatInt(step, 10)},
		func(s safetensors.Spec, w io.Writer) error {
			n, _ := safetensors.NumElements(s.Shape)
			if int64(cap(buf)) < n {
				buf = make([]float32, n)
			}
			buf = buf[:n]
			if err := tr.ReadTensor(s.Name, buf); err != nil {
				return err
			}
			return safetensors.WriteFloat32(w, safetensors.F32, buf)
		})
}

func listCheckpoints(out string) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(out, checkpointDir))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	var all []string
	for _, e := range ents {
		if e.IsDir() && strings.HasPrefix(e.Name(), "step-") {
			all = append(all, filepath.Join(out, checkpointDir, e.Name()))
		}
	}
	sort.Strings(all) // zero-padded step numbers sort numerically
	return all, nil
}

// LatestCheckpoint returns the newest complete checkpoint of a run directory ("" when none).
func LatestCheckpoint(out string) (string, error) {
	all, err := listCheckpoints(out)
	if err != nil || len(all) == 0 {
		return "", err
	}
	return all[len(all)-1], nil
}

// readState reads a trainer_state.json (a checkpoint's, or a finished run's with its summary).
func readState(path string) (State, *Summary, error) {
	var v struct {
		State
		Summary *Summary `json:"summary"`
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return v.State, nil, err
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return v.State, nil, fmt.Errorf("%s: %w", path, err)
	}
	return v.State, v.Summary, nil
}

// differentRun is a checkpoint or finished run that is not the run being resumed.
type differentRun struct {
	what  string // which run: "the checkpoint DIR is from a different run"
	diffs []string
}

func (e *differentRun) Error() string {
	return fmt.Sprintf("%s; changed: %s (resume with the run's own data, seed, model and recipe, or train into another --out)",
		e.what, strings.Join(e.diffs, "; "))
}

// damagedCheckpoint is a checkpoint whose own files are wrong: missing, torn, not parseable, or
// a step that disagrees with its name. Removing it is the way past it. Other errors (the backend
// refusing a tensor, no permission to read) say nothing against the checkpoint, which may be the
// newest good state of the run.
type damagedCheckpoint struct{ err error }

func (e *damagedCheckpoint) Error() string { return e.err.Error() }
func (e *damagedCheckpoint) Unwrap() error { return e.err }

// damaged marks err as the checkpoint's fault, unless it is a permission error.
func damaged(err error) error {
	if err == nil || errors.Is(err, fs.ErrPermission) {
		return err
	}
	return &damagedCheckpoint{err}
}

// restore loads a checkpoint into the model and trainer after checking that it belongs to the
// same run: same data, seed, schedule, recipe and model configuration, or resuming would not
// continue the same run (*differentRun). A *damagedCheckpoint error blames the checkpoint's files.
func restore(dir string, m *cgo.Model, tr *cgo.Trainer, want State, mc *model.Config) (State, error) {
	st, _, err := readState(filepath.Join(dir, stateFile))
	if err != nil {
		return st, damaged(err)
	}
	diffs, err := runDiffs(dir, st, want, mc)
	if err != nil {
		return st, damaged(err)
	}
	if len(diffs) > 0 {
		return st, &differentRun{what: "the checkpoint " + dir + " is from a different run", diffs: diffs}
	}
	if n, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(dir), "step-")); err != nil || n != st.Step {
		return st, damaged(fmt.Errorf("%s: step %d, but the checkpoint is %s", stateFile, st.Step, filepath.Base(dir)))
	}
	if st.Step < 1 || st.Step > want.TotalSteps {
		return st, damaged(fmt.Errorf("%s: step %d is outside the run's steps 1-%d", stateFile, st.Step, want.TotalSteps))
	}
	set, err := safetensors.Open(filepath.Join(dir, model.WeightsFile))
	if err != nil {
		return st, damaged(err)
	}
	defer set.Close()
	for _, n := range set.Names() {
		if err := m.WriteTensorRaw(n, cgo.F32, set.Raw(n)); err != nil {
			return st, err
		}
	}
	if m.Options().LoRARank > 0 {
		// The file is the checkpoint's (missing or torn: damaged); loading it is the backend's.
		ad := filepath.Join(dir, model.AdapterFile)
		set, err := safetensors.Open(ad)
		if err != nil {
			return st, damaged(err)
		}
		set.Close()
		if err := model.LoadAdapters(m, ad); err != nil {
			return st, err
		}
	}
	opt, err := safetensors.Open(filepath.Join(dir, optimizerFile))
	if err != nil {
		return st, damaged(err)
	}
	defer opt.Close()
	for _, n := range opt.Names() {
		v, err := opt.Float32(n)
		if err != nil {
			return st, damaged(err)
		}
		if err := tr.WriteTensor(n, v); err != nil {
			return st, err
		}
	}
	if err := tr.SetStepCount(int64(st.Step)); err != nil {
		return st, err
	}
	if st.RNG != "" {
		rng, err := base64.StdEncoding.DecodeString(st.RNG)
		if err != nil {
			return st, damaged(fmt.Errorf("%s: rng_state: %w", stateFile, err))
		}
		if err := m.SetRNGState(rng); err != nil {
			return st, err
		}
	}
	return st, nil
}

// removeTempCheckpoints deletes checkpoints a crash left half-written (their temporary folders).
func removeTempCheckpoints(out string) error {
	tmps, _ := filepath.Glob(filepath.Join(out, checkpointDir, ".tmp-step-*"))
	for _, t := range tmps {
		if err := os.RemoveAll(t); err != nil {
			return fmt.Errorf("remove an unfinished checkpoint: %w", err)
		}
	}
	return nil
}

// metricsWriter appends JSON lines to metrics.jsonl. On resume, lines beyond the resumed step
// (written by the interrupted run after its last checkpoint) are dropped so the file tells one
// consistent history.
type metricsWriter struct {
	f *os.File
	w *bufio.Writer
}

func openMetrics(path string, resumeStep int) (*metricsWriter, error) {
	var keep []byte
	if resumeStep > 0 {
		if data, err := os.ReadFile(path); err == nil {
			for _, line := range bytes.SplitAfter(data, []byte("\n")) {
				var v struct {
					Step int `json:"step"`
				}
				if len(bytes.TrimSpace(line)) == 0 || json.Unmarshal(line, &v) != nil || v.Step > resumeStep {
					continue
				}
				keep = append(keep, line...)
			}
		}
	}
	if err := atomicfile.WriteFile(path, keep, 0o644); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &metricsWriter{f: f, w: bufio.NewWriter(f)}, nil
}

func (m *metricsWriter) Write(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	m.w.Write(data)
	m.w.WriteByte('\n')
	return m.w.Flush()
}

func (m *metricsWriter) Close() error {
	m.w.Flush()
	return m.f.Close()
}
