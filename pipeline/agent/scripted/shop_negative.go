package scripted

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/armap/armap/pipeline/dataset"
	"github.com/armap/armap/pipeline/env"
	"github.com/armap/armap/pipeline/env/shop"
)

// Kinds of shop negatives, recorded by synthesis in meta.negative.
const (
	ShopNegWrongOption = "wrong_option" // one chosen option replaced by another value of its group
	ShopNegWrongItem   = "wrong_item"   // a cheaper product of the same type that lacks what was asked
	ShopNegEarlyBuy    = "early_buy"    // "buy now" right after opening the item, no options chosen
	ShopNegOverBudget  = "over_budget"  // a product of the same type that costs more than the ceiling
)

// ShopNegativeKinds lists the kinds ShopNegative makes.
func ShopNegativeKinds() []string {
	return []string{ShopNegWrongOption, ShopNegWrongItem, ShopNegEarlyBuy, ShopNegOverBudget}
}

// shopNegEnv is what the negative maker needs: a shop env it can reset and step.
type shopNegEnv interface {
	env.Env
	shopView
}

// ShopNegative makes a negative for ARMAP's synthesis from a positive shop trajectory (one that
// ends with "buy now"): it changes the positive's actions the way a weaker agent would (another
// value for one option, a cheaper but unfitting product from the same result page, buying before
// choosing options, a product over the budget) and replays them from a fresh Reset of task in e,
// so every observation is the env's own. Kinds are tried in an order drawn from rng until one
// gives a lower env reward than pos; the kind is returned with the trajectory.
func ShopNegative(ctx context.Context, e env.Env, task int, pos dataset.Trajectory, rng *rand.Rand) (dataset.Trajectory, string, error) {
	kinds := ShopNegativeKinds()
	rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	var errs []error
	for _, kind := range kinds {
		tr, err := ShopNegativeOfKind(ctx, e, task, pos, kind, rng)
		if err == nil {
			return tr, kind, nil
		}
		if !errors.Is(err, errNotApplicable) {
			return dataset.Trajectory{}, "", err
		}
		errs = append(errs, err)
	}
	return dataset.Trajectory{}, "", fmt.Errorf("shop negative: task %d: no perturbation lowered the reward %v: %w", task, pos.EnvReward, errors.Join(errs...))
}

var errNotApplicable = errors.New("not applicable")

// ShopNegativeOfKind makes a negative of one kind; the error wraps a "not applicable" cause when
// the positive offers no place for that kind or the change did not lower the reward.
func ShopNegativeOfKind(ctx context.Context, e env.Env, task int, pos dataset.Trajectory, kind string, rng *rand.Rand) (dataset.Trajectory, error) {
	return ShopNegativeOfKindFor(ctx, e, task, pos, kind, nil, rng)
}

