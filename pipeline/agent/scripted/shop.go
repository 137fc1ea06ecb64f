package scripted

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/armap/armap/pipeline/agent"
	"github.com/armap/armap/pipeline/env/shop"
)

// Shop is the scripted stand-in for an LLM agent in the shop env (WebShop-style). In each state
// it builds a distribution over actions: the env expert's action with a weight that grows with
// skill, and the mistakes LLM agents make on WebShop with weights that shrink with it:
//
//   - vague search: only the product type, the type with one attribute left out, or the whole
//     instruction pasted as the query, so fitting products may be missing from the page;
//   - wrong attribute: opening a product of the right type that lacks an asked-for attribute
//     (it reads like a match), and, once there, going on as if it were right;
//   - over budget: opening a fitting-looking product that costs more than the ceiling;
//   - wrong or missing option: clicking another value of a group (a neighbouring size, another
//     colour), or skipping a group;
//   - early buy: "buy now" before all options are chosen;
//   - giving up on a page too early (a plausible product instead of "next >").
//
// What it believes comes from the page and the history (products it opened already are less
// attractive), so the distribution is a function of the state. It needs State.Env to be a shop
// env positioned at the state.
type Shop struct {
	skill float64
	wExp  float64 // weight of the expert's action
	miss  float64 // scale of the mistake weights
}

// NewShop makes the shop policy; skill is in [0, 1] (1 = the expert, never wrong).
func NewShop(skill float64) (*Shop, error) {
	if math.IsNaN(skill) || skill < 0 || skill > 1 {
		return nil, fmt.Errorf("scripted shop: skill %v not in [0, 1]", skill)
	}
	return &Shop{skill: skill, wExp: 0.15 + 0.85*skill, miss: 2.2 * (1 - skill)}, nil
}

// Name implements agent.Policy.
func (p *Shop) Name() string { return fmt.Sprintf("scripted-shop(skill=%.2f)", p.skill) }

var _ agent.Policy = (*Shop)(nil)

// shopView is what the policy reads from the env; *shop.Env provides it.
type shopView interface {
	ExpertAction() (string, bool)
	ExpertQuery() string
	Goal() *shop.Goal
	View() shop.View
	Satisfies(asin string) bool
	Catalog() *shop.Catalog
	Admissible() []string
}

// Act implements agent.Policy. Greedy runs draw from a generator seeded by a hash of the
// instruction and the history, so they are deterministic per state; sampling uses opt.Rand (or,
// when it is nil, the same state hash).
func (p *Shop) Act(ctx context.Context, st *agent.State, opt agent.ActOptions) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	v, ok := st.Env.(shopView)
	if !ok {
		return nil, fmt.Errorf("scripted shop: State.Env is %T, want a shop env", st.Env)
	}
	if v.Goal() == nil {
		return nil, errors.New("scripted shop: the env has not been reset")
	}
	if got := v.View().Steps; got != len(st.Steps) {
		return nil, fmt.Errorf("scripted shop: env is at step %d but the state has %d steps", got, len(st.Steps))
	}
	cands := p.candidates(st, v)
	cands = avoid(cands, st, same, func() [][]string { return expertThenAdmissible(st, v) })
	if len(cands) == 0 {
		return nil, errors.New("scripted shop: no candidate action (episode over?)")
	}
	return draw(cands, opt, func() *rand.Rand {
		return agent.StateSeed{Salt: "shop\x00", Observation: true, Stream: 0x51ab_5eed}.Rand(st)
	}), nil
}

func shopClick(x string) string { return "click[" + x + "]" }

// shopOpened lists the ASINs the history clicked, in order.
func shopOpened(st *agent.State, cat *shop.Catalog) map[string]int {
	m := map[string]int{}
	for _, s := range st.Steps {
		if a, ok := strings.CutPrefix(s.Action, "click["); ok {
			a = strings.TrimSuffix(a, "]")
			if _, isProduct := cat.Product(a); isProduct {
				m[strings.ToUpper(a)]++
			}
		}
	}
	return m
}

// shopVagueQueries are the searches a careless agent writes for the goal.
func shopVagueQueries(g *shop.Goal) []string {
	qs := []string{g.Query}
	if len(g.Attributes) > 1 {
		// one asked-for attribute forgotten
		qs = append(qs, strings.Join(g.Attributes[1:], " ")+" "+g.Query)
	}
	return append(qs, shop.RuleQuery(g.Instruction))
}

