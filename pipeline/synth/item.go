package synth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"

	"github.com/armap/armap/pipeline/agent"
	llmpolicy "github.com/armap/armap/pipeline/agent/llm"
	"github.com/armap/armap/pipeline/agent/scripted"
	"github.com/armap/armap/pipeline/dataset"
	"github.com/armap/armap/pipeline/env"
	"github.com/armap/armap/pipeline/env/shop"
	"github.com/armap/armap/pipeline/llm"
)

// Discard reasons, counted in Summary.Discarded.
const (
	DiscardNoPositive = "no_positive" // no run fulfilled an instruction the env can rate
	DiscardNoNegative = "no_negative" // no negative of the slot's source could be made
	DiscardNotBetter  = "not_better"  // the env did not rate the positive strictly above the negative
	DiscardDuplicate  = "duplicate"   // same instruction, chosen and rejected as a kept triplet
)

// LLM uses, the keys of Summary.LLMFailures.
const (
	UseExplore      = "explore"
	UseWeak         = "weak"
	UseRefine       = "refine"
	UseWrongAnswers = "wrong_answers"
)

// job is one attempt: index and slot.
type job struct {
	idx int
	sl  slot
}

// outcome is what one attempt produced. Exactly one of trip, discard, llmUse, fail is set.
type outcome struct {
	idx     int
	trip    *dataset.Triplet
	key     string // dedup key of trip
	discard string
	detail  string // the error behind a discard, for the summary's examples
	llmUse  string
	fail    error
	steps   int64 // env steps in the trajectories produced
	llmOK   int64 // usable LLM answers in this attempt, whatever its outcome
}

// run is one trajectory with, for the shop, what it bought (so it can be rated against another
// goal than its task's).
type run struct {
	tr  dataset.Trajectory
	buy *purchase
}

// purchase is a shop purchase read from the env right after the run that made it.
type purchase struct {
	product *shop.Product
	chosen  map[string]string
	info    shop.RewardInfo // against the task's own goal
}

// worker owns one env instance and its policies; attempts on one worker run one at a time.
type worker struct {
	s                      *setup
	e                      env.Env
	explorer, weak, expert agent.Policy
	// llmUseful counts this worker's usable LLM answers (actions, rewrites, wrong answers); not
	// calls, since a model can answer every call with nothing usable (all reasoning, cut at
	// max_tokens). Attempts on one worker run one at a time, so its change across an attempt is
	// that attempt's own.
	llmUseful atomic.Int64
}

func (s *setup) newWorker() (*worker, error) {
	e, err := s.factory()
	if err != nil {
		return nil, fmt.Errorf("synth: make %s env: %w", s.name, err)
	}
	w := &worker{s: s, e: e}
	if w.explorer, err = s.newPolicy(s.cfg.Policy, s.cfg.Skill, UseExplore, &w.llmUseful); err != nil {
		e.Close()
		return nil, err
	}
	if w.weak, err = s.newPolicy(s.weakPolicyName(), s.cfg.WeakSkill, UseWeak, &w.llmUseful); err != nil {
		e.Close()
		return nil, err
	}
	if s.scriptable() {
		if w.expert, err = scripted.New(s.kind, 1); err != nil {
			e.Close()
			return nil, err
		}
	}
	return w, nil
}

// itemRand is attempt idx's only source of randomness: a function of (seed, idx) alone, so the
// output does not depend on which worker ran which attempt.
func itemRand(seed uint64, idx int) *rand.Rand {
	return rand.New(rand.NewPCG(seed^0x73796e7468, uint64(idx)*0x9e3779b97f4a7c15+1))
}