// ShopNegativeOfKindFor is ShopNegativeOfKind for a positive that fulfils goal instead of the
// task's own goal (synthesis rewrites a purchase's instruction to what was bought); nil means the
// task's goal. The kind is chosen against goal, so that an over_budget negative costs more than
// goal's ceiling and a wrong_item one does not fulfil goal, and the negative's EnvReward and
// Success are its rating for goal (what pos.EnvReward must be too), not the env's reward for
// the task.
func ShopNegativeOfKindFor(ctx context.Context, e env.Env, task int, pos dataset.Trajectory, kind string, goal *shop.Goal, rng *rand.Rand) (dataset.Trajectory, error) {
	se, ok := e.(shopNegEnv)
	if !ok {
		return dataset.Trajectory{}, fmt.Errorf("shop negative: env %T is not a shop env", e)
	}
	acts := make([]string, len(pos.Steps))
	for i, s := range pos.Steps {
		acts[i] = s.Action
	}
	buy := -1
	for i, a := range acts {
		if strings.EqualFold(a, shopClick(shop.BtnBuyNow)) {
			buy = i
		}
	}
	if buy < 0 {
		return dataset.Trajectory{}, fmt.Errorf("shop negative: task %d: the positive never buys", task)
	}
	// the product bought: the last product click before the purchase
	item := -1
	for i := buy - 1; i >= 0; i-- {
		if a, ok := strings.CutPrefix(acts[i], "click["); ok {
			if _, isProduct := se.Catalog().Product(strings.TrimSuffix(a, "]")); isProduct {
				item = i
				break
			}
		}
	}
	if item < 0 {
		return dataset.Trajectory{}, fmt.Errorf("shop negative: task %d: no product click before the purchase", task)
	}
	na := func(why string) error { return fmt.Errorf("shop negative %s: %s: %w", kind, why, errNotApplicable) }

	var plan func(tr *dataset.Trajectory) error
	switch kind {
	case ShopNegEarlyBuy:
		if buy == item+1 {
			return dataset.Trajectory{}, na("the positive chose no options")
		}
		newActs := append(slices.Clone(acts[:item+1]), shopClick(shop.BtnBuyNow))
		plan = func(tr *dataset.Trajectory) error { return shopRun(ctx, se, tr, newActs) }

	case ShopNegWrongOption:
		var opts []int
		for i := item + 1; i < buy; i++ {
			if strings.HasPrefix(pos.Steps[i].Observation, "You have clicked ") {
				opts = append(opts, i)
			}
		}
		if len(opts) == 0 {
			return dataset.Trajectory{}, na("the positive chose no options")
		}
		at := opts[rng.IntN(len(opts))]
		pr, _ := se.Catalog().Product(strings.TrimSuffix(strings.TrimPrefix(acts[item], "click["), "]"))
		grp, val := shopOptionGroupOf(pr, acts[at])
		if grp == nil {
			return dataset.Trajectory{}, na("option " + acts[at] + " not on the item")
		}
		others := slices.DeleteFunc(slices.Clone(grp.Values), func(v string) bool { return v == val })
		newActs := slices.Clone(acts[:buy+1])
		newActs[at] = shopClick(others[rng.IntN(len(others))])
		plan = func(tr *dataset.Trajectory) error { return shopRun(ctx, se, tr, newActs) }

	case ShopNegWrongItem, ShopNegOverBudget:
		plan = func(tr *dataset.Trajectory) error {
			if err := shopRun(ctx, se, tr, acts[:item]); err != nil {
				return err
			}
			if se.View().Kind != shop.PageResults {
				return na("the item was not opened from a results page")
			}
			g, fits := se.Goal(), se.Satisfies
			if goal != nil {
				g, fits = goal, func(a string) bool { return shopFulfils(se.Catalog(), a, goal) }
			}
			var pool, fallback []string
			for _, a := range se.View().Results {
				pr, _ := se.Catalog().Product(a)
				if fits(a) || pr.Query != g.Query {
					continue
				}
				switch {
				case kind == ShopNegOverBudget && pr.Price > g.PriceUpper && hasAll(pr, g.Attributes):
					pool = append(pool, a)
				case kind == ShopNegOverBudget && pr.Price > g.PriceUpper:
					fallback = append(fallback, a)
				case kind == ShopNegWrongItem && pr.Price <= g.PriceUpper:
					pool = append(pool, a)
				case kind == ShopNegWrongItem:
					fallback = append(fallback, a)
				}
			}
			if len(pool) == 0 {
				pool = fallback
			}
			if len(pool) == 0 {
				return na("no product of the same type to take instead on the result page")
			}
			if kind == ShopNegWrongItem {
				// the cheapest third of the candidates: the pull of a lower price
				slices.SortStableFunc(pool, func(a, b string) int {
					pa, _ := se.Catalog().Product(a)
					pb, _ := se.Catalog().Product(b)
					return int(100*pa.Price) - int(100*pb.Price)
				})
				pool = pool[:max(1, (len(pool)+2)/3)]
			}
			pick := pool[rng.IntN(len(pool))]
			if err := shopRun(ctx, se, tr, []string{shopClick(pick)}); err != nil {
				return err
			}
			// It takes the product for the right one: the asked-for options it offers, then buy.
			pr, _ := se.Catalog().Product(pick)
			for range g.Options {
				a := (&Shop{}).believedNext(g, pr, se.View().Chosen)
				if err := shopRun(ctx, se, tr, []string{a}); err != nil || a == shopClick(shop.BtnBuyNow) {
					return err
				}
			}
			return shopRun(ctx, se, tr, []string{shopClick(shop.BtnBuyNow)})
		}

	default:
		return dataset.Trajectory{}, fmt.Errorf("shop negative: unknown kind %q (have %s)", kind, strings.Join(ShopNegativeKinds(), ", "))
	}

	if _, err := se.Reset(ctx, task); err != nil {
		return dataset.Trajectory{}, fmt.Errorf("shop negative: reset task %d: %w", task, err)
	}
	tr := dataset.Trajectory{ID: pos.ID, Env: se.Name(), TaskID: pos.TaskID, Instruction: pos.Instruction}
	if err := plan(&tr); err != nil {
		return dataset.Trajectory{}, err
	}
	if len(tr.Steps) == 0 || !se.View().Done {
		return dataset.Trajectory{}, na("the replay did not end with a purchase")
	}
	if goal != nil {
		v := se.View()
		pr, ok := se.Catalog().Product(v.ASIN)
		if !ok {
			return dataset.Trajectory{}, fmt.Errorf("shop negative: task %d: bought %q, not in the catalog", task, v.ASIN)
		}
		r := shop.ComputeReward(pr, pr.Price, v.Chosen, goal).Total
		tr.EnvReward, tr.Success = r, r >= 1
	}
	if tr.EnvReward >= pos.EnvReward {
		return dataset.Trajectory{}, na(fmt.Sprintf("reward %v is not below the positive's %v", tr.EnvReward, pos.EnvReward))
	}
	return tr, nil
}

// shopRun steps acts in e, appending to tr, and stops at the end of the episode.
func shopRun(ctx context.Context, e env.Env, tr *dataset.Trajectory, acts []string) error {
	for _, a := range acts {
		r, err := e.Step(ctx, a)
		if errors.Is(err, env.ErrDone) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("shop negative: replay step %d %q: %w", len(tr.Steps), a, err)
		}
		tr.Steps = append(tr.Steps, dataset.Step{Action: a, Observation: r.Observation})
		if r.Done {
			tr.EnvReward, tr.Success = r.Reward, r.Reward >= 1
			return nil
		}
	}
	return nil
}

// shopFulfils reports whether buying asin with g's options (those it offers) earns g's full
// reward: the shop env's Satisfies for a goal that is not the current task's.
func shopFulfils(cat *shop.Catalog, asin string, g *shop.Goal) bool {
	p, ok := cat.Product(asin)
	if !ok || p.Price > g.PriceUpper {
		return false
	}
	chosen := make(map[string]string, len(g.Options))
	for _, o := range g.Options {
		grp := p.Group(o.Name)
		if grp == nil || !slices.Contains(grp.Values, o.Value) {
			return false
		}
		chosen[o.Name] = o.Value
	}
	return shop.ComputeReward(p, p.Price, chosen, g).Total >= 1-1e-9
}
