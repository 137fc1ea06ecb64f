package eval

import (
	"fmt"
	"math"
	"slices"
)

// Gain is one method's success-rate margin over a baseline in one environment.
type Gain struct {
	Env, Method string
	Success     float64
	Baseline    float64
	OK          bool
}

// Gains checks, in every environment of res, that each method's success rate is at least
// minGain above the baseline's. A method or baseline missing from an environment is an error.
func Gains(res *Results, methods []string, baseline string, minGain float64) ([]Gain, error) {
	switch {
	case len(methods) == 0:
		return nil, fmt.Errorf("no methods to check (a check of nothing would pass)")
	case math.IsNaN(minGain) || math.IsInf(minGain, 0) || minGain < -1 || minGain > 1:
		return nil, fmt.Errorf("min gain %v is not a success-rate margin in [-1, 1]", minGain)
	}
	envs := make([]string, 0, len(res.Envs))
	for e := range res.Envs {
		envs = append(envs, e)
	}
	slices.Sort(envs)
	if len(envs) == 0 {
		return nil, fmt.Errorf("no environments in the results")
	}
	var out []Gain
	for _, e := range envs {
		er := res.Envs[e]
		base, ok := er.Methods[baseline]
		if !ok {
			return nil, fmt.Errorf("env %s has no %s results", e, baseline)
		}
		for _, m := range methods {
			mr, ok := er.Methods[m]
			if !ok {
				return nil, fmt.Errorf("env %s has no %s results", e, m)
			}
			out = append(out, Gain{Env: e, Method: m, Success: mr.SuccessRate, Baseline: base.SuccessRate,
				OK: mr.SuccessRate-base.SuccessRate >= minGain-1e-9})
		}
	}
	return out, nil
}

// String renders a gain as one line.
func (g Gain) String() string {
	verdict := "ok"
	if !g.OK {
		verdict = "SHORT"
	}
	return fmt.Sprintf("%-8s %-10s %5.1f%% vs %5.1f%% (%+.1f points) %s", g.Env, g.Method, 100*g.Success, 100*g.Baseline,
		100*(g.Success-g.Baseline), verdict)
}
