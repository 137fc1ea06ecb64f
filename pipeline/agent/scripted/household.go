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
	"github.com/armap/armap/pipeline/env"
	"github.com/armap/armap/pipeline/env/household"
)

// Household is the scripted stand-in for an LLM agent in the household env. It follows the env's
// expert with a weight that grows with skill; the rest of its probability goes to the mistakes
// ReAct-style LLM agents make in ALFWorld:
//
//   - search: not knowing where the object is, it visits and opens likely receptacles it has
//     not looked into yet, guided by common sense (apples are in fridges and on countertops);
//   - skipped step: it carries the object to the target without cleaning, heating or cooling
//     it, or examines the object instead of using the lamp;
//   - wrong receptacle: it carries the object to a receptacle of another class and puts it there;
//   - wrong object: it takes another object from the receptacle where the goal object is;
//   - wandering to irrelevant receptacles, and repeating its last action;
//   - once it has put the object down it believes the task done and mostly drifts (looks, checks
//     its inventory, repeats itself), recovering only now and then.
//
// The beliefs behind these (what it has seen, whether it thinks it is done) come from the
// history in State, so the same state always gets the same action distribution, whatever path
// led there. It needs State.Env to be a household env (for the expert and the goal).
type Household struct {
	skill       float64
	errScale    float64
	expertFloor float64
}

// NewHousehold makes the household policy; skill is in [0, 1] (1 = the expert).
func NewHousehold(skill float64) (*Household, error) {
	if math.IsNaN(skill) || skill < 0 || skill > 1 {
		return nil, fmt.Errorf("scripted household: skill %v not in [0, 1]", skill)
	}
	return &Household{skill: skill, errScale: 2, expertFloor: 0.15}, nil
}

// Name implements agent.Policy.
func (p *Household) Name() string { return fmt.Sprintf("scripted-household(skill=%.2f)", p.skill) }

// householdView is what the policy reads from the env; *household.Env provides it.
type householdView interface {
	env.Expert
	Goal() household.Goal
	Location() string
	Holding() string
}

// Act implements agent.Policy. Greedy runs draw from a generator seeded by a hash of the
// instruction and the history, so they are deterministic per state; sampling uses opt.Rand (or,
// when it is nil, the same state hash).
func (p *Household) Act(ctx context.Context, st *agent.State, opt agent.ActOptions) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	view, ok := st.Env.(householdView)
	if !ok {
		return nil, fmt.Errorf("scripted household: State.Env is %T, want a household env", st.Env)
	}
	cands := p.candidates(st, view)
	cands = avoid(cands, st, same, func() [][]string { return expertThenAdmissible(st, view) })
	if len(cands) == 0 {
		return nil, errors.New("scripted household: no candidate action")
	}
	return draw(cands, opt, func() *rand.Rand {
		return agent.StateSeed{Observation: true, Stream: 0x9e3779b97f4a7c15}.Rand(st)
	}), nil
}

// hhSpread shares w equally among actions.
func hhSpread(cs []cand, actions []string, w float64) []cand {
	for _, a := range actions {
		cs = addCand(cs, a, w/float64(len(actions)))
	}
	return cs
}

// hhMemory is what the policy believes, rebuilt from the history.
type hhMemory struct {
	searched map[string]bool // receptacles whose contents it has seen
	seenGoal bool            // some observation showed an object of the goal class
	seenLamp bool            // some observation showed a desk lamp
	treated  bool            // it cleaned/heated/cooled something or turned on a lamp
	puts     int             // goal-class objects it has put down
	examined bool            // it examined a goal-class object in hand
	last     string          // its last action
}

