// Package scripted holds per-environment policies that stand in for LLM agents of a given skill:
// they follow the environment's expert with a probability that grows with skill and otherwise
// make the mistakes LLM agents make in that environment. Planners, synthesis and tests use them
// offline in place of a model server.
//
// Each environment's policy lives in its own file (game24.go, shop.go, household.go) and is
// registered in New.
package scripted

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/armap/armap/pipeline/agent"
)

// New returns the scripted policy for the environment kind envName; skill is in [0, 1], where 1
// is the expert and lower values make more mistakes.
func New(envName string, skill float64) (agent.Policy, error) {
	if math.IsNaN(skill) || skill < 0 || skill > 1 {
		return nil, fmt.Errorf("scripted %s: skill %v not in [0, 1]", envName, skill)
	}
	makers := map[string]func(skill float64) (agent.Policy, error){
		"game24":    func(s float64) (agent.Policy, error) { return NewGame24(s) },
		"household": func(s float64) (agent.Policy, error) { return NewHousehold(s) },
		"shop":      func(s float64) (agent.Policy, error) { return NewShop(s) },
	}
	mk, ok := makers[envName]
	if !ok {
		names := make([]string, 0, len(makers))
		for k := range makers {
			names = append(names, k)
		}
		slices.Sort(names)
		return nil, fmt.Errorf("scripted: no policy for env %q (have %s)", envName, strings.Join(names, ", "))
	}
	return mk(skill)
}