func (p *Shop) candidates(st *agent.State, v shopView) []cand {
	view := v.View()
	if view.Done {
		return nil
	}
	g := v.Goal()
	cat := v.Catalog()
	expert, hasExpert := v.ExpertAction()
	we, miss := p.wExp, p.miss
	var cs []cand
	switch view.Kind {
	case shop.PageSearch:
		cs = addCand(cs, "search["+v.ExpertQuery()+"]", we)
		qs := shopVagueQueries(g)
		for _, q := range qs {
			cs = addCand(cs, "search["+q+"]", miss*0.6/float64(len(qs)))
		}

	case shop.PageResults:
		seen := shopOpened(st, cat)
		var winners, sameType, overBudget, others []string
		for _, a := range view.Results {
			pr, _ := cat.Product(a)
			switch {
			case v.Satisfies(a):
				winners = append(winners, a)
			case pr.Query == g.Query && pr.Price > g.PriceUpper && hasAll(pr, g.Attributes):
				// everything fits but the price
				overBudget = append(overBudget, a)
			case pr.Query == g.Query:
				sameType = append(sameType, a)
			default:
				others = append(others, a)
			}
		}
		fresh := func(xs []string) []string {
			return slices.DeleteFunc(slices.Clone(xs), func(a string) bool { return seen[a] > 0 })
		}
		// A plausible wrong pick is a product of the right type near the top of the page; one
		// it already opened and left is much less attractive.
		pickWrong := func(xs []string, w float64) {
			f := fresh(xs)
			if len(f) == 0 {
				f, w = xs, w*0.2
			}
			for i, a := range f {
				if i == 2 {
					break
				}
				cs = addCand(cs, shopClick(a), w/float64(i+1))
			}
		}
		if len(winners) > 0 {
			cs = addCand(cs, expert, we)
			pickWrong(sameType, miss*0.45)
			pickWrong(overBudget, miss*0.35)
		} else {
			// Nothing fitting here; it does not know that and may settle for what it sees.
			cs = addCand(cs, expert, we)
			pickWrong(sameType, miss*0.6)
			pickWrong(overBudget, miss*0.4)
			if len(sameType)+len(overBudget) == 0 {
				pickWrong(others, miss*0.15)
			}
		}

	case shop.PageItem:
		pr, _ := cat.Product(view.ASIN)
		believed := p.believedNext(g, pr, view.Chosen)
		if v.Satisfies(view.ASIN) {
			cs = addCand(cs, expert, we)
			if strings.HasPrefix(expert, "click[") && expert != shopClick(shop.BtnBuyNow) {
				// Choosing an option: a wrong value of the same group, or buying early.
				if grp, val := shopOptionGroupOf(pr, expert); grp != nil {
					cs = addCand(cs, shopClick(shopNeighbour(grp.Values, val)), miss*0.15)
				}
				cs = addCand(cs, shopClick(shop.BtnBuyNow), miss*0.12)
			} else {
				cs = addCand(cs, shopClick(shop.BtnFeatures), miss*0.03)
			}
		} else {
			// A wrong product: it notices with the expert's weight, else carries on as if right.
			cs = addCand(cs, expert, we*0.6)
			cs = addCand(cs, believed, miss*0.6)
		}

	case shop.PageDetail:
		cs = addCand(cs, expert, we+miss*0.2)
		cs = addCand(cs, shopClick(shop.BtnBackToSearch), miss*0.05)
	}
	if !hasExpert && len(cs) == 0 {
		if adm := st.Admissible; len(adm) > 0 {
			cs = addCand(cs, adm[0], 1)
		}
	}
	return cs
}

// believedNext is what an agent that takes the product for the right one does: pick the next
// asked-for option the product offers, then buy.
func (p *Shop) believedNext(g *shop.Goal, pr *shop.Product, chosen map[string]string) string {
	for _, o := range g.Options {
		grp := pr.Group(o.Name)
		if grp == nil || chosen[o.Name] == o.Value {
			continue
		}
		if slices.Contains(grp.Values, o.Value) {
			return shopClick(o.Value)
		}
	}
	return shopClick(shop.BtnBuyNow)
}

// hasAll reports whether the product has every listed attribute.
func hasAll(pr *shop.Product, attrs []string) bool {
	for _, a := range attrs {
		if !pr.HasAttribute(a) {
			return false
		}
	}
	return true
}

// shopOptionGroupOf finds the group of the option value an action clicks.
func shopOptionGroupOf(pr *shop.Product, action string) (*shop.OptionGroup, string) {
	val := strings.TrimSuffix(strings.TrimPrefix(action, "click["), "]")
	for i := range pr.Options {
		if slices.Contains(pr.Options[i].Values, val) {
			return &pr.Options[i], val
		}
	}
	return nil, ""
}

// shopNeighbour is the value next to val in its group: the size or colour one slip away.
func shopNeighbour(vals []string, val string) string {
	i := slices.Index(vals, val)
	switch {
	case i < 0 || len(vals) < 2:
		return ""
	case i+1 < len(vals):
		return vals[i+1]
	}
	return vals[i-1]
}
