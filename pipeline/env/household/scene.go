package household

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
)

// recep is a receptacle of a scene ("cabinet 3"). Scenes are immutable after generation, so every
// episode, snapshot and restore of one task shares them.
type recep struct {
	name, class string
	openable    bool
}

// object is a thing in a scene ("apple 1"). Lamps are objects that cannot be picked up.
type object struct {
	name, class string
	pickable    bool
}

// objState is the mutable part of an object.
type objState struct {
	loc   int // receptacle index; held when the state's holding names this object
	clean bool
	temp  int8 // 0 room temperature, +1 hot, -1 cold
	on    bool // lamps only
}

// state is everything Step changes. It is a value with slices; clone copies them.
type state struct {
	objs    []objState
	open    []bool // per receptacle
	at      int    // receptacle the agent stands at; -1 in the middle of the room
	holding int    // object index; -1 for empty hands
	steps   int
	done    bool
	reward  float64
}

func (s *state) clone() state {
	c := *s
	c.objs = slices.Clone(s.objs)
	c.open = slices.Clone(s.open)
	return c
}

type scene struct {
	task        int
	room        string
	receps      []recep
	objs        []object
	goal        Goal
	instruction string
	intro       string
	recepIdx    map[string]int
	objIdx      map[string]int
	byClass     map[string][]int // receptacle indices per class
	init        state
}

// genScene builds task task's world. Every choice comes from rng, which the caller seeds from the
// env seed and the task number, so a task is the same world every time.
func genScene(rng *rand.Rand, task int, tt TaskType) (*scene, error) {
	var roomNames []string
	switch tt {
	case PickHeatThenPlace, PickCoolThenPlace:
		roomNames = []string{"kitchen"}
	case PickCleanThenPlace:
		roomNames = []string{"kitchen", "kitchen", "kitchen", "bathroom"}
	case LookAtObjInLight:
		roomNames = []string{"bedroom", "livingroom"}
	default:
		roomNames = []string{"kitchen", "bathroom", "bedroom", "livingroom"}
	}
	// A draw can rarely leave no valid goal (a room without a suitable target); redraw the room.
	for attempt := 0; attempt < 50; attempt++ {
		rs := roomByName(roomNames[rng.IntN(len(roomNames))])
		if sc := tryScene(rng, task, tt, rs); sc != nil {
			return sc, nil
		}
	}
	return nil, fmt.Errorf("household: task %d: no valid %s scene in 50 draws", task, tt)
}

func roomByName(name string) *roomSpec {
	for i := range rooms {
		if rooms[i].name == name {
			return &rooms[i]
		}
	}
	panic("household: unknown room " + name) // the tables above are fixed; a typo is a bug
}

