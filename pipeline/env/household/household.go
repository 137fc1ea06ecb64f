// Package household is an ALFWorld-style text world: a room of numbered receptacles ("cabinet 3",
// "fridge 1") holding numbered objects ("apple 2"), generated from the task number, and the six
// ALFWorld task families (pick and place; clean, heat or cool then place; look at an object under
// the desk lamp; pick two objects and place them).
//
// Commands, observations and rules follow ALFWorld's TextWorld front end: "go to X", "open X",
// "close X", "take O from R", "put O in/on R", "clean O with sinkbasin 1", "heat O with
// microwave 1", "cool O with fridge 1", "use desklamp 1", "examine X", "inventory", "look". A
// command that does not apply answers "Nothing happens." The agent carries one object at a time
// and sees inside a closed receptacle only after opening it. As in ALFWorld, no observation says
// that the task is done: the episode ends (Done, reward 1) on the step that makes the goal hold,
// or (Done, reward 0) when the step limit is reached.
package household

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/armap/armap/pipeline/env"
)

// Options configure an Env. The zero value is usable.
type Options struct {
	// Seed varies every world; task n of two envs with the same Seed is the same world.
	Seed uint64
	// NumTasks is the number of addressable tasks (default 3600, about ALFWorld's train set).
	NumTasks int
	// TestTasks is the size of the held-out "test" split, the last TestTasks task numbers
	// (default 100).
	TestTasks int
	// MaxSteps ends an episode with reward 0 after this many actions (default 40).
	MaxSteps int
	// TaskTypes restricts the families; task n has family TaskTypes[n % len(TaskTypes)], so every
	// split is balanced. Nil means AllTaskTypes.
	TaskTypes []TaskType
}

const (
	defaultNumTasks  = 3600
	defaultTestTasks = 100
	defaultMaxSteps  = 40
)

func (o Options) withDefaults() (Options, error) {
	if o.NumTasks == 0 {
		o.NumTasks = defaultNumTasks
	}
	if o.TestTasks == 0 {
		o.TestTasks = defaultTestTasks
	}
	if o.MaxSteps == 0 {
		o.MaxSteps = defaultMaxSteps
	}
	if o.TaskTypes == nil {
		o.TaskTypes = AllTaskTypes
	}
	switch {
	case o.NumTasks < 0:
		return o, fmt.Errorf("household: NumTasks %d < 0", o.NumTasks)
	case o.TestTasks < 0 || o.TestTasks > o.NumTasks:
		return o, fmt.Errorf("household: TestTasks %d not in [0, NumTasks=%d]", o.TestTasks, o.NumTasks)
	case o.MaxSteps < 0:
		return o, fmt.Errorf("household: MaxSteps %d < 0", o.MaxSteps)
	case len(o.TaskTypes) == 0:
		return o, errors.New("household: TaskTypes is empty")
	}
	for _, t := range o.TaskTypes {
		if t < 0 || t >= numTaskTypes {
			return o, fmt.Errorf("household: unknown task type %d", int(t))
		}
	}
	return o, nil
}

// Env is one household instance. It is not safe for concurrent use.
type Env struct {
	opt Options
	sc  *scene // nil before the first Reset
	st  state
}

var (
	_ env.Env    = (*Env)(nil)
	_ env.Splits = (*Env)(nil)
	_ env.Expert = (*Env)(nil)
)

// New makes an Env.
func New(opt Options) (*Env, error) {
	o, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Env{opt: o}, nil
}

// NewFactory gives an env.Factory of independent instances with the same options.
func NewFactory(opt Options) env.Factory {
	return func() (env.Env, error) { return New(opt) }
}

// Name implements env.Env.
func (e *Env) Name() string { return "household" }

// NumTasks implements env.Env.
func (e *Env) NumTasks() int { return e.opt.NumTasks }

// MaxSteps is the episode step limit.
func (e *Env) MaxSteps() int { return e.opt.MaxSteps }

// Split implements env.Splits: "test" is the last TestTasks tasks, "train" the rest.
func (e *Env) Split(name string) ([]int, error) {
	lo, hi := 0, e.opt.NumTasks-e.opt.TestTasks
	switch name {
	case "train":
	case "test":
		lo, hi = hi, e.opt.NumTasks
	default:
		return nil, fmt.Errorf("household: unknown split %q (want train or test)", name)
	}
	out := make([]int, 0, hi-lo)
	for i := lo; i < hi; i++ {
		out = append(out, i)
	}
	return out, nil
}