// hhRemember reads the history with plain string tests: it runs on every step of every rollout,
// and regular expressions made it the policy's main cost.
func hhRemember(st *agent.State, g household.Goal) hhMemory {
	m := hhMemory{searched: map[string]bool{}}
	goalMention := " a " + g.Object + " "
	for _, s := range st.Steps {
		o := s.Observation
		if rest, ok := strings.CutPrefix(o, "You arrive at "); ok {
			if name, desc, ok := strings.Cut(rest, ". "); ok && (strings.HasPrefix(desc, "On the ") || strings.HasSuffix(strings.SplitN(desc, ". ", 2)[0], " is open")) {
				m.searched[name] = true
			}
		} else if rest, ok := strings.CutPrefix(o, "You open the "); ok {
			if name, _, ok := strings.Cut(rest, ". "); ok {
				m.searched[name] = true
			}
		}
		if g.Object != "" && strings.Contains(o, goalMention) {
			m.seenGoal = true
		}
		if strings.Contains(o, "a desklamp ") {
			m.seenLamp = true
		}
		for _, p := range []string{"You clean the ", "You heat the ", "You cool the ", "You turn on the "} {
			if strings.HasPrefix(o, p) {
				m.treated = true
			}
		}
		if rest, ok := strings.CutPrefix(o, "You put the "); ok && hhClass(rest) == g.Object {
			m.puts++
		}
		if strings.HasPrefix(o, "There's nothing special about "+g.Object+" ") {
			m.examined = true
		}
		m.last = s.Action
	}
	return m
}

func hhClass(name string) string {
	c, _, _ := strings.Cut(name, " ")
	return c
}

// candidates builds the action distribution for the state.
func (p *Household) candidates(st *agent.State, v householdView) []cand {
	s := p.skill
	miss := p.errScale * (1 - s)
	expert, hasExpert := v.ExpertAction()
	g := v.Goal()
	if g.Object == "" {
		// The env did not say; fall back to the instruction text.
		g, _ = household.ParseGoal(st.Instruction)
	}
	adm := st.Admissible
	if adm == nil {
		adm = st.Env.Admissible()
	}
	m := hhRemember(st, g)
	loc, held := v.Location(), v.Holding()
	var gos []string
	for _, a := range adm {
		if strings.HasPrefix(a, "go to ") {
			gos = append(gos, a)
		}
	}

	var cs []cand
	wExpert := p.expertFloor + (1-p.expertFloor)*s
	heldGoal := held != "" && hhClass(held) == g.Object

	switch {
	case m.puts >= g.Count && !heldGoal || m.examined && g.Type == household.LookAtObjInLight:
		// It put the object down (or looked at it) and believes the task done: it drifts and
		// rarely notices that nothing happened.
		cs = addCand(cs, expert, 0.6*s*s)
		cs = addCand(cs, "look", miss*0.4)
		cs = addCand(cs, "inventory", miss*0.4)
		cs = addCand(cs, m.last, miss*0.6)
		if loc != "" {
			cs = addCand(cs, "examine "+loc, miss*0.3)
		}
		cs = hhSpread(cs, gos, miss*0.5)
		return cs

	case !heldGoal && !m.seenGoal && g.Object != "":
		// Searching: it does not know where the object is.
		cs = addCand(cs, expert, s*wExpert)
		cs = p.search(cs, m, g.Object, loc, adm, gos, (1-s)+0.05)

	case heldGoal && g.Type == household.LookAtObjInLight && !m.treated:
		if !m.seenLamp {
			cs = addCand(cs, expert, s*wExpert)
			cs = p.search(cs, m, "desklamp", loc, adm, gos, (1-s)+0.05)
			break
		}
		cs = addCand(cs, expert, wExpert)
		// Skipped step: examining the object in hand instead of switching the lamp on.
		cs = addCand(cs, "examine "+held, miss*0.5)
		cs = p.wrongPlace(cs, loc, gos, g, miss*0.3)

	case heldGoal && g.Process() != "" && !m.treated:
		cs = addCand(cs, expert, wExpert)
		// Skipped step: straight to the target, and down it goes once there.
		if hhClass(loc) == g.Target {
			cs = p.putHere(cs, st, held, loc, miss*1.2)
		} else {
			cs = hhSpread(cs, hhTargets(gos, g.Target), miss*0.6)
			cs = p.wrongPlace(cs, loc, gos, g, miss*0.2)
		}

	case heldGoal:
		cs = addCand(cs, expert, wExpert)
		switch {
		case loc != "" && hhClass(loc) != g.Target && !hhIsAppliance(loc, g) && hhJustArrived(m.last, loc):
			// It came here carrying the object: it takes this for the target.
			cs = p.putHere(cs, st, held, loc, miss*1.2)
		case strings.HasPrefix(expert, "go to ") && hhClass(strings.TrimPrefix(expert, "go to ")) == g.Target:
			cs = p.wrongPlace(cs, loc, gos, g, miss*0.5)
		}

	default:
		cs = addCand(cs, expert, wExpert)
		if o, r, ok := hhTakeParts(expert); ok && held == "" {
			// Wrong object: another thing from the same receptacle.
			var others []string
			for _, a := range adm {
				if ao, ar, ok := hhTakeParts(a); ok && ar == r && hhClass(ao) != hhClass(o) {
					others = append(others, a)
				}
			}
			if len(others) > 0 {
				cs = hhSpread(cs, others, miss*0.25)
			}
		}
		if held != "" && hhClass(held) != g.Object && g.Target != "" {
			// Carrying the wrong object to the target.
			cs = hhSpread(cs, hhTargets(gos, g.Target), miss*0.3)
		}
	}
	// Mistakes possible anywhere: wandering off and repeating itself.
	cs = hhSpread(cs, gos, miss*0.15)
	cs = addCand(cs, m.last, miss*0.1)
	if !hasExpert && len(cs) == 0 && len(adm) > 0 {
		cs = addCand(cs, adm[0], 1)
	}
	return cs
}

