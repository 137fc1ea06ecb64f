package llmpolicy

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
)

// Completions are free text: models wrap the action in code fences, prefix it with "Action:" or
// "> ", quote it, think aloud first (in the open or inside <think> tags), or number it.
// ParseAction digs the action out.

// MaxActionChars bounds an accepted action, in bytes. Real actions are a line (ALFWorld commands,
// Game of 24 steps, WebShop searches and clicks are well under 200 bytes); a longer "action" is a
// paragraph of reasoning, and a run away completion (one line of a megabyte) must not become a
// step of a trajectory, a prompt of every later turn and a line of the training data.
const MaxActionChars = 500

var (
	// A Game of 24 number: integer, decimal or fraction (8/3), as the game24 env prints them.
	g24Num    = `-?\d+(?:\.\d+)?(?:/\d+)?`
	g24StepRE = regexp.MustCompile(`(` + g24Num + `)\s*([-+*/])\s*(` + g24Num + `)\s*=\s*(` + g24Num + `)(\s*\(\s*left\s*:[^()]*\))?`)
	// "Answer:" anywhere on the line: models write "Final Answer: ..." or "**Answer:** ...".
	g24AnswerRE = regexp.MustCompile(`(?i)\banswer\s*(?:\*\*|__)?\s*:\s*(.*)$`)
	// The answer as a line of its own rather than a mention inside a sentence.
	g24AnswerLineRE = regexp.MustCompile(`(?i)^(?:the\s+)?(?:final\s+)?answer\b`)

	shopActRE  = regexp.MustCompile(`(?i)\b(search|click)\s*\[([^\]]*)\]`)
	shopBareRE = regexp.MustCompile(`(?i)^(search|click)\s+(.+)$`)

	// ALFWorld's command verbs (go to, take ... from, put ... in/on, open, close, toggle, clean /
	// heat / cool ... with, slice, use, examine, look, inventory).
	householdVerbs = `go to|take|put|open|close|toggle|clean|heat|cool|slice|use|examine|look|inventory`
	householdStart = regexp.MustCompile(`(?i)^(?:` + householdVerbs + `)\b`)
	// Mid-sentence, only verbs that take a numbered object count, and the object must be there:
	// "I should now use the desklamp 1." is an action, "I will look for the mug" is not.
	householdAny = regexp.MustCompile(`(?i)\b(?:go to|take|put|open|close|toggle|clean|heat|cool|slice|use|examine)\b.*\b[a-z]+ \d+\b.*$`)

	// Prefixes that introduce the action ("Action:", "Next action:", "Action 3:", "Act:").
	actionPrefixRE = regexp.MustCompile(`(?i)^(?:next\s+)?(?:action|act|command)(?:\s*\d+)?\s*:\s*`)
	// "Thought: ... Action: go to desk 1" on one line: the part after the label is the action.
	inlineActionRE = regexp.MustCompile(`(?i)\b(?:action|command)(?:\s*\d+)?\s*:\s*(.+)$`)
	// The same marker after the end of a sentence on an ordinary line.
	sentenceActionRE = regexp.MustCompile(`(?i)[.!?]\s+(?:next\s+)?(?:action|command)(?:\s*\d+)?\s*:\s*(.+)$`)
	// A household command that names its object ("desk 1") or needs none: what tells "go to desk 1"
	// from a sentence that happens to start with a verb ("Look at the options first.").
	householdWholeRE = regexp.MustCompile(`(?i)\b[a-z]+ \d+\b|^(?:look|inventory)\.?$`)
	// Lines that are never the action.
	chatterRE    = regexp.MustCompile(`(?i)^(?:thought|think|thinking|reasoning|reflection|observation|obs|plan|explanation|note)(?:\s*\d+)?\s*:`)
	listMarkRE   = regexp.MustCompile(`^(?:[-*•]\s+|\d+[.)]\s+|(?i:step)\s*\d+\s*[:.)]\s*)`)
	unicodeOpsRE = strings.NewReplacer("×", "*", "÷", "/", "−", "-", "–", "-", "\u00a0", " ")

	// Reasoning blocks: DeepSeek-R1, Qwen3 and QwQ write <think>; prompts in the R1 style ask for
	// <reasoning> or <thinking>. Served without a reasoning parser, the block is in the content.
	reasoningTagRE = regexp.MustCompile(`(?i)<\s*(/?)\s*(think|thinking|reasoning)\s*>`)
	// R1-style prompts put the result in <answer>; some agent prompts use <action>.
	answerTagRE = regexp.MustCompile(`(?is)<\s*(answer|action)\s*>(.*?)<\s*/\s*(?:answer|action)\s*>`)
	// Openers of chat prose, for envs whose actions have no shape of their own.
	proseOpenRE = regexp.MustCompile(`(?i)^(?:sure|okay|ok|alright|certainly|here|here's|i|i'm|i'll|i've|i'd|let|let's|this|that|hmm|well|so|based|looking|since|because|given|my|it|it's|now|first|to)\b`)
)