// TaskType is the family of task n (which does not need the world to be generated).
func (e *Env) TaskType(n int) TaskType { return e.opt.TaskTypes[n%len(e.opt.TaskTypes)] }

// Reset implements env.Env.
func (e *Env) Reset(ctx context.Context, task int) (env.Observation, error) {
	if err := ctx.Err(); err != nil {
		return env.Observation{}, err
	}
	if task < 0 || task >= e.opt.NumTasks {
		return env.Observation{}, fmt.Errorf("household: task %d not in [0, %d): %w", task, e.opt.NumTasks, env.ErrNoTask)
	}
	if e.sc == nil || e.sc.task != task {
		// The stream is keyed by seed and task so that tasks are independent of each other and
		// of the order they are visited in.
		rng := rand.New(rand.NewPCG(e.opt.Seed, uint64(task)^0x686f757365686f6c))
		sc, err := genScene(rng, task, e.TaskType(task))
		if err != nil {
			return env.Observation{}, err
		}
		e.sc = sc
	}
	e.st = e.sc.init.clone()
	return env.Observation{TaskID: fmt.Sprintf("household/%d", task), Instruction: e.sc.instruction, Text: e.sc.intro}, nil
}

// Goal is the current task's goal (the zero Goal before Reset).
func (e *Env) Goal() Goal {
	if e.sc == nil {
		return Goal{}
	}
	return e.sc.goal
}

// Location is the receptacle the agent stands at, "" in the middle of the room.
func (e *Env) Location() string {
	if e.sc == nil || e.st.at < 0 {
		return ""
	}
	return e.sc.receps[e.st.at].name
}

// Holding is the object in the agent's hand, "" for none.
func (e *Env) Holding() string {
	if e.sc == nil || e.st.holding < 0 {
		return ""
	}
	return e.sc.objs[e.st.holding].name
}

// Receptacles lists the scene's receptacles in the order the first observation names them.
func (e *Env) Receptacles() []string {
	if e.sc == nil {
		return nil
	}
	out := make([]string, len(e.sc.receps))
	for i, r := range e.sc.receps {
		out[i] = r.name
	}
	return out
}

// Done reports whether the episode is over.
func (e *Env) Done() bool { return e.sc != nil && e.st.done }

// Step implements env.Env.
func (e *Env) Step(ctx context.Context, action string) (env.StepResult, error) {
	if err := ctx.Err(); err != nil {
		return env.StepResult{}, err
	}
	if e.sc == nil {
		return env.StepResult{}, errors.New("household: Step before Reset")
	}
	if e.st.done {
		return env.StepResult{}, env.ErrDone
	}
	obs := e.apply(parse(action))
	e.st.steps++
	if e.goalHolds() {
		e.st.done, e.st.reward = true, 1
	} else if e.st.steps >= e.opt.MaxSteps {
		e.st.done = true
	}
	return env.StepResult{Observation: obs, Reward: e.st.reward, Done: e.st.done}, nil
}

// snapshot is the household env.Snapshot. The scene is immutable and shared; the state is a deep
// copy, so neither later steps nor a later Restore from it can change it.
type snapshot struct {
	sc *scene
	st state
}

// Snapshot implements env.Env.
func (e *Env) Snapshot() (env.Snapshot, error) {
	if e.sc == nil {
		return nil, errors.New("household: Snapshot before Reset")
	}
	return &snapshot{sc: e.sc, st: e.st.clone()}, nil
}

// Restore implements env.Env. A snapshot of another task (of an env with the same options) is
// accepted and switches the task.
func (e *Env) Restore(s env.Snapshot) error {
	sn, ok := s.(*snapshot)
	if !ok || sn == nil {
		return fmt.Errorf("household: Restore: not a household snapshot (%T)", s)
	}
	e.sc = sn.sc
	e.st = sn.st.clone()
	return nil
}

// Close implements env.Env.
func (e *Env) Close() error { return nil }

