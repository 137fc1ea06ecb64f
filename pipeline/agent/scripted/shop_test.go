package scripted

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/armap/armap/pipeline/agent"
	"github.com/armap/armap/pipeline/dataset"
	"github.com/armap/armap/pipeline/env"
	"github.com/armap/armap/pipeline/env/shop"
)

var shopBg = context.Background()

// notShopEnv is an env of another kind.
type notShopEnv struct{ env.Env }

func (notShopEnv) Name() string { return "other" }

func shopUniq(xs []string) []string {
	u := slices.Clone(xs)
	slices.Sort(u)
	return slices.Compact(u)
}

var shopCatalog = sync.OnceValues(func() (*shop.Catalog, error) { return shop.NewCatalog(shop.Config{}) })

func newShopEnv(t testing.TB) *shop.Env {
	t.Helper()
	c, err := shopCatalog()
	if err != nil {
		t.Fatal(err)
	}
	return shop.NewWithCatalog(c)
}

func mustShop(t testing.TB, skill float64) *Shop {
	t.Helper()
	p, err := NewShop(skill)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestShopDispatchAndErrors(t *testing.T) {
	p, err := New("shop", 0.3)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.(*Shop); !ok || !strings.Contains(p.Name(), "shop") {
		t.Fatalf("New(shop) gave %T %q", p, p.Name())
	}
	for _, s := range []float64{-0.1, 1.5} {
		if _, err := NewShop(s); err == nil {
			t.Errorf("skill %v accepted", s)
		}
	}
	e := newShopEnv(t)
	pol := mustShop(t, 0.5)
	if _, err := pol.Act(shopBg, &agent.State{Env: e}, agent.ActOptions{N: 1, Greedy: true}); err == nil {
		t.Error("act before reset accepted")
	}
	obs, _ := e.Reset(shopBg, 0)
	if _, err := pol.Act(shopBg, &agent.State{Env: notShopEnv{}, Instruction: obs.Instruction}, agent.ActOptions{N: 1, Greedy: true}); err == nil {
		t.Error("household env accepted")
	}
	e.Step(shopBg, "search[shoes]")
	if _, err := pol.Act(shopBg, &agent.State{Env: e, Instruction: obs.Instruction}, agent.ActOptions{N: 1, Greedy: true}); err == nil {
		t.Error("env ahead of the state's history accepted")
	}
}

type shopRates struct{ sample, greedy, passAt8 float64 }

// shopMeasure runs k sampled episodes and one greedy episode per task.
func shopMeasure(t testing.TB, e *shop.Env, p agent.Policy, tasks []int, k int) (r shopRates, trs []dataset.Trajectory) {
	t.Helper()
	for _, task := range tasks {
		hit := false
		for i := 0; i < k; i++ {
			opt := agent.ActOptions{N: 1, Rand: rand.New(rand.NewPCG(uint64(task), uint64(i)))}
			tr, err := agent.Rollout(shopBg, e, p, task, 30, opt, nil)
			if err != nil {
				t.Fatal(err)
			}
			trs = append(trs, tr)
			if tr.Success {
				r.sample++
				hit = true
			}
		}
		if hit {
			r.passAt8++
		}
		tr, err := agent.Rollout(shopBg, e, p, task, 30, agent.ActOptions{N: 1, Greedy: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if tr.Success {
			r.greedy++
		}
	}
	n := float64(len(tasks))
	r.sample /= n * float64(k)
	r.greedy /= n
	r.passAt8 /= n
	return r, trs
}

// TestShopSkillBands: the weak policy the demo uses (skill 0.3-0.4) succeeds in roughly
// 10-30% of its samples on the test tasks, yet most tasks have a success among 8 samples, so a
// reward model that picks well has room to improve on sampling. Success grows with skill, and
// the expert never fails.
func TestShopSkillBands(t *testing.T) {
	e := newShopEnv(t)
	tasks, _ := e.Split("test")
	prev := -1.0
	for _, skill := range []float64{0, 0.35, 0.7, 1} {
		r, _ := shopMeasure(t, e, mustShop(t, skill), tasks, 8)
		t.Logf("skill %.2f: sampled success %.3f, greedy %.2f, pass@8 %.2f", skill, r.sample, r.greedy, r.passAt8)
		if r.sample <= prev {
			t.Errorf("skill %.2f: success %.3f not above the lower skill's %.3f", skill, r.sample, prev)
		}
		prev = r.sample
		switch skill {
		case 0.35:
			if r.sample < 0.10 || r.sample > 0.35 || r.greedy > 0.4 {
				t.Errorf("weak policy success %.3f (greedy %.2f), want about 0.10-0.30", r.sample, r.greedy)
			}
			if r.passAt8 < 0.7 {
				t.Errorf("weak policy pass@8 %.2f: Best-of-N would have little to choose from", r.passAt8)
			}
		case 1:
			if r.sample != 1 || r.greedy != 1 {
				t.Errorf("expert-skill policy failed: %+v", r)
			}
		}
	}
}

// shopKinds classifies the mistakes in a trajectory by what the env saw.
func shopKinds(e *shop.Env, tr dataset.Trajectory) map[string]bool {
	m := map[string]bool{}
	if err := replayInto(e, tr); err != nil {
		return m
	}
	info, bought := e.Outcome()
	if !bought {
		m["no purchase"] = true
		return m
	}
	if info.AttrMatches < info.NumAttrs {
		m["wrong attribute"] = true
	}
	if !info.PriceOK {
		m["over budget"] = true
	}
	clicks := 0
	for _, s := range tr.Steps {
		if strings.HasPrefix(s.Observation, "You have clicked ") {
			clicks++
		}
	}
	if info.OptionMatches < info.NumOptions && clicks < info.NumOptions {
		m["missing option / early buy"] = true
	}
	if info.OptionMatches < info.NumOptions && clicks >= info.NumOptions {
		m["wrong option"] = true
	}
	g := e.Goal()
	if q, ok := strings.CutPrefix(tr.Steps[0].Action, "search["); ok && strings.TrimSuffix(q, "]") != strings.ToLower(strings.Join(append(slices.Clone(g.Attributes), g.Query), " ")) {
		m["other search"] = true
	}
	return m
}

func replayInto(e *shop.Env, tr dataset.Trajectory) error {
	task := 0
	if _, err := fmtSscanTask(tr.TaskID, &task); err != nil {
		return err
	}
	if _, err := e.Reset(shopBg, task); err != nil {
		return err
	}
	for _, s := range tr.Steps {
		if _, err := e.Step(shopBg, s.Action); err != nil {
			return err
		}
	}
	return nil
}

func fmtSscanTask(id string, task *int) (int, error) {
	rest, ok := strings.CutPrefix(id, "shop/")
	if !ok {
		return 0, errors.New("not a shop task id: " + id)
	}
	n := 0
	for _, c := range rest {
		if c < '0' || c > '9' {
			return 0, errors.New("bad task id " + id)
		}
		n = n*10 + int(c-'0')
	}
	*task = n
	return 1, nil
}

func TestShopMistakeKinds(t *testing.T) {
	e := newShopEnv(t)
	tasks, _ := e.Split("test")
	_, trs := shopMeasure(t, e, mustShop(t, 0.3), tasks[:60], 4)
	seen := map[string]int{}
	for _, tr := range trs {
		for k := range shopKinds(e, tr) {
			seen[k]++
		}
	}
	t.Logf("mistakes over %d episodes: %v", len(trs), seen)
	for _, k := range []string{"wrong attribute", "over budget", "missing option / early buy", "wrong option", "other search"} {
		if seen[k] == 0 {
			t.Errorf("no %q mistakes in %d episodes", k, len(trs))
		}
	}
}

func TestShopGreedyIsAFunctionOfState(t *testing.T) {
	e := newShopEnv(t)
	p := mustShop(t, 0.3)
	for task := 0; task < 30; task++ {
		tr, err := agent.Rollout(shopBg, e, p, task, 30, agent.ActOptions{N: 1, Greedy: true, Rand: rand.New(rand.NewPCG(1, uint64(task)))}, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Replay the greedy run; at each state ask again, with another Rand: same action.
		obs, _ := e.Reset(shopBg, task)
		st := &agent.State{EnvName: "shop", Instruction: obs.Instruction, Observation: obs.Text, Env: e}
		for i, s := range tr.Steps {
			st.Admissible = e.Admissible()
			a, err := p.Act(shopBg, st, agent.ActOptions{N: 1, Greedy: true, Rand: rand.New(rand.NewPCG(99, 99))})
			if err != nil {
				t.Fatal(err)
			}
			if a[0] != s.Action {
				t.Fatalf("task %d step %d: greedy gave %q, the run took %q", task, i, a[0], s.Action)
			}
			r, _ := e.Step(shopBg, s.Action)
			st.Steps = append(st.Steps, dataset.Step{Action: s.Action, Observation: r.Observation})
			st.Observation = r.Observation
		}
	}
}

func TestShopSamplingUsesRand(t *testing.T) {
	e := newShopEnv(t)
	p := mustShop(t, 0.3)
	obs, _ := e.Reset(shopBg, 4)
	st := &agent.State{EnvName: "shop", Instruction: obs.Instruction, Observation: obs.Text, Env: e, Admissible: e.Admissible()}
	a1, err := p.Act(shopBg, st, agent.ActOptions{N: 64, Rand: rand.New(rand.NewPCG(5, 6))})
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := p.Act(shopBg, st, agent.ActOptions{N: 64, Rand: rand.New(rand.NewPCG(5, 6))})
	a3, _ := p.Act(shopBg, st, agent.ActOptions{N: 64, Rand: rand.New(rand.NewPCG(7, 8))})
	if len(a1) != 64 || !slices.Equal(a1, a2) {
		t.Fatal("same Rand seed, different samples")
	}
	if slices.Equal(a1, a3) {
		t.Fatal("different Rand seeds, same 64 samples")
	}
	if u := shopUniq(a1); len(u) < 3 {
		t.Fatalf("search candidates too few: %q", u)
	}
	g, _ := p.Act(shopBg, st, agent.ActOptions{N: 5, Greedy: true})
	if len(g) != 1 {
		t.Fatalf("greedy returned %d actions", len(g))
	}
}

func TestShopReflections(t *testing.T) {
	e := newShopEnv(t)
	for _, skill := range []float64{0.3, 1} {
		p := mustShop(t, skill)
		for task := 0; task < 20; task++ {
			obs, _ := e.Reset(shopBg, task)
			st := &agent.State{EnvName: "shop", Instruction: obs.Instruction, Observation: obs.Text, Env: e, Admissible: e.Admissible()}
			// walk two expert steps, then check the reflection at step 2
			for i := 0; i < 2; i++ {
				a, _ := e.ExpertAction()
				r, _ := e.Step(shopBg, a)
				st.Steps = append(st.Steps, dataset.Step{Action: a, Observation: r.Observation})
				st.Observation = r.Observation
			}
			st.Admissible = e.Admissible()
			before, _ := p.Act(shopBg, st, agent.ActOptions{N: 1, Greedy: true})
			st.Reflections = []agent.Reflection{{Step: 2, Action: before[0], Text: "avoid"}}
			for seed := uint64(0); seed < 20; seed++ {
				after, err := p.Act(shopBg, st, agent.ActOptions{N: 1, Rand: rand.New(rand.NewPCG(seed, 1))})
				if err != nil {
					t.Fatal(err)
				}
				if after[0] == before[0] {
					t.Fatalf("skill %v task %d: reflection on %q ignored", skill, task, before[0])
				}
			}
			// a reflection for another step changes nothing
			st.Reflections = []agent.Reflection{{Step: 5, Action: before[0]}}
			again, _ := p.Act(shopBg, st, agent.ActOptions{N: 1, Greedy: true})
			if again[0] != before[0] {
				t.Fatalf("reflection for another step changed the action")
			}
		}
	}
}

func shopExpertTrajectory(t *testing.T, e *shop.Env, task int) dataset.Trajectory {
	t.Helper()
	tr, err := agent.Rollout(shopBg, e, mustShop(t, 1), task, 30, agent.ActOptions{N: 1, Greedy: true}, nil)
	if err != nil || !tr.Success {
		t.Fatalf("task %d: expert trajectory failed: %v %+v", task, err, tr)
	}
	return tr
}

func TestShopNegative(t *testing.T) {
	e := newShopEnv(t)
	other := newShopEnv(t)
	rng := rand.New(rand.NewPCG(3, 3))
	made := map[string]int{}
	for task := 0; task < 40; task++ {
		pos := shopExpertTrajectory(t, e, task)
		for _, kind := range ShopNegativeKinds() {
			neg, err := ShopNegativeOfKind(shopBg, e, task, pos, kind, rng)
			if errors.Is(err, errNotApplicable) {
				continue
			}
			if err != nil {
				t.Fatalf("task %d %s: %v", task, kind, err)
			}
			made[kind]++
			if neg.EnvReward >= pos.EnvReward || neg.Success || neg.Instruction != pos.Instruction || neg.TaskID != pos.TaskID {
				t.Fatalf("task %d %s: negative %+v vs positive reward %v", task, kind, neg, pos.EnvReward)
			}
			if last := neg.Steps[len(neg.Steps)-1]; last.Action != "click[buy now]" || last.Observation != shop.ThankYou {
				t.Fatalf("task %d %s: does not end with a purchase: %+v", task, kind, last)
			}
			// observations are the env's own: a replay elsewhere gives the same
			if err := replayInto(other, neg); err != nil {
				t.Fatal(err)
			}
			other.Reset(shopBg, task)
			for i, s := range neg.Steps {
				r, _ := other.Step(shopBg, s.Action)
				if r.Observation != s.Observation {
					t.Fatalf("task %d %s step %d: observation differs on replay", task, kind, i)
				}
			}
			info, _ := other.Outcome()
			switch kind {
			case ShopNegEarlyBuy:
				for _, s := range neg.Steps {
					if strings.HasPrefix(s.Observation, "You have clicked") {
						t.Fatalf("task %d early buy chose an option", task)
					}
				}
			case ShopNegWrongOption:
				diff := 0
				for i := range neg.Steps {
					if i >= len(pos.Steps) || neg.Steps[i].Action != pos.Steps[i].Action {
						diff++
					}
				}
				if diff != 1 || len(neg.Steps) != len(pos.Steps) || info.OptionMatches >= info.NumOptions {
					t.Fatalf("task %d wrong option: %d actions differ, %+v", task, diff, info)
				}
			case ShopNegOverBudget:
				if info.PriceOK {
					t.Fatalf("task %d over budget bought within budget: %+v", task, info)
				}
			case ShopNegWrongItem:
				if other.Satisfies(other.View().ASIN) {
					t.Fatalf("task %d wrong item bought a fitting product", task)
				}
			}
		}
		neg, kind, err := ShopNegative(shopBg, e, task, pos, rng)
		if err != nil {
			t.Fatalf("task %d: %v", task, err)
		}
		if !slices.Contains(ShopNegativeKinds(), kind) || neg.EnvReward >= pos.EnvReward {
			t.Fatalf("task %d: kind %q reward %v", task, kind, neg.EnvReward)
		}
	}
	t.Logf("negatives made per kind over 40 tasks: %v", made)
	for _, k := range ShopNegativeKinds() {
		if made[k] < 5 {
			t.Errorf("kind %s made only %d times in 40 tasks", k, made[k])
		}
	}
	pos := shopExpertTrajectory(t, e, 1)
	if _, err := ShopNegativeOfKind(shopBg, e, 1, pos, "nonsense", rng); err == nil || errors.Is(err, errNotApplicable) {
		t.Errorf("unknown kind: %v", err)
	}
	noBuy := pos
	noBuy.Steps = pos.Steps[:len(pos.Steps)-1]
	if _, _, err := ShopNegative(shopBg, e, 1, noBuy, rng); err == nil {
		t.Error("a positive without purchase accepted")
	}
	if _, _, err := ShopNegative(shopBg, notShopEnv{}, 1, pos, rng); err == nil {
		t.Error("a household env accepted")
	}
}

// TestShopNegativeForAnotherGoal makes negatives for a goal that is not the task's (a tighter
// ceiling, just above what the positive paid): the kinds must hold against that goal, and the
// negative's reward is its rating for it.
func TestShopNegativeForAnotherGoal(t *testing.T) {
	e := newShopEnv(t)
	rng := rand.New(rand.NewPCG(5, 5))
	made := map[string]int{}
	for task := 0; task < 60; task++ {
		pos := shopExpertTrajectory(t, e, task)
		bought, _ := e.Catalog().Product(e.View().ASIN)
		g := *e.Goal()
		g.PriceUpper = bought.Price * 1.01
		pos.EnvReward = shop.ComputeReward(bought, bought.Price, e.View().Chosen, &g).Total
		if pos.EnvReward < 1 {
			t.Fatalf("task %d: the tightened goal rates the expert's purchase %v", task, pos.EnvReward)
		}
		for _, kind := range []string{ShopNegOverBudget, ShopNegWrongItem} {
			neg, err := ShopNegativeOfKindFor(shopBg, e, task, pos, kind, &g, rng)
			if errors.Is(err, errNotApplicable) {
				continue
			}
			if err != nil {
				t.Fatalf("task %d %s: %v", task, kind, err)
			}
			made[kind]++
			p, _ := e.Catalog().Product(e.View().ASIN)
			info := shop.ComputeReward(p, p.Price, e.View().Chosen, &g)
			if neg.EnvReward != info.Total || neg.EnvReward >= 1 || neg.Success {
				t.Fatalf("task %d %s: reward %v, the goal rates it %+v", task, kind, neg.EnvReward, info)
			}
			if kind == ShopNegOverBudget && info.PriceOK {
				t.Fatalf("task %d: over budget bought %s at %.2f, within the goal's %.2f", task, p.ASIN, p.Price, g.PriceUpper)
			}
		}
	}
	if made[ShopNegOverBudget] < 5 || made[ShopNegWrongItem] < 5 {
		t.Errorf("negatives made for the other goal: %v", made)
	}
}

func BenchmarkShopAct(b *testing.B) {
	e := newShopEnv(b)
	p := mustShop(b, 0.35)
	rng := rand.New(rand.NewPCG(1, 2))
	task := 0
	steps := 0
	for b.Loop() {
		tr, err := agent.Rollout(shopBg, e, p, task%e.NumTasks(), 30, agent.ActOptions{N: 1, Rand: rng}, nil)
		if err != nil {
			b.Fatal(err)
		}
		steps += len(tr.Steps)
		task++
	}
	b.ReportMetric(float64(steps)/b.Elapsed().Seconds(), "steps/s")
}
