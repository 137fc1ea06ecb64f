package llmpolicy

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"regexp"
	"strconv"
	"strings"

	"github.com/armap/armap/pipeline/dataset"
	"github.com/armap/armap/pipeline/llm"
)

// instructionExamples show the model the style of each env's instructions, so that refined
// instructions read like the env's own (and like the ones the reward model sees at planning time).
var instructionExamples = map[string][]string{
	"game24": {
		"Use the numbers and basic arithmetic operations (+ - * /) to obtain 24, two numbers per step.",
	},
	"shop": {
		"i need a pair of red running shoes for men in size 9, and price lower than 60.00 dollars",
		"i am looking for a lavender scented soy candle in 8 oz, and price lower than 20.00 dollars",
	},
	"household": {
		"put a clean mug in coffeemachine.",
		"heat some egg and put it in countertop.",
		"look at book under the desklamp.",
	},
}

// synthesisObsChars clips observations in synthesis and reflection prompts.
const synthesisObsChars = 600

var (
	instrPrefixRE = regexp.MustCompile(`(?i)^(?:refined\s+)?(?:task\s+)?(?:instruction|task)\s*:\s*|^(?i:your task is to)\s*:\s*`)
	inputLineRE   = regexp.MustCompile(`(?im)^\s*Input:\s*((?:-?\d+\s*)+)$`)
	intRE         = regexp.MustCompile(`-?\d+`)
)

// CallOption adjusts one synthesis call (RefineInstruction, Game24WrongAnswers,
// Game24WrongAnswersByKind).
type CallOption func(*callOptions)

type callOptions struct{ seed *int64 }

// WithSeed sets the request seed of a synthesis call; a call of several requests gives each a
// seed of its own derived from it. Pass one drawn from the item's random source, so that items
// with the same prompt (the same puzzle twice) still get different samples.
func WithSeed(seed int64) CallOption { return func(o *callOptions) { o.seed = &seed } }

// callSeed is the seed of a synthesis call: the one given, or else one derived from the prompt.
// Sampling at the client's temperature without a seed makes two runs of the same item differ
// against a server that honours seeds (vLLM); a seed from the prompt keeps the same run giving
// the same requests, bytes for bytes, and never comes from the clock.
func callSeed(opts []CallOption, msgs []llm.Message) int64 {
	var o callOptions
	for _, f := range opts {
		f(&o)
	}
	if o.seed != nil {
		return *o.seed
	}
	h := fnv.New64a()
	for _, m := range msgs {
		h.Write([]byte(m.Role))
		h.Write([]byte{0})
		h.Write([]byte(m.Content))
		h.Write([]byte{0})
	}
	return int64(h.Sum64() & (1<<31 - 1)) // the range the policy draws its seeds from
}

// RefineInstruction asks the model for the task instruction that traj fulfils: ARMAP's step (2),
// which turns an exploratory trajectory into a positive example of some task, whatever the agent
// was first asked to do. The answer is one line in the style of env's instructions. For game24 the
// puzzle is the numbers, so the original "Input: ..." line is kept (appended when the model
// dropped it).
func RefineInstruction(ctx context.Context, client Chatter, env string, traj dataset.Trajectory, opts ...CallOption) (string, error) {
	if len(traj.Steps) == 0 {
		return "", errors.New("refine instruction: trajectory has no steps")
	}
	sty := styleFor(env)
	var b strings.Builder
	fmt.Fprintf(&b, "An agent acted in %s.\n", sty.about)
	if strings.TrimSpace(traj.Instruction) != "" {
		fmt.Fprintf(&b, "It was first asked: %s\n(It may have done something else.)\n", oneLine(traj.Instruction))
	}
	fmt.Fprintf(&b, "\nWhat it did:\n%s\n", transcript(traj.Steps, synthesisObsChars))
	b.WriteString("Write the task instruction that this trajectory completes correctly and fully, naming the " +
		"specific details it achieved (objects, attributes, options, price limit) and nothing it did not do.")
	if ex := instructionExamples[env]; len(ex) > 0 {
		b.WriteString(" Match the style of these instructions:\n")
		for _, e := range ex {
			fmt.Fprintf(&b, "- %s\n", e)
		}
	} else {
		b.WriteString("\n")
	}
	b.WriteString("Reply with the instruction only, on one line.")
	msgs := []llm.Message{
		llm.System("You write task instructions for recorded agent trajectories, for training a reward model."),
		llm.User(b.String()),
	}
	outs, _, err := client.Chat(ctx, msgs, llm.Options{N: 1, MaxTokens: 160, Seed: llm.Ptr(callSeed(opts, msgs))})
	if err != nil {
		return "", fmt.Errorf("refine instruction (%s, task %s): %w", env, traj.TaskID, err)
	}
	reply := outs[0]
	if env == "game24" {
		reply = inputLineRE.ReplaceAllString(reply, "") // the model's copy may be wrong; ours is not
	}
	text := cleanInstruction(reply)
	if text == "" {
		return "", fmt.Errorf("refine instruction (%s, task %s): empty reply %q", env, traj.TaskID, clipText(outs[0], 200))
	}
	if env == "game24" {
		if m := inputLineRE.FindStringSubmatch(traj.Instruction); m != nil {
			text += "\nInput: " + strings.Join(strings.Fields(m[1]), " ")
		}
	}
	return text, nil
}

