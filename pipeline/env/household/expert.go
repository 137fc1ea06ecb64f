package household

// ExpertAction implements env.Expert. Like ALFWorld's oracle planner it knows where every object
// is, and it recovers from any state an agent can reach: it puts down an unneeded object, takes
// back a goal object placed in the wrong receptacle or left untreated, and otherwise fetches the
// cheapest goal object, treats it and delivers it. Ties break by scene order, so the answer is a
// function of the state.
func (e *Env) ExpertAction() (string, bool) {
	if e.sc == nil || e.st.done {
		return "", false
	}
	sc, st := e.sc, &e.st
	g := sc.goal
	if h := st.holding; h >= 0 {
		held := sc.objs[h].name
		if sc.objs[h].class != g.Object {
			return e.drop()
		}
		if g.Type == LookAtObjInLight {
			lamp := e.lamp()
			if lamp < 0 {
				return "", false
			}
			if r := st.objs[lamp].loc; st.at != r {
				return "go to " + sc.receps[r].name, true
			}
			return "use " + sc.objs[lamp].name, true
		}
		if !e.satisfies(h) {
			apps := sc.byClass[g.Appliance()]
			if len(apps) == 0 {
				return "", false
			}
			app := apps[0]
			if st.at != app {
				return "go to " + sc.receps[app].name, true
			}
			return g.Process() + " " + held + " with " + sc.receps[app].name, true
		}
		dest := e.bestTarget()
		if dest < 0 {
			return "", false
		}
		if st.at != dest {
			return "go to " + sc.receps[dest].name, true
		}
		if !e.visible(dest) {
			return "open " + sc.receps[dest].name, true
		}
		return "put " + held + " in/on " + sc.receps[dest].name, true
	}
	o := e.fetchCandidate()
	if o < 0 {
		return "", false
	}
	r := st.objs[o].loc
	if st.at != r {
		return "go to " + sc.receps[r].name, true
	}
	if !e.visible(r) {
		return "open " + sc.receps[r].name, true
	}
	return "take " + sc.objs[o].name + " from " + sc.receps[r].name, true
}

// drop puts the held object down where the agent stands, or at the first open surface.
func (e *Env) drop() (string, bool) {
	sc, st := e.sc, &e.st
	held := sc.objs[st.holding].name
	if st.at >= 0 {
		if !e.visible(st.at) {
			return "open " + sc.receps[st.at].name, true
		}
		return "put " + held + " in/on " + sc.receps[st.at].name, true
	}
	for _, r := range sc.receps {
		if !r.openable {
			return "go to " + r.name, true
		}
	}
	return "go to " + sc.receps[0].name, true
}

// lamp is the index of the scene's lamp, -1 if it has none.
func (e *Env) lamp() int {
	for i, o := range e.sc.objs {
		if o.class == lampClass {
			return i
		}
	}
	return -1
}

// bestTarget is the target receptacle to deliver to: the one holding the most satisfying goal
// objects (PickTwoObjAndPlace), then the one needing fewest moves.
func (e *Env) bestTarget() int {
	best, bestCount, bestCost := -1, -1, 0
	for _, r := range e.sc.byClass[e.sc.goal.Target] {
		n := e.countSatisfying(r)
		cost := 0
		if r != e.st.at {
			cost++
		}
		if !e.visible(r) {
			cost++
		}
		if n > bestCount || n == bestCount && cost < bestCost {
			best, bestCount, bestCost = r, n, cost
		}
	}
	return best
}

// fetchCandidate is the goal object cheapest to bring, leaving alone those that already count in
// the best target receptacle.
func (e *Env) fetchCandidate() int {
	sc, st := e.sc, &e.st
	g := sc.goal
	keep := -1
	if g.Type != LookAtObjInLight {
		keep = e.bestTarget()
	}
	best, bestCost := -1, 0
	for i, o := range sc.objs {
		if o.class != g.Object || !o.pickable {
			continue
		}
		loc := st.objs[i].loc
		if loc == keep && e.satisfies(i) {
			continue
		}
		cost := 1 // take
		if loc != st.at {
			cost++
		}
		if !e.visible(loc) {
			cost++
		}
		if g.Type != LookAtObjInLight && g.Type != PickAndPlace && g.Type != PickTwoObjAndPlace && !e.satisfies(i) {
			cost += 2 // go to the appliance and use it
		}
		if best < 0 || cost < bestCost {
			best, bestCost = i, cost
		}
	}
	return best
}
