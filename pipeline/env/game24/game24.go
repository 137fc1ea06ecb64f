// Package game24 is the Game of 24 environment: combine four numbers with + - * / into 24.
//
// Actions follow Tree of Thoughts: steps `13 - 9 = 4 (left: 4 4 10)`, then
// `Answer: (13 - 9) * (10 - 4) = 24`. The environment is a calculator that checks form, not a
// grader: after a step it shows the numbers left as it computes them (so a wrong claimed result
// shows as a mismatch, without comment); a malformed step or one that uses a number not on the
// table is reported invalid and changes nothing; the observation after the answer is the same
// whether the answer is right or wrong. The reward (1 for a correct answer, else 0) comes only
// with Done.
package game24

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/armap/armap/pipeline/env"
)

// Name is the environment kind.
const Name = "game24"

// DefaultMaxSteps allows the three steps and the answer plus room for a few invalid actions.
const DefaultMaxSteps = 8

// Options configure an Env.
type Options struct {
	// MaxSteps ends the episode (reward 0) after this many actions without an answer;
	// 0 means DefaultMaxSteps.
	MaxSteps int
}

// FinalObservation is what the environment says after any answer, right or wrong.
const FinalObservation = "Answer recorded. The episode is over."

// Instruction is the task text for the input numbers, in Tree of Thoughts' style.
func Instruction(nums []int) string {
	var b strings.Builder
	b.WriteString("Use the numbers and basic arithmetic operations (+ - * /) to obtain 24. ")
	b.WriteString("In each step, choose two of the remaining numbers and combine them into a new number, ")
	b.WriteString("written as `a op b = c (left: remaining numbers)`. ")
	b.WriteString("When one number is left, give the whole expression as `Answer: <expression> = 24`, ")
	b.WriteString("using each input number exactly once.\nInput:")
	for _, n := range nums {
		b.WriteByte(' ')
		b.WriteString(strconv.Itoa(n))
	}
	return b.String()
}

// item is a number on the table and the expression that produced it from the inputs.
type item struct {
	val  Number
	expr *Expr
}

// state is everything Snapshot must capture.
type state struct {
	task    int // -1 for an input given to ResetInput
	taskID  string
	input   []int
	items   []item // ascending by value; equal values keep arrival order
	steps   int
	done    bool
	started bool
}

func (s state) clone() state {
	c := s
	c.input = append([]int(nil), s.input...)
	c.items = append([]item(nil), s.items...)
	return c
}

// Env is a Game of 24 episode. It is not safe for concurrent use.
type Env struct {
	opt Options
	ps  []Puzzle
	st  state
}

var (
	_ env.Env    = (*Env)(nil)
	_ env.Splits = (*Env)(nil)
	_ env.Expert = (*Env)(nil)
)

// New returns an environment over the embedded puzzles.
func New(opt Options) (*Env, error) {
	if opt.MaxSteps < 0 {
		return nil, fmt.Errorf("game24: MaxSteps %d is negative", opt.MaxSteps)
	}
	if opt.MaxSteps == 0 {
		opt.MaxSteps = DefaultMaxSteps
	}
	ps, err := puzzles()
	if err != nil {
		return nil, err
	}
	return &Env{opt: opt, ps: ps}, nil
}

// NewFactory returns a Factory of independent environments with the same options.
func NewFactory(opt Options) env.Factory {
	return func() (env.Env, error) { return New(opt) }
}

func (e *Env) Name() string  { return Name }
func (e *Env) NumTasks() int { return len(e.ps) }
func (e *Env) Close() error  { return nil }

// Split implements env.Splits (see SplitTasks).
func (e *Env) Split(name string) ([]int, error) { return SplitTasks(name) }

// TaskID names task i.
func TaskID(i int) string { return Name + "/" + strconv.Itoa(i) }

// ParseTaskID returns the task number of an id made by TaskID.
func ParseTaskID(id string) (int, error) {
	s, ok := strings.CutPrefix(id, Name+"/")
	if !ok {
		return 0, fmt.Errorf("game24: task id %q does not start with %q", id, Name+"/")
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("game24: task id %q: not a task number", id)
	}
	return n, nil
}

// Reset starts task (0-based rank order).
func (e *Env) Reset(ctx context.Context, task int) (env.Observation, error) {
	if err := ctx.Err(); err != nil {
		return env.Observation{}, err
	}
	if task < 0 || task >= len(e.ps) {
		return env.Observation{}, fmt.Errorf("game24 task %d (have %d): %w", task, len(e.ps), env.ErrNoTask)
	}
	n := e.ps[task].Numbers
	return e.reset(task, TaskID(task), n[:]), nil
}

