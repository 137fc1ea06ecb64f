package synth

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/armap/armap/pipeline/env/shop"
)

// refineShopGoal is the goal a purchase fulfils: the bought product's type, one to three of its
// attributes, the options chosen (groups left unchosen are not asked for) and a price ceiling
// above its price, drawn as WebShop draws them. The instruction reads like the env's own, so the
// reward model sees one instruction style at training and at planning time.
func refineShopGoal(b *purchase, rng *rand.Rand) *shop.Goal {
	p := b.product
	g := &shop.Goal{Task: -1, ASIN: p.ASIN, Query: p.Query, Path: p.Path, Nouns: p.Nouns}
	n := min(1+rng.IntN(3), len(p.Attributes))
	pick := rng.Perm(len(p.Attributes))[:n]
	for i, a := range p.Attributes {
		for _, j := range pick {
			if i == j {
				g.Attributes = append(g.Attributes, a)
			}
		}
	}
	for _, grp := range p.Options {
		if v, ok := b.chosen[grp.Name]; ok {
			g.Options = append(g.Options, shop.GoalOption{Name: grp.Name, Value: v})
		}
	}
	g.PriceUpper = shopCeiling(p.Price, rng)
	g.Instruction = shopInstruction(g, rng)
	return g
}

// shopCeiling follows WebShop's price goals: two of the first four multiples of ten above the
// price, the larger one; none (1e6) when there are not two.
func shopCeiling(price float64, rng *rand.Rand) float64 {
	var xs []float64
	for v := 10.0; v < 1000 && len(xs) < 4; v += 10 {
		if v > price {
			xs = append(xs, v)
		}
	}
	if len(xs) < 2 {
		return 1e6
	}
	a := rng.IntN(len(xs))
	b := rng.IntN(len(xs) - 1)
	if b >= a {
		b++
	}
	return max(xs[a], xs[b])
}

func andList(xs []string) string {
	switch len(xs) {
	case 0:
		return ""
	case 1:
		return xs[0]
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " and " + xs[len(xs)-1]
}

// shopInstruction writes a goal in the style of the shop env's instructions (lower case, the
// attributes, the options, ", and price lower than X dollars").
func shopInstruction(g *shop.Goal, rng *rand.Rand) string {
	attrs := andList(g.Attributes)
	var opts string
	if len(g.Options) > 0 {
		parts := make([]string, len(g.Options))
		if rng.IntN(2) == 0 {
			for i, o := range g.Options {
				parts[i] = o.Name + ": " + o.Value
			}
			opts = " with " + strings.Join(parts, ", and ")
		} else {
			for i, o := range g.Options {
				switch o.Name {
				case "color":
					parts[i] = o.Value + " color"
				case "size":
					parts[i] = "size " + o.Value
				default:
					parts[i] = o.Name + " " + o.Value
				}
			}
			opts = " in " + andList(parts)
		}
	}
	var head string
	switch {
	case attrs == "":
		head = "i am looking for " + g.Query
	default:
		switch rng.IntN(5) {
		case 0:
			head = "i need " + attrs + " " + g.Query
		case 1:
			head = "i am looking for " + g.Query + " with " + attrs
		case 2:
			head = "i want to buy " + attrs + " " + g.Query
		case 3:
			head = "find me " + attrs + " " + g.Query
		default:
			head = "i would like " + attrs + " " + g.Query
		}
	}
	price := ""
	if g.PriceUpper < 1e6 {
		price = fmt.Sprintf(", and price lower than %.2f dollars", g.PriceUpper)
	}
	return head + opts + price
}