func cleanInstruction(s string) string {
	s = firstParagraph(s)
	for range 3 {
		prev := s
		s = strings.TrimSpace(strings.Trim(s, "*_"))
		s = instrPrefixRE.ReplaceAllString(s, "")
		s = unquote(s)
		if s == prev {
			break
		}
	}
	return s
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// WrongAnswer is one LLM-written wrong Game of 24 answer and what is wrong with it, as
// ClassifyGame24Answer finds (not as the model claimed).
type WrongAnswer struct {
	Kind   string
	Answer string
}

var kindDescriptions = map[string]string{
	KindHallucinated: "uses a number that is not among the inputs (for example swaps one input for another number)",
	KindMissing:      "leaves out one of the input numbers",
	KindFormat:       "breaks the answer format: no `Answer:` prefix, no `= 24`, unbalanced parentheses, or words in the expression",
	KindArithmetic:   "uses every input number exactly once, but the expression does not actually equal 24",
}

// wrongAnswerRounds bounds the requests for one puzzle: models drift from the requested kinds or
// write correct answers, so a second or third request tops up, but never forever.
const wrongAnswerRounds = 3

// Game24WrongAnswers asks the model for n distinct wrong answers to puzzle (the input numbers, or
// an instruction ending in "Input: a b c d") of the given kinds (WrongAnswerKinds when empty),
// and returns the answer texts. See Game24WrongAnswersByKind.
func Game24WrongAnswers(ctx context.Context, client Chatter, puzzle string, kinds []string, n int, opts ...CallOption) ([]string, error) {
	was, err := Game24WrongAnswersByKind(ctx, client, puzzle, kinds, n, opts...)
	out := make([]string, len(was))
	for i, w := range was {
		out[i] = w.Answer
	}
	return out, err
}

// Game24WrongAnswersByKind is Game24WrongAnswers with each answer's kind. Every reply line is
// checked with exact arithmetic and labelled by what is actually wrong with it; correct answers,
// duplicates and kinds not asked for are dropped. The kinds are balanced (at most ceil(n/kinds)
// each) while the rounds last, then filled from the surplus. It may return fewer than n answers;
// it fails only when it found none (or the client failed).
func Game24WrongAnswersByKind(ctx context.Context, client Chatter, puzzle string, kinds []string, n int, opts ...CallOption) ([]WrongAnswer, error) {
	if n <= 0 {
		return nil, nil
	}
	inputs, err := puzzleNumbers(puzzle)
	if err != nil {
		return nil, err
	}
	if len(kinds) == 0 {
		kinds = WrongAnswerKinds
	}
	want := map[string]bool{}
	for _, k := range kinds {
		if _, ok := kindDescriptions[k]; !ok {
			return nil, fmt.Errorf("game24 wrong answers: unknown kind %q (known: %s)", k, strings.Join(WrongAnswerKinds, ", "))
		}
		want[k] = true
	}
	quota := (n + len(kinds) - 1) / len(kinds)
	var out, surplus []WrongAnswer
	count := map[string]int{}
	seen := map[string]bool{}
	var seed int64
	for round := 0; round < wrongAnswerRounds && len(out) < n; round++ {
		// Ask for the kinds still short, a little over what is missing: some lines will not count.
		var ask []string
		for _, k := range kinds {
			if count[k] < quota {
				ask = append(ask, k)
			}
		}
		if len(ask) == 0 {
			ask = kinds
		}
		msgs := wrongAnswerPrompt(inputs, ask, n-len(out)+1)
		if round == 0 {
			seed = callSeed(opts, msgs)
		}
		// A top-up round may send the same prompt again: its own seed keeps it from repeating the reply.
		o := llm.Options{N: 1, MaxTokens: 80 * (n - len(out) + 1), Seed: llm.Ptr(seed + int64(round))}
		outs, _, err := client.Chat(ctx, msgs, o)
		if err != nil {
			if len(out) > 0 && ctx.Err() == nil {
				break
			}
			return out, fmt.Errorf("game24 wrong answers for %v: %w", inputs, err)
		}
		for _, wa := range parseWrongAnswers(outs[0]) {
			kind := ClassifyGame24Answer(inputs, wa)
			key := strings.Join(strings.Fields(wa), " ")
			if kind == kindCorrect || !want[kind] || seen[key] {
				continue
			}
			seen[key] = true
			w := WrongAnswer{Kind: kind, Answer: wa}
			if count[kind] < quota && len(out) < n {
				out = append(out, w)
				count[kind]++
			} else {
				surplus = append(surplus, w)
			}
		}
	}
	for _, w := range surplus {
		if len(out) >= n {
			break
		}
		out = append(out, w)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("game24 wrong answers for %v: no usable wrong answer in %d replies", inputs, wrongAnswerRounds)
	}
	return out, nil
}

func puzzleNumbers(puzzle string) ([]int64, error) {
	src := puzzle
	if m := inputLineRE.FindStringSubmatch(puzzle); m != nil {
		src = m[1]
	}
	var out []int64
	for _, s := range intRE.FindAllString(src, -1) {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("game24 puzzle %q: %w", puzzle, err)
		}
		out = append(out, v)
	}
	if len(out) < 2 {
		return nil, fmt.Errorf("game24 puzzle %q: want the input numbers (e.g. \"4 4 6 8\")", puzzle)
	}
	return out, nil
}

