package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/armap/armap/engine/eval"
	"github.com/armap/armap/engine/model"
	"github.com/armap/armap/engine/scorer"
	"github.com/armap/armap/pipeline/dataset"
	"github.com/armap/armap/pipeline/env/game24"
	"github.com/armap/armap/pipeline/render"
)

func runArmap(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(io.Discard)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

// Two envs evaluated into one directory with the oracle: both end up in results.json.
func TestEvalCommandMergesEnvs(t *testing.T) {
	out := t.TempDir()
	conf := filepath.Join(t.TempDir(), "armap.yaml")
	// Config-file settings reach the planners (here: fewer MCTS rollouts).
	os.WriteFile(conf, []byte("eval:\n  planner:\n    mcts:\n      rollouts: 4\n"), 0o644)
	md, err := runArmap(t, "eval", "--env", "game24", "--model", "oracle", "--tasks", "900-902", "--n", "4",
		"--methods", "sampling,best-of-n,mcts", "--out", out, "--config", conf)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md, "| best-of-n |") {
		t.Errorf("stdout lacks the table:\n%s", md)
	}
	if _, err := runArmap(t, "eval", "--env", "shop", "--model", "oracle", "--tasks", "0-1,5", "--n", "3",
		"--methods", "greedy,reflexion", "--out", out, "--target-price", "0.01"); err != nil {
		t.Fatal(err)
	}
	res, err := eval.LoadResults(filepath.Join(out, eval.ResultsJSON))
	if err != nil {
		t.Fatal(err)
	}
	g, s := res.Envs["game24"], res.Envs["shop"]
	if g == nil || s == nil {
		t.Fatalf("envs in results.json: %v", res.Envs)
	}
	if g.Tasks != 3 || s.Tasks != 3 || g.Planner.N != 4 || g.Planner.MCTS.Rollouts != 4 || g.Planner.Seed != 42 {
		t.Errorf("game24 %+v, shop tasks %d", g, s.Tasks)
	}
	if r := g.Methods["best-of-n"]; r.RMCalls != 12 || r.Tasks != 3 {
		t.Errorf("best-of-n: %+v", r)
	}
	if s.Target == nil || s.Target.Price != 0.01 || s.Methods["greedy"].AvgPrice == nil {
		t.Errorf("shop target %+v, greedy %+v", s.Target, s.Methods["greedy"])
	}
	for _, f := range []string{eval.ResultsMD, eval.SuccessPNG, "tasks_game24.jsonl", "tasks_shop.jsonl"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestEvalCommandErrors(t *testing.T) {
	out := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--env", "game24", "--methods", "mcts", "--tasks", "900"}, "--model"},
		{[]string{"--env", "game24", "--model", "oracle", "--tasks", "900-2000"}, "out of range"},
		{[]string{"--env", "game24", "--model", "oracle", "--tasks", "dev"}, "dev"},
		{[]string{"--env", "chess", "--model", "oracle"}, "chess"},
		{[]string{"--env", "game24", "--model", "oracle", "--tasks", "900", "--policy", "wizard"}, "wizard"},
		{[]string{"--env", "game24", "--model", "tiny", "--tasks", "900"}, "trained model directory"},
		{[]string{"--env", "game24", "--model", "oracle", "--tasks", "900", "--methods", "greedy,bfs"}, "bfs"},
		{[]string{"--env", "game24", "--model", "oracle", "--tasks", "900", "--workers", "-3"}, "eval.workers"},
		{[]string{"--env", "game24", "--model", "oracle", "--tasks", "900", "--target-price", "0.1"}, "only shop"},
		{[]string{"--env", "game24", "--model", "oracle", "--tasks", "900", "--train-metrics", "/nonexistent/metrics.jsonl"}, "train metrics"},
	} {
		_, err := runArmap(t, append([]string{"eval", "--out", out}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one with %q", tc.args, err, tc.want)
		}
	}
	if _, err := runArmap(t, "eval", "--env", "game24", "--model", "oracle"); err == nil || !strings.Contains(err.Error(), "--out") {
		t.Errorf("no --out: %v", err)
	}
	// Without a model, an unknown method is named as such, without the hint about models.
	if _, err := runArmap(t, "eval", "--out", out, "--env", "game24", "--methods", "greedy,foo", "--tasks", "900"); err == nil ||
		!strings.Contains(err.Error(), `"foo"`) || strings.Contains(err.Error(), "--model") {
		t.Errorf("unknown method without a model: %v", err)
	}
	// An --out that cannot take the results, or holds results that cannot be merged, is refused
	// before anything is planned.
	file := filepath.Join(out, "a-file")
	bad := filepath.Join(out, "bad")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(bad, "results.json"), 0o755); err != nil {
		t.Fatal(err)
	}
	corrupt := filepath.Join(out, "corrupt")
	if err := os.MkdirAll(corrupt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(corrupt, "results.json"), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	for dir, want := range map[string]string{file: "--out", bad: "is a folder", corrupt: "cannot merge"} {
		_, err := runArmap(t, "eval", "--out", dir, "--env", "game24", "--model", "oracle", "--tasks", "900-999")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--out %s: %v, want an error with %q", dir, err, want)
		}
	}
	// A tasks file's name taken by a folder is found before planning too.
	taken := filepath.Join(out, "taken")
	if err := os.MkdirAll(filepath.Join(taken, "tasks_game24.jsonl"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := runArmap(t, "eval", "--out", taken, "--env", "game24", "--model", "oracle", "--tasks", "900"); err == nil ||
		!strings.Contains(err.Error(), "tasks_game24.jsonl is a folder") {
		t.Errorf("tasks file taken by a folder: %v", err)
	}
	if _, err := os.Stat(filepath.Join(taken, "results.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("results.json written although the tasks file could not be (%v)", err)
	}
	// A refused invocation leaves no output folder behind, whichever check refuses it.
	for _, extra := range [][]string{{"--methods", "bfs"}, {"--n", "-1"}} {
		fresh := filepath.Join(t.TempDir(), "fresh")
		args := append([]string{"eval", "--out", fresh, "--env", "game24", "--model", "oracle", "--tasks", "900"}, extra...)
		if _, err := runArmap(t, args...); err == nil {
			t.Errorf("%v was accepted", extra)
		}
		if _, err := os.Stat(fresh); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%v: a refused eval left %s behind (%v)", extra, fresh, err)
		}
	}
	missing := filepath.Join(out, "nothing-here.json")
	_, err := runArmap(t, "eval", "check", "--results", missing)
	if err == nil || !strings.Contains(err.Error(), missing) || strings.Contains(err.Error(), "no environments") {
		t.Errorf("eval check on a missing file: %v", err)
	}
	// A check that cannot run exits 2, one that ran and fell short 1.
	if ec, ok := errors.AsType[*exitCode](err); !ok || ec.code != 2 {
		t.Errorf("eval check on a missing file: exit code %+v, want 2", ec)
	}
	short := filepath.Join(out, "short.json")
	os.WriteFile(short, []byte(`{"envs": {"game24": {"methods": {"sampling": {"success_rate": 0.2}, "mcts": {"success_rate": 0.25}}}}}`), 0o644)
	_, err = runArmap(t, "eval", "check", "--results", short, "--methods", "mcts")
	if _, ok := errors.AsType[*exitCode](err); err == nil || ok {
		t.Errorf("eval check that falls short: %v, want a plain error (exit 1)", err)
	}
	if _, err := runArmap(t, "eval", "check", "--results", short, "--methods", ""); err == nil {
		t.Error("eval check of no methods passed")
	}
}

// The trained-model path: a model directory behind the scorer. With --n 1, Best-of-N's answer is
// its one run, and the score reported for it must be the model's offline score of that
// trajectory.
func TestEvalCommandWithModelDir(t *testing.T) {
	dir, loaded, tok := serveModelDir(t)
	out := t.TempDir()
	if _, err := runArmap(t, "eval", "--env", "game24", "--model", dir, "--tasks", "900-901", "--n", "1",
		"--methods", "greedy,best-of-n,beam", "--out", out, "--threads", "1"); err != nil {
		t.Fatal(err)
	}
	per, err := dataset.ReadJSONLFile[eval.TaskResult](filepath.Join(out, "tasks_game24.jsonl"), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := model.ReadDirConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	sc := scorer.New(loaded, &scorer.Inputs{Enc: &render.Encoder{Tok: tok, MaxLen: cfg.MaxPositions}, Vocab: cfg.VocabSize, MaxLen: cfg.MaxPositions}, scorer.Options{})
	defer sc.Close()
	e, _ := game24.New(game24.Options{})
	checked := 0
	for _, tr := range per {
		if tr.Method != "best-of-n" {
			continue
		}
		if tr.Score == nil || tr.RMCalls != 1 {
			t.Fatalf("task %d: %+v", tr.Task, tr)
		}
		obs, _ := e.Reset(context.Background(), tr.Task)
		var steps []dataset.Step
		for _, a := range tr.Actions {
			res, err := e.Step(context.Background(), a)
			if err != nil {
				t.Fatal(err)
			}
			steps = append(steps, dataset.Step{Action: a, Observation: res.Observation})
		}
		want, err := sc.Score(context.Background(), obs.Instruction, steps)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(*tr.Score-want) > 1e-5*max(1, math.Abs(want)) {
			t.Errorf("task %d: eval scored %v, offline %v", tr.Task, *tr.Score, want)
		}
		checked++
	}
	if checked != 2 {
		t.Errorf("%d best-of-n tasks checked", checked)
	}
}

// results.json records the planner seed; with it fixed, the top-level seed must change nothing,
// the random reward model included (it used to take the top-level seed).
func TestEvalPlannerSeedDecides(t *testing.T) {
	t.Setenv("ARMAP_EVAL_PLANNER_SEED", "5")
	var lines []string
	for _, seed := range []string{"1", "2"} {
		out := t.TempDir()
		if _, err := runArmap(t, "eval", "--env", "game24", "--model", "random", "--tasks", "900-904", "--n", "4",
			"--methods", "best-of-n", "--out", out, "--seed", seed); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(out, "tasks_game24.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var tr eval.TaskResult
			if err := json.Unmarshal([]byte(l), &tr); err != nil {
				t.Fatal(err)
			}
			s = append(s, fmt.Sprint(tr.Task, tr.Actions, *tr.Score))
		}
		lines = append(lines, strings.Join(s, "\n"))
	}
	if lines[0] != lines[1] {
		t.Errorf("planner seed 5 with --seed 1 and 2 planned differently:\n%s\n---\n%s", lines[0], lines[1])
	}
}

// results.json and results.md say which generated world was evaluated.
func TestEvalRecordsEnvSeed(t *testing.T) {
	out := t.TempDir()
	md, err := runArmap(t, "eval", "--env", "shop", "--model", "oracle", "--tasks", "0", "--n", "2",
		"--methods", "greedy", "--env-seed", "7", "--out", out, "--threads", "1")
	if err != nil {
		t.Fatal(err)
	}
	res, err := eval.LoadResults(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if er := res.Envs["shop"]; er == nil || er.EnvSeed != 7 || er.EnvURL != "" {
		t.Errorf("results.json shop entry %+v, want env_seed 7 and no env_url", er)
	}
	if !strings.Contains(md, "env seed 7") {
		t.Errorf("results.md does not name the env seed:\n%s", md)
	}
}