// goalHolds is the success check of the current state.
func (e *Env) goalHolds() bool {
	g := e.sc.goal
	if g.Type == LookAtObjInLight {
		h := e.st.holding
		if h < 0 || e.sc.objs[h].class != g.Object || e.st.at < 0 {
			return false
		}
		for i, o := range e.sc.objs {
			if o.class == lampClass && e.st.objs[i].loc == e.st.at && e.st.objs[i].on {
				return true
			}
		}
		return false
	}
	for _, r := range e.sc.byClass[g.Target] {
		if e.countSatisfying(r) >= g.Count {
			return true
		}
	}
	return false
}

// countSatisfying counts goal objects in receptacle r that are in the state the goal asks for.
func (e *Env) countSatisfying(r int) int {
	n := 0
	for i := range e.sc.objs {
		if i != e.st.holding && e.st.objs[i].loc == r && e.satisfies(i) {
			n++
		}
	}
	return n
}

// satisfies reports whether object i is of the goal class and treated as the goal asks.
func (e *Env) satisfies(i int) bool {
	g := e.sc.goal
	if e.sc.objs[i].class != g.Object {
		return false
	}
	s := e.st.objs[i]
	switch g.Type {
	case PickCleanThenPlace:
		return s.clean
	case PickHeatThenPlace:
		return s.temp > 0
	case PickCoolThenPlace:
		return s.temp < 0
	}
	return true
}

// command is a parsed action.
type command struct {
	verb string // go, open, close, take, put, clean, heat, cool, use, examine, inventory, look; "" if unparsable
	obj  string
	rec  string
}

// parse reads an action leniently, as ALFWorld's parser does: case and extra spaces do not
// matter, a trailing period is dropped, and "put O in R", "put O on R" and "put O in/on R" are
// the same command.
func parse(action string) command {
	s := strings.Join(strings.Fields(strings.ToLower(action)), " ")
	s = strings.TrimSuffix(s, ".")
	switch s {
	case "inventory", "look":
		return command{verb: s}
	}
	verb, rest, ok := strings.Cut(s, " ")
	if !ok {
		return command{}
	}
	switch verb {
	case "go":
		if r, ok := strings.CutPrefix(rest, "to "); ok {
			return command{verb: "go", rec: r}
		}
	case "open", "close", "use", "examine":
		return command{verb: verb, rec: rest, obj: rest}
	case "take":
		if o, r, ok := strings.Cut(rest, " from "); ok {
			return command{verb: verb, obj: o, rec: r}
		}
	case "put":
		for _, sep := range []string{" in/on ", " in ", " on "} {
			if o, r, ok := strings.Cut(rest, sep); ok {
				return command{verb: verb, obj: o, rec: r}
			}
		}
	case "clean", "heat", "cool":
		if o, r, ok := strings.Cut(rest, " with "); ok {
			return command{verb: verb, obj: o, rec: r}
		}
	}
	return command{}
}

const nothing = "Nothing happens."

// apply runs one command and returns the observation. Preconditions mirror ALFWorld's PDDL
// domain: you must be at a receptacle to use it, it must be open to reach inside, and hands
// hold one object.
func (e *Env) apply(c command) string {
	sc, st := e.sc, &e.st
	rec, recOK := sc.recepIdx[c.rec]
	obj, objOK := sc.objIdx[c.obj]
	reachable := recOK && rec == st.at && (!sc.receps[rec].openable || st.open[rec])
	switch c.verb {
	case "go":
		if !recOK || rec == st.at {
			return nothing
		}
		st.at = rec
		return "You arrive at " + sc.receps[rec].name + ". " + e.describe(rec)
	case "open":
		if !recOK || rec != st.at || !sc.receps[rec].openable || st.open[rec] {
			return nothing
		}
		st.open[rec] = true
		return "You open the " + sc.receps[rec].name + ". " + e.describe(rec)
	case "close":
		if !recOK || rec != st.at || !sc.receps[rec].openable || !st.open[rec] {
			return nothing
		}
		st.open[rec] = false
		return "You close the " + sc.receps[rec].name + "."
	case "take":
		if !objOK || !reachable || st.holding >= 0 || !sc.objs[obj].pickable || st.objs[obj].loc != rec {
			return nothing
		}
		st.holding = obj
		return "You pick up the " + sc.objs[obj].name + " from the " + sc.receps[rec].name + "."
	case "put":
		if !objOK || !reachable || st.holding != obj {
			return nothing
		}
		st.holding = -1
		st.objs[obj].loc = rec
		return "You put the " + sc.objs[obj].name + " in/on the " + sc.receps[rec].name + "."
	case "clean", "heat", "cool":
		if !objOK || !recOK || rec != st.at || st.holding != obj || sc.receps[rec].class != applianceFor[c.verb] {
			return nothing
		}
		switch c.verb {
		case "clean":
			st.objs[obj].clean = true
		case "heat":
			st.objs[obj].temp = 1
		case "cool":
			st.objs[obj].temp = -1
		}
		return "You " + c.verb + " the " + sc.objs[obj].name + " using the " + sc.receps[rec].name + "."
	case "use":
		if !objOK || sc.objs[obj].class != lampClass || st.at < 0 || st.objs[obj].loc != st.at || st.objs[obj].on {
			return nothing
		}
		st.objs[obj].on = true
		return "You turn on the " + sc.objs[obj].name + "."
	case "examine":
		if recOK && rec == st.at {
			return e.describe(rec)
		}
		if objOK && (st.holding == obj || st.at >= 0 && st.objs[obj].loc == st.at && e.visible(st.at)) {
			return "There's nothing special about " + sc.objs[obj].name + "."
		}
		return nothing
	case "inventory":
		if st.holding < 0 {
			return "You are not carrying anything."
		}
		return "You are carrying: a " + sc.objs[st.holding].name + "."
	case "look":
		if st.at < 0 {
			return "You are in the middle of a room. Looking quickly around you, you see nothing."
		}
		return "You are facing the " + sc.receps[st.at].name + ". Next to it, you see nothing."
	}
	return nothing
}

