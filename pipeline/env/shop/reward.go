package shop

import "strings"

// RewardInfo is WebShop's reward for one purchase with its parts.
type RewardInfo struct {
	Total         float64 // r_type * (attrs + options + price) / (|attrs| + |options| + 1)
	RType         float64 // 1, 0.5, 0.1 or 0
	TitleScore    float64 // shared title nouns / target title nouns
	QueryMatch    bool
	CategoryMatch bool
	AttrMatches   int
	OptionMatches int
	PriceOK       bool
	NumAttrs      int
	NumOptions    int
}

// exactMatchOptions are option names compared exactly rather than fuzzily (WebShop's
// EXACT_MATCH_OPTS).
func exactMatchOption(name string) bool { return strings.EqualFold(name, "size") }

// typeReward is WebShop's get_type_reward with the title nouns given by the generator.
func typeReward(bought *Product, g *Goal) (rType, titleScore float64, queryMatch, categoryMatch bool) {
	queryMatch = bought.Query == g.Query
	shared := 0
	for _, a := range splitPath(bought.Path) {
		for _, b := range splitPath(g.Path) {
			if a == b {
				shared++
				break
			}
		}
	}
	categoryMatch = shared >= 2
	if len(g.Nouns) == 0 {
		titleScore = 0.2
	} else {
		n := 0
		for _, d := range g.Nouns {
			for _, p := range bought.Nouns {
				if p == d {
					n++
					break
				}
			}
		}
		titleScore = float64(n) / float64(len(g.Nouns))
	}
	rType = 1
	if !(queryMatch || categoryMatch || titleScore > 0.2) {
		rType = 0.5
	}
	if titleScore < 0.1 {
		rType = 0.1
	}
	if titleScore == 0 {
		rType = 0
	}
	return
}

// splitPath splits a "›"-separated category path into distinct trimmed elements.
func splitPath(p string) []string {
	parts := strings.Split(p, "›")
	out := parts[:0]
	for _, x := range parts {
		x = strings.TrimSpace(x)
		dup := false
		for _, y := range out {
			if y == x {
				dup = true
			}
		}
		if !dup {
			out = append(out, x)
		}
	}
	return out
}

// ComputeReward scores buying bought at price with the chosen options (option name -> value)
// against goal g, following WebShop's get_reward:
//
//	r = r_type * (|U_att ∩ Y_att| + |U_opt ∩ Y_opt| + 1[price <= u_price]) / (|U_att| + |U_opt| + 1)
//
// Attributes match fuzzily (token_set_ratio > 85) against the bought product's attributes, or
// as a substring of its title, features or description. Options are colour-normalized; "size"
// matches exactly, others fuzzily, and a chosen value found in the product's text also counts.
// One deviation: WebShop counts option matches per chosen option, so a product with more option
// groups than the goal could score above 1; the count is capped at the goal's option count.
func ComputeReward(bought *Product, price float64, chosen map[string]string, g *Goal) RewardInfo {
	info := RewardInfo{NumAttrs: len(g.Attributes), NumOptions: len(g.Options)}
	info.RType, info.TitleScore, info.QueryMatch, info.CategoryMatch = typeReward(bought, g)

	for _, ga := range g.Attributes {
		matched := false
		for _, pa := range bought.Attributes {
			if fuzzyMatch(pa, ga) {
				matched = true
				break
			}
		}
		if !matched && bought.textContains(ga) {
			matched = true
		}
		if matched {
			info.AttrMatches++
		}
	}

	goalOpts := make([]string, len(g.Options))
	for i, o := range g.Options {
		goalOpts[i] = normalizeColor(o.Value)
	}
	for name, v := range chosen {
		v = normalizeColor(v)
		matched := false
		if exactMatchOption(name) {
			for _, gv := range goalOpts {
				if gv == v {
					matched = true
					break
				}
			}
		} else {
			for _, gv := range goalOpts {
				if fuzzyMatch(gv, v) {
					matched = true
					break
				}
			}
		}
		if !matched && bought.textContains(v) {
			matched = true
		}
		if matched {
			info.OptionMatches++
		}
	}
	if info.OptionMatches > len(g.Options) {
		info.OptionMatches = len(g.Options)
	}

	priceTerm := 0.0
	if g.PriceUpper > 0 {
		info.PriceOK = price <= g.PriceUpper
		if info.PriceOK {
			priceTerm = 1
		}
	}
	den := float64(len(g.Attributes) + len(g.Options) + 1)
	info.Total = info.RType * (float64(info.AttrMatches+info.OptionMatches) + priceTerm) / den
	return info
}
