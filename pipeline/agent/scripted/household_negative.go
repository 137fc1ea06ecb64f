package scripted

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"

	"github.com/armap/armap/pipeline/dataset"
	"github.com/armap/armap/pipeline/env"
)

// Kinds of household negatives, recorded by synthesis in meta.negative.
const (
	NegSkipStep        = "skip_step"        // the cleaning/heating/cooling (or lamp) step left out
	NegWrongReceptacle = "wrong_receptacle" // the object put in a receptacle of another class
	NegWrongObject     = "wrong_object"     // another object taken in place of the goal object
)

var (
	hhTakeObsRe = regexp.MustCompile(`^You pick up the ([a-z]+ \d+) from the ([a-z]+ \d+)\.`)
	hhPutObsRe  = regexp.MustCompile(`^You put the ([a-z]+ \d+) in/on the ([a-z]+ \d+)\.`)
	hhItemRe    = regexp.MustCompile(`\ba ([a-z]+ \d+)`)
)

// HouseholdNegative makes a negative for ARMAP's synthesis from a positive household trajectory:
// it changes the positive's actions the way a weaker agent would (leaves out the treatment step,
// puts the object in a receptacle of another class, takes another object) and replays them from
// a fresh Reset of task in e, so the observations are the env's own. Kinds are tried in an order
// drawn from rng until one yields a lower env reward than pos; the kind is returned with the
// trajectory. e may be any env that serves household tasks (in process or over HTTP).
func HouseholdNegative(ctx context.Context, e env.Env, task int, pos dataset.Trajectory, rng *rand.Rand) (dataset.Trajectory, string, error) {
	if len(pos.Steps) == 0 {
		return dataset.Trajectory{}, "", errors.New("household negative: positive has no steps")
	}
	obs, err := e.Reset(ctx, task)
	if err != nil {
		return dataset.Trajectory{}, "", fmt.Errorf("household negative: reset task %d: %w", task, err)
	}
	receps := hhItemRe.FindAllStringSubmatch(obs.Text, -1)
	kinds := []string{NegSkipStep, NegWrongReceptacle, NegWrongObject}
	rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	for _, kind := range kinds {
		var acts []string
		switch kind {
		case NegSkipStep:
			acts = hhSkipTreatment(pos.Steps)
		case NegWrongReceptacle:
			acts = hhWrongReceptacle(pos.Steps, receps, rng)
		case NegWrongObject:
			acts = hhWrongObject(pos.Steps, rng)
		}
		if acts == nil {
			continue
		}
		tr, err := hhReplay(ctx, e, task, pos, acts)
		if err != nil {
			return dataset.Trajectory{}, "", err
		}
		if tr.EnvReward < pos.EnvReward {
			return tr, kind, nil
		}
	}
	return dataset.Trajectory{}, "", fmt.Errorf("household negative: task %d: no perturbation of the %d-step positive lowered its reward %v", task, len(pos.Steps), pos.EnvReward)
}

// hhSkipTreatment drops the successful clean/heat/cool step and the walk to the appliance just
// before it, or swaps using the lamp for examining the object.
func hhSkipTreatment(steps []dataset.Step) []string {
	acts := hhActions(steps)
	for i := len(steps) - 1; i >= 0; i-- {
		o := steps[i].Observation
		switch {
		case strings.HasPrefix(o, "You turn on the "):
			held := hhHeldBefore(steps, i)
			if held == "" {
				return nil
			}
			acts[i] = "examine " + held
			return acts
		case strings.HasPrefix(o, "You clean the "), strings.HasPrefix(o, "You heat the "), strings.HasPrefix(o, "You cool the "):
			from := i
			_, app, _ := strings.Cut(acts[i], " with ")
			if i > 0 && acts[i-1] == "go to "+app {
				from = i - 1
			}
			return slices.Delete(acts, from, i+1)
		}
	}
	return nil
}

// hhHeldBefore is the object in hand before step i, from the take and put observations.
func hhHeldBefore(steps []dataset.Step, i int) string {
	held := ""
	for _, s := range steps[:i] {
		if m := hhTakeObsRe.FindStringSubmatch(s.Observation); m != nil {
			held = m[1]
		} else if hhPutObsRe.MatchString(s.Observation) {
			held = ""
		}
	}
	return held
}

