package eval

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/armap/armap/engine/planner"
	"github.com/armap/armap/pipeline/agent/scripted"
	"github.com/armap/armap/pipeline/dataset"
	"github.com/armap/armap/pipeline/env"
	"github.com/armap/armap/pipeline/env/game24"
	"github.com/armap/armap/pipeline/env/shop"
)

var shopFactory = sync.OnceValues(func() (env.Factory, error) { return shop.NewFactory(shop.Config{}) })

func spec(t *testing.T, envName string, tasks []int, workers int) Spec {
	t.Helper()
	var f env.Factory
	switch envName {
	case "game24":
		f = game24.NewFactory(game24.Options{})
	case "shop":
		var err error
		if f, err = shopFactory(); err != nil {
			t.Fatal(err)
		}
	}
	pol, err := scripted.New(envName, 0.35)
	if err != nil {
		t.Fatal(err)
	}
	o, err := planner.NewOracle(context.Background(), f, tasks, planner.OracleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	cfg := DefaultConfig()
	cfg.Workers = workers
	cfg.Planner.N = 4
	return Spec{Env: envName, Factory: f, Policy: pol, RM: o, Tasks: tasks, Methods: planner.Methods(), Config: cfg,
		Model: "oracle", PolicyName: pol.Name()}
}

func TestRunAggregatesTasks(t *testing.T) {
	tasks := []int{900, 901, 902, 903, 904}
	one, perTask1, err := Run(context.Background(), spec(t, "game24", tasks, 1))
	if err != nil {
		t.Fatal(err)
	}
	three, perTask3, err := Run(context.Background(), spec(t, "game24", tasks, 3))
	if err != nil {
		t.Fatal(err)
	}
	if len(perTask1) != len(tasks)*len(planner.Methods()) {
		t.Fatalf("%d per-task lines, want %d", len(perTask1), len(tasks)*len(planner.Methods()))
	}
	// Workers change the schedule, not what is planned.
	strip := func(ts []TaskResult) []TaskResult {
		out := slices.Clone(ts)
		for i := range out {
			out[i].WallS = 0
		}
		return out
	}
	if !reflect.DeepEqual(strip(perTask1), strip(perTask3)) {
		t.Error("1 and 3 workers planned differently")
	}
	if three.Workers != 3 || one.Workers != 1 {
		t.Errorf("workers recorded as %d and %d", one.Workers, three.Workers)
	}
	for i, m := range planner.Methods() {
		r := one.Methods[m]
		var succ, calls float64
		for j, tr := range perTask1[i*len(tasks) : (i+1)*len(tasks)] {
			if tr.Method != m || tr.Task != tasks[j] {
				t.Fatalf("per-task line %d is %s/%d, want %s/%d", i*len(tasks)+j, tr.Method, tr.Task, m, tasks[j])
			}
			succ += tr.Success
			calls += float64(tr.RMCalls)
			if (tr.Score != nil) != planner.UsesRM(m) {
				t.Errorf("%s task %d: score %v", m, tr.Task, tr.Score)
			}
		}
		if r.Tasks != len(tasks) || !near(r.SuccessRate, succ/float64(len(tasks))) || r.RMCalls != int64(calls) || !near(r.RMCallsPerTask, calls/float64(len(tasks))) {
			t.Errorf("%s: summary %+v does not match its tasks (success %v, calls %v)", m, r, succ, calls)
		}
		if r.WallS <= 0 || r.WallSPerTask <= 0 || r.AvgSteps <= 0 || r.AvgPrice != nil {
			t.Errorf("%s: summary %+v", m, r)
		}
	}
	if one.Methods[planner.BestOfN].SuccessRate < one.Methods[planner.Sampling].SuccessRate {
		t.Errorf("best-of-n with the oracle below sampling: %+v", one.Methods)
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

func TestShopReportsPrices(t *testing.T) {
	s := spec(t, "shop", []int{0, 1, 2}, 2)
	s.Methods = []string{planner.Greedy, planner.BestOfN}
	er, per, err := Run(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range s.Methods {
		if er.Methods[m].AvgPrice == nil {
			t.Errorf("%s: no average price", m)
		}
	}
	priced := 0
	for _, tr := range per {
		if tr.Price != nil {
			priced++
			if *tr.Price <= 0 {
				t.Errorf("%s task %d: price %v", tr.Method, tr.Task, *tr.Price)
			}
		}
	}
	if priced == 0 {
		t.Error("no purchase priced")
	}
}

// errRM fails on its n-th call.
type errRM struct {
	planner.RewardModel
	mu sync.Mutex
	n  int
}

func (e *errRM) Score(ctx context.Context, instr string, steps []dataset.Step) (float64, error) {
	e.mu.Lock()
	e.n--
	n := e.n
	e.mu.Unlock()
	if n == 0 {
		return 0, errors.New("model on fire")
	}
	return e.RewardModel.Score(ctx, instr, steps)
}

func TestRunErrors(t *testing.T) {
	s := spec(t, "game24", []int{900, 901, 902, 903}, 2)
	s.RM = &errRM{RewardModel: s.RM, n: 7}
	s.Methods = []string{planner.BestOfN}
	if _, _, err := Run(context.Background(), s); err == nil || !strings.Contains(err.Error(), "model on fire") || !strings.Contains(err.Error(), "best-of-n") {
		t.Errorf("RM failure: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s = spec(t, "game24", []int{900, 901}, 2)
	if _, _, err := Run(ctx, s); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	s.Methods = []string{"greedy", "best-of-m"}
	if _, _, err := Run(context.Background(), s); err == nil || !strings.Contains(err.Error(), "best-of-m") {
		t.Errorf("unknown method: %v", err)
	}
	s.Methods, s.RM = []string{"mcts"}, nil
	if _, _, err := Run(context.Background(), s); err == nil || !strings.Contains(err.Error(), "reward model") {
		t.Errorf("mcts without RM: %v", err)
	}
	s.Tasks = nil
	if _, _, err := Run(context.Background(), s); err == nil {
		t.Error("no tasks accepted")
	}
}

func TestParseTasks(t *testing.T) {
	g, _ := game24.New(game24.Options{})
	test, _ := g.Split("test")
	for _, tc := range []struct {
		spec string
		want []int
		err  string
	}{
		{"900-902", []int{900, 901, 902}, ""},
		{"0-2, 20", []int{0, 1, 2, 20}, ""},
		{"7", []int{7}, ""},
		{"test", test, ""},
		{"5-3", nil, "bad part"},
		{"1-x", nil, "bad part"},
		{"1,,2", nil, "bad part"},
		{"1,1", nil, "twice"},
		{"0-1361", nil, ""},
		{"1362", nil, "out of range"},
		{"dev", nil, "dev"},
		{"-1", nil, "bad part"},
		{"+5", []int{5}, ""},
		{"", nil, "empty"},
	} {
		got, err := ParseTasks(tc.spec, g)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want one with %q", tc.spec, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.spec, err)
			continue
		}
		if tc.want != nil && !slices.Equal(got, tc.want) {
			t.Errorf("%q: %v, want %v", tc.spec, got, tc.want)
		}
		if tc.spec == "0-1361" && len(got) != 1362 {
			t.Errorf("%q: %d tasks", tc.spec, len(got))
		}
	}
	if len(test) != 100 || test[0] != 900 {
		t.Errorf("game24 test split %v...", test[:3])
	}
	// An env that does not know its task count (http) bounds the list by maxTasks; a range up
	// to the largest int used to overflow that check and loop until memory ran out.
	if got, err := ParseTasks("9223372036854775806-9223372036854775807", unsized{g}); err != nil || len(got) != 2 {
		t.Errorf("the last two ints as tasks: %v, %v", got, err)
	}
	for _, spec := range []string{"0-9223372036854775807", "5,0-999999"} {
		if _, err := ParseTasks(spec, unsized{g}); err == nil || !strings.Contains(err.Error(), "more than") {
			t.Errorf("%q on an env of unknown size: %v, want the task limit", spec, err)
		}
	}
	if got, err := ParseTasks("0-999999", unsized{g}); err != nil || len(got) != maxTasks {
		t.Errorf("a range of exactly %d tasks: %d, %v", maxTasks, len(got), err)
	}
}

// unsized is an env that cannot tell how many tasks it has.
type unsized struct{ env.Env }

func (unsized) NumTasks() int { return 0 }

func checkPNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil || cfg.Width < 200 || cfg.Height < 200 {
		t.Errorf("%s: %v %+v", path, err, cfg)
	}
}

func TestWriteMergesEnvs(t *testing.T) {
	dir := t.TempDir()
	if d := os.Getenv("ARMAP_EVAL_KEEP"); d != "" {
		dir = d // to look at the plots
	}
	metrics := filepath.Join(dir, "metrics.jsonl")
	var lines []string
	for s := 1; s <= 20; s++ {
		lines = append(lines, fmt.Sprintf(`{"type":"train","step":%d,"loss":%g,"accuracy":%g}`, s, 0.7/float64(s), 1-0.5/float64(s)))
		if s%5 == 0 {
			lines = append(lines, fmt.Sprintf(`{"type":"eval","step":%d,"loss":%g,"accuracy":%g,"pairs":10}`, s, 0.8/float64(s), 1-0.6/float64(s)))
		}
	}
	lines = append(lines, `{"type":"summary","steps":20}`)
	if err := os.WriteFile(metrics, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	g := spec(t, "game24", []int{900, 901}, 2)
	g.Methods = []string{planner.Sampling, planner.BestOfN}
	ger, gtasks, err := Run(context.Background(), g)
	if err != nil {
		t.Fatal(err)
	}
	s := spec(t, "shop", []int{0, 1}, 2)
	s.Methods = []string{planner.Sampling, planner.MCTS}
	ser, stasks, err := Run(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	// Two envs written at once into one dir: both must survive.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Add(2)
	go func() { defer wg.Done(); errs[0] = Write(dir, "game24", ger, gtasks, Output{TrainMetrics: metrics}) }()
	go func() { defer wg.Done(); errs[1] = Write(dir, "shop", ser, stasks, Output{}) }()
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	res, err := LoadResults(filepath.Join(dir, ResultsJSON))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Envs) != 2 || res.Envs["game24"].Methods[planner.BestOfN].Tasks != 2 || res.Envs["shop"].Methods[planner.MCTS].Tasks != 2 {
		t.Fatalf("merged results: %+v", res.Envs)
	}
	// The documented shape, read back without this package's types.
	b, _ := os.ReadFile(filepath.Join(dir, ResultsJSON))
	var shape struct {
		Envs map[string]struct {
			Methods map[string]map[string]any `json:"methods"`
		} `json:"envs"`
	}
	if err := json.Unmarshal(b, &shape); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"success_rate", "avg_env_reward", "rm_calls", "wall_s"} {
		if _, ok := shape.Envs["shop"].Methods["mcts"][key]; !ok {
			t.Errorf("results.json lacks envs.shop.methods.mcts.%s", key)
		}
	}
	// Re-running one env replaces it and keeps the other.
	g.Methods = []string{planner.Greedy}
	ger2, gtasks2, err := Run(context.Background(), g)
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(dir, "game24", ger2, gtasks2, Output{}); err != nil {
		t.Fatal(err)
	}
	res, _ = LoadResults(filepath.Join(dir, ResultsJSON))
	if _, ok := res.Envs["game24"].Methods[planner.BestOfN]; ok || len(res.Envs) != 2 {
		t.Errorf("after re-running game24: %+v", res.Envs)
	}
	md, _ := os.ReadFile(filepath.Join(dir, ResultsMD))
	for _, want := range []string{"## game24", "## shop", "| greedy |", "| mcts |", "vs sampling"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("results.md lacks %q", want)
		}
	}
	per, err := dataset.ReadJSONLFile[TaskResult](filepath.Join(dir, "tasks_shop.jsonl"), nil)
	if err != nil || len(per) != 4 {
		t.Errorf("tasks_shop.jsonl: %d lines, %v", len(per), err)
	}
	checkPNG(t, filepath.Join(dir, SuccessPNG))
	checkPNG(t, filepath.Join(dir, TrainingPNG))
}

func TestPlotTrainingErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte(`{"type":"train","step":1,"loss":0.5}`+"\n"+`{"type":"train","loss":0.4}`+"\n"), 0o644)
	if err := PlotTraining(filepath.Join(dir, "x.png"), bad); err == nil || !strings.Contains(err.Error(), "bad.jsonl:2") {
		t.Errorf("missing step: %v", err)
	}
	os.WriteFile(bad, []byte(`{"type":"train","step":1,"loss":"high"}`+"\n"), 0o644)
	if err := PlotTraining(filepath.Join(dir, "x.png"), bad); err == nil || !strings.Contains(err.Error(), "bad.jsonl:1") {
		t.Errorf("bad loss: %v", err)
	}
	os.WriteFile(bad, []byte(`{"type":"summary"}`+"\n"), 0o644)
	if err := PlotTraining(filepath.Join(dir, "x.png"), bad); err == nil {
		t.Error("a file without training lines plotted")
	}
	if err := Write(dir, "a/b", &EnvResult{}, nil, Output{}); err == nil {
		t.Error("env name with a slash accepted")
	}
	os.WriteFile(filepath.Join(dir, ResultsJSON), []byte(`{"envs": {"x": {}}}`), 0o644)
	if _, err := LoadResults(filepath.Join(dir, ResultsJSON)); err == nil || !strings.Contains(err.Error(), "envs.x") {
		t.Errorf("corrupt results.json: %v", err)
	}
}

// Sampling's success is the mean over its runs; its steps and prices must be too, not those of
// the first run that stands as its answer.
func TestSummarizeAveragesSamplingRuns(t *testing.T) {
	shopRun := func(n int, price string) dataset.Trajectory {
		tr := dataset.Trajectory{Env: "shop"}
		searches := n - 2
		if price == "" {
			searches = n
		}
		for range searches {
			tr.Steps = append(tr.Steps, dataset.Step{Action: "search[x]"})
		}
		if price == "" {
			return tr
		}
		tr.Steps = append(tr.Steps, dataset.Step{Action: "click[item]", Observation: "Price: $" + price},
			dataset.Step{Action: "click[Buy Now]"})
		return tr
	}
	runs := []dataset.Trajectory{shopRun(4, "10.00"), shopRun(8, "30.00"), shopRun(6, "")}
	rs := []planner.Result{
		{Trajectory: runs[0], Runs: runs, Success: 1.0 / 3},
		{Trajectory: shopRun(2, "20.00"), Success: 1},
	}
	m := summarize(rs, time.Second)
	// Steps: task 1 averages (4+8+6)/3 = 6, task 2 has 2: mean 4. Prices: task 1 buys in two of
	// three runs (10 and 30, weight 1/3 each), task 2 buys at 20: (40/3 + 20) / (2/3 + 1) = 20.
	if m.AvgPrice == nil {
		t.Fatal("no average price")
	}
	if !near(m.AvgSteps, 4) || !near(*m.AvgPrice, 20) || !near(m.SuccessRate, 2.0/3) {
		t.Errorf("%v steps, price %v, success %v; want 4, 20, 2/3", m.AvgSteps, *m.AvgPrice, m.SuccessRate)
	}
}
