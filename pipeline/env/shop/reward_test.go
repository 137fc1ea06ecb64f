package shop

import (
	"math"
	"strings"
	"testing"
)

func handProduct() Product {
	p := Product{
		ASIN: "B0TARGET01", Category: "shoes",
		Path:        "Clothing › Men › Shoes › Running",
		Query:       "men's running shoes",
		Name:        "Running Shoes",
		Brand:       "Trailmark",
		Title:       "Trailmark Men's Running Shoes, Non Slip, Memory Foam, Arch Support",
		Description: "Made for long days on your feet.",
		Features:    []string{"NON SLIP: steady steps", "MEMORY FOAM: soft landing"},
		Attributes:  []string{"non slip", "memory foam", "arch support"},
		Options: []OptionGroup{
			{Name: "size", Values: []string{"us 8", "us 9", "x-large"}},
			{Name: "color", Values: []string{"black", "white", "navy blue", "green tea"}},
		},
		Price: 45.99,
		Nouns: []string{"trailmark", "men", "running", "shoes"},
	}
	p.lowTitle, p.lowFeatures, p.lowDesc = strings.ToLower(p.Title), strings.ToLower(strings.Join(p.Features, " ")), strings.ToLower(p.Description)
	return p
}

func handGoal() *Goal {
	return &Goal{
		Query: "men's running shoes", Path: "Clothing › Men › Shoes › Running",
		Nouns:      []string{"trailmark", "men", "running", "shoes"},
		Attributes: []string{"non slip", "memory foam"},
		Options:    []GoalOption{{"size", "us 9"}, {"color", "black"}},
		PriceUpper: 50,
	}
}

// variant returns the hand product changed by f.
func variant(f func(p *Product)) *Product {
	p := handProduct()
	f(&p)
	p.lowTitle, p.lowFeatures, p.lowDesc = strings.ToLower(p.Title), strings.ToLower(strings.Join(p.Features, " ")), strings.ToLower(p.Description)
	return &p
}

