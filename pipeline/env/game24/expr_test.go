package game24

import (
	"errors"
	"strings"
	"testing"
)

func TestParseExprRoundTrip(t *testing.T) {
	tests := []struct {
		in, printed, value string
	}{
		{"(6 - 4) * (4 + 8)", "(6 - 4) * (4 + 8)", "24"},
		{"1+2*3", "1 + 2 * 3", "7"},
		{"8 / (3 - 8 / 3)", "8 / (3 - 8 / 3)", "24"},
		{"10 - (4 - 2)", "10 - (4 - 2)", "8"},
		{"(10 - 4) - 2", "10 - 4 - 2", "4"},
		{"12/4/3", "12 / 4 / 3", "1"},
		{"12 / (4 / 3)", "12 / (4 / 3)", "9"},
		{"-(3 - 7) * 6", "-(3 - 7) * 6", "24"},
		{"((((5))))", "5", "5"},
		{" 0.5 * 48 ", "1/2 * 48", "24"},
	}
	for _, tt := range tests {
		e, err := ParseExpr(tt.in)
		if err != nil {
			t.Errorf("ParseExpr(%q): %v", tt.in, err)
			continue
		}
		v, err := e.Eval()
		if err != nil || v.String() != tt.value {
			t.Errorf("Eval(%q) = %v, %v; want %s", tt.in, v, err, tt.value)
		}
		if tt.printed != "1/2 * 48" && e.String() != tt.printed {
			t.Errorf("String(%q) = %q, want %q", tt.in, e.String(), tt.printed)
		}
		// Printing must keep the value, whatever the parentheses.
		e2, err := ParseExpr(e.String())
		if err != nil {
			t.Errorf("re-parse %q: %v", e.String(), err)
			continue
		}
		if v2, _ := e2.Eval(); !v2.Equal(v) {
			t.Errorf("re-parse of %q gives %v, want %v", e.String(), v2, v)
		}
	}
	for _, bad := range []string{"", "(1 + 2", "1 + 2)", "1 +", "2 x 3", "2 × 3", "4 ** 6", "()", strings.Repeat("(", 200) + "1" + strings.Repeat(")", 200)} {
		if _, err := ParseExpr(bad); err == nil {
			t.Errorf("ParseExpr(%q) accepted", bad)
		}
	}
}

func TestCheckAnswer(t *testing.T) {
	input := []int{4, 4, 6, 8}
	tests := []struct {
		action string
		kind   string // "" for correct
	}{
		{"Answer: (6 - 4) * (4 + 8) = 24", ""},
		{"answer: (4 + 8) * (6 - 4) = 24", ""},
		{"  Answer:(8+4)*(6-4)=24  ", ""},
		{"Answer: (6 - 4) * (4 + 8) = 24.0", ""},
		{"Answer: (6 - 4) * (4 + 8)", FailFormat},
		{"Answer: (6 - 4) * (4 + 8) = 25", FailFormat},
		{"Answer: (6 - 4) * (4 + 8) = 24 = 24", FailFormat},
		{"Answer: (6 - 4 * (4 + 8) = 24", FailFormat},
		{"Answer: (6 - 4) x (4 + 8) = 24", FailFormat},
		{"(6 - 4) * (4 + 8) = 24", FailFormat},
		{"Answer: (6 - 4) * (4 + 8) = 24.", FailFormat},
		{"Answer: (6 - 4) * 12 = 24", FailNumbers},
		{"Answer: (6 - 3) * 8 = 24", FailNumbers},
		{"Answer: 4 * 6 * (8 - 4) / 4 = 24", FailNumbers},
		{"Answer: (6 - 4) * (4 + 8) + 0 = 24", FailNumbers},
		{"Answer: (6 + 4) * (4 + 8) = 24", FailValue},
		{"Answer: 8 / (6 - 6) + 4 * 4 = 24", FailNumbers},
		{"Answer: 6 / (4 - 4) * 8 = 24", FailValue},
	}
	for _, tt := range tests {
		err := CheckAnswer(input, tt.action)
		var ae *AnswerError
		switch {
		case tt.kind == "" && err != nil:
			t.Errorf("CheckAnswer(%q) = %v, want correct", tt.action, err)
		case tt.kind != "" && !errors.As(err, &ae):
			t.Errorf("CheckAnswer(%q) = %v, want %s failure", tt.action, err, tt.kind)
		case tt.kind != "" && ae.Kind != tt.kind:
			t.Errorf("CheckAnswer(%q) kind %s (%v), want %s", tt.action, ae.Kind, err, tt.kind)
		}
	}
	// A fraction on the way is fine: 8 / (3 - 8 / 3) = 24.
	if err := CheckAnswer([]int{3, 3, 8, 8}, "Answer: 8 / (3 - 8 / 3) = 24"); err != nil {
		t.Errorf("3 3 8 8: %v", err)
	}
}

func TestParseStep(t *testing.T) {
	tests := []struct {
		in      string
		want    string // re-printed; "" for a format error
		hasLeft bool
	}{
		{"13 - 9 = 4 (left: 4 4 10)", "13 - 9 = 4 (left: 4 4 10)", true},
		{"13-9=4", "13 - 9 = 4", false},
		{"8 / 3 = 8/3 (left: 8/3 3 8)", "8 / 3 = 8/3 (left: 8/3 3 8)", true},
		{"8/3 * 9 = 24 (left: 24)", "8/3 * 9 = 24 (left: 24)", true},
		{"4 - -2 = 6", "4 - -2 = 6", false},
		{"8 / 3 = 2.67", "8 / 3 = 267/100", false},
		{"4 - 6 = -2 (left:-2 8 8)", "4 - 6 = -2 (left: -2 8 8)", true},
		{"12/4=3", "12 / 4 = 3", false},
		{"8/3 = 8/3", "8 / 3 = 8/3", false},
		{"6 - 12/4 = 3 (left: 3)", "6 - 3 = 3 (left: 3)", true},
		{"\t2 * 12 = 24 (left:)  ", "2 * 12 = 24 (left: )", true},
		{"13 - 9 = 4 (left: 4 4 10) extra", "", false},
		{"13 - 9 = 4 (right: 4 4 10)", "", false},
		{"13 - 9 = 4 (left: 4 4 10", "", false},
		{"13 - 9 = 4 left: 4 4 10", "", false},
		{"- 9 = 4", "", false},
		{"13 - 9 (left: 4 4 10)", "", false},
		{"13 x 9 = 117", "", false},
		{"13 - 9 = four", "", false},
		{"13 - 9 = 4 (left: 4 four)", "", false},
		{"Answer: 4 * 6 = 24", "", false},
		{"13 - 9 - 1 = 3", "", false},
	}
	for _, tt := range tests {
		st, err := ParseStep(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("ParseStep(%q) accepted: %v", tt.in, st)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseStep(%q): %v", tt.in, err)
			continue
		}
		if st.String() != tt.want || (st.Left != nil) != tt.hasLeft {
			t.Errorf("ParseStep(%q) = %q (left %v), want %q", tt.in, st.String(), st.Left, tt.want)
		}
	}
}