func tryScene(rng *rand.Rand, task int, tt TaskType, rs *roomSpec) *scene {
	sc := &scene{task: task, room: rs.name, recepIdx: map[string]int{}, objIdx: map[string]int{}, byClass: map[string][]int{}}
	for _, spec := range rs.receps {
		n := spec.min + rng.IntN(spec.max-spec.min+1)
		for i := 1; i <= n; i++ {
			r := recep{name: spec.kind + " " + strconv.Itoa(i), class: spec.kind, openable: recepKinds[spec.kind].openable}
			sc.byClass[spec.kind] = append(sc.byClass[spec.kind], len(sc.receps))
			sc.recepIdx[r.name] = len(sc.receps)
			sc.receps = append(sc.receps, r)
		}
	}
	present := func(classes []string) []string {
		var out []string
		for _, c := range classes {
			if len(sc.byClass[c]) > 0 && !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
		return out
	}
	classes := make([]string, 0, len(rs.objects))
	for c := range rs.objects {
		classes = append(classes, c)
	}
	slices.Sort(classes) // map order is random; the draw must not be

	var family map[string]bool
	excluded := map[string]bool{}
	switch tt {
	case PickCleanThenPlace:
		family, excluded["sinkbasin"], excluded["bathtubbasin"] = cleanable, true, true
	case PickHeatThenPlace:
		family, excluded["microwave"] = heatable, true
	case PickCoolThenPlace:
		family, excluded["fridge"] = coolable, true
	case LookAtObjInLight:
		family = lookable
		if len(present(rs.lampOn)) == 0 {
			return nil
		}
	}
	type choice struct{ obj, target string }
	var choices []choice
	for _, c := range classes {
		if family != nil && !family[c] {
			continue
		}
		places := present(rs.objects[c])
		if tt == LookAtObjInLight {
			if len(places) > 0 {
				choices = append(choices, choice{obj: c})
			}
			continue
		}
		for _, t := range places {
			// The object must be able to start somewhere other than a target.
			if !excluded[t] && len(places) > 1 {
				choices = append(choices, choice{c, t})
			}
		}
	}
	if len(choices) == 0 {
		return nil
	}
	ch := choices[rng.IntN(len(choices))]
	sc.goal = Goal{Type: tt, Object: ch.obj, Target: ch.target, Count: 1}
	if tt == PickTwoObjAndPlace {
		sc.goal.Count = 2
	}

	type inst struct {
		class string
		at    int
	}
	var insts []inst
	place := func(class string, n int, avoid string) {
		var ok []int
		for _, c := range present(rs.objects[class]) {
			if c != avoid {
				ok = append(ok, sc.byClass[c]...)
			}
		}
		if len(ok) == 0 {
			return
		}
		for range n {
			insts = append(insts, inst{class, ok[rng.IntN(len(ok))]})
		}
	}
	nGoal := 1 + rng.IntN(3)
	if tt == PickTwoObjAndPlace {
		nGoal = 2 + rng.IntN(2)
	}
	place(ch.obj, nGoal, ch.target)
	others := slices.DeleteFunc(slices.Clone(classes), func(c string) bool { return c == ch.obj })
	rng.Shuffle(len(others), func(i, j int) { others[i], others[j] = others[j], others[i] })
	nOther := min(len(others), 6+rng.IntN(5))
	for _, c := range others[:nOther] {
		place(c, 1+rng.IntN(2), "")
	}
	hasLamp := len(rs.lampOn) > 0 && (tt == LookAtObjInLight || rng.IntN(10) < 6)
	if hasLamp {
		var ok []int
		for _, c := range present(rs.lampOn) {
			ok = append(ok, sc.byClass[c]...)
		}
		insts = append(insts, inst{lampClass, ok[rng.IntN(len(ok))]})
	}
	// Shuffle before numbering so neither list order nor instance numbers give the goal away.
	rng.Shuffle(len(insts), func(i, j int) { insts[i], insts[j] = insts[j], insts[i] })
	count := map[string]int{}
	for _, in := range insts {
		count[in.class]++
		o := object{name: in.class + " " + strconv.Itoa(count[in.class]), class: in.class, pickable: in.class != lampClass}
		sc.objIdx[o.name] = len(sc.objs)
		sc.objs = append(sc.objs, o)
		sc.init.objs = append(sc.init.objs, objState{loc: in.at})
	}
	sc.init.open = make([]bool, len(sc.receps))
	sc.init.at, sc.init.holding = -1, -1
	sc.instruction = sc.goal.Instruction(rng.IntN(2))
	names := make([]string, len(sc.receps))
	for i, r := range sc.receps {
		names[i] = r.name
	}
	sc.intro = "You are in the middle of a room. Looking quickly around you, you see " + listItems(names) + "."
	return sc
}

// listItems writes ALFWorld's enumeration: "a x 1", "a x 1, and a y 2", "a x 1, a y 2, and a z 1".
func listItems(names []string) string {
	switch len(names) {
	case 0:
		return "nothing"
	case 1:
		return "a " + names[0]
	}
	b := make([]byte, 0, 16*len(names))
	for i, n := range names {
		if i > 0 {
			b = append(b, ", "...)
		}
		if i == len(names)-1 {
			b = append(b, "and "...)
		}
		b = append(b, "a "...)
		b = append(b, n...)
	}
	return string(b)
}