var applianceFor = map[string]string{"clean": "sinkbasin", "heat": "microwave", "cool": "fridge"}

func (e *Env) visible(r int) bool { return !e.sc.receps[r].openable || e.st.open[r] }

// contents lists the names of the objects in receptacle r (held objects are not in it).
func (e *Env) contents(r int) []string {
	var out []string
	for i, o := range e.sc.objs {
		if i != e.st.holding && e.st.objs[i].loc == r {
			out = append(out, o.name)
		}
	}
	return out
}

// describe is what ALFWorld prints on arriving at or examining a receptacle.
func (e *Env) describe(r int) string {
	rc := e.sc.receps[r]
	if rc.openable {
		if !e.st.open[r] {
			return "The " + rc.name + " is closed."
		}
		return "The " + rc.name + " is open. In it, you see " + listItems(e.contents(r)) + "."
	}
	return "On the " + rc.name + ", you see " + listItems(e.contents(r)) + "."
}

// Admissible implements env.Env: the commands that change something or inform, as ALFWorld's
// admissible_commands lists them. It is empty once the episode is over.
func (e *Env) Admissible() []string {
	if e.sc == nil || e.st.done {
		return nil
	}
	sc, st := e.sc, &e.st
	out := make([]string, 0, len(sc.receps)+12)
	for i, r := range sc.receps {
		if i != st.at {
			out = append(out, "go to "+r.name)
		}
	}
	if st.at >= 0 {
		r := sc.receps[st.at]
		if r.openable {
			if st.open[st.at] {
				out = append(out, "close "+r.name)
			} else {
				out = append(out, "open "+r.name)
			}
		}
		reach := e.visible(st.at)
		for i, o := range sc.objs {
			if i == st.holding || st.objs[i].loc != st.at {
				continue
			}
			if o.class == lampClass && !st.objs[i].on {
				out = append(out, "use "+o.name)
			}
			if reach && o.pickable && st.holding < 0 {
				out = append(out, "take "+o.name+" from "+r.name)
			}
		}
		if st.holding >= 0 {
			h := sc.objs[st.holding].name
			if reach {
				out = append(out, "put "+h+" in/on "+r.name)
			}
			for _, a := range applianceOrder {
				if r.class == a.class {
					out = append(out, a.verb+" "+h+" with "+r.name)
				}
			}
		}
		out = append(out, "examine "+r.name)
	}
	if st.holding >= 0 {
		out = append(out, "examine "+sc.objs[st.holding].name)
	}
	out = append(out, "inventory", "look")
	return out
}

// applianceOrder is applianceFor in a fixed order (map iteration order is random).
var applianceOrder = []struct{ verb, class string }{{"clean", "sinkbasin"}, {"heat", "microwave"}, {"cool", "fridge"}}
