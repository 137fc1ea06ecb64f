package shop

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// testCatalog builds the default catalog once for the package's tests.
var testCatalog = sync.OnceValues(func() (*Catalog, error) { return NewCatalog(Config{}) })

func mustCatalog(t testing.TB) *Catalog {
	t.Helper()
	c, err := testCatalog()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCatalogDeterministic(t *testing.T) {
	a := mustCatalog(t)
	b, err := NewCatalog(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a.Products, b.Products) || !reflect.DeepEqual(a.testIDs, b.testIDs) {
		t.Fatal("two builds of the same config differ")
	}
	c, err := NewCatalog(Config{Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	if c.Products[0].ASIN == a.Products[0].ASIN && c.Products[0].Title == a.Products[0].Title {
		t.Fatal("a different seed gave the same first product")
	}
}

func TestCatalogConfigErrors(t *testing.T) {
	for _, cfg := range []Config{{Products: 50}, {MaxSteps: 1}, {TrainVariants: -1}} {
		if _, err := NewCatalog(cfg); err == nil || !strings.Contains(err.Error(), "config field") {
			t.Errorf("config %+v: want a config field error, got %v", cfg, err)
		}
	}
}

func TestCatalogShape(t *testing.T) {
	c := mustCatalog(t)
	if len(c.Products) < 1000 {
		t.Fatalf("%d products, want >= 1000", len(c.Products))
	}
	cats := map[string]int{}
	types := map[string]int{}
	asins := map[string]bool{}
	for i := range c.Products {
		p := &c.Products[i]
		cats[p.Category]++
		types[p.Query]++
		if len(p.ASIN) != 10 || !strings.HasPrefix(p.ASIN, "B0") || asins[p.ASIN] {
			t.Errorf("product %d: bad or duplicate ASIN %q", i, p.ASIN)
		}
		asins[p.ASIN] = true
		if p.Price <= 0 || p.Title == "" || p.Description == "" || len(p.Features) == 0 || len(p.Attributes) < 3 || len(p.Options) == 0 || len(p.Nouns) == 0 {
			t.Errorf("product %s incomplete: %+v", p.ASIN, p)
		}
		if q, ok := c.Product(strings.ToLower(p.ASIN)); !ok || q != p {
			t.Errorf("lookup of %s failed", p.ASIN)
		}
	}
	if len(cats) < 10 {
		t.Fatalf("%d categories, want >= 10", len(cats))
	}
	for ty, n := range types {
		if n < 10 {
			t.Errorf("type %q has only %d products; search would not matter", ty, n)
		}
	}
	titles := map[string]bool{}
	for i := range c.Products {
		titles[c.Products[i].Title] = true
	}
	if len(titles) < len(c.Products)*9/10 {
		t.Errorf("only %d distinct titles of %d products", len(titles), len(c.Products))
	}
}

// TestCatalogRewardInvariants checks what makes WebShop's reward honest on this catalog: a
// product's text never contains an option value it offers (else the reward's substring
// fallback would credit any choice), nor an attribute of its category that it lacks; option
// values of a group are distinct under the reward's matching; and no value repeats across groups
// (a click must name one option).
func TestCatalogRewardInvariants(t *testing.T) {
	c := mustCatalog(t)
	catAttrs := map[string][]string{}
	for _, cs := range categories {
		var all []string
		for _, slot := range cs.attrs {
			all = append(all, slot...)
		}
		for _, ts := range cs.types {
			for _, slot := range ts.attrs {
				all = append(all, slot...)
			}
		}
		catAttrs[cs.name] = all
	}
	for i := range c.Products {
		p := &c.Products[i]
		seen := map[string]bool{}
		for _, g := range p.Options {
			if len(g.Values) < 2 {
				t.Errorf("%s group %s has %d values", p.ASIN, g.Name, len(g.Values))
			}
			for vi, v := range g.Values {
				if seen[v] {
					t.Errorf("%s: value %q in two groups", p.ASIN, v)
				}
				seen[v] = true
				if p.textContains(v) || p.textContains(normalizeColor(v)) {
					t.Errorf("%s: option value %q occurs in the product text", p.ASIN, v)
				}
				for _, w := range g.Values[vi+1:] {
					a, b := normalizeColor(v), normalizeColor(w)
					if exactMatchOption(g.Name) {
						if a == b {
							t.Errorf("%s: sizes %q and %q collide", p.ASIN, v, w)
						}
					} else if fuzzyMatch(a, b) {
						t.Errorf("%s: %s values %q and %q match fuzzily (%d)", p.ASIN, g.Name, v, w, TokenSetRatio(a, b))
					}
				}
			}
		}
		for _, a := range catAttrs[p.Category] {
			if p.HasAttribute(a) {
				continue
			}
			if p.textContains(a) {
				t.Errorf("%s lacks attribute %q but its text contains it", p.ASIN, a)
			}
			for _, pa := range p.Attributes {
				if fuzzyMatch(pa, a) {
					t.Errorf("%s: attribute %q matches missing %q fuzzily", p.ASIN, pa, a)
				}
			}
		}
	}
}

func TestSplitsAndGoals(t *testing.T) {
	c := mustCatalog(t)
	test, err := c.Split("test")
	if err != nil || len(test) != NumTest || test[0] != 0 || test[NumTest-1] != NumTest-1 {
		t.Fatalf("test split %v %v", len(test), err)
	}
	train, err := c.Split("train")
	if err != nil || len(train) < 2000 || len(train)+len(test) != c.NumTasks() {
		t.Fatalf("train split has %d tasks (%v); total %d", len(train), err, c.NumTasks())
	}
	if _, err := c.Split("dev"); err == nil {
		t.Fatal("unknown split accepted")
	}
	testTargets := map[string]bool{}
	for _, task := range test {
		g, err := c.Goal(task)
		if err != nil {
			t.Fatal(err)
		}
		if testTargets[g.ASIN] {
			t.Errorf("test target %s used twice", g.ASIN)
		}
		testTargets[g.ASIN] = true
	}
	instr := map[string]bool{}
	for _, task := range append(test, train...) {
		g, err := c.Goal(task)
		if err != nil {
			t.Fatal(err)
		}
		if task >= NumTest && testTargets[g.ASIN] {
			t.Fatalf("train task %d targets test product %s", task, g.ASIN)
		}
		checkGoal(t, c, g)
		instr[g.Instruction] = true
	}
	if len(instr) < c.NumTasks()*95/100 {
		t.Errorf("only %d distinct instructions over %d tasks", len(instr), c.NumTasks())
	}
	g1, _ := c.Goal(1234)
	g2, _ := c.Goal(1234)
	if !reflect.DeepEqual(g1, g2) {
		t.Fatal("goal of a task is not deterministic")
	}
	if _, err := c.Goal(c.NumTasks()); err == nil {
		t.Fatal("out of range task accepted")
	}
}

func checkGoal(t *testing.T, c *Catalog, g *Goal) {
	t.Helper()
	p := &c.Products[g.Product]
	if p.ASIN != g.ASIN || g.Query != p.Query {
		t.Fatalf("task %d: goal target mismatch", g.Task)
	}
	if len(g.Attributes) == 0 || len(g.Attributes) > 3 {
		t.Errorf("task %d: %d attributes", g.Task, len(g.Attributes))
	}
	for _, a := range g.Attributes {
		if !p.HasAttribute(a) || !strings.Contains(g.Instruction, a) {
			t.Errorf("task %d: attribute %q not of target or not in %q", g.Task, a, g.Instruction)
		}
	}
	if len(g.Options) != len(p.Options) {
		t.Errorf("task %d: %d goal options for %d groups", g.Task, len(g.Options), len(p.Options))
	}
	for _, o := range g.Options {
		grp := p.Group(o.Name)
		if grp == nil || !contains(grp.Values, o.Value) || !strings.Contains(g.Instruction, o.Value) {
			t.Errorf("task %d: option %+v not offered or not in instruction", g.Task, o)
		}
	}
	if g.PriceUpper <= p.Price || g.PriceUpper > p.Price+40 || math.Mod(g.PriceUpper, 10) != 0 {
		t.Errorf("task %d: ceiling %.2f for price %.2f", g.Task, g.PriceUpper, p.Price)
	}
	if !strings.HasSuffix(g.Instruction, fmt.Sprintf("price lower than %.2f dollars", g.PriceUpper)) {
		t.Errorf("task %d: instruction %q lacks the price clause", g.Task, g.Instruction)
	}
	if r := ComputeReward(p, p.Price, goalChoice(g), g); r.Total != 1 {
		t.Errorf("task %d: target with goal options scores %+v", g.Task, r)
	}
}

func goalChoice(g *Goal) map[string]string {
	m := map[string]string{}
	for _, o := range g.Options {
		m[o.Name] = o.Value
	}
	return m
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// TestExpertSolvesEveryTask runs the expert on every task: it must buy with reward 1 well
// within the step limit.
func TestExpertSolvesEveryTask(t *testing.T) {
	c := mustCatalog(t)
	e := NewWithCatalog(c)
	ctx := context.Background()
	longest := 0
	for task := 0; task < c.NumTasks(); task++ {
		if _, err := e.Reset(ctx, task); err != nil {
			t.Fatal(err)
		}
		for n := 0; ; n++ {
			a, ok := e.ExpertAction()
			if !ok {
				t.Fatalf("task %d: expert gave up after %d steps", task, n)
			}
			r, err := e.Step(ctx, a)
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(r.Observation, "Invalid action") {
				t.Fatalf("task %d: expert action %q invalid", task, a)
			}
			if r.Done {
				if r.Reward != 1 {
					info, _ := e.Outcome()
					t.Fatalf("task %d: expert reward %v (%+v)", task, r.Reward, info)
				}
				longest = max(longest, n+1)
				break
			}
		}
	}
	if longest > c.cfg.MaxSteps-3 {
		t.Errorf("expert needs up to %d steps; the limit %d leaves no room for mistakes", longest, c.cfg.MaxSteps)
	}
	t.Logf("longest expert episode: %d steps", longest)
}
