package game24

import (
	"errors"
	"fmt"
	"strings"
)

// Step is one arithmetic step as an agent writes it: `X Op Y = Claim (left: Left...)`. Claim is
// what the agent says the result is; the environment computes its own.
type Step struct {
	X, Y  Number
	Op    byte
	Claim Number
	Left  []Number // the remaining numbers the agent claims; nil when the action omits them
}

// ErrStepFormat is wrapped by ParseStep for text that is not a step.
var ErrStepFormat = errors.New("expected `a op b = c (left: ...)` with op one of + - * /")

// ParseStep reads one step action. The (left: ...) part is optional. Numbers are integers,
// decimals or fractions, maybe negative; "8/3 * 9" reads 8/3 as one number while "8 / 3" is a
// division, and "12/4 = 3" falls back to the division when the fraction reading fails.
func ParseStep(s string) (Step, error) {
	if st, err := parseStep(s, true); err == nil {
		return st, nil
	}
	return parseStep(s, false)
}

// stepScanner walks a step left to right; numbers are cut out as text and parsed afterwards.
type stepScanner struct {
	s string
	i int
}

func (sc *stepScanner) ws() {
	for sc.i < len(sc.s) && (sc.s[sc.i] == ' ' || sc.s[sc.i] == '\t') {
		sc.i++
	}
}

func (sc *stepScanner) digits() bool {
	j := sc.i
	for sc.i < len(sc.s) && sc.s[sc.i] >= '0' && sc.s[sc.i] <= '9' {
		sc.i++
	}
	return sc.i > j
}

// number cuts out `-?d+(.d+)?(/d+)?`; the fraction part only when frac is set.
func (sc *stepScanner) number(frac bool) (string, bool) {
	sc.ws()
	start := sc.i
	if sc.i < len(sc.s) && sc.s[sc.i] == '-' {
		sc.i++
	}
	if !sc.digits() {
		sc.i = start
		return "", false
	}
	if sc.i+1 < len(sc.s) && sc.s[sc.i] == '.' && sc.s[sc.i+1] >= '0' && sc.s[sc.i+1] <= '9' {
		sc.i++
		sc.digits()
	}
	if frac && sc.i+1 < len(sc.s) && sc.s[sc.i] == '/' && sc.s[sc.i+1] >= '0' && sc.s[sc.i+1] <= '9' {
		sc.i++
		sc.digits()
	}
	return sc.s[start:sc.i], true
}

func (sc *stepScanner) lit(c byte) bool {
	sc.ws()
	if sc.i < len(sc.s) && sc.s[sc.i] == c {
		sc.i++
		return true
	}
	return false
}

func parseStep(s string, fracFirst bool) (Step, error) {
	sc := &stepScanner{s: s}
	var st Step
	var err error
	x, ok := sc.number(fracFirst)
	if !ok {
		return Step{}, ErrStepFormat
	}
	sc.ws()
	if sc.i >= len(s) || !strings.ContainsRune("+-*/", rune(s[sc.i])) {
		return Step{}, ErrStepFormat
	}
	st.Op = s[sc.i]
	sc.i++
	y, ok := sc.number(true)
	if !ok || !sc.lit('=') {
		return Step{}, ErrStepFormat
	}
	z, ok := sc.number(true)
	if !ok {
		return Step{}, ErrStepFormat
	}
	var left []string
	if sc.lit('(') {
		sc.ws()
		if !strings.HasPrefix(s[sc.i:], "left") {
			return Step{}, ErrStepFormat
		}
		sc.i += len("left")
		if !sc.lit(':') {
			return Step{}, ErrStepFormat
		}
		end := strings.IndexByte(s[sc.i:], ')')
		if end < 0 {
			return Step{}, ErrStepFormat
		}
		left = strings.Fields(s[sc.i : sc.i+end])
		sc.i += end + 1
		if left == nil {
			left = []string{}
		}
	}
	sc.ws()
	if sc.i != len(s) {
		return Step{}, ErrStepFormat
	}
	if st.X, err = ParseNumber(x); err != nil {
		return Step{}, fmt.Errorf("first operand: %w", err)
	}
	if st.Y, err = ParseNumber(y); err != nil {
		return Step{}, fmt.Errorf("second operand: %w", err)
	}
	if st.Claim, err = ParseNumber(z); err != nil {
		return Step{}, fmt.Errorf("result: %w", err)
	}
	if left != nil {
		st.Left = make([]Number, 0, len(left))
		for _, f := range left {
			v, err := ParseNumber(f)
			if err != nil {
				return Step{}, fmt.Errorf("left list: %w", err)
			}
			st.Left = append(st.Left, v)
		}
	}
	return st, nil
}