// ResetInput starts an episode on arbitrary numbers (1 to 6 of them, each 1 to 999), for puzzles
// outside the embedded list. Its task id is "game24/input-a-b-c-d".
func (e *Env) ResetInput(ctx context.Context, nums []int) (env.Observation, error) {
	if err := ctx.Err(); err != nil {
		return env.Observation{}, err
	}
	if len(nums) < 1 || len(nums) > 6 {
		return env.Observation{}, fmt.Errorf("game24: %d input numbers, want 1 to 6", len(nums))
	}
	id := Name + "/input"
	for _, n := range nums {
		if n < 1 || n > 999 {
			return env.Observation{}, fmt.Errorf("game24: input number %d out of range 1-999", n)
		}
		id += "-" + strconv.Itoa(n)
	}
	return e.reset(-1, id, nums), nil
}

func (e *Env) reset(task int, id string, nums []int) env.Observation {
	st := state{task: task, taskID: id, input: append([]int(nil), nums...), started: true}
	for _, n := range nums {
		st.items = insert(st.items, item{val: Int(int64(n)), expr: Leaf(Int(int64(n)))})
	}
	e.st = st
	return env.Observation{TaskID: id, Instruction: Instruction(nums), Text: "left: " + e.left()}
}

// insert places it after every item of smaller or equal value.
func insert(items []item, it item) []item {
	k := len(items)
	for k > 0 && it.val.Less(items[k-1].val) {
		k--
	}
	items = append(items, item{})
	copy(items[k+1:], items[k:])
	items[k] = it
	return items
}

// Input returns the puzzle's numbers.
func (e *Env) Input() []int { return append([]int(nil), e.st.input...) }

// Numbers returns the numbers left, ascending.
func (e *Env) Numbers() []Number { return values(e.st.items) }

// Done reports whether the episode has ended.
func (e *Env) Done() bool { return e.st.done }

// StepsTaken counts the actions since Reset.
func (e *Env) StepsTaken() int { return e.st.steps }

func (e *Env) left() string { return FormatNumbers(values(e.st.items)) }

// Step applies one action; see the package comment for what the observation reveals.
func (e *Env) Step(ctx context.Context, action string) (env.StepResult, error) {
	if err := ctx.Err(); err != nil {
		return env.StepResult{}, err
	}
	if !e.st.started {
		return env.StepResult{}, errors.New("game24: Step before Reset")
	}
	if e.st.done {
		return env.StepResult{}, env.ErrDone
	}
	e.st.steps++
	if IsAnswer(action) {
		e.st.done = true
		r := 0.0
		if CheckAnswer(e.st.input, action) == nil {
			r = 1
		}
		return env.StepResult{Observation: FinalObservation, Reward: r, Done: true}, nil
	}
	obs := e.apply(action)
	if e.st.steps >= e.opt.MaxSteps {
		e.st.done = true
		return env.StepResult{Observation: obs + " Step limit reached. The episode is over.", Done: true}, nil
	}
	return env.StepResult{Observation: obs}, nil
}

// apply performs a step action and returns its observation.
func (e *Env) apply(action string) string {
	st, err := ParseStep(action)
	if err != nil {
		return "Invalid step: " + err.Error() + "; left: " + e.left()
	}
	i, j, ok := e.find(st.X, st.Y)
	if !ok {
		return "Invalid step: " + e.missing(st) + "; left: " + e.left()
	}
	v, err := Apply(st.X, st.Op, st.Y)
	if err != nil {
		return "Invalid step: " + err.Error() + "; left: " + e.left()
	}
	c := candidate{i: i, j: j, op: st.Op, val: v}
	e.st.items = c.apply(e.st.items)
	return "left: " + e.left()
}

// find locates two distinct items with values x and y, the first match of each.
func (e *Env) find(x, y Number) (int, int, bool) {
	i := -1
	for k, it := range e.st.items {
		if it.val.Equal(x) {
			i = k
			break
		}
	}
	if i < 0 {
		return 0, 0, false
	}
	for k, it := range e.st.items {
		if k != i && it.val.Equal(y) {
			return i, k, true
		}
	}
	return 0, 0, false
}

func (e *Env) missing(st Step) string {
	count := func(x Number) int {
		n := 0
		for _, it := range e.st.items {
			if it.val.Equal(x) {
				n++
			}
		}
		return n
	}
	switch {
	case count(st.X) == 0:
		return st.X.String() + " is not among the numbers left"
	case count(st.Y) == 0:
		return st.Y.String() + " is not among the numbers left"
	}
	return st.X.String() + " is left only once"
}

// candidate is the step items[i] op items[j] with exact result val.
type candidate struct {
	i, j int
	op   byte
	val  Number
}

// apply returns a new item list: items without i and j, plus the result.
func (c candidate) apply(items []item) []item {
	out := make([]item, 0, len(items)-1)
	for k, it := range items {
		if k != c.i && k != c.j {
			out = append(out, it)
		}
	}
	return insert(out, item{val: c.val, expr: Bin(c.op, items[c.i].expr, items[c.j].expr)})
}

