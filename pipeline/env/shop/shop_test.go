package shop

import (
	"context"
	"errors"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/armap/armap/pipeline/env"
)

func newTestEnv(t testing.TB) *Env { return NewWithCatalog(mustCatalog(t)) }

func step(t testing.TB, e *Env, a string) env.StepResult {
	t.Helper()
	r, err := e.Step(context.Background(), a)
	if err != nil {
		t.Fatalf("step %q: %v", a, err)
	}
	return r
}

func TestResetObservation(t *testing.T) {
	e := newTestEnv(t)
	obs, err := e.Reset(context.Background(), 3)
	if err != nil {
		t.Fatal(err)
	}
	if obs.TaskID != "shop/3" || obs.Instruction != e.Goal().Instruction || !strings.Contains(obs.Text, obs.Instruction) || !strings.HasSuffix(obs.Text, "[Search]") {
		t.Fatalf("bad first observation %+v", obs)
	}
	adm := e.Admissible()
	if len(adm) != 1 || adm[0] != "search["+RuleQuery(obs.Instruction)+"]" || strings.Contains(adm[0], "price lower") {
		t.Fatalf("search page admissible %q", adm)
	}
	if _, err := e.Reset(context.Background(), e.NumTasks()); !errors.Is(err, env.ErrNoTask) {
		t.Fatalf("out-of-range reset: %v", err)
	}
	if _, err := NewWithCatalog(mustCatalog(t)).Step(context.Background(), "search[x]"); err == nil {
		t.Fatal("step before reset accepted")
	}
}

func TestPageFlow(t *testing.T) {
	e, err := New(Config{MaxSteps: 40})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := e.Reset(ctx, 0); err != nil {
		t.Fatal(err)
	}
	g := e.Goal()
	target := &e.Catalog().Products[g.Product]

	r := step(t, e, "click[buy now]")
	if !strings.HasPrefix(r.Observation, "Invalid action") || r.Done {
		t.Fatalf("click on the search page: %q", r.Observation)
	}
	r = step(t, e, "search[]")
	if !strings.HasPrefix(r.Observation, "Invalid action") {
		t.Fatalf("empty search: %q", r.Observation)
	}
	r = step(t, e, "Search[  "+strings.ToUpper(target.Query)+" ]")
	v := e.View()
	if v.Kind != PageResults || v.Page != 1 || len(v.Results) != ResultsPerPage || v.Query != target.Query {
		t.Fatalf("after search: %+v\n%s", v, r.Observation)
	}
	if !strings.HasPrefix(r.Observation, "[Back to Search]\nPage 1 (Total results: 50)\n[Next >]\n["+v.Results[0]+"]") {
		t.Fatalf("results page text:\n%s", r.Observation)
	}
	if r = step(t, e, "search[again]"); !strings.HasPrefix(r.Observation, "Invalid action") {
		t.Fatal("search accepted on a results page")
	}
	if r = step(t, e, "click[< prev]"); !strings.HasPrefix(r.Observation, "Invalid action") {
		t.Fatal("< prev accepted on page 1")
	}
	for p := 2; p <= 5; p++ {
		r = step(t, e, "click[Next >]")
		if e.View().Page != p || !strings.Contains(r.Observation, "[< Prev]") {
			t.Fatalf("next to page %d: %+v", p, e.View())
		}
	}
	if r = step(t, e, "click[next >]"); !strings.HasPrefix(r.Observation, "Invalid action") {
		t.Fatalf("next past the last page: %q", r.Observation)
	}
	step(t, e, "click[< prev]")
	if e.View().Page != 4 {
		t.Fatalf("prev: page %d", e.View().Page)
	}
	first := e.View().Results[0]
	r = step(t, e, "click["+strings.ToLower(first)+"]")
	p, _ := e.Catalog().Product(first)
	if e.View().Kind != PageItem || !strings.Contains(r.Observation, p.Title) || !strings.Contains(r.Observation, "[Buy Now]") {
		t.Fatalf("item page:\n%s", r.Observation)
	}
	for _, gr := range p.Options {
		if !strings.Contains(r.Observation, gr.Name+" ["+gr.Values[0]+"]") {
			t.Fatalf("item page lacks options %s:\n%s", gr.Name, r.Observation)
		}
	}
	adm := e.Admissible()
	if adm[len(adm)-1] != "click[buy now]" || adm[0] != "click[back to search]" {
		t.Fatalf("item admissible %q", adm)
	}
	v0 := p.Options[0].Values[0]
	if r = step(t, e, "click["+v0+"]"); r.Observation != "You have clicked "+v0+"." || e.View().Chosen[p.Options[0].Name] != v0 {
		t.Fatalf("option click: %q %+v", r.Observation, e.View())
	}
	r = step(t, e, "click[Description]")
	if e.View().Kind != PageDetail || !strings.Contains(r.Observation, p.Description) {
		t.Fatalf("description: %q", r.Observation)
	}
	r = step(t, e, "click[< prev]")
	if e.View().Kind != PageItem || e.View().Chosen[p.Options[0].Name] != v0 {
		t.Fatal("back from description lost the item or its options")
	}
	r = step(t, e, "click[features]")
	if !strings.Contains(r.Observation, p.Features[0]) {
		t.Fatalf("features: %q", r.Observation)
	}
	step(t, e, "click[< prev]")
	step(t, e, "click[< prev]")
	if v := e.View(); v.Kind != PageResults || v.Page != 4 {
		t.Fatalf("prev from item should return to results page 4: %+v", v)
	}
	// reopening the same item keeps its options, as WebShop's session does
	step(t, e, "click["+first+"]")
	if e.View().Chosen[p.Options[0].Name] != v0 {
		t.Fatal("options lost on reopening the same item")
	}
	step(t, e, "click[back to search]")
	if v := e.View(); v.Kind != PageSearch {
		t.Fatalf("back to search: %+v", v)
	}
	if r = step(t, e, "nonsense"); !strings.HasPrefix(r.Observation, "Invalid action") {
		t.Fatal("nonsense accepted")
	}
}

