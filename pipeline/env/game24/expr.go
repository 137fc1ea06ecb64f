package game24

import (
	"fmt"
	"strings"
)

// Expr is an arithmetic expression tree. A leaf has Op 0 and holds Val; a unary minus has Op '~'
// and operand L; binary nodes have Op in "+-*/" and operands L and R. Trees are never modified
// after construction, so environments share them between snapshots.
type Expr struct {
	Op   byte
	Val  Number
	L, R *Expr
}

// Leaf returns a literal node.
func Leaf(v Number) *Expr { return &Expr{Val: v} }

// Bin returns the node l op r.
func Bin(op byte, l, r *Expr) *Expr { return &Expr{Op: op, L: l, R: r} }

// IsLeaf reports whether e is a literal.
func (e *Expr) IsLeaf() bool { return e.Op == 0 }

// Eval computes e exactly.
func (e *Expr) Eval() (Number, error) {
	switch e.Op {
	case 0:
		return e.Val, nil
	case '~':
		v, err := e.L.Eval()
		return v.Neg(), err
	}
	l, err := e.L.Eval()
	if err != nil {
		return Number{}, err
	}
	r, err := e.R.Eval()
	if err != nil {
		return Number{}, err
	}
	return Apply(l, e.Op, r)
}

// Leaves lists the literals in left-to-right order.
func (e *Expr) Leaves() []Number {
	var out []Number
	var walk func(*Expr)
	walk = func(x *Expr) {
		if x == nil {
			return
		}
		if x.Op == 0 {
			out = append(out, x.Val)
			return
		}
		walk(x.L)
		walk(x.R)
	}
	walk(e)
	return out
}

func prec(e *Expr) int {
	switch e.Op {
	case '+', '-':
		return 1
	case '*', '/':
		return 2
	case '~':
		return 3
	}
	return 4
}

// String prints e with the fewest parentheses that keep its structure: a right operand of - or /
// at the same precedence keeps its parentheses, since a - (b - c) is not a - b - c.
func (e *Expr) String() string {
	var b strings.Builder
	e.write(&b)
	return b.String()
}

func (e *Expr) write(b *strings.Builder) {
	switch e.Op {
	case 0:
		b.WriteString(e.Val.String())
		return
	case '~':
		b.WriteByte('-')
		wrap(b, e.L, prec(e.L) < 3 || (e.L.Op == 0 && e.L.Val.Sign() < 0))
		return
	}
	p := prec(e)
	wrap(b, e.L, prec(e.L) < p)
	b.WriteByte(' ')
	b.WriteByte(e.Op)
	b.WriteByte(' ')
	wrap(b, e.R, prec(e.R) < p || (prec(e.R) == p && (e.Op == '-' || e.Op == '/')))
}

func wrap(b *strings.Builder, e *Expr, paren bool) {
	// Fraction or negative literals only arise from hand-made trees; parenthesise them so the
	// printed text re-parses to the same value.
	if e.Op == 0 && (!e.Val.IsInt() || e.Val.Sign() < 0) {
		paren = true
	}
	if paren {
		b.WriteByte('(')
	}
	e.write(b)
	if paren {
		b.WriteByte(')')
	}
}

// ParseExpr reads an expression of numbers, + - * /, unary minus and parentheses.
func ParseExpr(s string) (*Expr, error) {
	p := &exprParser{s: s}
	e, err := p.expr()
	if err != nil {
		return nil, err
	}
	p.skip()
	if p.i < len(p.s) {
		return nil, fmt.Errorf("unexpected %q at offset %d", p.s[p.i], p.i)
	}
	return e, nil
}

type exprParser struct {
	s     string
	i     int
	depth int
}

// maxDepth stops a hostile answer such as 10,000 opening parentheses from exhausting the stack.
const maxDepth = 64

func (p *exprParser) skip() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *exprParser) peek() byte {
	p.skip()
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *exprParser) expr() (*Expr, error) {
	l, err := p.term()
	if err != nil {
		return nil, err
	}
	for {
		c := p.peek()
		if c != '+' && c != '-' {
			return l, nil
		}
		p.i++
		r, err := p.term()
		if err != nil {
			return nil, err
		}
		l = Bin(c, l, r)
	}
}

func (p *exprParser) term() (*Expr, error) {
	l, err := p.factor()
	if err != nil {
		return nil, err
	}
	for {
		c := p.peek()
		if c != '*' && c != '/' {
			return l, nil
		}
		p.i++
		r, err := p.factor()
		if err != nil {
			return nil, err
		}
		l = Bin(c, l, r)
	}
}

func (p *exprParser) factor() (*Expr, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		return nil, fmt.Errorf("expression nested deeper than %d", maxDepth)
	}
	c := p.peek()
	switch {
	case c == '-':
		p.i++
		x, err := p.factor()
		if err != nil {
			return nil, err
		}
		return &Expr{Op: '~', L: x}, nil
	case c == '(':
		p.i++
		x, err := p.expr()
		if err != nil {
			return nil, err
		}
		if p.peek() != ')' {
			if p.i >= len(p.s) {
				return nil, fmt.Errorf("missing ')' at end")
			}
			return nil, fmt.Errorf("expected ')' at offset %d, found %q", p.i, p.s[p.i])
		}
		p.i++
		return x, nil
	case c >= '0' && c <= '9' || c == '.':
		j := p.i
		for j < len(p.s) && (p.s[j] >= '0' && p.s[j] <= '9' || p.s[j] == '.') {
			j++
		}
		v, err := ParseNumber(p.s[p.i:j])
		if err != nil {
			return nil, fmt.Errorf("at offset %d: %w", p.i, err)
		}
		p.i = j
		return Leaf(v), nil
	case c == 0:
		return nil, fmt.Errorf("expression ends early")
	}
	return nil, fmt.Errorf("unexpected %q at offset %d", c, p.i)
}
