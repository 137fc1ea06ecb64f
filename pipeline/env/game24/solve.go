package game24

var target = Int(24)

// results lists a op b for every operator and both orders of the non-commutative ones, skipping
// division by zero and overflow. It returns how many entries of buf it filled.
func results(a, b Number, buf *[6]Number) int {
	n := 0
	put := func(v Number, err error) {
		if err == nil {
			buf[n] = v
			n++
		}
	}
	put(a.Add(b))
	put(a.Mul(b))
	put(a.Sub(b))
	put(b.Sub(a))
	put(a.Div(b))
	put(b.Div(a))
	return n
}

// solvable reports whether the numbers in v can be combined into 24. It permutes v in place and
// restores it before returning, so the search allocates nothing.
func solvable(v []Number) bool {
	n := len(v)
	if n == 1 {
		return v[0].Equal(target)
	}
	var buf [6]Number
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			a, b := v[i], v[j]
			k := results(a, b, &buf)
			v[j] = v[n-1]
			for _, r := range buf[:k] {
				v[i] = r
				if solvable(v[:n-1]) {
					v[i], v[j] = a, b
					return true
				}
			}
			v[i], v[j] = a, b
		}
	}
	return false
}

// Solvable reports whether nums can make 24 with + - * / (exact rationals).
func Solvable(nums []int) bool { return solvable(ints(nums)) }

// Solve returns an expression that makes 24 from nums, each used once.
func Solve(nums []int) (*Expr, bool) {
	items := make([]item, len(nums))
	for i, x := range nums {
		items[i] = item{val: Int(int64(x)), expr: Leaf(Int(int64(x)))}
	}
	return solveItems(items)
}

func solveItems(items []item) (*Expr, bool) {
	if len(items) == 1 {
		if items[0].val.Equal(target) {
			return items[0].expr, true
		}
		return nil, false
	}
	for _, c := range candidates(items) {
		if c.solvable(items) {
			return solveItems(c.apply(items))
		}
	}
	return nil, false
}

func values(items []item) []Number {
	v := make([]Number, len(items))
	for i, it := range items {
		v[i] = it.val
	}
	return v
}

// SolvePath returns steps that combine nums into 24, each with the numbers it leaves, natural
// (non-negative integer) results tried first; false when 24 cannot be reached. nums may hold
// any values, such as a state an agent wrongly believes it is in.
func SolvePath(nums []Number) ([]Step, bool) {
	var items []item
	for _, v := range nums {
		items = insert(items, item{val: v, expr: Leaf(v)})
	}
	if !solvable(values(items)) {
		return nil, false
	}
	var path []Step
	for len(items) > 1 {
		var pick *candidate
		for _, c := range candidates(items) {
			if !c.solvable(items) {
				continue
			}
			if natural(c.val) {
				pick = &c
				break
			}
			if pick == nil {
				pick = &c
			}
		}
		path = append(path, pick.step(items))
		items = pick.apply(items)
	}
	return path, true
}