// ParseAction extracts one action for env from a model completion. Reasoning blocks (<think>,
// <thinking>, <reasoning>, also one left open to the end, and everything before a lone closing
// tag, which is what a chat template that opens the block itself leaves) are dropped first. The
// rest is read line by line: code fences, "Action:" and "> " prefixes, list markers, quotes and
// markdown emphasis are stripped, "Thought: ..." lines are skipped, and the action is chosen by
// rank:
//
//  1. an explicitly marked line that holds an action of the env: "Action: ...", "> ...",
//     a line inside a code fence, <answer>/<action> tags;
//  2. a line that is an action by itself (a whole Game of 24 step or "Answer: ...",
//     search[...] / click[...], a short ALFWorld command; for other envs a line that does not
//     read as prose);
//  3. an action mentioned inside a sentence ("so I will click[b0c4x1] now").
//
// The first line of the best rank wins. An action longer than MaxActionChars is refused. The
// error says why nothing was found: the completion was all reasoning, the action was too long,
// or no line looked like an action of the env.
func ParseAction(env, completion string) (string, error) {
	text, think := stripReasoning(completion)
	if strings.TrimSpace(text) == "" {
		switch {
		case think.unclosed:
			return "", fmt.Errorf("the completion is all reasoning: its <%s> block is never closed (cut at the token limit?) and no action follows", think.tag)
		case think.blocks > 0:
			return "", fmt.Errorf("the completion is all reasoning: nothing outside its <%s> block", think.tag)
		}
		return "", fmt.Errorf("the completion is empty")
	}
	lines := candidateLines(text)
	var long int
	fits := func(a string) bool {
		if len(a) > MaxActionChars {
			long = max(long, len(a))
			return false
		}
		return a != ""
	}
	var act string
	switch env {
	case "game24":
		act = parseGame24(lines, fits)
	case "shop":
		act = parseShop(lines, fits)
	case "household":
		act = parseHousehold(lines, fits)
	default:
		act = parseGeneric(lines, fits)
	}
	switch {
	case act != "":
		return act, nil
	case long > 0:
		return "", fmt.Errorf("the only action-like text is %d bytes long, over the %d-byte limit of an action", long, MaxActionChars)
	}
	return "", fmt.Errorf("no line looks like %s", actionShape(env))
}

func actionShape(env string) string {
	switch env {
	case "game24":
		return "a Game of 24 step (a op b = c) or an answer (Answer: ... = 24)"
	case "shop":
		return "a shop action (search[...] or click[...])"
	case "household":
		return "a household command (go to, take, put, open, ...)"
	}
	return "an action"
}

// reasoningInfo is what stripReasoning removed.
type reasoningInfo struct {
	blocks   int
	unclosed bool
	tag      string // the first reasoning tag seen, for messages
}

// stripReasoning removes reasoning blocks. Nesting is counted so that a <think> quoted inside a
// block does not end it early.
func stripReasoning(s string) (string, reasoningInfo) {
	var info reasoningInfo
	locs := reasoningTagRE.FindAllStringSubmatchIndex(s, -1)
	if locs == nil {
		return s, info
	}
	var b strings.Builder
	depth, pos := 0, 0
	for _, l := range locs {
		closing := l[3] > l[2]
		if info.tag == "" {
			info.tag = strings.ToLower(s[l[4]:l[5]])
		}
		switch {
		case !closing:
			if depth == 0 {
				b.WriteString(s[pos:l[0]])
			}
			depth++
		case depth > 0:
			depth--
			if depth == 0 {
				info.blocks++
			}
		default:
			// A closing tag with no opening: the template opened the block, so all so far was
			// reasoning.
			b.Reset()
			info.blocks++
		}
		if depth == 0 {
			pos = l[1]
		}
	}
	if depth > 0 {
		info.unclosed = true
		return b.String(), info
	}
	b.WriteString(s[pos:])
	return b.String(), info
}

// line is one cleaned candidate line of a completion.
type line struct {
	text   string
	marked bool // "Action:", "> ", inside a code fence or an <answer>/<action> tag
}

