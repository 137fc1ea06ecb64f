package scripted

import (
	"context"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/armap/armap/pipeline/agent"
	"github.com/armap/armap/pipeline/dataset"
	"github.com/armap/armap/pipeline/env/household"
)

var bg = context.Background()

func hhEnv(t testing.TB) *household.Env {
	t.Helper()
	e, err := household.New(household.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func hhPolicy(t testing.TB, skill float64) *Household {
	t.Helper()
	p, err := NewHousehold(skill)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// hhSuccessRate runs p on tasks; sampling runs draw from a generator seeded per task.
func hhSuccessRate(t testing.TB, e *household.Env, p agent.Policy, tasks []int, greedy bool) (float64, []dataset.Trajectory) {
	t.Helper()
	wins := 0
	var trs []dataset.Trajectory
	for _, task := range tasks {
		opt := agent.ActOptions{N: 1, Greedy: greedy, Rand: rand.New(rand.NewPCG(uint64(task), 17))}
		tr, err := agent.Rollout(bg, e, p, task, 1000, opt, nil)
		if err != nil {
			t.Fatal(err)
		}
		if tr.Success {
			wins++
		}
		trs = append(trs, tr)
	}
	return float64(wins) / float64(len(tasks)), trs
}

func TestHouseholdSkillCurve(t *testing.T) {
	e := hhEnv(t)
	test, _ := e.Split("test")
	prev := -1.0
	for _, skill := range []float64{0, 0.35, 0.7, 1} {
		p := hhPolicy(t, skill)
		rate, _ := hhSuccessRate(t, e, p, test, false)
		greedy, _ := hhSuccessRate(t, e, p, test, true)
		t.Logf("skill %.2f: success %.2f sampling, %.2f greedy (100 test tasks)", skill, rate, greedy)
		if rate < prev-0.05 {
			t.Errorf("skill %.2f does worse (%.2f) than a lower skill (%.2f)", skill, rate, prev)
		}
		prev = rate
		switch skill {
		case 1:
			if rate != 1 || greedy != 1 {
				t.Errorf("skill 1 is the expert, yet success %.2f / %.2f", rate, greedy)
			}
		case 0.35:
			// The weak policy of the planning experiments: it must leave room to improve on.
			for _, r := range []float64{rate, greedy} {
				if r < 0.05 || r > 0.45 {
					t.Errorf("skill 0.35 success %.2f, want it weak but not hopeless (0.05-0.45)", r)
				}
			}
		case 0:
			if rate > 0.1 {
				t.Errorf("skill 0 success %.2f", rate)
			}
		}
	}
}

var hhPutRx = regexp.MustCompile(`^You put the ([a-z]+) \d+ in/on the ([a-z]+) \d+\.`)

// hhMistakes classifies what went wrong in a trajectory, from its text alone.
func hhMistakes(g household.Goal, tr dataset.Trajectory) map[string]int {
	out := map[string]int{}
	treated := false
	for i, s := range tr.Steps {
		if i > 0 && s.Action == tr.Steps[i-1].Action {
			out["repeat"]++
		}
		if strings.HasPrefix(s.Observation, "You clean") || strings.HasPrefix(s.Observation, "You heat") || strings.HasPrefix(s.Observation, "You cool") {
			treated = true
		}
		if m := hhPutRx.FindStringSubmatch(s.Observation); m != nil && m[1] == g.Object {
			switch {
			case m[2] != g.Target:
				out["wrong_receptacle"]++
			case g.Process() != "" && !treated:
				out["skip_step"]++
			}
		}
		if strings.HasPrefix(s.Observation, "There's nothing special about "+g.Object) {
			out["skip_step"]++
		}
		if strings.HasPrefix(s.Action, "take ") && !strings.HasPrefix(s.Action, "take "+g.Object+" ") && strings.HasPrefix(s.Observation, "You pick up") {
			out["wrong_object"]++
		}
		if s.Observation == "Nothing happens." {
			out["invalid"]++
		}
	}
	return out
}

func TestHouseholdMistakeKinds(t *testing.T) {
	e := hhEnv(t)
	tasks := make([]int, 120)
	for i := range tasks {
		tasks[i] = i
	}
	count := func(skill float64) map[string]int {
		total := map[string]int{}
		p := hhPolicy(t, skill)
		for _, task := range tasks {
			opt := agent.ActOptions{N: 1, Rand: rand.New(rand.NewPCG(uint64(task), 3))}
			tr, err := agent.Rollout(bg, e, p, task, 1000, opt, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range hhMistakes(e.Goal(), tr) {
				total[k] += v
			}
		}
		return total
	}
	weak := count(0.35)
	t.Logf("skill 0.35 hhMistakes over %d episodes: %v", len(tasks), weak)
	for _, k := range []string{"repeat", "wrong_receptacle", "skip_step", "wrong_object", "invalid"} {
		if weak[k] == 0 {
			t.Errorf("skill 0.35 never made a %s mistake", k)
		}
	}
	if strong := count(1); len(strong) != 0 {
		t.Errorf("skill 1 made hhMistakes: %v", strong)
	}
}

func TestHouseholdDeterminism(t *testing.T) {
	e := hhEnv(t)
	p := hhPolicy(t, 0.35)
	for task := range 12 {
		a, _ := agent.Rollout(bg, e, p, task, 1000, agent.ActOptions{Greedy: true}, nil)
		b, _ := agent.Rollout(bg, e, p, task, 1000, agent.ActOptions{Greedy: true, Rand: rand.New(rand.NewPCG(9, 9))}, nil)
		if !slices.Equal(a.Steps, b.Steps) {
			t.Fatalf("task %d: greedy runs differ (greedy must ignore Rand)", task)
		}
		s1, _ := agent.Rollout(bg, e, p, task, 1000, agent.ActOptions{Rand: rand.New(rand.NewPCG(4, 2))}, nil)
		s2, _ := agent.Rollout(bg, e, p, task, 1000, agent.ActOptions{Rand: rand.New(rand.NewPCG(4, 2))}, nil)
		if !slices.Equal(s1.Steps, s2.Steps) {
			t.Fatalf("task %d: sampling runs with the same seed differ", task)
		}
	}
	// Sampling spreads: N candidates from one state are not all the same action.
	e.Reset(bg, 3)
	st := &agent.State{EnvName: "household", Instruction: e.Goal().Instruction(0), Admissible: e.Admissible(), Env: e}
	acts, err := p.Act(bg, st, agent.ActOptions{N: 20, Rand: rand.New(rand.NewPCG(1, 1))})
	if err != nil || len(acts) != 20 {
		t.Fatalf("Act N=20: %d actions, %v", len(acts), err)
	}
	if distinct := len(slices.Compact(slices.Sorted(slices.Values(acts)))); distinct < 3 {
		t.Errorf("20 samples at skill 0.35 gave %d distinct actions", distinct)
	}
	g, _ := p.Act(bg, st, agent.ActOptions{N: 5, Greedy: true})
	if len(g) != 1 {
		t.Errorf("greedy returned %d actions", len(g))
	}
}

func TestHouseholdReflections(t *testing.T) {
	e := hhEnv(t)
	p := hhPolicy(t, 0.35)
	changed := 0
	for task := range 30 {
		obs, _ := e.Reset(bg, task)
		st := &agent.State{EnvName: "household", Instruction: obs.Instruction, Observation: obs.Text, Env: e}
		// Walk a few expert steps so the reflection lands mid-episode.
		for range task % 4 {
			a, _ := e.ExpertAction()
			r, _ := e.Step(bg, a)
			st.Steps = append(st.Steps, dataset.Step{Action: a, Observation: r.Observation})
			st.Observation = r.Observation
		}
		st.Admissible = e.Admissible()
		first, _ := p.Act(bg, st, agent.ActOptions{Greedy: true})
		st.Reflections = []agent.Reflection{{Text: "that failed", Step: len(st.Steps), Action: first[0]}}
		again, err := p.Act(bg, st, agent.ActOptions{Greedy: true})
		if err != nil {
			t.Fatal(err)
		}
		if again[0] == first[0] {
			t.Fatalf("task %d: reflection to avoid %q ignored", task, first[0])
		}
		samples, _ := p.Act(bg, st, agent.ActOptions{N: 30, Rand: rand.New(rand.NewPCG(2, 2))})
		if slices.Contains(samples, first[0]) {
			t.Fatalf("task %d: sampling proposed the avoided %q", task, first[0])
		}
		// A reflection about another step changes nothing.
		st.Reflections[0].Step++
		if other, _ := p.Act(bg, st, agent.ActOptions{Greedy: true}); other[0] != first[0] {
			t.Fatalf("task %d: a reflection for another step changed the action", task)
		}
		changed++
	}
	if changed != 30 {
		t.Fatal(changed)
	}
}

func TestHouseholdPolicyErrors(t *testing.T) {
	for _, s := range []float64{-0.1, 1.5} {
		if _, err := NewHousehold(s); err == nil {
			t.Errorf("skill %v accepted", s)
		}
	}
	p := hhPolicy(t, 0.5)
	if _, err := p.Act(bg, &agent.State{}, agent.ActOptions{}); err == nil {
		t.Error("Act without a household env succeeded")
	}
	e := hhEnv(t)
	e.Reset(bg, 0)
	ctx, cancel := context.WithCancel(bg)
	cancel()
	if _, err := p.Act(ctx, &agent.State{Env: e}, agent.ActOptions{}); err == nil {
		t.Error("Act with a cancelled context succeeded")
	}
	if pol, err := New("household", 0.3); err != nil || !strings.Contains(pol.Name(), "household") {
		t.Errorf("New(household): %v %v", pol, err)
	}
}

func TestHouseholdNegative(t *testing.T) {
	e := hhEnv(t)
	kinds := map[string]int{}
	for task := range 90 {
		pos, err := agent.Rollout(bg, e, hhPolicy(t, 1), task, 1000, agent.ActOptions{Greedy: true}, nil)
		if err != nil || !pos.Success {
			t.Fatalf("task %d: expert positive failed: %v", task, err)
		}
		neg, kind, err := HouseholdNegative(bg, e, task, pos, rand.New(rand.NewPCG(uint64(task), 1)))
		if err != nil {
			t.Fatalf("task %d: %v", task, err)
		}
		if neg.EnvReward >= pos.EnvReward || neg.Success {
			t.Fatalf("task %d %s: negative reward %v not below %v", task, kind, neg.EnvReward, pos.EnvReward)
		}
		if neg.Instruction != pos.Instruction || neg.TaskID != pos.TaskID {
			t.Fatalf("task %d: negative lost the task identity", task)
		}
		if d := len(neg.Steps) - len(pos.Steps); d < -3 || d > 3 {
			t.Errorf("task %d %s: negative %d steps against %d", task, kind, len(neg.Steps), len(pos.Steps))
		}
		// The observations are the env's own: replaying the actions reproduces them.
		e.Reset(bg, task)
		for i, s := range neg.Steps {
			r, err := e.Step(bg, s.Action)
			if err != nil || r.Observation != s.Observation {
				t.Fatalf("task %d step %d: hhReplay %q gave %q, %v", task, i, s.Action, r.Observation, err)
			}
		}
		// The same rng seed gives the same negative.
		again, kind2, _ := HouseholdNegative(bg, e, task, pos, rand.New(rand.NewPCG(uint64(task), 1)))
		if kind2 != kind || !slices.Equal(again.Steps, neg.Steps) {
			t.Fatalf("task %d: negative not reproducible", task)
		}
		kinds[kind]++
	}
	t.Logf("negative kinds over 90 tasks: %v", kinds)
	for _, k := range []string{NegSkipStep, NegWrongReceptacle, NegWrongObject} {
		if kinds[k] < 5 {
			t.Errorf("kind %s made %d times", k, kinds[k])
		}
	}
	if _, _, err := HouseholdNegative(bg, e, 0, dataset.Trajectory{}, rand.New(rand.NewPCG(1, 1))); err == nil {
		t.Error("empty positive accepted")
	}
}

func BenchmarkHouseholdAct(b *testing.B) {
	e, _ := household.New(household.Options{})
	p, _ := NewHousehold(0.35)
	rng := rand.New(rand.NewPCG(1, 1))
	steps := 0
	for b.Loop() {
		tr, err := agent.Rollout(bg, e, p, steps%600, 1000, agent.ActOptions{Rand: rng}, nil)
		if err != nil {
			b.Fatal(err)
		}
		steps += len(tr.Steps)
	}
	b.ReportMetric(float64(steps)/b.Elapsed().Seconds(), "steps/s")
}

// BenchmarkHouseholdTriplet is the synthesis inner loop: an expert positive, then a perturbed
// negative replayed in the env.
func BenchmarkHouseholdTriplet(b *testing.B) {
	e, _ := household.New(household.Options{})
	expert, _ := NewHousehold(1)
	rng := rand.New(rand.NewPCG(1, 1))
	n := 0
	for b.Loop() {
		task := n % 3500
		pos, err := agent.Rollout(bg, e, expert, task, 1000, agent.ActOptions{Greedy: true}, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := HouseholdNegative(bg, e, task, pos, rng); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Minutes(), "triplets/min")
}
