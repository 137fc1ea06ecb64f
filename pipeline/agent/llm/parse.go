package llmpolicy

import (
	"regexp"
	"strings"
	"unicode"
)

// Completions are free text: models wrap the action in code fences, prefix it with "Action:" or
// "> ", quote it, think aloud first, or number it. ParseAction digs the action out.

var (
	// A Game of 24 number: integer, decimal or fraction (8/3), as the game24 env prints them.
	g24Num    = `-?\d+(?:\.\d+)?(?:/\d+)?`
	g24StepRE = regexp.MustCompile(`(` + g24Num + `)\s*([-+*/])\s*(` + g24Num + `)\s*=\s*(` + g24Num + `)(\s*\(\s*left\s*:[^()]*\))?`)
	// "Answer:" anywhere on the line: models write "Final Answer: ..." or "**Answer:** ...".
	g24AnswerRE = regexp.MustCompile(`(?i)\banswer\s*:\s*(.*)$`)

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
	// Lines that are never the action.
	chatterRE    = regexp.MustCompile(`(?i)^(?:thought|think|thinking|reasoning|reflection|observation|obs|plan|explanation|note)(?:\s*\d+)?\s*:`)
	listMarkRE   = regexp.MustCompile(`^(?:[-*•]\s+|\d+[.)]\s+|(?i:step)\s*\d+\s*[:.)]\s*)`)
	unicodeOpsRE = strings.NewReplacer("×", "*", "÷", "/", "−", "-", "–", "-", "\u00a0", " ")
)

// ParseAction extracts one action for env from a model completion, or "" when nothing in it
// looks like an action. It strips code fences, "Action:" and "> " prefixes, list markers,
// surrounding quotes and markdown emphasis, and skips "Thought: ..." lines; then it takes the
// first line that looks like an action of the environment (a step or an answer for game24,
// search[...] / click[...] for shop, an ALFWorld command for household, any line otherwise).
func ParseAction(env, completion string) string {
	lines := candidateLines(completion)
	switch env {
	case "game24":
		return parseGame24(lines)
	case "shop":
		return parseShop(lines)
	case "household":
		return parseHousehold(lines)
	}
	if len(lines) > 0 {
		return lines[0]
	}
	return ""
}

// candidateLines returns the cleaned, non-empty lines of a completion that are not commentary.
func candidateLines(s string) []string {
	var out []string
	for _, ln := range strings.Split(s, "\n") {
		ln = cleanLine(ln)
		if ln == "" || chatterRE.MatchString(ln) {
			continue
		}
		out = append(out, ln)
	}
	return out
}

func cleanLine(ln string) string {
	ln = strings.TrimSpace(unicodeOpsRE.Replace(ln))
	if strings.HasPrefix(ln, "```") { // a fence line, with or without a language tag
		return ""
	}
	for range 4 { // prefixes nest: "1. > Action: `go to desk 1`"
		prev := ln
		ln = strings.TrimSpace(strings.Trim(ln, "*_"))
		ln = strings.TrimSpace(strings.TrimLeft(ln, ">"))
		ln = listMarkRE.ReplaceAllString(ln, "")
		ln = actionPrefixRE.ReplaceAllString(ln, "")
		ln = strings.TrimSpace(strings.Trim(ln, "*_"))
		ln = unquote(ln)
		if ln == prev {
			break
		}
	}
	return ln
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

func parseGame24(lines []string) string {
	for _, ln := range lines {
		if m := g24AnswerRE.FindStringSubmatch(ln); m != nil {
			expr := m[1]
			for range 3 { // "`(1 + 2) * 8 = 24`." and "**(1 + 2) * 8 = 24**"
				expr = strings.TrimSpace(strings.Trim(strings.TrimRight(strings.TrimSpace(expr), "."), "`*"))
			}
			if expr != "" {
				return "Answer: " + expr
			}
		}
		if loc := g24StepRE.FindStringSubmatchIndex(ln); loc != nil {
			return normalizeStep(ln[loc[0]:loc[1]])
		}
	}
	return ""
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

func parseShop(lines []string) string {
	for _, ln := range lines {
		if m := shopActRE.FindStringSubmatch(ln); m != nil {
			return strings.ToLower(m[1]) + "[" + strings.TrimSpace(m[2]) + "]"
		}
	}
	for _, ln := range lines {
		if m := shopBareRE.FindStringSubmatch(ln); m != nil {
			return strings.ToLower(m[1]) + "[" + strings.TrimRight(strings.TrimSpace(m[2]), ".") + "]"
		}
	}
	return ""
}

func parseHousehold(lines []string) string {
	for _, ln := range lines {
		if householdStart.MatchString(ln) {
			return normalizeCommand(ln)
		}
	}
	// "I will go to the fridge 1." - the verb is not at the start.
	for _, ln := range lines {
		if m := householdAny.FindString(ln); m != "" {
			return normalizeCommand(m)
		}
	}
	return ""
}

// normalizeCommand lower-cases and collapses spaces, and drops a final period: ALFWorld commands
// are lower case with single spaces.
func normalizeCommand(s string) string {
	s = strings.Join(strings.Fields(strings.ToLower(s)), " ")
	return strings.TrimRightFunc(s, func(r rune) bool { return r == '.' || r == '!' || unicode.IsSpace(r) })
}