// search proposes looking into receptacles it has not seen inside yet, common places first.
func (p *Household) search(cs []cand, m hhMemory, class, loc string, adm, gos []string, w float64) []cand {
	if loc != "" && !m.searched[loc] && slices.Contains(adm, "open "+loc) {
		return addCand(cs, "open "+loc, w)
	}
	likely := household.CommonPlaces(class)
	var prior, rest []string
	for _, a := range gos {
		r := strings.TrimPrefix(a, "go to ")
		if m.searched[r] {
			continue
		}
		if slices.Contains(likely, hhClass(r)) {
			prior = append(prior, a)
		} else {
			rest = append(rest, a)
		}
	}
	switch {
	case len(prior) > 0 && len(rest) > 0:
		cs = hhSpread(cs, prior, w*0.8)
		cs = hhSpread(cs, rest, w*0.2)
	case len(prior) > 0:
		cs = hhSpread(cs, prior, w)
	case len(rest) > 0:
		cs = hhSpread(cs, rest, w)
	default:
		cs = hhSpread(cs, gos, w) // everything searched: it has missed it, wander
	}
	return cs
}

// wrongPlace proposes carrying the object to a receptacle that is neither the target class nor
// the appliance.
func (p *Household) wrongPlace(cs []cand, loc string, gos []string, g household.Goal, w float64) []cand {
	var wrong []string
	for _, a := range gos {
		r := strings.TrimPrefix(a, "go to ")
		if hhClass(r) != g.Target && !hhIsAppliance(r, g) {
			wrong = append(wrong, a)
		}
	}
	if len(wrong) == 0 {
		return cs
	}
	return hhSpread(cs, wrong, w)
}

// putHere proposes putting the held object down here, opening the receptacle first if needed.
func (p *Household) putHere(cs []cand, st *agent.State, held, loc string, w float64) []cand {
	put := "put " + held + " in/on " + loc
	if slices.Contains(st.Admissible, put) || st.Admissible == nil {
		return addCand(cs, put, w)
	}
	if slices.Contains(st.Admissible, "open "+loc) {
		return addCand(cs, "open "+loc, w)
	}
	return cs
}

func hhTargets(gos []string, class string) []string {
	var out []string
	for _, a := range gos {
		if hhClass(strings.TrimPrefix(a, "go to ")) == class {
			out = append(out, a)
		}
	}
	return out
}

func hhIsAppliance(r string, g household.Goal) bool {
	a := g.Appliance()
	return a != "" && hhClass(r) == a
}

func hhJustArrived(last, loc string) bool {
	return last == "go to "+loc || last == "open "+loc
}

func hhTakeParts(a string) (obj, rec string, ok bool) {
	rest, ok := strings.CutPrefix(a, "take ")
	if !ok {
		return "", "", false
	}
	return strings.Cut(rest, " from ")
}

var _ agent.Policy = (*Household)(nil)