func TestComputeRewardTable(t *testing.T) {
	same := variant(func(*Product) {})
	cases := []struct {
		name   string
		p      *Product
		price  float64
		chosen map[string]string
		goal   func(g *Goal)
		want   float64
		rtype  float64
	}{
		{"exact product and options", same, 45.99, map[string]string{"size": "us 9", "color": "black"}, nil, 1, 1},
		{"wrong colour", same, 45.99, map[string]string{"size": "us 9", "color": "white"}, nil, 4.0 / 5, 1},
		{"wrong size", same, 45.99, map[string]string{"size": "us 8", "color": "black"}, nil, 4.0 / 5, 1},
		{"no options chosen (early buy)", same, 45.99, map[string]string{}, nil, 3.0 / 5, 1},
		{"one option missing", same, 45.99, map[string]string{"color": "black"}, nil, 4.0 / 5, 1},
		{"over budget", same, 55, map[string]string{"size": "us 9", "color": "black"}, nil, 4.0 / 5, 1},
		{"price equal to the ceiling is within budget", same, 50, map[string]string{"size": "us 9", "color": "black"}, nil, 1, 1},
		{"missing attribute", variant(func(p *Product) {
			p.Attributes = []string{"non slip", "arch support"}
			p.Title = "Trailmark Men's Running Shoes, Non Slip, Arch Support"
			p.Features = p.Features[:1]
		}), 45.99, map[string]string{"size": "us 9", "color": "black"}, nil, 4.0 / 5, 1},
		{"attribute only in the description still counts", variant(func(p *Product) {
			p.Attributes = []string{"non slip"}
			p.Title = "Trailmark Men's Running Shoes"
			p.Features = nil
			p.Description = "Cushioned with memory foam throughout."
		}), 45.99, map[string]string{"size": "us 9", "color": "black"}, nil, 1, 1},
		{"attribute matched fuzzily", variant(func(p *Product) {
			p.Attributes = []string{"Non-Slip", "memory foam"}
		}), 45.99, map[string]string{"size": "us 9", "color": "black"}, nil, 1, 1},
		{"wrong type: nothing shared", variant(func(p *Product) {
			p.Query, p.Path, p.Nouns = "coffee pods", "Grocery › Coffee", []string{"brewco", "coffee", "pods"}
		}), 45.99, map[string]string{"size": "us 9", "color": "black"}, nil, 0, 0},
		{"other type, title nouns > 0.2 shared: full type credit", variant(func(p *Product) {
			p.Query, p.Path, p.Nouns = "men's trail boots", "Outdoor › Boots", []string{"trailmark", "men", "boots"}
		}), 45.99, map[string]string{"size": "us 9", "color": "black"}, nil, 1, 1},
		{"other type, title score 0.2 and no query or category match: half", variant(func(p *Product) {
			p.Query, p.Path, p.Nouns = "hats", "Accessories › Hats", []string{"trailmark", "hat"}
		}), 45.99, map[string]string{"size": "us 9", "color": "black"}, func(g *Goal) {
			g.Nouns = []string{"trailmark", "men", "running", "shoes", "sneakers"}
		}, 0.5, 0.5},
		{"same category, title score below 0.1: a tenth", variant(func(p *Product) {
			p.Query, p.Nouns = "men's sandals", []string{"a"}
		}), 45.99, map[string]string{"size": "us 9", "color": "black"}, func(g *Goal) {
			g.Nouns = []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"}
		}, 0.1, 0.1},
		{"no title nouns in the goal: title score 0.2, query match keeps 1", same, 45.99,
			map[string]string{"size": "us 9", "color": "black"}, func(g *Goal) { g.Nouns = nil }, 1, 1},
		{"size compares exactly (x-large is not large)", same, 45.99, map[string]string{"size": "x-large", "color": "black"},
			func(g *Goal) { g.Options[0].Value = "large" }, 4.0 / 5, 1},
		{"colours are normalized before matching", same, 45.99, map[string]string{"size": "us 9", "color": "green tea"},
			func(g *Goal) { g.Options[1].Value = "dark green" }, 1, 1},
		{"a chosen value found in the text counts", variant(func(p *Product) {
			p.Description = "Now in white, our best seller."
		}), 45.99, map[string]string{"size": "us 9", "color": "white"}, nil, 1, 1},
		{"option matches are capped at the goal's option count", variant(func(p *Product) {
			p.Options = append(p.Options, OptionGroup{Name: "width", Values: []string{"black", "wide"}})
		}), 45.99, map[string]string{"size": "us 9", "color": "black", "width": "black"}, nil, 1, 1},
	}
	for _, c := range cases {
		g := handGoal()
		if c.goal != nil {
			c.goal(g)
		}
		got := ComputeReward(c.p, c.price, c.chosen, g)
		if math.Abs(got.Total-c.want) > 1e-12 || got.RType != c.rtype {
			t.Errorf("%s: reward %v (r_type %v), want %v (r_type %v); %+v", c.name, got.Total, got.RType, c.want, c.rtype, got)
		}
	}
}

func TestTypeRewardParts(t *testing.T) {
	p := handProduct()
	g := handGoal()
	rt, ts, qm, cm := typeReward(&p, g)
	if rt != 1 || ts != 1 || !qm || !cm {
		t.Errorf("self match: %v %v %v %v", rt, ts, qm, cm)
	}
	p.Path = "Clothing › Men › Dresses"
	p.Query = "dresses"
	_, _, qm, cm = typeReward(&p, g)
	if qm || !cm {
		t.Errorf("two shared path elements should match categories: qm=%v cm=%v", qm, cm)
	}
	p.Path = "Clothing › Dresses"
	if _, _, _, cm = typeReward(&p, g); cm {
		t.Error("one shared path element is not a category match")
	}
}