// attempt tries to make one triplet.
func (w *worker) attempt(ctx context.Context, j job) (out outcome) {
	out.idx = j.idx
	useful := w.llmUseful.Load()
	defer func() {
		out.llmOK = w.llmUseful.Load() - useful
		// Sort errors into LLM failures (counted, not fatal) and env/policy failures.
		if out.fail == nil {
			return
		}
		var lf *llmFailure
		if errors.As(out.fail, &lf) && ctx.Err() == nil && !errors.Is(lf, llm.ErrFatal) {
			out.llmUse, out.fail = lf.use, nil
			out.detail = lf.Error()
		}
	}()
	s := w.s
	rng := itemRand(s.cfg.Seed, j.idx)
	task := s.tasks[s.order[j.idx%len(s.order)]]
	var it *item
	var err error
	if j.sl.source == SourceWeaker {
		it, err = w.weakerItem(ctx, task, rng, &out)
	} else {
		it, err = w.perturbItem(ctx, task, j.sl, rng, &out)
	}
	if err != nil {
		out.fail = err
		return out
	}
	if it == nil {
		return out
	}
	if s.cfg.Refine == RefineLLM {
		// The request's seed comes from the attempt's rng: a seed from the prompt alone would give
		// two items of one positive the same rewrite.
		pos := it.pos.tr
		pos.Instruction = it.instruction
		text, err := llmpolicy.RefineInstruction(ctx, s.deps.LLM, s.kind, pos, llmpolicy.WithSeed(rng.Int64N(1<<31)))
		if err != nil {
			if ctx.Err() != nil {
				out.fail = ctx.Err()
			} else {
				out.fail = &llmFailure{use: UseRefine, err: err}
			}
			return out
		}
		w.llmUseful.Add(1)
		it.meta["env_instruction"] = it.envInstruction
		it.meta["refined"] = "llm"
		it.instruction = text
	}
	if !(it.posR > it.negR) {
		out.discard, out.detail = DiscardNotBetter, fmt.Sprintf("task %d %s: chosen %v, rejected %v", task, j.sl.kind, it.posR, it.negR)
		return out
	}
	out.trip = it.triplet(s, j.idx)
	out.key = dedupKey(out.trip)
	return out
}

// item is a triplet in the making.
type item struct {
	instruction    string
	envInstruction string
	pos, neg       run
	posR, negR     float64
	meta           map[string]any
}

func (it *item) triplet(s *setup, idx int) *dataset.Triplet {
	pr, nr := it.posR, it.negR
	return &dataset.Triplet{
		ID:          fmt.Sprintf("%s-s%d-%06d", s.name, s.cfg.Seed, idx),
		Env:         s.name,
		Instruction: it.instruction,
		Chosen:      dataset.Side{Steps: it.pos.tr.Steps, EnvReward: &pr},
		Rejected:    dataset.Side{Steps: it.neg.tr.Steps, EnvReward: &nr},
		Meta:        it.meta,
	}
}

// dedupKey identifies a triplet by instruction, chosen and rejected.
func dedupKey(t *dataset.Triplet) string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	_ = enc.Encode(t.Instruction)
	_ = enc.Encode(t.Chosen.Steps)
	_ = enc.Encode(t.Rejected.Steps)
	return hex.EncodeToString(h.Sum(nil))
}

// rollout runs p on task and records what a shop run bought.
func (w *worker) rollout(ctx context.Context, p agent.Policy, task int, opt agent.ActOptions, out *outcome) (run, error) {
	tr, err := agent.Rollout(ctx, w.e, p, task, w.s.cfg.MaxSteps, opt, nil)
	out.steps += int64(len(tr.Steps))
	if err != nil {
		return run{}, err
	}
	return run{tr: tr, buy: w.purchase()}, nil
}

// purchase reads the shop env's purchase at the end of the run it just made (nil elsewhere, and
// when nothing was bought).
func (w *worker) purchase() *purchase {
	se, ok := w.e.(*shop.Env)
	if !ok {
		return nil
	}
	info, bought := se.Outcome()
	if !bought {
		return nil
	}
	v := se.View()
	p, ok := se.Catalog().Product(v.ASIN)
	if !ok {
		return nil
	}
	return &purchase{product: p, chosen: v.Chosen, info: info}
}

// rate is r's reward for goal g: the env's own reward when g is nil (the task's goal), else the
// shop's reward function applied to what r bought.
func rate(r run, g *shop.Goal) float64 {
	if g == nil {
		return r.tr.EnvReward
	}
	if r.buy == nil {
		return 0
	}
	return shop.ComputeReward(r.buy.product, r.buy.product.Price, r.buy.chosen, g).Total
}

