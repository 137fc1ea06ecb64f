package eval

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/armap/armap/engine/atomicfile"
	"github.com/armap/armap/engine/planner"
)

// Files written into an output directory.
const (
	ResultsJSON  = "results.json"
	ResultsMD    = "results.md"
	SuccessPNG   = "success.png"
	TrainingPNG  = "training.png"
	lockFile     = ".results.lock"
	tasksPattern = "tasks_%s.jsonl"
)

// Results is results.json: every evaluated environment.
type Results struct {
	Envs map[string]*EnvResult `json:"envs"`
}

// LoadResults reads a results.json; a missing file is an empty result.
func LoadResults(path string) (*Results, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Results{Envs: map[string]*EnvResult{}}, nil
	}
	if err != nil {
		return nil, err
	}
	var r Results
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// A merge rewrites the file: whatever followed the object would be dropped without a word.
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%s: data after the results object (offset %d)", path, dec.InputOffset())
	}
	if r.Envs == nil {
		r.Envs = map[string]*EnvResult{}
	}
	for name, e := range r.Envs {
		if e == nil || e.Methods == nil {
			return nil, fmt.Errorf("%s: envs.%s: no methods", path, name)
		}
	}
	return &r, nil
}

// CheckOutputs reports, before an evaluation spends its time, why Write could not store envName's
// results in dir: an output name taken by a folder or a file in the way, or a results.json it
// could not merge with. It writes nothing.
func CheckOutputs(dir, envName string, out Output) error {
	names := []string{ResultsJSON, ResultsMD, SuccessPNG, fmt.Sprintf(tasksPattern, envName)}
	if out.TrainMetrics != "" {
		names = append(names, TrainingPNG)
	}
	for _, n := range names {
		if err := atomicfile.CheckTarget(filepath.Join(dir, n)); err != nil {
			return err
		}
	}
	if _, err := LoadResults(filepath.Join(dir, ResultsJSON)); err != nil {
		return fmt.Errorf("cannot merge with the results already there: %w", err)
	}
	if out.TrainMetrics != "" {
		if _, err := readTrainMetrics(out.TrainMetrics); err != nil {
			return fmt.Errorf("train metrics: %w", err)
		}
	}
	return nil
}

// Output says what Write writes besides results.json and results.md.
type Output struct {
	// TrainMetrics is a training run's metrics.jsonl; when set, training.png plots it.
	TrainMetrics string
}

// Write stores one environment's evaluation in dir: it is merged into results.json (other
// environments stay), its per-task lines go to tasks_<env>.jsonl, and results.md and the
// success plot are redrawn from the merged results. Concurrent writers to the same dir take
// turns (a lock file), so evaluating envs in parallel into one dir loses nothing.
func Write(dir, envName string, er *EnvResult, tasks []TaskResult, out Output) error {
	if envName == "" || strings.ContainsAny(envName, `/\`) {
		return fmt.Errorf("eval: bad env name %q", envName)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return err
	}
	defer unlock()
	path := filepath.Join(dir, ResultsJSON)
	res, err := LoadResults(path)
	if err != nil {
		return err
	}
	res.Envs[envName] = er
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return err
	}
	err = atomicfile.Write(filepath.Join(dir, fmt.Sprintf(tasksPattern, envName)), 0o644, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		for i := range tasks {
			if err := enc.Encode(&tasks[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	var md bytes.Buffer
	WriteMarkdown(&md, res)
	if err := atomicfile.WriteFile(filepath.Join(dir, ResultsMD), md.Bytes(), 0o644); err != nil {
		return err
	}
	if err := PlotSuccess(filepath.Join(dir, SuccessPNG), res); err != nil {
		return err
	}
	if out.TrainMetrics != "" {
		if err := PlotTraining(filepath.Join(dir, TrainingPNG), out.TrainMetrics); err != nil {
			return err
		}
	}
	return nil
}

// lockDir holds an exclusive lock on dir's lock file until the returned function runs.
func lockDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// MethodOrder lists an env's methods in the report's order: planner.Methods() first, then any
// others by name.
func MethodOrder(er *EnvResult) []string {
	var out []string
	for _, m := range planner.Methods() {
		if _, ok := er.Methods[m]; ok {
			out = append(out, m)
		}
	}
	for _, m := range slices.Sorted(maps.Keys(er.Methods)) {
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

// WriteMarkdown renders res as one table per environment.
func WriteMarkdown(w io.Writer, res *Results) {
	fmt.Fprintln(w, "# Evaluation results")
	for _, name := range slices.Sorted(maps.Keys(res.Envs)) {
		er := res.Envs[name]
		fmt.Fprintf(w, "\n## %s\n\n", name)
		fmt.Fprintf(w, "%d tasks", er.Tasks)
		if er.TaskSpec != "" {
			fmt.Fprintf(w, " (%s)", er.TaskSpec)
		}
		if er.EnvURL != "" {
			fmt.Fprintf(w, " from %s", er.EnvURL)
		}
		if er.EnvSeed != 0 {
			fmt.Fprintf(w, ", env seed %d", er.EnvSeed)
		}
		if er.Policy != "" {
			fmt.Fprintf(w, ", policy %s", er.Policy)
		}
		if er.Model != "" {
			fmt.Fprintf(w, ", reward model %s", er.Model)
		}
		fmt.Fprintf(w, ", seed %d, %d workers", er.Seed, er.Workers)
		if er.Target != nil {
			fmt.Fprintf(w, ", target: score - %g x steps - %g x price", er.Target.Steps, er.Target.Price)
		}
		fmt.Fprintf(w, ", %s.\n\n", er.Date)
		base, hasBase := er.Methods[planner.Sampling]
		fmt.Fprintln(w, "| method | success | vs sampling | avg env reward | RM calls / task | wall s / task | wall s (all) | avg steps | avg price |")
		fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
		for _, m := range MethodOrder(er) {
			r := er.Methods[m]
			delta := "-"
			if hasBase && m != planner.Sampling {
				delta = fmt.Sprintf("%+.1f", 100*(r.SuccessRate-base.SuccessRate))
			}
			price := "-"
			if r.AvgPrice != nil {
				price = fmt.Sprintf("%.2f", *r.AvgPrice)
			}
			fmt.Fprintf(w, "| %s | %.1f%% | %s | %.3f | %.1f | %.4f | %.2f | %.2f | %s |\n", m, 100*r.SuccessRate, delta,
				r.AvgEnvReward, r.RMCallsPerTask, r.WallSPerTask, r.WallS, r.AvgSteps, price)
		}
	}
	fmt.Fprintln(w, "\nSampling is the mean over its N runs per task; the other methods commit to one trajectory per task.")
	fmt.Fprintln(w, "\"vs sampling\" is in percentage points. Wall s / task is one episode's latency; wall s (all) is the")
	fmt.Fprintln(w, "elapsed time of the method over all tasks with the workers in parallel.")
}
