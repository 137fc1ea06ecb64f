package shop

import "testing"

func TestTokenSetRatio(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		{"fuzzy was a bear", "fuzzy fuzzy was a bear", 100}, // fuzzywuzzy's README example
		{"black", "black", 100},
		{"Long-Sleeve", "long sleeve", 100}, // processing: case and punctuation
		{"navy", "navy blue", 100},          // a token subset scores 100
		{"x-large", "large", 100},           // why WebShop compares sizes exactly
		// "of pack" vs "of pack 6" is 1 - 2/16 = 0.875, rounded half to even: 88
		{"pack of 6", "pack of 12", 88},
		// best is "free sugar" vs "free gluten" or "free" vs "free sugar": 1 - 6/14
		{"gluten free", "sugar free", 57},
		// "roast" vs "roast dark": 1 - 5/15
		{"dark roast", "medium roast", 67},
		// no shared token: plain indel ratio, 1 - 2/6
		{"abc", "abd", 67},
		{"", "abc", 0},
		{"!!", "abc", 0},
		{"non slip", "slip on", 93},
	}
	for _, c := range cases {
		if got := TokenSetRatio(c.a, c.b); got != c.want {
			t.Errorf("TokenSetRatio(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := TokenSetRatio(c.b, c.a); got != c.want {
			t.Errorf("TokenSetRatio(%q, %q) = %d, want %d (not symmetric)", c.b, c.a, got, c.want)
		}
	}
}

func TestLCS(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{{"", "x", 0}, {"abc", "abc", 3}, {"gluten", "sugar", 1}, {"abcbdab", "bdcaba", 4}}
	for _, c := range cases {
		if got := lcsLen(c.a, c.b); got != c.want {
			t.Errorf("lcsLen(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func TestNormalizeColor(t *testing.T) {
	cases := map[string]string{
		"navy blue":  "blue", // alphabetical order: "blue" is found before "navy"
		"green tea":  "green",
		"dark green": "green",
		"us 8":       "us 8",
		"walnut":     "walnut",
	}
	for in, want := range cases {
		if got := normalizeColor(in); got != want {
			t.Errorf("normalizeColor(%q) = %q, want %q", in, got, want)
		}
	}
}
