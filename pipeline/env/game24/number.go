package game24

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Number is an exact rational with int64 parts. Game of 24 values stay tiny (inputs are 1-13),
// so int64 fractions are enough and far cheaper than math/big; every operation still checks for
// overflow, because answers are free text and may contain absurd literals.
type Number struct {
	num, den int64 // den > 0 and gcd(|num|, den) == 1; the zero value (den 0) reads as 0
}

// ErrOverflow is returned when an exact result does not fit in int64 parts.
var ErrOverflow = errors.New("game24: number too large")

// ErrDivZero is returned for a division by zero.
var ErrDivZero = errors.New("game24: division by zero")

// maxMag bounds numerators and denominators well below the int64 limit, so that the sums of
// products formed during one operation cannot overflow before they are checked.
const maxMag = 1 << 62

// Int returns n as a Number.
func Int(n int64) Number { return Number{num: n, den: 1} }

// Frac returns n/d reduced; d must not be zero.
func Frac(n, d int64) (Number, error) {
	if d == 0 {
		return Number{}, ErrDivZero
	}
	return norm(n, d)
}

func norm(n, d int64) (Number, error) {
	if d < 0 {
		if n == math.MinInt64 || d == math.MinInt64 {
			return Number{}, ErrOverflow
		}
		n, d = -n, -d
	}
	g := gcd(abs(n), d)
	if g > 1 {
		n, d = n/g, d/g
	}
	if abs(n) >= maxMag || d >= maxMag {
		return Number{}, ErrOverflow
	}
	return Number{num: n, den: d}, nil
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	if a == 0 {
		return 1
	}
	return a
}

func (a Number) d() int64 {
	if a.den == 0 {
		return 1
	}
	return a.den
}

// Num and Den return the reduced numerator and (positive) denominator.
func (a Number) Num() int64 { return a.num }
func (a Number) Den() int64 { return a.d() }

// IsInt reports whether a is an integer.
func (a Number) IsInt() bool { return a.d() == 1 }

// Sign returns -1, 0 or 1.
func (a Number) Sign() int {
	switch {
	case a.num < 0:
		return -1
	case a.num > 0:
		return 1
	}
	return 0
}

// Equal compares exactly.
func (a Number) Equal(b Number) bool { return a.num == b.num && a.d() == b.d() }

// Less orders numbers by value.
func (a Number) Less(b Number) bool {
	// Parts are below 2^62 in magnitude, so compare through 128-bit-safe float only when the
	// cross products could overflow; they cannot for the values this package produces, but the
	// fallback keeps Less total for any Number.
	x, okx := mul(a.num, b.d())
	y, oky := mul(b.num, a.d())
	if okx && oky {
		return x < y
	}
	return float64(a.num)/float64(a.d()) < float64(b.num)/float64(b.d())
}

func mul(a, b int64) (int64, bool) {
	if a == 0 || b == 0 {
		return 0, true
	}
	c := a * b
	if c/b != a || (a == -1 && b == math.MinInt64) || (b == -1 && a == math.MinInt64) {
		return 0, false
	}
	return c, true
}

func add(a, b int64) (int64, bool) {
	c := a + b
	if (c > a) != (b > 0) {
		return 0, false
	}
	return c, true
}

// Add returns a+b.
func (a Number) Add(b Number) (Number, error) {
	x, ok1 := mul(a.num, b.d())
	y, ok2 := mul(b.num, a.d())
	d, ok3 := mul(a.d(), b.d())
	if !ok1 || !ok2 || !ok3 {
		return Number{}, ErrOverflow
	}
	n, ok := add(x, y)
	if !ok {
		return Number{}, ErrOverflow
	}
	return norm(n, d)
}

// Neg returns -a.
func (a Number) Neg() Number { return Number{num: -a.num, den: a.d()} }

// Sub returns a-b.
func (a Number) Sub(b Number) (Number, error) { return a.Add(b.Neg()) }

// Mul returns a*b.
func (a Number) Mul(b Number) (Number, error) {
	// Cross-reduce first so that exact products of reduced fractions rarely approach the limit.
	g1, g2 := gcd(abs(a.num), b.d()), gcd(abs(b.num), a.d())
	n, ok1 := mul(a.num/g1, b.num/g2)
	d, ok2 := mul(a.d()/g2, b.d()/g1)
	if !ok1 || !ok2 {
		return Number{}, ErrOverflow
	}
	return norm(n, d)
}

// Div returns a/b, or ErrDivZero.
func (a Number) Div(b Number) (Number, error) {
	if b.num == 0 {
		return Number{}, ErrDivZero
	}
	return a.Mul(Number{num: b.d(), den: b.num}.fix())
}

// fix moves the sign of an unnormalised reciprocal into the numerator.
func (a Number) fix() Number {
	if a.den < 0 {
		return Number{num: -a.num, den: -a.den}
	}
	return a
}

// Apply computes a op b for op in "+-*/".
func Apply(a Number, op byte, b Number) (Number, error) {
	switch op {
	case '+':
		return a.Add(b)
	case '-':
		return a.Sub(b)
	case '*':
		return a.Mul(b)
	case '/':
		return a.Div(b)
	}
	return Number{}, fmt.Errorf("game24: unknown operator %q", op)
}

// String writes integers plainly and fractions as n/d ("8/3", "-1/2"), the form steps use.
func (a Number) String() string {
	if a.d() == 1 {
		return strconv.FormatInt(a.num, 10)
	}
	return strconv.FormatInt(a.num, 10) + "/" + strconv.FormatInt(a.d(), 10)
}

// ParseNumber reads an integer ("13", "-2"), a fraction ("8/3") or a decimal ("0.5", "2.67").
// Decimals are read exactly, so a rounded claim such as 2.67 is not equal to 8/3.
func ParseNumber(s string) (Number, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Number{}, errors.New("empty number")
	}
	if i := strings.IndexByte(s, '/'); i >= 0 {
		if strings.Count(s, "/") > 1 {
			return Number{}, fmt.Errorf("bad fraction %q", s)
		}
		n, err := ParseNumber(s[:i])
		if err != nil {
			return Number{}, err
		}
		d, err := ParseNumber(s[i+1:])
		if err != nil {
			return Number{}, err
		}
		if strings.HasPrefix(strings.TrimSpace(s[i+1:]), "-") {
			return Number{}, fmt.Errorf("bad fraction %q", s)
		}
		return n.Div(d)
	}
	neg := false
	body := s
	if body[0] == '-' || body[0] == '+' {
		neg = body[0] == '-'
		body = body[1:]
	}
	intPart, fracPart, hasDot := strings.Cut(body, ".")
	if (intPart == "" && fracPart == "") || !digits(intPart) || !digits(fracPart) || (hasDot && fracPart == "") {
		return Number{}, fmt.Errorf("bad number %q", s)
	}
	if len(intPart)+len(fracPart) > 18 {
		return Number{}, ErrOverflow
	}
	var n int64
	for _, c := range intPart + fracPart {
		n = n*10 + int64(c-'0')
	}
	d := int64(1)
	for range fracPart {
		d *= 10
	}
	if neg {
		n = -n
	}
	return norm(n, d)
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