// candidateLines returns the cleaned, non-empty lines of a completion that are not commentary,
// the contents of <answer>/<action> tags first.
func candidateLines(s string) []line {
	var out []line
	for _, m := range answerTagRE.FindAllStringSubmatch(s, -1) {
		for _, ln := range strings.Split(m[2], "\n") {
			if t, _ := cleanLine(ln); t != "" && !chatterRE.MatchString(t) {
				out = append(out, line{t, true})
			}
		}
	}
	s = answerTagRE.ReplaceAllString(s, "\n")
	inFence := false
	for _, raw := range strings.Split(s, "\n") {
		if strings.HasPrefix(strings.TrimSpace(raw), "```") { // a fence line, with or without a language tag
			inFence = !inFence
			continue
		}
		t, marked := cleanLine(raw)
		if t == "" {
			continue
		}
		if chatterRE.MatchString(t) {
			// "Thought: the mug is dirty. Action: clean mug 1 with sinkbasin 1" on one line.
			if m := inlineActionRE.FindStringSubmatch(t); m != nil {
				if a, _ := cleanLine(m[1]); a != "" {
					out = append(out, line{a, true})
				}
			}
			continue
		}
		if !marked && !inFence {
			// "Here is my reasoning. Action: north": the marker after a sentence's end marks the
			// rest of the line, which comes first; the whole line stays as a candidate of lower rank.
			if m := sentenceActionRE.FindStringSubmatch(t); m != nil {
				if a, _ := cleanLine(m[1]); a != "" {
					out = append(out, line{a, true})
				}
			}
		}
		out = append(out, line{t, marked || inFence})
	}
	return out
}

// cleanLine strips decoration from one line and reports whether an action marker ("Action:",
// "> ") was among it.
func cleanLine(ln string) (string, bool) {
	ln = strings.TrimSpace(unicodeOpsRE.Replace(ln))
	if strings.HasPrefix(ln, "```") {
		return "", false
	}
	marked := false
	for range 4 { // prefixes nest: "1. > Action: `go to desk 1`"
		prev := ln
		ln = strings.TrimSpace(strings.Trim(ln, "*_"))
		if t := strings.TrimSpace(strings.TrimLeft(ln, ">")); t != ln {
			ln, marked = t, true
		}
		ln = listMarkRE.ReplaceAllString(ln, "")
		if t := actionPrefixRE.ReplaceAllString(ln, ""); t != ln {
			ln, marked = t, true
		}
		ln = strings.TrimSpace(strings.Trim(ln, "*_"))
		ln = unquote(ln)
		if ln == prev {
			break
		}
	}
	return ln, marked
}

// unquote removes one pair of matching quotes or backticks around the whole line.
func unquote(s string) string {
	if len(s) < 2 {
		return s
	}
	pairs := [][2]string{{`"`, `"`}, {"'", "'"}, {"`", "`"}, {"“", "”"}, {"‘", "’"}}
	for _, p := range pairs {
		if strings.HasPrefix(s, p[0]) && strings.HasSuffix(s, p[1]) && len(s) >= len(p[0])+len(p[1]) {
			return strings.TrimSpace(s[len(p[0]) : len(s)-len(p[1])])
		}
	}
	return s
}

// pick returns the first action that extract finds in the lines accepted by keep and that fits.
func pick(lines []line, fits func(string) bool, keep func(line) bool, extract func(line) string) string {
	for _, ln := range lines {
		if !keep(ln) {
			continue
		}
		if a := extract(ln); fits(a) {
			return a
		}
	}
	return ""
}

func isMarked(l line) bool { return l.marked }
func anyLine(line) bool    { return true }

// firstOf tries the ranks in order.
func firstOf(ranks ...func() string) string {
	for _, r := range ranks {
		if a := r(); a != "" {
			return a
		}
	}
	return ""
}

// onlyTrailing reports whether s holds nothing but closing punctuation: the rest of a line after
// an action that is the whole line.
func onlyTrailing(s string) bool {
	return strings.Trim(s, " \t.,;!`*_") == ""
}

func parseGame24(lines []line, fits func(string) bool) string {
	// whole: the answer or step is the line (up to trailing punctuation), not a mention in prose.
	extract := func(wholeOnly bool) func(line) string {
		return func(l line) string {
			ln := l.text
			if m := g24AnswerRE.FindStringSubmatchIndex(ln); m != nil && (!wholeOnly || g24AnswerLineRE.MatchString(ln)) {
				expr := ln[m[2]:m[3]]
				for range 3 { // "`(1 + 2) * 8 = 24`." and "**(1 + 2) * 8 = 24**"
					expr = strings.TrimSpace(strings.Trim(strings.TrimRight(strings.TrimSpace(expr), "."), "`*"))
				}
				if expr != "" {
					return "Answer: " + expr
				}
			}
			if loc := g24StepRE.FindStringSubmatchIndex(ln); loc != nil && (!wholeOnly || (loc[0] == 0 && onlyTrailing(ln[loc[1]:]))) {
				return normalizeStep(ln[loc[0]:loc[1]])
			}
			return ""
		}
	}
	return firstOf(
		func() string { return pick(lines, fits, isMarked, extract(false)) },
		func() string { return pick(lines, fits, anyLine, extract(true)) },
		func() string { return pick(lines, fits, anyLine, extract(false)) },
	)
}

