package game24

import "testing"

func TestSolvePath(t *testing.T) {
	tests := []struct {
		nums []Number
		ok   bool
	}{
		{[]Number{Int(4), Int(4), Int(6), Int(8)}, true},
		{[]Number{Int(3), Int(3), Int(8), Int(8)}, true},
		{[]Number{Int(4), Int(4), Int(10)}, true}, // a state mid-episode
		{[]Number{Int(1), Int(1), Int(1), Int(1)}, false},
		{[]Number{Int(24)}, true},
		{[]Number{mustFrac(t, 1, 3), Int(8)}, true},
	}
	for _, tt := range tests {
		path, ok := SolvePath(tt.nums)
		if ok != tt.ok {
			t.Fatalf("SolvePath(%v) ok %v", tt.nums, ok)
		}
		if !ok {
			continue
		}
		cur := append([]Number(nil), tt.nums...)
		for _, st := range path {
			v, err := Apply(st.X, st.Op, st.Y)
			if err != nil || !v.Equal(st.Claim) {
				t.Fatalf("%v: step %v claims a wrong result", tt.nums, st)
			}
			cur = remove(t, remove(t, cur, st.X), st.Y)
			cur = append(cur, v)
			if len(cur) != len(st.Left) {
				t.Fatalf("%v: step %v leaves %v", tt.nums, st, cur)
			}
		}
		if len(cur) != 1 || !cur[0].Equal(Int(24)) {
			t.Fatalf("%v: path %v ends at %v", tt.nums, path, cur)
		}
	}
}

func mustFrac(t *testing.T, n, d int64) Number {
	v, err := Frac(n, d)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func remove(t *testing.T, v []Number, x Number) []Number {
	for i := range v {
		if v[i].Equal(x) {
			return append(v[:i:i], v[i+1:]...)
		}
	}
	t.Fatalf("%v not in %v", x, v)
	return nil
}