// positive finds a trajectory that fulfils an instruction the env can rate: an explorer run that
// succeeds; else (refinement on, shop) an explorer purchase with the instruction rewritten to what
// was bought; else the expert's run. goal is nil when the task's own goal applies.
func (w *worker) positive(ctx context.Context, task int, refine bool, rng *rand.Rand, out *outcome) (pos run, goal *shop.Goal, kind string, err error) {
	s := w.s
	var bought *run
	for range s.cfg.ExploreSamples {
		r, err := w.rollout(ctx, w.explorer, task, agent.ActOptions{N: 1, Rand: rng}, out)
		if err != nil {
			return run{}, nil, "", err
		}
		if r.tr.EnvReward >= 1 {
			return r, nil, "explore", nil
		}
		if r.buy != nil && bought == nil {
			bought = &r
		}
	}
	if bought != nil && refine && s.cfg.Refine != RefineOff {
		g := refineShopGoal(bought.buy, rng)
		if rate(*bought, g) >= 1 {
			return *bought, g, "refined", nil
		}
	}
	if w.expert != nil {
		r, err := w.rollout(ctx, w.expert, task, agent.ActOptions{N: 1, Greedy: true}, out)
		if err != nil {
			return run{}, nil, "", err
		}
		if r.tr.EnvReward >= 1 {
			return r, nil, "expert", nil
		}
	}
	return run{}, nil, "", nil
}

// perturbItem makes a positive and a negative by changing its actions (or, for SourceLLM, its
// answer) and re-running them in the env.
func (w *worker) perturbItem(ctx context.Context, task int, sl slot, rng *rand.Rand, out *outcome) (*item, error) {
	pos, goal, posKind, err := w.positive(ctx, task, true, rng, out)
	if err != nil {
		return nil, err
	}
	if pos.tr.Steps == nil {
		out.discard, out.detail = DiscardNoPositive, fmt.Sprintf("task %d: no successful run", task)
		return nil, nil
	}
	it := &item{pos: pos, envInstruction: pos.tr.Instruction, instruction: pos.tr.Instruction,
		meta: map[string]any{"source": sl.source, "task_id": pos.tr.TaskID, "positive": posKind}}
	if goal != nil {
		it.instruction = goal.Instruction
		it.meta["env_instruction"] = it.envInstruction
		it.meta["refined"] = "offline"
	}
	it.posR = rate(pos, goal)
	// The makers compare against the positive's reward for the instruction it fulfils.
	posTr := pos.tr
	posTr.EnvReward = it.posR
	posTr.Instruction = it.instruction

	var neg run
	var kind string
	if sl.source == SourceLLM {
		neg, kind, err = w.llmAnswer(ctx, task, posTr, sl.kind, rng, out)
		if err != nil {
			return nil, err
		}
	} else {
		neg, kind, err = w.perturb(ctx, task, posTr, goal, sl.kind, rng, out)
		if err != nil {
			return nil, err
		}
	}
	if kind == "" {
		return nil, nil
	}
	it.neg, it.negR = neg, rate(neg, goal)
	it.meta["negative"] = kind
	return it, nil
}

