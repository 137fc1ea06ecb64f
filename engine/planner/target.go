package planner

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/armap/armap/pipeline/dataset"
)

// Target is what the RM-based planners maximize: the reward-model score minus weighted
// penalties. ARMAP's controllable generation (its table of custom targets) steers the same
// planner towards shorter episodes or cheaper purchases this way, without retraining.
type Target struct {
	// Steps is subtracted once per action taken.
	Steps float64 `mapstructure:"steps" json:"steps"`
	// Price is subtracted per dollar of the purchase (shop; see BoughtPrice). Trajectories that
	// bought nothing pay nothing.
	Price float64 `mapstructure:"price" json:"price"`
}

func (t Target) validate() error {
	for _, f := range []struct {
		key string
		v   float64
	}{{"target.steps", t.Steps}, {"target.price", t.Price}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return fmt.Errorf("planner config %s: %v, want a finite number", f.key, f.v)
		}
	}
	return nil
}

// IsZero reports whether the target is the plain score.
func (t Target) IsZero() bool { return t.Steps == 0 && t.Price == 0 }

// Value is score minus the penalties of tr.
func (t Target) Value(score float64, tr dataset.Trajectory) float64 {
	v := score - t.Steps*float64(len(tr.Steps))
	if t.Price != 0 {
		if p, ok := BoughtPrice(tr.Steps); ok {
			v -= t.Price * p
		}
	}
	return v
}

// BoughtPrice reads the price of the purchase from a shop trajectory: the `Price: $X` line of
// the last item page shown before the `click[buy now]` action. It reports false when the
// trajectory bought nothing or no item page with a price precedes the purchase.
func BoughtPrice(steps []dataset.Step) (float64, bool) {
	buy := -1
	for i, s := range steps {
		a := strings.ToLower(strings.TrimSpace(s.Action))
		if a == "click[buy now]" {
			buy = i
			break
		}
	}
	if buy < 0 {
		return 0, false
	}
	for j := buy - 1; j >= 0; j-- {
		if p, ok := pagePrice(steps[j].Observation); ok {
			return p, true
		}
	}
	return 0, false
}

// pagePrice finds an item page's `Price: $12.34` line (result pages list bare `$12.34` lines,
// which are not a chosen product's price).
func pagePrice(obs string) (float64, bool) {
	found, price := false, 0.0
	for line := range strings.Lines(obs) {
		s, ok := strings.CutPrefix(strings.TrimSpace(line), "Price:")
		if !ok {
			continue
		}
		s = strings.TrimPrefix(strings.TrimSpace(s), "$")
		// A range like "$10.00 to $12.00" is priced by its lower end, as WebShop does.
		if i := strings.IndexAny(s, " \t"); i >= 0 {
			s = s[:i]
		}
		v, err := strconv.ParseFloat(strings.ReplaceAll(s, ",", ""), 64)
		if err == nil && v >= 0 && !math.IsInf(v, 0) {
			found, price = true, v
		}
	}
	return price, found
}
