package llmpolicy

import (
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
)

// A small exact evaluator for Game of 24 answers, used to label LLM-written wrong answers by what
// is actually wrong with them (the model's own label is often off) and to drop the ones that are
// in fact correct. The game24 env has its own checker; this one is kept here so that the policy
// package does not depend on an environment.

// Kinds of wrong Game of 24 answers (ARMAP's negative kinds for the game).
const (
	KindHallucinated = "hallucinated_number" // a number that is not among the inputs (or one used too often)
	KindMissing      = "missing_number"      // an input number left out
	KindFormat       = "format_error"        // not `Answer: <expression> = 24`, or no valid expression
	KindArithmetic   = "wrong_arithmetic"    // the inputs used once each, but the value is not 24
)

// WrongAnswerKinds lists the kinds in a fixed order.
var WrongAnswerKinds = []string{KindHallucinated, KindMissing, KindFormat, KindArithmetic}

const kindCorrect = "correct"

// ClassifyGame24Answer says what is wrong with answer for the input numbers: one of the Kind
// constants, or "correct".
func ClassifyGame24Answer(inputs []int64, answer string) string {
	a := strings.TrimSpace(unicodeOpsRE.Replace(answer))
	if len(a) < len("Answer:") || !strings.EqualFold(a[:len("Answer:")], "Answer:") {
		return KindFormat
	}
	lhs, rhs, ok := strings.Cut(a[len("Answer:"):], "=")
	if !ok || strings.Contains(rhs, "=") {
		return KindFormat
	}
	if r, ok := new(big.Rat).SetString(strings.TrimSpace(rhs)); !ok || r.Cmp(big.NewRat(24, 1)) != 0 {
		return KindFormat
	}
	val, lits, err := evalExpr(lhs)
	if err != nil && !errors.Is(err, errDivZero) {
		return KindFormat
	}
	in := slices.Clone(inputs)
	slices.Sort(in)
	used := make([]int64, 0, len(lits))
	for _, l := range lits {
		if !l.IsInt() {
			return KindHallucinated
		}
		used = append(used, l.Num().Int64())
	}
	slices.Sort(used)
	switch {
	case slices.Equal(used, in):
		if err == nil && val.Cmp(big.NewRat(24, 1)) == 0 {
			return kindCorrect
		}
		return KindArithmetic
	case isSubMultiset(used, in):
		return KindMissing
	default:
		return KindHallucinated
	}
}

// isSubMultiset reports whether sorted a is a sub-multiset of sorted b.
func isSubMultiset(a, b []int64) bool {
	j := 0
	for _, x := range a {
		for j < len(b) && b[j] < x {
			j++
		}
		if j == len(b) || b[j] != x {
			return false
		}
		j++
	}
	return true
}

var errDivZero = errors.New("division by zero")

// evalExpr evaluates + - * / with parentheses and unary minus exactly, and returns the literals
// in order. A division by zero still returns the literals (with errDivZero): the answer is then
// wrong arithmetic, not a format error.
func evalExpr(s string) (*big.Rat, []*big.Rat, error) {
	p := &exprParser{s: s}
	v, err := p.sum()
	if err == nil {
		p.skip()
		if p.i < len(p.s) {
			err = fmt.Errorf("unexpected %q at %d", p.s[p.i:], p.i)
		}
	}
	if err == nil && p.divZero {
		err = errDivZero
	}
	return v, p.lits, err
}

type exprParser struct {
	s       string
	i       int
	lits    []*big.Rat
	divZero bool
}

func (p *exprParser) skip() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *exprParser) sum() (*big.Rat, error) {
	v, err := p.product()
	if err != nil {
		return nil, err
	}
	for {
		p.skip()
		if p.i >= len(p.s) || (p.s[p.i] != '+' && p.s[p.i] != '-') {
			return v, nil
		}
		op := p.s[p.i]
		p.i++
		w, err := p.product()
		if err != nil {
			return nil, err
		}
		if op == '+' {
			v = new(big.Rat).Add(v, w)
		} else {
			v = new(big.Rat).Sub(v, w)
		}
	}
}

func (p *exprParser) product() (*big.Rat, error) {
	v, err := p.unary()
	if err != nil {
		return nil, err
	}
	for {
		p.skip()
		if p.i >= len(p.s) || (p.s[p.i] != '*' && p.s[p.i] != '/') {
			return v, nil
		}
		op := p.s[p.i]
		p.i++
		w, err := p.unary()
		if err != nil {
			return nil, err
		}
		switch {
		case op == '*':
			v = new(big.Rat).Mul(v, w)
		case w.Sign() == 0:
			p.divZero = true // keep parsing to collect every literal
		default:
			v = new(big.Rat).Quo(v, w)
		}
	}
}

func (p *exprParser) unary() (*big.Rat, error) {
	p.skip()
	if p.i < len(p.s) && p.s[p.i] == '-' {
		p.i++
		v, err := p.unary()
		if err != nil {
			return nil, err
		}
		return new(big.Rat).Neg(v), nil
	}
	return p.atom()
}

func (p *exprParser) atom() (*big.Rat, error) {
	p.skip()
	if p.i >= len(p.s) {
		return nil, errors.New("expression ends early")
	}
	if p.s[p.i] == '(' {
		p.i++
		v, err := p.sum()
		if err != nil {
			return nil, err
		}
		p.skip()
		if p.i >= len(p.s) || p.s[p.i] != ')' {
			return nil, fmt.Errorf("missing ) at %d", p.i)
		}
		p.i++
		return v, nil
	}
	j := p.i
	for j < len(p.s) && (p.s[j] >= '0' && p.s[j] <= '9' || p.s[j] == '.') {
		j++
	}
	if j == p.i {
		return nil, fmt.Errorf("expected a number at %d, got %q", p.i, p.s[p.i:])
	}
	r, ok := new(big.Rat).SetString(p.s[p.i:j])
	if !ok {
		return nil, fmt.Errorf("bad number %q", p.s[p.i:j])
	}
	p.i = j
	p.lits = append(p.lits, r)
	return r, nil
}