// perturb makes a negative of kind, or of another allowed perturbation kind (in an order drawn
// from rng) when kind does not apply to this positive. It returns kind "" when none applied.
// goal is the shop goal pos fulfils when the instruction was refined (nil: the task's own), so
// the kind is chosen against the instruction the triplet carries.
func (w *worker) perturb(ctx context.Context, task int, pos dataset.Trajectory, goal *shop.Goal, kind string, rng *rand.Rand, out *outcome) (run, string, error) {
	s := w.s
	others := slices.DeleteFunc(slices.Clone(s.perturb), func(k string) bool { return k == kind })
	rng.Shuffle(len(others), func(i, j int) { others[i], others[j] = others[j], others[i] })
	order := append([]string{kind}, others...)
	var firstErr error
	for _, k := range order {
		var tr dataset.Trajectory
		var got string
		var err error
		switch s.kind {
		case "game24":
			tr, err = scripted.Game24Negative(pos, k, rng)
			got = k
		case "shop":
			tr, err = scripted.ShopNegativeOfKindFor(ctx, w.e, task, pos, k, goal, rng)
			got = k
		case "household":
			// The household maker draws its kind; ask again (a few times) for the one wanted.
			for try := 0; try < 4; try++ {
				tr, got, err = scripted.HouseholdNegative(ctx, w.e, task, pos, rng)
				if err != nil || got == k {
					break
				}
			}
			if err == nil && !slices.Contains(s.perturb, got) {
				err = fmt.Errorf("household negative: got kind %s, not an allowed kind", got)
			}
		default:
			return run{}, "", fmt.Errorf("synth: no negative maker for env %s", s.kind)
		}
		if ctx.Err() != nil {
			return run{}, "", ctx.Err()
		}
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		out.steps += int64(len(tr.Steps))
		return run{tr: tr, buy: w.purchase()}, got, nil
	}
	out.discard, out.detail = DiscardNoNegative, fmt.Sprintf("task %d: %v", task, firstErr)
	return run{}, "", nil
}

// llmAnswer asks the LLM for a wrong answer of kind (the request's seed from the attempt's rng, so
// that two items of one puzzle need not get the same reply) and re-runs the positive's steps with it as
// the final answer.
func (w *worker) llmAnswer(ctx context.Context, task int, pos dataset.Trajectory, kind string, rng *rand.Rand, out *outcome) (run, string, error) {
	was, err := llmpolicy.Game24WrongAnswersByKind(ctx, w.s.deps.LLM, pos.Instruction, []string{kind}, 1, llmpolicy.WithSeed(rng.Int64N(1<<31)))
	if err != nil || len(was) == 0 {
		if ctx.Err() != nil {
			return run{}, "", ctx.Err()
		}
		if err == nil {
			err = errors.New("no answer")
		}
		return run{}, "", &llmFailure{use: UseWrongAnswers, err: err}
	}
	w.llmUseful.Add(1)
	acts := make([]string, 0, len(pos.Steps))
	for _, st := range pos.Steps[:len(pos.Steps)-1] {
		acts = append(acts, st.Action)
	}
	acts = append(acts, was[0].Answer)
	tr, err := w.replay(ctx, task, acts, out)
	if err != nil {
		return run{}, "", err
	}
	return run{tr: tr}, was[0].Kind, nil
}

// replay runs actions from a fresh Reset of task, stopping when the episode ends.
func (w *worker) replay(ctx context.Context, task int, acts []string, out *outcome) (dataset.Trajectory, error) {
	obs, err := w.e.Reset(ctx, task)
	if err != nil {
		return dataset.Trajectory{}, fmt.Errorf("replay: reset task %d: %w", task, err)
	}
	tr := dataset.Trajectory{Env: w.e.Name(), TaskID: obs.TaskID, Instruction: obs.Instruction}
	for _, a := range acts {
		res, err := w.e.Step(ctx, a)
		if err != nil {
			return tr, fmt.Errorf("replay: task %d step %q: %w", task, a, err)
		}
		out.steps++
		tr.Steps = append(tr.Steps, dataset.Step{Action: a, Observation: res.Observation})
		if res.Done {
			tr.EnvReward, tr.Success = res.Reward, res.Reward >= 1
			break
		}
	}
	return tr, nil
}

