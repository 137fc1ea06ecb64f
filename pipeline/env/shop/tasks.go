package shop

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/armap/armap/pipeline/env"
)

// GoalOption is one option the instruction asks for.
type GoalOption struct {
	Name  string
	Value string
}

// Goal is a task: what to buy. A purchase is judged against it by ComputeReward.
type Goal struct {
	Task        int
	ASIN        string // the target product the goal was drawn from
	Product     int    // its index in Catalog.Products
	Query       string // target's product type (WebShop's goal["query"])
	Path        string // target's category path
	Nouns       []string
	Attributes  []string     // a subset of the target's attributes
	Options     []GoalOption // one value for each of the target's option groups
	PriceUpper  float64
	Instruction string
}

// NumTasks is the number of tasks: NumTest test tasks, then TrainVariants per other product.
func (c *Catalog) NumTasks() int { return NumTest + c.cfg.TrainVariants*len(c.trainIDs) }

// Split maps "test" to tasks 0..NumTest-1 (one per held-out target product) and "train" to the
// rest, whose targets are never test targets; "all" gives every task.
func (c *Catalog) Split(name string) ([]int, error) {
	var lo, hi int
	switch name {
	case "test":
		lo, hi = 0, NumTest
	case "train":
		lo, hi = NumTest, c.NumTasks()
	case "all":
		lo, hi = 0, c.NumTasks()
	default:
		return nil, fmt.Errorf("shop: unknown split %q (want test, train or all)", name)
	}
	out := make([]int, 0, hi-lo)
	for i := lo; i < hi; i++ {
		out = append(out, i)
	}
	return out, nil
}

// Goal derives task number task. The same catalog and task always give the same goal.
func (c *Catalog) Goal(task int) (*Goal, error) {
	if task < 0 || task >= c.NumTasks() {
		return nil, fmt.Errorf("shop: task %d not in [0, %d): %w", task, c.NumTasks(), env.ErrNoTask)
	}
	var pi int
	if task < NumTest {
		pi = c.testIDs[task]
	} else {
		j := task - NumTest
		pi = c.trainIDs[j%len(c.trainIDs)]
	}
	p := &c.Products[pi]
	rng := rand.New(rand.NewPCG(c.cfg.Seed^0x9e3779b97f4a7c15, uint64(task)))
	g := &Goal{Task: task, ASIN: p.ASIN, Product: pi, Query: p.Query, Path: p.Path, Nouns: p.Nouns}

	// WebShop goals name two or three attributes most often, sometimes one.
	n := 2
	switch r := rng.Float64(); {
	case r < 0.25:
		n = 1
	case r > 0.7:
		n = 3
	}
	g.Attributes = SampleAttributes(rng, p.Attributes, n)
	for _, grp := range p.Options {
		g.Options = append(g.Options, GoalOption{Name: grp.Name, Value: pick(rng, grp.Values)})
	}
	g.PriceUpper = PriceCeiling(rng, p.Price)
	g.Instruction = instruction(rng, g)
	return g, nil
}

// PriceCeiling is WebShop's price goal for a product: of the first four multiples of ten above
// its price, sample two and keep the larger; 1e6 (no ceiling) when there are not two.
func PriceCeiling(rng *rand.Rand, price float64) float64 {
	var xs []float64
	for i := 1; i < 100 && len(xs) < 4; i++ {
		if v := 10 * float64(i); v > price {
			xs = append(xs, v)
		}
	}
	if len(xs) < 2 {
		return 1e6
	}
	a, b := rng.IntN(len(xs)), rng.IntN(len(xs)-1)
	if b >= a {
		b++
	}
	return max(xs[a], xs[b])
}

func optionPhrase(o GoalOption) string {
	switch o.Name {
	case "color":
		return o.Value + " color"
	case "size":
		return "size " + o.Value
	case "flavor name":
		return o.Value + " flavor"
	case "scent":
		return o.Value + " scent"
	}
	return o.Name + " " + o.Value
}

func instruction(rng *rand.Rand, g *Goal) string {
	attrs := PhraseList(g.Attributes)
	var opts string
	if len(g.Options) > 0 {
		if rng.IntN(2) == 0 {
			parts := make([]string, len(g.Options))
			for i, o := range g.Options {
				parts[i] = o.Name + ": " + o.Value
			}
			opts = " with " + strings.Join(parts, ", and ")
		} else {
			parts := make([]string, len(g.Options))
			for i, o := range g.Options {
				parts[i] = optionPhrase(o)
			}
			opts = " in " + PhraseList(parts)
		}
	}
	var head string
	switch rng.IntN(6) {
	case 0:
		head = "i need " + attrs + " " + g.Query
	case 1:
		head = "i'm looking for " + g.Query + " with " + attrs
	case 2:
		head = "i want to buy " + attrs + " " + g.Query
	case 3:
		head = "find me " + attrs + " " + g.Query
	case 4:
		head = "i would like " + attrs + " " + g.Query
	default:
		head = "show me " + g.Query + " that are " + attrs
	}
	price := ""
	if g.PriceUpper < 1e6 {
		price = fmt.Sprintf(", and price lower than %.2f dollars", g.PriceUpper)
	}
	return head + opts + price
}

// SampleAttributes picks min(n, len(attrs)) of a product's attributes at random and keeps them
// in the product's order, as a goal names them.
func SampleAttributes(rng *rand.Rand, attrs []string, n int) []string {
	n = min(n, len(attrs))
	var out []string
	idx := rng.Perm(len(attrs))[:n]
	for ai, a := range attrs {
		for _, j := range idx {
			if j == ai {
				out = append(out, a)
			}
		}
	}
	return out
}