// solvable reports whether 24 can still be reached after c.
func (c candidate) solvable(items []item) bool {
	var buf [8]Number
	v := buf[:0]
	for k, it := range items {
		if k != c.i && k != c.j {
			v = append(v, it.val)
		}
	}
	return solvable(append(v, c.val))
}

// step writes c as an action with the true result and the numbers it leaves.
func (c candidate) step(items []item) Step {
	left := make([]Number, 0, len(items)-1)
	placed := false
	for k, it := range items {
		if k == c.i || k == c.j {
			continue
		}
		if !placed && c.val.Less(it.val) {
			left = append(left, c.val)
			placed = true
		}
		left = append(left, it.val)
	}
	if !placed {
		left = append(left, c.val)
	}
	return Step{X: items[c.i].val, Op: c.op, Y: items[c.j].val, Claim: c.val, Left: left}
}

// candidates lists every distinct step from items: for each pair a <= b, a + b, a * b, b - a,
// a - b, b / a and a / b, without division by zero and without repeats (equal numbers give the
// same step twice).
func candidates(items []item) []candidate {
	out := make([]candidate, 0, 3*len(items)*(len(items)-1))
	add := func(i, j int, op byte) {
		x, y := items[i].val, items[j].val
		// At most 36 candidates: a linear scan for repeats beats a map.
		for _, c := range out {
			if c.op == op && items[c.i].val.Equal(x) && items[c.j].val.Equal(y) {
				return
			}
		}
		v, err := Apply(x, op, y)
		if err != nil {
			return
		}
		out = append(out, candidate{i: i, j: j, op: op, val: v})
	}
	for i := range items {
		for j := i + 1; j < len(items); j++ {
			add(i, j, '+')
			add(i, j, '*')
			add(j, i, '-')
			add(i, j, '-')
			add(j, i, '/')
			add(i, j, '/')
		}
	}
	return out
}

// Admissible lists every distinct valid step, or, with one number left, the answer built from the
// steps taken (right or wrong). It is nil once the episode is over.
func (e *Env) Admissible() []string {
	if e.st.done || !e.st.started {
		return nil
	}
	if len(e.st.items) == 1 {
		return []string{FormatAnswer(e.st.items[0].expr)}
	}
	cs := candidates(e.st.items)
	out := make([]string, len(cs))
	for k, c := range cs {
		out[k] = c.step(e.st.items).String()
	}
	return out
}

// natural reports whether a step result is a non-negative integer, the kind people try first.
func natural(v Number) bool { return v.IsInt() && v.Sign() >= 0 }

// ExpertActions lists the steps from which 24 can still be reached, natural results first, or the
// correct answer when one number (24) is left. It is empty when the puzzle can no longer be solved.
func (e *Env) ExpertActions() []string {
	if e.st.done || !e.st.started {
		return nil
	}
	items := e.st.items
	if len(items) == 1 {
		if items[0].val.Equal(target) {
			return []string{FormatAnswer(items[0].expr)}
		}
		return nil
	}
	var first, later []string
	for _, c := range candidates(items) {
		if !c.solvable(items) {
			continue
		}
		s := c.step(items).String()
		if natural(c.val) {
			first = append(first, s)
		} else {
			later = append(later, s)
		}
	}
	return append(first, later...)
}

// ExpertAction implements env.Expert: the first of ExpertActions.
func (e *Env) ExpertAction() (string, bool) {
	if e.st.done || !e.st.started {
		return "", false
	}
	items := e.st.items
	if len(items) == 1 {
		if items[0].val.Equal(target) {
			return FormatAnswer(items[0].expr), true
		}
		return "", false
	}
	var fallback *candidate
	for _, c := range candidates(items) {
		if !c.solvable(items) {
			continue
		}
		if natural(c.val) {
			return c.step(items).String(), true
		}
		if fallback == nil {
			fallback = &c
		}
	}
	if fallback != nil {
		return fallback.step(items).String(), true
	}
	return "", false
}

// Answer returns the answer assembled from the steps taken when one number is left.
func (e *Env) Answer() (string, bool) {
	if len(e.st.items) != 1 || !e.st.started {
		return "", false
	}
	return FormatAnswer(e.st.items[0].expr), true
}

type snapshot struct{ st state }

// Snapshot copies the state. Expression trees are immutable and shared.
func (e *Env) Snapshot() (env.Snapshot, error) {
	if !e.st.started {
		return nil, errors.New("game24: Snapshot before Reset")
	}
	return &snapshot{st: e.st.clone()}, nil
}

// Restore puts back a state taken by Snapshot of any game24 Env; the snapshot stays reusable.
func (e *Env) Restore(s env.Snapshot) error {
	sn, ok := s.(*snapshot)
	if !ok || sn == nil {
		return fmt.Errorf("game24: cannot restore a %T snapshot", s)
	}
	e.st = sn.st.clone()
	return nil
}