// normalizeStep puts single spaces around the operator and "=", as the env writes steps, so that
// equal steps compare equal in trajectories and deduplication.
func normalizeStep(s string) string {
	m := g24StepRE.FindStringSubmatch(s)
	out := m[1] + " " + m[2] + " " + m[3] + " = " + m[4]
	if left := strings.TrimSpace(m[5]); left != "" {
		inner := strings.TrimSpace(left[1 : len(left)-1]) // drop ( )
		_, nums, _ := strings.Cut(inner, ":")
		out += " (left: " + strings.Join(strings.Fields(nums), " ") + ")"
	}
	return out
}

func parseShop(lines []line, fits func(string) bool) string {
	bracket := func(wholeOnly bool) func(line) string {
		return func(l line) string {
			m := shopActRE.FindStringSubmatchIndex(l.text)
			if m == nil || (wholeOnly && (m[0] != 0 || !onlyTrailing(l.text[m[1]:]))) {
				return ""
			}
			return strings.ToLower(l.text[m[2]:m[3]]) + "[" + strings.TrimSpace(l.text[m[4]:m[5]]) + "]"
		}
	}
	bare := func(l line) string {
		if m := shopBareRE.FindStringSubmatch(l.text); m != nil {
			return strings.ToLower(m[1]) + "[" + strings.TrimRight(strings.TrimSpace(m[2]), ".") + "]"
		}
		return ""
	}
	return firstOf(
		func() string { return pick(lines, fits, isMarked, bracket(false)) },
		func() string { return pick(lines, fits, anyLine, bracket(true)) },
		func() string { return pick(lines, fits, anyLine, bracket(false)) },
		// "click buy now" without brackets: last, since "Search results are empty." has the shape too.
		func() string { return pick(lines, fits, anyLine, bare) },
	)
}

// commandLike: short, no clause punctuation. ALFWorld commands are at most about eight words;
// "Look, the mug must be in a cabinet, so ..." starts with a verb but is a sentence.
func commandLike(s string) bool {
	return len(strings.Fields(s)) <= 8 && !strings.ContainsAny(s, ",?!;:")
}

func parseHousehold(lines []line, fits func(string) bool) string {
	start := func(l line) string {
		if householdStart.MatchString(l.text) {
			return normalizeCommand(l.text)
		}
		return ""
	}
	inside := func(l line) string {
		if m := householdAny.FindString(l.text); m != "" {
			return normalizeCommand(m)
		}
		return ""
	}
	either := func(l line) string {
		if a := start(l); a != "" {
			return a
		}
		return inside(l)
	}
	return firstOf(
		func() string { return pick(lines, fits, isMarked, either) },
		func() string {
			return pick(lines, fits, func(l line) bool { return commandLike(l.text) && householdWholeRE.MatchString(l.text) }, start)
		},
		func() string { return pick(lines, fits, func(l line) bool { return commandLike(l.text) }, start) },
		func() string { return pick(lines, fits, anyLine, start) },
		// "I will go to the fridge 1." - the verb is not at the start.
		func() string { return pick(lines, fits, anyLine, inside) },
	)
}

// looksProse tells chat sentences from actions for envs whose actions have no fixed shape: an
// introduction ("Here is my action:"), a sentence of several words, or a chat opener.
func looksProse(s string) bool {
	words := len(strings.Fields(s))
	switch {
	case strings.HasSuffix(s, ":"):
		return true
	case strings.ContainsAny(s[len(s)-1:], ".!?") && words >= 4:
		return true
	}
	return proseOpenRE.MatchString(s) && (words >= 3 || strings.ContainsAny(s, ".!?,"))
}

func parseGeneric(lines []line, fits func(string) bool) string {
	text := func(l line) string { return l.text }
	return firstOf(
		func() string { return pick(lines, fits, isMarked, text) },
		func() string { return pick(lines, fits, func(l line) bool { return !looksProse(l.text) }, text) },
		func() string { return pick(lines, fits, anyLine, text) },
	)
}

// normalizeCommand lower-cases and collapses spaces, and drops a final period: ALFWorld commands
// are lower case with single spaces.
func normalizeCommand(s string) string {
	s = strings.Join(strings.Fields(strings.ToLower(s)), " ")
	return strings.TrimRightFunc(s, func(r rune) bool { return r == '.' || r == '!' || unicode.IsSpace(r) })
}