func wrongAnswerPrompt(inputs []int64, kinds []string, n int) []llm.Message {
	nums := make([]string, len(inputs))
	for i, v := range inputs {
		nums[i] = strconv.FormatInt(v, 10)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Game of 24 puzzle. Input: %s\n", strings.Join(nums, " "))
	b.WriteString("A correct answer uses each input number exactly once with + - * / and parentheses and equals 24, " +
		"written `Answer: <expression> = 24`.\n")
	fmt.Fprintf(&b, "To train a grader, write %d different WRONG answers that look plausible, of these kinds:\n", n)
	for _, k := range kinds {
		fmt.Fprintf(&b, "- %s: %s\n", k, kindDescriptions[k])
	}
	b.WriteString("Write one per line as `<kind>: <answer>`, for example\n" +
		"wrong_arithmetic: Answer: (1 + 2) * 3 + 4 = 24\n" +
		"Reply with the lines only.")
	return []llm.Message{
		llm.System("You write deliberately wrong answers to arithmetic puzzles, to train a grader that must tell right from wrong."),
		llm.User(b.String()),
	}
}

var wrongLineRE = regexp.MustCompile(`^(?:[-*•]\s*|\d+[.)]\s*)?\[?([A-Za-z][A-Za-z _-]*?)\]?\s*:\s*(.+)$`)

// parseWrongAnswers reads `<kind>: <answer>` lines. The kind label is discarded (answers are
// re-labelled by checking them); a line without a known label is still taken when it carries an
// "Answer:" or an "= 24".
func parseWrongAnswers(s string) []string {
	var out []string
	for _, ln := range strings.Split(s, "\n") {
		ln = strings.TrimSpace(ln)
		if ln == "" || strings.HasPrefix(ln, "```") {
			continue
		}
		ans := ""
		if m := wrongLineRE.FindStringSubmatch(ln); m != nil && isKindLabel(m[1]) {
			ans = m[2]
		} else if strings.Contains(strings.ToLower(ln), "answer:") || strings.Contains(ln, "= 24") {
			ans = listMarkRE.ReplaceAllString(ln, "")
		}
		ans = unquote(strings.TrimSpace(ans))
		if ans != "" {
			out = append(out, ans)
		}
	}
	return out
}

func isKindLabel(s string) bool {
	s = strings.ToLower(strings.NewReplacer(" ", "_", "-", "_").Replace(strings.TrimSpace(s)))
	_, ok := kindDescriptions[s]
	return ok
}