// weakerItem pairs a positive with a weaker policy's lower-reward run of the same task. The
// weaker policy's own successes are the preferred positives: a planner ranks that policy's
// samples, so the reward model should learn what separates its successes from its failures,
// not the style of another policy.
func (w *worker) weakerItem(ctx context.Context, task int, rng *rand.Rand, out *outcome) (*item, error) {
	s := w.s
	weak := make([]run, 0, s.cfg.WeakSamples)
	for range s.cfg.WeakSamples {
		r, err := w.rollout(ctx, w.weak, task, agent.ActOptions{N: 1, Rand: rng}, out)
		if err != nil {
			return nil, err
		}
		weak = append(weak, r)
	}
	var pos run
	var posKind string
	var wins []int
	for i, r := range weak {
		if r.tr.EnvReward >= 1 {
			wins = append(wins, i)
		}
	}
	if len(wins) > 0 {
		pos, posKind = weak[wins[rng.IntN(len(wins))]], "weak_policy"
	} else {
		// No refinement here: the weaker policy was given the task's own instruction.
		p, _, kind, err := w.positive(ctx, task, false, rng, out)
		if err != nil {
			return nil, err
		}
		if p.tr.Steps != nil {
			pos, posKind = p, kind
		}
	}
	if pos.tr.Steps == nil {
		// Graded envs (shop, remote ones): the best run is the positive when it beats another.
		all := weak
		best := -1
		for i, r := range all {
			if best < 0 || r.tr.EnvReward > all[best].tr.EnvReward {
				best = i
			}
		}
		if best < 0 || all[best].tr.EnvReward <= 0 {
			out.discard, out.detail = DiscardNoPositive, fmt.Sprintf("task %d: no run with a reward", task)
			return nil, nil
		}
		pos, posKind = all[best], "best_sample"
	}
	var lower []int
	for i, r := range weak {
		if r.tr.EnvReward < pos.tr.EnvReward {
			lower = append(lower, i)
		}
	}
	if len(lower) == 0 {
		out.discard, out.detail = DiscardNoNegative, fmt.Sprintf("task %d: no weaker run below the positive's reward %v", task, pos.tr.EnvReward)
		return nil, nil
	}
	neg := weak[lower[rng.IntN(len(lower))]]
	cutFrom := 0
	if s.cfg.CappedNegatives == CappedCut && w.capped(neg.tr) && len(pos.tr.Steps) < len(neg.tr.Steps) {
		cutFrom = len(neg.tr.Steps)
		neg = cut(neg, len(pos.tr.Steps))
	}
	it := &item{pos: pos, neg: neg, posR: pos.tr.EnvReward, negR: neg.tr.EnvReward,
		instruction: pos.tr.Instruction, envInstruction: pos.tr.Instruction,
		meta: map[string]any{"source": SourceWeaker, "negative": KindWeaker, "task_id": pos.tr.TaskID, "positive": posKind}}
	if cutFrom > 0 {
		it.meta["cut_from"] = cutFrom
	}
	if m := w.mistakes(neg); len(m) > 0 {
		it.meta["mistakes"] = m
	}
	return it, nil
}

// capped reports whether tr failed by using up the step limit: synth's max_steps, or the step at
// which the env ends every unfinished episode. A run whose own last action fell on that step
// counts too, which is harmless: any prefix of a failed run is an unfinished, unrewarded run.
func (w *worker) capped(tr dataset.Trajectory) bool {
	if tr.Success {
		return false
	}
	limit := w.s.cfg.MaxSteps
	if l, ok := w.e.(env.StepLimit); ok && l.MaxSteps() > 0 {
		limit = min(limit, l.MaxSteps())
	}
	return len(tr.Steps) >= limit
}

// cut keeps r's first n steps. The env never rated that state (rewards come at the end of an
// episode), so the result is unrewarded and has bought nothing.
func cut(r run, n int) run {
	r.tr.Steps = slices.Clone(r.tr.Steps[:n])
	r.tr.EnvReward, r.tr.Success = 0, false
	r.buy = nil
	return r
}

// mistakes labels what went wrong in a weaker run, where the env lets us tell.
func (w *worker) mistakes(r run) []string {
	switch w.s.kind {
	case "game24":
		m, err := scripted.Game24Mistakes(r.tr)
		if err != nil {
			return nil
		}
		return m
	case "shop":
		if !w.s.local {
			return nil
		}
		if r.buy == nil {
			return []string{"no_purchase"}
		}
		var m []string
		in := r.buy.info
		if in.RType < 1 {
			m = append(m, "wrong_type")
		}
		if in.AttrMatches < in.NumAttrs {
			m = append(m, "missing_attribute")
		}
		if in.OptionMatches < in.NumOptions {
			m = append(m, scripted.ShopNegWrongOption)
		}
		if !in.PriceOK {
			m = append(m, scripted.ShopNegOverBudget)
		}
		return m
	}
	return nil
}
