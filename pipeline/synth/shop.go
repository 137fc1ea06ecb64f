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
	g.Attributes = shop.SampleAttributes(rng, p.Attributes, 1+rng.IntN(3))
	for _, grp := range p.Options {
		if v, ok := b.chosen[grp.Name]; ok {
			g.Options = append(g.Options, shop.GoalOption{Name: grp.Name, Value: v})
		}
	}
	g.PriceUpper = shop.PriceCeiling(rng, p.Price)
	g.Instruction = shopInstruction(g, rng)
	return g
}

// shopInstruction writes a goal in the style of the shop env's instructions (lower case, the
// attributes, the options, ", and price lower than X dollars").
func shopInstruction(g *shop.Goal, rng *rand.Rand) string {
	attrs := shop.PhraseList(g.Attributes)
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
			opts = " in " + shop.PhraseList(parts)
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