// String writes the step in Tree of Thoughts' format.
func (s Step) String() string {
	var b strings.Builder
	b.Grow(32)
	b.WriteString(s.X.String())
	b.WriteByte(' ')
	b.WriteByte(s.Op)
	b.WriteByte(' ')
	b.WriteString(s.Y.String())
	b.WriteString(" = ")
	b.WriteString(s.Claim.String())
	if s.Left != nil {
		b.WriteString(" (left: ")
		writeNums(&b, s.Left)
		b.WriteByte(')')
	}
	return b.String()
}

func writeNums(b *strings.Builder, v []Number) {
	for i, x := range v {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(x.String())
	}
}

// FormatNumbers writes numbers space-separated, as in "left: 4 4 10".
func FormatNumbers(v []Number) string {
	var b strings.Builder
	writeNums(&b, v)
	return b.String()
}

// AnswerPrefix starts the final action.
const AnswerPrefix = "Answer:"

// IsAnswer reports whether an action is a final answer (the prefix is matched case-insensitively,
// as Tree of Thoughts' checker does).
func IsAnswer(action string) bool {
	a := strings.TrimSpace(action)
	return len(a) >= len(AnswerPrefix) && strings.EqualFold(a[:len(AnswerPrefix)], AnswerPrefix)
}

// FormatAnswer writes the final action for e.
func FormatAnswer(e *Expr) string { return AnswerPrefix + " " + e.String() + " = 24" }

// Answer failure kinds reported by CheckAnswer.
const (
	FailFormat  = "format"  // not `Answer: <expression> = 24`, or the expression does not parse
	FailNumbers = "numbers" // the literals are not the input numbers, each used once
	FailValue   = "value"   // the expression does not equal 24 (or divides by zero)
)

// AnswerError says why an answer earns no reward.
type AnswerError struct {
	Kind   string // FailFormat, FailNumbers or FailValue
	Detail string
}

func (e *AnswerError) Error() string { return "game24 answer: " + e.Kind + ": " + e.Detail }

// ParseAnswer reads `Answer: <expression> = 24` and returns the expression. The right-hand side
// must be 24: an answer that omits it or claims another value is a format error.
func ParseAnswer(action string) (*Expr, error) {
	a := strings.TrimSpace(action)
	if !IsAnswer(a) {
		return nil, &AnswerError{FailFormat, "missing " + AnswerPrefix + " prefix"}
	}
	lhs, rhs, ok := strings.Cut(a[len(AnswerPrefix):], "=")
	if !ok {
		return nil, &AnswerError{FailFormat, "missing `= 24`"}
	}
	if strings.Contains(rhs, "=") {
		return nil, &AnswerError{FailFormat, "more than one `=`"}
	}
	if v, err := ParseNumber(rhs); err != nil || !v.Equal(Int(24)) {
		return nil, &AnswerError{FailFormat, fmt.Sprintf("right-hand side %q is not 24", strings.TrimSpace(rhs))}
	}
	e, err := ParseExpr(lhs)
	if err != nil {
		return nil, &AnswerError{FailFormat, err.Error()}
	}
	return e, nil
}

// CheckAnswer returns nil when action is a correct answer for input: each input number used
// exactly once and the value exactly 24. Otherwise it returns an *AnswerError.
func CheckAnswer(input []int, action string) error {
	e, err := ParseAnswer(action)
	if err != nil {
		return err
	}
	if !sameNumbers(input, e.Leaves()) {
		return &AnswerError{FailNumbers, fmt.Sprintf("uses %s, input is %s", FormatNumbers(e.Leaves()), FormatNumbers(ints(input)))}
	}
	v, err := e.Eval()
	if err != nil {
		return &AnswerError{FailValue, err.Error()}
	}
	if !v.Equal(Int(24)) {
		return &AnswerError{FailValue, "equals " + v.String()}
	}
	return nil
}

func ints(v []int) []Number {
	out := make([]Number, len(v))
	for i, x := range v {
		out[i] = Int(int64(x))
	}
	return out
}

func sameNumbers(input []int, used []Number) bool {
	if len(input) != len(used) {
		return false
	}
	left := append([]int(nil), input...)
	for _, u := range used {
		found := false
		for i, x := range left {
			if u.Equal(Int(int64(x))) {
				left = append(left[:i], left[i+1:]...)
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
