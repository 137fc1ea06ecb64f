package game24

import (
	"errors"
	"math/big"
	"math/rand/v2"
	"testing"
)

func TestParseNumber(t *testing.T) {
	tests := []struct {
		in      string
		num     int64
		den     int64
		wantErr bool
	}{
		{"13", 13, 1, false},
		{"-2", -2, 1, false},
		{"8/3", 8, 3, false},
		{"-8/3", -8, 3, false},
		{"6/3", 2, 1, false},
		{"0.5", 1, 2, false},
		{"2.67", 267, 100, false},
		{"+4", 4, 1, false},
		{"", 0, 0, true},
		{"8/0", 0, 0, true},
		{"8/-3", 0, 0, true},
		{"1/2/3", 0, 0, true},
		{"abc", 0, 0, true},
		{"1.", 0, 0, true},
		{"12345678901234567890", 0, 0, true},
	}
	for _, tt := range tests {
		v, err := ParseNumber(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseNumber(%q) error %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if err == nil && (v.Num() != tt.num || v.Den() != tt.den) {
			t.Errorf("ParseNumber(%q) = %d/%d, want %d/%d", tt.in, v.Num(), v.Den(), tt.num, tt.den)
		}
	}
}

// TestArithmeticMatchesBigRat checks the int64 fractions against math/big on random operands.
func TestArithmeticMatchesBigRat(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	rnd := func() Number {
		v, err := Frac(rng.Int64N(2001)-1000, rng.Int64N(50)+1)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for range 20000 {
		a, b := rnd(), rnd()
		for _, op := range []byte("+-*/") {
			got, err := Apply(a, op, b)
			ra, rb := big.NewRat(a.Num(), a.Den()), big.NewRat(b.Num(), b.Den())
			want := new(big.Rat)
			switch op {
			case '+':
				want.Add(ra, rb)
			case '-':
				want.Sub(ra, rb)
			case '*':
				want.Mul(ra, rb)
			case '/':
				if rb.Sign() == 0 {
					if !errors.Is(err, ErrDivZero) {
						t.Fatalf("%v / %v: err %v, want ErrDivZero", a, b, err)
					}
					continue
				}
				want.Quo(ra, rb)
			}
			if err != nil {
				t.Fatalf("%v %c %v: %v", a, op, b, err)
			}
			if got.String() != want.RatString() {
				t.Fatalf("%v %c %v = %v, want %s", a, op, b, got, want.RatString())
			}
			if a.Less(b) != (ra.Cmp(rb) < 0) {
				t.Fatalf("%v < %v wrong", a, b)
			}
		}
	}
}

func TestOverflowIsAnError(t *testing.T) {
	big1, _ := ParseNumber("999999999999999999")
	if _, err := big1.Mul(big1); !errors.Is(err, ErrOverflow) {
		t.Fatalf("huge product: err %v, want ErrOverflow", err)
	}
	half := Int(1 << 61)
	if _, err := half.Add(half); !errors.Is(err, ErrOverflow) {
		t.Fatalf("huge sum: err %v, want ErrOverflow", err)
	}
}