// TestBuyRevealsNoReward: the purchase page says thanks, nothing about the score.
func TestBuyRevealsNoReward(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	rewards := map[float64]bool{}
	for task := 0; task < 40; task++ {
		e.Reset(ctx, task)
		step(t, e, "search["+e.Goal().Query+"]")
		step(t, e, "click["+e.View().Results[task%ResultsPerPage]+"]")
		r := step(t, e, "click[buy now]")
		if !r.Done || r.Observation != ThankYou {
			t.Fatalf("buy: %+v", r)
		}
		info, ok := e.Outcome()
		if !ok || info.Total != r.Reward {
			t.Fatalf("outcome %+v vs reward %v", info, r.Reward)
		}
		rewards[r.Reward] = true
		if _, err := e.Step(ctx, "click[buy now]"); !errors.Is(err, env.ErrDone) {
			t.Fatalf("step after done: %v", err)
		}
		if adm := e.Admissible(); adm == nil || len(adm) != 0 {
			t.Fatalf("admissible after done: %#v", adm)
		}
		if _, ok := e.ExpertAction(); ok {
			t.Fatal("expert acts after done")
		}
	}
	if len(rewards) < 3 {
		t.Errorf("buying arbitrary results gave only rewards %v", rewards)
	}
}

func TestStepLimit(t *testing.T) {
	c, err := NewCatalog(Config{MaxSteps: 4})
	if err != nil {
		t.Fatal(err)
	}
	e := NewWithCatalog(c)
	e.Reset(context.Background(), 5)
	step(t, e, "search[shoes]")
	step(t, e, "click[next >]")
	step(t, e, "click[next >]")
	r := step(t, e, "click[< prev]")
	if !r.Done || r.Reward != 0 || !strings.HasSuffix(r.Observation, stepLimitNote) {
		t.Fatalf("step limit: %+v", r)
	}
	if _, bought := e.Outcome(); bought {
		t.Fatal("outcome after a step-limit end")
	}
}

// randomWalk takes n admissible actions (or fewer if the episode ends) and records what came
// back.
func randomWalk(t testing.TB, e *Env, rng *rand.Rand, n int) (acts, obs []string, rewards []float64) {
	for i := 0; i < n; i++ {
		adm := e.Admissible()
		if len(adm) == 0 {
			break
		}
		a := adm[rng.IntN(len(adm))]
		if rng.IntN(4) == 0 {
			if x, ok := e.ExpertAction(); ok {
				a = x
			}
		}
		r := step(t, e, a)
		acts, obs, rewards = append(acts, a), append(obs, r.Observation), append(rewards, r.Reward)
		if r.Done {
			break
		}
	}
	return
}

func replay(t testing.TB, e *Env, acts []string) (obs []string, rewards []float64) {
	for _, a := range acts {
		r := step(t, e, a)
		obs, rewards = append(obs, r.Observation), append(rewards, r.Reward)
	}
	return
}

func equalRun(t *testing.T, what string, o1, o2 []string, r1, r2 []float64) {
	t.Helper()
	if len(o1) != len(o2) {
		t.Fatalf("%s: %d vs %d steps", what, len(o1), len(o2))
	}
	for i := range o1 {
		if o1[i] != o2[i] || r1[i] != r2[i] {
			t.Fatalf("%s: step %d differs:\n%q (%v)\n%q (%v)", what, i, o1[i], r1[i], o2[i], r2[i])
		}
	}
}