// hhWrongReceptacle moves the last successful put (and the walk there) to a receptacle of another
// class.
func hhWrongReceptacle(steps []dataset.Step, receps [][]string, rng *rand.Rand) []string {
	acts := hhActions(steps)
	last := -1
	var obj, dest string
	for i, s := range steps {
		if m := hhPutObsRe.FindStringSubmatch(s.Observation); m != nil {
			last, obj, dest = i, m[1], m[2]
		}
	}
	if last < 0 {
		return nil
	}
	var alts []string
	for _, m := range receps {
		if hhClass(m[1]) != hhClass(dest) {
			alts = append(alts, m[1])
		}
	}
	if len(alts) == 0 {
		return nil
	}
	alt := alts[rng.IntN(len(alts))]
	// Rewrite from the walk to the old destination on; opening is left to hhReplay, which opens
	// the new receptacle when it turns out to be closed.
	from := last
	for from > 0 && acts[from-1] != "go to "+dest {
		from--
	}
	if from > 0 {
		from--
	}
	out := slices.Clone(acts[:from])
	for _, a := range acts[from:] {
		switch {
		case a == "open "+dest || a == "close "+dest:
			continue
		case a == "go to "+dest:
			out = append(out, "go to "+alt)
		case strings.HasPrefix(a, "put "+obj+" "):
			out = append(out, "put "+obj+" in/on "+alt)
		default:
			out = append(out, a)
		}
	}
	return out
}

// hhWrongObject takes, in place of the goal object, another object that the observation before the
// take showed in the same receptacle, and carries that one through the rest of the plan.
func hhWrongObject(steps []dataset.Step, rng *rand.Rand) []string {
	acts := hhActions(steps)
	for i, s := range steps {
		m := hhTakeObsRe.FindStringSubmatch(s.Observation)
		if m == nil || i == 0 {
			continue
		}
		obj, rec := m[1], m[2]
		var alts []string
		for j := i - 1; j >= 0 && len(alts) == 0; j-- {
			o := steps[j].Observation
			if !strings.Contains(o, rec+", you see") && !strings.Contains(o, rec+" is open. In it, you see") {
				continue
			}
			_, list, _ := strings.Cut(o, "you see ")
			for _, it := range hhItemRe.FindAllStringSubmatch(list, -1) {
				if hhClass(it[1]) != hhClass(obj) && hhClass(it[1]) != "desklamp" {
					alts = append(alts, it[1])
				}
			}
		}
		if len(alts) == 0 {
			continue
		}
		alt := alts[rng.IntN(len(alts))]
		re := regexp.MustCompile(`\b` + regexp.QuoteMeta(obj) + `\b`)
		for k := i; k < len(acts); k++ {
			acts[k] = re.ReplaceAllString(acts[k], alt)
		}
		return acts
	}
	return nil
}

func hhActions(steps []dataset.Step) []string {
	out := make([]string, len(steps))
	for i, s := range steps {
		out[i] = s.Action
	}
	return out
}

// hhReplay runs acts from a fresh reset, opening a receptacle it arrives at closed when the next
// action needs it open (the perturbed plan may lead to a closed cabinet the positive never met).
func hhReplay(ctx context.Context, e env.Env, task int, pos dataset.Trajectory, acts []string) (dataset.Trajectory, error) {
	if _, err := e.Reset(ctx, task); err != nil {
		return dataset.Trajectory{}, fmt.Errorf("household negative: reset task %d: %w", task, err)
	}
	tr := dataset.Trajectory{Env: e.Name(), TaskID: pos.TaskID, Instruction: pos.Instruction}
	step := func(a string) (bool, error) {
		r, err := e.Step(ctx, a)
		if err != nil {
			return false, fmt.Errorf("household negative: hhReplay step %d %q: %w", len(tr.Steps), a, err)
		}
		tr.Steps = append(tr.Steps, dataset.Step{Action: a, Observation: r.Observation})
		if r.Done {
			tr.EnvReward, tr.Success = r.Reward, r.Reward >= 1
		}
		return r.Done, nil
	}
	for i, a := range acts {
		done, err := step(a)
		if err != nil || done {
			return tr, err
		}
		if rec, ok := strings.CutPrefix(a, "go to "); ok && i+1 < len(acts) &&
			strings.HasSuffix(tr.Steps[len(tr.Steps)-1].Observation, "The "+rec+" is closed.") &&
			acts[i+1] != "open "+rec && strings.HasSuffix(acts[i+1], " "+rec) {
			if done, err := step("open " + rec); err != nil || done {
				return tr, err
			}
		}
	}
	return tr, nil
}
