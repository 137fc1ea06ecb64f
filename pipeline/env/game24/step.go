package game24

import (
	"errors"
	"fmt"
	"regexp"
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

// numRE is one number as steps write it: an integer, a decimal or a fraction, maybe negative.
const numRE = `-?\d+(?:\.\d+)?(?:/\d+)?`

var stepRE = regexp.MustCompile(`^\s*(` + numRE + `)\s*([-+*/])\s*(` + numRE + `)\s*=\s*(` + numRE + `)\s*(?:\(\s*left\s*:\s*([^()]*)\))?\s*$`)

// ErrStepFormat is wrapped by ParseStep for text that is not a step.
var ErrStepFormat = errors.New("expected `a op b = c (left: ...)` with op one of + - * /")

// ParseStep reads one step action. The (left: ...) part is optional.
func ParseStep(s string) (Step, error) {
	m := stepRE.FindStringSubmatch(s)
	if m == nil {
		return Step{}, ErrStepFormat
	}
	var st Step
	var err error
	if st.X, err = ParseNumber(m[1]); err != nil {
		return Step{}, fmt.Errorf("first operand: %w", err)
	}
	st.Op = m[2][0]
	if st.Y, err = ParseNumber(m[3]); err != nil {
		return Step{}, fmt.Errorf("second operand: %w", err)
	}
	if st.Claim, err = ParseNumber(m[4]); err != nil {
		return Step{}, fmt.Errorf("result: %w", err)
	}
	if strings.Contains(s, "(") {
		fields := strings.Fields(m[5])
		st.Left = make([]Number, 0, len(fields))
		for _, f := range fields {
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
