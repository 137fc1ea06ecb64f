package synth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/armap/armap/pipeline/dataset"
	"github.com/armap/armap/pipeline/env"
	"github.com/armap/armap/pipeline/env/household"
	httpenv "github.com/armap/armap/pipeline/env/http"
	"github.com/armap/armap/pipeline/env/shop"
)

// synth runs cfg into a fresh file and returns the summary, the bytes and the parsed triplets.
func synth(t *testing.T, cfg Config, deps Deps) (Summary, []byte, []dataset.Triplet) {
	t.Helper()
	if cfg.Out == "" {
		cfg.Out = filepath.Join(t.TempDir(), "triplets.jsonl")
	}
	sum, err := Run(context.Background(), cfg, deps)
	if err != nil {
		t.Fatalf("Run(%s): %v", cfg.Env, err)
	}
	data, err := os.ReadFile(cfg.Out)
	if err != nil {
		t.Fatal(err)
	}
	var ts []dataset.Triplet
	for i, ln := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var tr dataset.Triplet
		if err := json.Unmarshal(ln, &tr); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		ts = append(ts, tr)
	}
	return sum, data, ts
}

func testConfig(envName string, n int, seed uint64) Config {
	cfg := DefaultConfig()
	cfg.Env, cfg.Triplets, cfg.Seed = envName, n, seed
	return cfg
}

// checkTriplets asserts the invariants every output must hold.
func checkTriplets(t *testing.T, sum Summary, ts []dataset.Triplet, n int) {
	t.Helper()
	if len(ts) != n || sum.Triplets != n {
		t.Fatalf("%d lines, summary says %d, want %d", len(ts), sum.Triplets, n)
	}
	ids := map[string]bool{}
	keys := map[string]bool{}
	byKind := map[string]int{}
	for _, tr := range ts {
		if ids[tr.ID] {
			t.Errorf("duplicate id %s", tr.ID)
		}
		ids[tr.ID] = true
		if tr.Chosen.EnvReward == nil || tr.Rejected.EnvReward == nil {
			t.Fatalf("%s: env rewards missing", tr.ID)
		}
		if !(*tr.Chosen.EnvReward > *tr.Rejected.EnvReward) {
			t.Errorf("%s: chosen reward %v not above rejected %v", tr.ID, *tr.Chosen.EnvReward, *tr.Rejected.EnvReward)
		}
		if tr.Instruction == "" || len(tr.Chosen.Steps) == 0 || len(tr.Rejected.Steps) == 0 {
			t.Errorf("%s: empty instruction or side", tr.ID)
		}
		k := dedupKey(&tr)
		if keys[k] {
			t.Errorf("%s: same instruction, chosen and rejected as an earlier triplet", tr.ID)
		}
		keys[k] = true
		kind, _ := tr.Meta["negative"].(string)
		if kind == "" || tr.Meta["source"] == nil || tr.Meta["task_id"] == nil {
			t.Errorf("%s: meta %v lacks negative/source/task_id", tr.ID, tr.Meta)
		}
		byKind[kind]++
	}
	for k, v := range byKind {
		if sum.ByKind[k] != v {
			t.Errorf("summary counts %d of kind %s, the file %d", sum.ByKind[k], k, v)
		}
	}
}

func TestEveryEnvMakesAllItsKinds(t *testing.T) {
	for _, tc := range []struct {
		env   string
		n     int
		kinds []string
	}{
		{"game24", 60, []string{"hallucinated_number", "missing_number", "format_error", "wrong_arithmetic", KindWeaker}},
		{"shop", 60, []string{"wrong_option", "wrong_item", "early_buy", "over_budget", KindWeaker}},
		{"household", 60, []string{"skip_step", "wrong_receptacle", "wrong_object", KindWeaker}},
	} {
		t.Run(tc.env, func(t *testing.T) {
			sum, _, ts := synth(t, testConfig(tc.env, tc.n, 7), Deps{})
			checkTriplets(t, sum, ts, tc.n)
			for _, k := range tc.kinds {
				if sum.ByKind[k] == 0 {
					t.Errorf("no %s negatives (by kind: %v)", k, sum.ByKind)
				}
			}
			if len(sum.ByKind) != len(tc.kinds) {
				t.Errorf("kinds %v, want exactly %v", sum.ByKind, tc.kinds)
			}
			if sum.ByEnv[tc.env] != tc.n {
				t.Errorf("by env %v", sum.ByEnv)
			}
			// The weaker source must pair the weak policy's own runs, successes included.
			if sum.Positives["weak_policy"] == 0 {
				t.Errorf("no positive from the weaker policy's own successes: %v", sum.Positives)
			}
			for _, tr := range ts {
				if tr.Meta["source"] == SourceWeaker && tc.env == "game24" && tr.Meta["mistakes"] == nil {
					t.Errorf("%s: game24 weaker negative without mistake labels", tr.ID)
				}
			}
			if sum.ChosenSteps.P50 <= 0 || sum.ChosenSteps.P50 > sum.ChosenSteps.P90 || sum.ChosenSteps.P90 > sum.ChosenSteps.P99 ||
				sum.RejectedChars.P50 <= 0 || sum.RejectedChars.P99 > sum.RejectedChars.Max {
				t.Errorf("percentiles out of order: %+v %+v", sum.ChosenSteps, sum.RejectedChars)
			}
			if sum.EnvSteps <= 0 || sum.Attempts < tc.n {
				t.Errorf("env steps %d, attempts %d", sum.EnvSteps, sum.Attempts)
			}
		})
	}
}