func TestSnapshotRestoreEquivalence(t *testing.T) {
	c := mustCatalog(t)
	e := NewWithCatalog(c)
	other := NewWithCatalog(c)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 200; trial++ {
		task := rng.IntN(c.NumTasks())
		e.Reset(ctx, task)
		if trial%2 == 0 {
			step(t, e, "search["+RuleQuery(e.Goal().Instruction)+"]")
		}
		randomWalk(t, e, rng, rng.IntN(6))
		snap, err := e.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		admBefore := strings.Join(e.Admissible(), "|")
		viewBefore := e.View()
		acts, o1, r1 := randomWalk(t, e, rng, 8)
		if err := e.Restore(snap); err != nil {
			t.Fatal(err)
		}
		if strings.Join(e.Admissible(), "|") != admBefore || e.View().Steps != viewBefore.Steps || e.View().Kind != viewBefore.Kind {
			t.Fatal("restore did not bring back the page")
		}
		o2, r2 := replay(t, e, acts)
		equalRun(t, "same env", o1, o2, r1, r2)
		// a different task in between must not leak into the restored state
		other.Reset(ctx, (task+1)%c.NumTasks())
		if err := other.Restore(snap); err != nil {
			t.Fatal(err)
		}
		o3, r3 := replay(t, other, acts)
		equalRun(t, "other env", o1, o3, r1, r3)
		// restoring twice from one snapshot gives the same again (the snapshot is not aliased)
		if err := e.Restore(snap); err != nil {
			t.Fatal(err)
		}
		o4, r4 := replay(t, e, acts)
		equalRun(t, "second restore", o1, o4, r1, r4)
	}
}

func TestRestoreRejectsForeignSnapshots(t *testing.T) {
	e := newTestEnv(t)
	if err := e.Restore("not a snapshot"); err == nil {
		t.Fatal("foreign snapshot accepted")
	}
	small, err := New(Config{Products: 300})
	if err != nil {
		t.Fatal(err)
	}
	small.Reset(context.Background(), 0)
	s, _ := small.Snapshot()
	if err := e.Restore(s); err == nil || !strings.Contains(err.Error(), "config") {
		t.Fatalf("snapshot of another catalog accepted: %v", err)
	}
}

var invalidRe = regexp.MustCompile(`^Invalid action`)

// TestAdmissibleActionsAreValid walks randomly and checks every admissible action is accepted
// and that clickables in observations agree with Admissible.
func TestAdmissibleActionsAreValid(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := 0; trial < 150; trial++ {
		e.Reset(ctx, rng.IntN(e.NumTasks()))
		for i := 0; i < 15; i++ {
			adm := e.Admissible()
			if len(adm) == 0 {
				break
			}
			snap, _ := e.Snapshot()
			for _, a := range adm {
				e.Restore(snap)
				if r := step(t, e, a); invalidRe.MatchString(r.Observation) {
					t.Fatalf("admissible %q rejected: %s", a, r.Observation)
				}
			}
			e.Restore(snap)
			if r := step(t, e, adm[rng.IntN(len(adm))]); r.Done {
				break
			}
		}
	}
}

func TestFactorySharesCatalog(t *testing.T) {
	f, err := NewFactory(Config{Products: 300})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := f()
	b, _ := f()
	if a.(*Env).Catalog() != b.(*Env).Catalog() {
		t.Fatal("factory built two catalogs")
	}
	oa, _ := a.Reset(context.Background(), 150)
	ob, _ := b.Reset(context.Background(), 150)
	if oa != ob {
		t.Fatal("same task, different start")
	}
}

func TestSatisfies(t *testing.T) {
	e := newTestEnv(t)
	e.Reset(context.Background(), 7)
	g := e.Goal()
	if !e.Satisfies(g.ASIN) || e.Satisfies("B0NOPE0000") {
		t.Fatal("Satisfies wrong on target or unknown ASIN")
	}
	n := 0
	for i := range e.Catalog().Products {
		if e.Satisfies(e.Catalog().Products[i].ASIN) {
			n++
			p := &e.Catalog().Products[i]
			if p.Price > g.PriceUpper {
				t.Errorf("%s satisfies but costs %.2f > %.2f", p.ASIN, p.Price, g.PriceUpper)
			}
		}
	}
	if n == len(e.Catalog().Products) || n == 0 {
		t.Fatalf("%d products satisfy task 7", n)
	}
}

// TestConcurrentEnvs runs envs of one factory in parallel (they share the catalog and index);
// run with -race to check the sharing.
func TestConcurrentEnvs(t *testing.T) {
	f, err := NewFactory(Config{})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 4)
	for w := 0; w < 4; w++ {
		go func() {
			ee, _ := f()
			e := ee.(*Env)
			for task := w; task < 200; task += 4 {
				e.Reset(context.Background(), task)
				for {
					a, _ := e.ExpertAction()
					r, err := e.Step(context.Background(), a)
					if err != nil {
						errs <- err
						return
					}
					if r.Done {
						if r.Reward != 1 {
							errs <- errors.New("expert failed in parallel run")
							return
						}
						break
					}
				}
			}
			errs <- nil
		}()
	}
	for w := 0; w < 4; w++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