func TestSameSeedSameBytesForAnyWorkers(t *testing.T) {
	for _, envName := range []string{"game24", "shop", "household"} {
		t.Run(envName, func(t *testing.T) {
			var first []byte
			for _, workers := range []int{1, 4, 3} {
				cfg := testConfig(envName, 40, 11)
				cfg.Workers = workers
				_, data, _ := synth(t, cfg, Deps{})
				if first == nil {
					first = data
					continue
				}
				if !bytes.Equal(first, data) {
					t.Fatalf("workers=%d wrote different bytes than workers=1", workers)
				}
			}
			cfg := testConfig(envName, 40, 12)
			if _, other, _ := synth(t, cfg, Deps{}); bytes.Equal(first, other) {
				t.Error("seed 12 wrote the same file as seed 11")
			}
		})
	}
}

func TestShopRefinedInstructionsAreRatedByTheEnvReward(t *testing.T) {
	cfg := testConfig("shop", 80, 3)
	cfg.Skill = 0.3 // more failed explorations, so more purchases to refine
	cfg.Mix = Mix{Perturb: 1}
	sum, _, ts := synth(t, cfg, Deps{})
	checkTriplets(t, sum, ts, cfg.Triplets)
	refined := 0
	for _, tr := range ts {
		if tr.Meta["refined"] != "offline" {
			continue
		}
		refined++
		if tr.Instruction == tr.Meta["env_instruction"] {
			t.Errorf("%s: refined instruction equals the env's", tr.ID)
		}
		if *tr.Chosen.EnvReward != 1 {
			t.Errorf("%s: refined positive rated %v, want 1 for the goal it fulfils", tr.ID, *tr.Chosen.EnvReward)
		}
		if !strings.Contains(tr.Instruction, "price lower than") && !strings.Contains(tr.Instruction, "looking for") {
			t.Errorf("%s: instruction %q is not in the env's style", tr.ID, tr.Instruction)
		}
	}
	if refined == 0 || sum.Refined != refined {
		t.Errorf("%d refined triplets, summary says %d", refined, sum.Refined)
	}

	cfg.Refine = RefineOff
	sum, _, ts = synth(t, cfg, Deps{})
	if sum.Refined != 0 || sum.Positives["refined"] != 0 {
		t.Errorf("refine off still refined: %+v", sum.Positives)
	}
	for _, tr := range ts {
		if *tr.Chosen.EnvReward != 1 {
			t.Errorf("%s: refine off kept a positive rated %v", tr.ID, *tr.Chosen.EnvReward)
		}
	}
}

func TestRefineShopGoalIsFulfilledByThePurchase(t *testing.T) {
	cat, err := shop.NewCatalog(shop.Config{})
	if err != nil {
		t.Fatal(err)
	}
	rng := itemRand(1, 1)
	for i := 0; i < 300; i++ {
		p := &cat.Products[(i*37)%len(cat.Products)]
		chosen := map[string]string{}
		for gi, grp := range p.Options {
			if gi%2 == i%2 { // leave some groups unchosen
				chosen[grp.Name] = grp.Values[rng.IntN(len(grp.Values))]
			}
		}
		g := refineShopGoal(&purchase{product: p, chosen: chosen}, rng)
		if r := shop.ComputeReward(p, p.Price, chosen, g); r.Total < 1 {
			t.Fatalf("product %s with %v: refined goal %q rates the purchase %+v", p.ASIN, chosen, g.Instruction, r)
		}
		if len(g.Options) != len(chosen) || g.PriceUpper <= p.Price {
			t.Fatalf("goal %+v for chosen %v price %v", g, chosen, p.Price)
		}
	}
}

// TestShopRefinedNegativesAreLabelledForTheRefinedGoal checks meta.negative against the
// instruction a refined triplet carries, not the task's own goal: an over_budget negative buys
// above the refined ceiling, a wrong_item one buys something the refined goal does not rate 1.
func TestShopRefinedNegativesAreLabelledForTheRefinedGoal(t *testing.T) {
	cat, err := shop.NewCatalog(shop.Config{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig("shop", 300, 3)
	cfg.Skill = 0.3 // more failed explorations, so more purchases to refine
	cfg.Mix = Mix{Perturb: 1}
	sum, _, ts := synth(t, cfg, Deps{Factory: func() (env.Env, error) { return shop.NewWithCatalog(cat), nil }})
	checkTriplets(t, sum, ts, cfg.Triplets)
	ceilingRe := regexp.MustCompile(`price lower than ([0-9.]+) dollars$`)
	checked := map[string]int{}
	for _, tr := range ts {
		kind, _ := tr.Meta["negative"].(string)
		if tr.Meta["refined"] != "offline" || (kind != "over_budget" && kind != "wrong_item") {
			continue
		}
		m := ceilingRe.FindStringSubmatch(tr.Instruction)
		if m == nil {
			continue // no ceiling in the instruction: nothing is over budget
		}
		ceiling, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			t.Fatalf("%s: ceiling %q: %v", tr.ID, m[1], err)
		}
		// the product bought: the last product click of the rejected side
		var bought *shop.Product
		for _, st := range tr.Rejected.Steps {
			if a, ok := strings.CutPrefix(st.Action, "click["); ok {
				if p, ok := cat.Product(strings.TrimSuffix(a, "]")); ok {
					bought = p
				}
			}
		}
		if bought == nil {
			t.Fatalf("%s: the rejected side opens no product", tr.ID)
		}
		checked[kind]++
		switch {
		case kind == "over_budget" && bought.Price <= ceiling:
			t.Errorf("%s: over_budget negative bought %s at %.2f, within the refined ceiling %.2f (%q)", tr.ID, bought.ASIN, bought.Price, ceiling, tr.Instruction)
		case kind == "wrong_item" && *tr.Rejected.EnvReward >= 1:
			t.Errorf("%s: wrong_item negative fulfils the refined instruction %q", tr.ID, tr.Instruction)
		}
	}
	if checked["over_budget"] == 0 || checked["wrong_item"] == 0 {
		t.Fatalf("no refined over_budget or wrong_item negatives to check: %v", checked)
	}
	t.Logf("refined negatives checked: %v", checked)
}

func TestDedupDropsRepeats(t *testing.T) {
	// Two puzzles and the expert only: the same pairs come up again and again.
	cfg := testConfig("game24", 30, 5)
	cfg.Tasks = "0-1"
	cfg.Skill, cfg.WeakSkill = 1, 0
	sum, _, ts := synth(t, cfg, Deps{})
	checkTriplets(t, sum, ts, cfg.Triplets)
	if sum.Discarded[DiscardDuplicate] == 0 {
		t.Errorf("no duplicates discarded in %d attempts over 2 puzzles: %v", sum.Attempts, sum.Discarded)
	}
	if got := sum.Triplets + sumCounts(sum.Discarded) + sumCounts(sum.LLMFailures) + sum.EnvFailures; got != sum.Attempts {
		t.Errorf("kept+discarded+failed = %d, attempts %d", got, sum.Attempts)
	}
}

func TestCollectorDedup(t *testing.T) {
	s := &setup{cfg: Config{Triplets: 3, MaxConsecutiveFailures: 2}}
	c := newCollector(s)
	mk := func(idx int, instr string) outcome {
		r := 1.0
		tr := &dataset.Triplet{ID: "x", Instruction: instr, Chosen: dataset.Side{Steps: []dataset.Step{{Action: "a"}}, EnvReward: &r},
			Rejected: dataset.Side{Steps: []dataset.Step{{Action: "b"}}, EnvReward: new(float64)}, Meta: map[string]any{"negative": "k"}}
		return outcome{idx: idx, trip: tr, key: dedupKey(tr)}
	}
	for i, o := range []outcome{mk(0, "p"), mk(1, "p"), mk(2, "q"), mk(3, "p ")} {
		if err := c.add(context.Background(), o); err != nil {
			t.Fatal(i, err)
		}
	}
	if len(c.kept) != 3 || c.sum.Discarded[DiscardDuplicate] != 1 || !c.done() {
		t.Fatalf("kept %d, discarded %v", len(c.kept), c.sum.Discarded)
	}
	// Failures in a row end the run; anything else in between resets the count.
	c = newCollector(s)
	fail := outcome{fail: errors.New("connection refused")}
	if err := c.add(context.Background(), fail); err != nil {
		t.Fatal(err)
	}
	if err := c.add(context.Background(), outcome{discard: DiscardNoNegative}); err != nil {
		t.Fatal(err)
	}
	if err := c.add(context.Background(), fail); err != nil {
		t.Fatal(err)
	}
	if err := c.add(context.Background(), outcome{llmUse: UseRefine, detail: "500"}); err == nil || !strings.Contains(err.Error(), "in a row") {
		t.Fatalf("second failure in a row: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"test split", func(c *Config) { c.Split = "test" }, "split"},
		{"all overlaps test", func(c *Config) { c.Split = "all" }, "held out"},
		{"unknown env", func(c *Config) { c.Env = "chess" }, "env"},
		{"bad skill", func(c *Config) { c.Skill = 1.5 }, "skill"},
		{"unknown kind", func(c *Config) { c.Kinds = []string{"early_buy"} }, "early_buy"},
		{"no source", func(c *Config) { c.Mix = Mix{} }, "mix"},
		{"llm without client", func(c *Config) { c.Policy = PolicyLLM }, "llm"},
		{"llm answers without client", func(c *Config) { c.Mix.LLM = 1 }, "mix.llm"},
		{"bad range", func(c *Config) { c.Tasks = "9-3" }, "tasks"},
		{"empty range", func(c *Config) { c.Tasks = "950-990" }, "no tasks"},
		{"no out", func(c *Config) { c.Out = "" }, "out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig("game24", 5, 1)
			cfg.Out = filepath.Join(t.TempDir(), "x.jsonl")
			tc.mod(&cfg)
			_, err := Run(context.Background(), cfg, Deps{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error about %q", err, tc.want)
			}
			if cfg.Out != "" {
				if _, serr := os.Stat(cfg.Out); serr == nil {
					t.Error("a failed run wrote its output")
				}
			}
		})
	}
}

func TestKindsFilter(t *testing.T) {
	cfg := testConfig("shop", 20, 2)
	cfg.Kinds = []string{"wrong_option", KindWeaker}
	sum, _, ts := synth(t, cfg, Deps{})
	checkTriplets(t, sum, ts, cfg.Triplets)
	if len(sum.ByKind) != 2 || sum.ByKind["wrong_option"] == 0 || sum.ByKind[KindWeaker] == 0 {
		t.Errorf("by kind %v, want only wrong_option and weaker_policy", sum.ByKind)
	}
}

func TestCancellation(t *testing.T) {
	cfg := testConfig("household", 1_000_000, 1)
	cfg.Out = filepath.Join(t.TempDir(), "big.jsonl")
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Run(ctx, cfg, Deps{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the context's error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v to stop", d)
	}
	if _, err := os.Stat(cfg.Out); err == nil {
		t.Error("a cancelled run wrote its output")
	}
}

func TestMaxAttemptsEndsTheRun(t *testing.T) {
	cfg := testConfig("game24", 50, 1)
	cfg.MaxAttempts = 30 // fewer attempts than triplets wanted
	cfg.Out = filepath.Join(t.TempDir(), "x.jsonl")
	sum, err := Run(context.Background(), cfg, Deps{})
	if err == nil || !strings.Contains(err.Error(), "max_attempts") {
		t.Fatalf("got %v, want a max_attempts error", err)
	}
	if sum.Attempts != 30 {
		t.Errorf("attempts %d, want 30", sum.Attempts)
	}
}

func TestHTTPEnv(t *testing.T) {
	f, err := shop.NewFactory(shop.Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := httpenv.NewServer(f, httpenv.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	var first []byte
	for _, workers := range []int{1, 3} {
		cfg := testConfig("http", 15, 4)
		cfg.HTTP.BaseURL = hs.URL
		cfg.Policy = PolicyRandom
		cfg.Workers = workers
		cfg.Tasks = "100-400" // the shop's train tasks; http envs have no named splits
		var log bytes.Buffer
		sum, data, ts := synth(t, cfg, Deps{Log: &log})
		checkTriplets(t, sum, ts, cfg.Triplets)
		if ts[0].Env != "shop" || sum.BySource[SourceWeaker] != cfg.Triplets {
			t.Errorf("env %s, sources %v: want shop triplets from the weaker (random) policy", ts[0].Env, sum.BySource)
		}
		if !strings.Contains(log.String(), "note:") {
			t.Errorf("the summary does not say that perturbation is off over http:\n%s", log.String())
		}
		if first == nil {
			first = data
		} else if !bytes.Equal(first, data) {
			t.Error("http env: workers=3 wrote different bytes than workers=1")
		}
	}
	cfg := testConfig("http", 5, 4)
	cfg.HTTP.BaseURL = hs.URL
	cfg.Out = filepath.Join(t.TempDir(), "x.jsonl")
	if _, err := Run(context.Background(), cfg, Deps{}); err == nil || !strings.Contains(err.Error(), "scripted") {
		t.Errorf("scripted shop policy over http: got %v", err)
	}
}

// unsizedShop is a shop env that does not say how many tasks it has (num_tasks 0 over http).
type unsizedShop struct{ *shop.Env }

func (unsizedShop) NumTasks() int { return 0 }

func TestHTTPEnvTaskRangeAndTestSplit(t *testing.T) {
	f, err := shop.NewFactory(shop.Config{})
	if err != nil {
		t.Fatal(err)
	}
	serve := func(f env.Factory) string {
		srv, err := httpenv.NewServer(f, httpenv.ServerOptions{})
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(srv)
		t.Cleanup(hs.Close)
		return hs.URL
	}
	sized := serve(f)
	unsized := serve(func() (env.Env, error) {
		e, err := f()
		if err != nil {
			return nil, err
		}
		return unsizedShop{e.(*shop.Env)}, nil
	})
	taskOf := func(tr dataset.Triplet) int {
		id, _ := tr.Meta["task_id"].(string)
		n, err := strconv.Atoi(strings.TrimPrefix(id, "shop/"))
		if err != nil {
			t.Fatalf("%s: task_id %q", tr.ID, id)
		}
		return n
	}
	run := func(base, tasks string) (Summary, []dataset.Triplet, string, error) {
		cfg := testConfig("http", 12, 4)
		cfg.HTTP.BaseURL, cfg.Policy, cfg.Tasks = base, PolicyRandom, tasks
		cfg.Out = filepath.Join(t.TempDir(), "x.jsonl")
		var log bytes.Buffer
		sum, err := Run(context.Background(), cfg, Deps{Log: &log})
		if err != nil {
			return sum, nil, log.String(), err
		}
		_, _, ts := synth(t, cfg, Deps{})
		return sum, ts, log.String(), nil
	}

	// num_tasks 0: the range is used as given.
	sum, ts, _, err := run(unsized, "150-170")
	if err != nil {
		t.Fatalf("num_tasks 0 with tasks 150-170: %v", err)
	}
	checkTriplets(t, sum, ts, 12)
	for _, tr := range ts {
		if n := taskOf(tr); n < 150 || n > 170 {
			t.Errorf("%s: task %d outside 150-170", tr.ID, n)
		}
	}
	// ... and without a range there is nothing to draw from, said plainly.
	if _, _, _, err := run(unsized, ""); err == nil || !strings.Contains(err.Error(), "num_tasks 0") {
		t.Errorf("num_tasks 0 without tasks: got %v", err)
	}

	// The server names the shop's test tasks (0-99): a range into them is refused, sized or not.
	for _, base := range []string{sized, unsized} {
		if _, _, _, err := run(base, "90-120"); err == nil || !strings.Contains(err.Error(), "test split") {
			t.Errorf("tasks 90-120 over the test tasks: got %v", err)
		}
	}
	// Without a range, every task is drawn outside them.
	sum, ts, log, err := run(sized, "")
	if err != nil {
		t.Fatal(err)
	}
	checkTriplets(t, sum, ts, 12)
	for _, tr := range ts {
		if n := taskOf(tr); n < shop.NumTest {
			t.Errorf("%s: drew test task %d", tr.ID, n)
		}
	}
	if !strings.Contains(log, "held out") {
		t.Errorf("the summary does not say that the test tasks are held out:\n%s", log)
	}
}

// A factory override is used as given (planners and tests hand in their own env builds).
func TestFactoryOverride(t *testing.T) {
	f, err := shop.NewFactory(shop.Config{Seed: 9, Products: 1000})
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	cfg := testConfig("shop", 10, 1)
	sum, _, ts := synth(t, cfg, Deps{Factory: func() (env.Env, error) { calls++; return f() }})
	checkTriplets(t, sum, ts, 10)
	if calls != 1+cfg.withDefaults().Workers {
		t.Errorf("factory called %d times, want one probe plus one per worker", calls)
	}
}

func TestScheduler(t *testing.T) {
	s := newScheduler([]slot{{kind: "a", w: 0.5}, {kind: "b", w: 0.25}, {kind: "c", w: 0.25}})
	var got []string
	for range 8 {
		got = append(got, s.next().kind)
	}
	count := map[string]int{}
	for _, k := range got {
		count[k]++
	}
	if count["a"] != 4 || count["b"] != 2 || count["c"] != 2 {
		t.Errorf("8 slots %v, want a 4 times and b, c twice", got)
	}
	if slices.Equal(got[:4], []string{"a", "a", "a", "a"}) {
		t.Errorf("slots not interleaved: %v", got)
	}
}

// Household ends every unfinished episode at its step limit, so an uncut weaker negative is
// exactly that long while most positives are far shorter: a length shortcut. With the default
// cut it is a prefix as long as the positive, locally and over http (where the limit comes from
// /info max_steps).
func TestCappedWeakerNegativesAreCut(t *testing.T) {
	local, err := household.New(household.Options{})
	if err != nil {
		t.Fatal(err)
	}
	limit := local.MaxSteps()
	srv, err := httpenv.NewServer(household.NewFactory(household.Options{}), httpenv.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	for _, remote := range []bool{false, true} {
		runs := map[string][]dataset.Triplet{}
		for _, mode := range []string{CappedCut, CappedKeep} {
			cfg := testConfig("household", 30, 3)
			cfg.Mix = Mix{Weaker: 1}
			cfg.CappedNegatives = mode
			if remote {
				// Random runs rarely succeed: a few triplets take a few hundred attempts.
				cfg.Env, cfg.HTTP.BaseURL, cfg.Policy, cfg.Tasks = "http", hs.URL, PolicyRandom, "0-1000"
				cfg.Triplets, cfg.MaxAttempts = 4, 1000
			}
			sum, _, ts := synth(t, cfg, Deps{})
			checkTriplets(t, sum, ts, cfg.Triplets)
			runs[mode] = ts
			atLimit, cuts := 0, 0
			for i, tr := range ts {
				nc, nr := len(tr.Chosen.Steps), len(tr.Rejected.Steps)
				if nr == limit && nc < limit {
					atLimit++
				}
				from, ok := tr.Meta["cut_from"]
				if !ok {
					continue
				}
				cuts++
				if mode == CappedKeep || from != float64(limit) || nr != nc || tr.Rejected.EnvReward == nil || *tr.Rejected.EnvReward != 0 {
					t.Errorf("remote=%v %s line %d: cut_from %v, %d chosen and %d rejected steps, rejected reward %v",
						remote, mode, i+1, from, nc, nr, tr.Rejected.EnvReward)
				}
			}
			switch {
			case mode == CappedCut && (atLimit > 0 || cuts == 0):
				t.Errorf("remote=%v cut: %d negatives at the %d-step limit beside shorter positives, %d cut", remote, atLimit, limit, cuts)
			case mode == CappedKeep && atLimit == 0:
				t.Errorf("remote=%v keep: no negative at the %d-step limit; the test no longer sees the shortcut", remote, limit)
			}
		}
		// The cut changes no random choice: the same pairs come out, the negative a prefix.
		for i, c := range runs[CappedCut] {
			k := runs[CappedKeep][i]
			n := len(c.Rejected.Steps)
			if c.Instruction != k.Instruction || n > len(k.Rejected.Steps) || !slices.Equal(c.Rejected.Steps, k.Rejected.Steps[:n]) {
				t.Fatalf("remote=%v line %d: the cut negative is not a prefix of the kept one", remote, i+1)
			}
		}
	}
}
