package shop

import (
	"math"
	"reflect"
	"testing"
)

func TestAnalyze(t *testing.T) {
	cases := map[string][]string{
		"Men's Running Shoes":             {"men", "running", "shoe"},
		"mens men men's":                  {"men", "men", "men"},
		"i need a pair of the BOXES":      {"i", "need", "pair", "box"},
		"Dresses, bodies & glasses!":      {"dress", "body", "glass"},
		"pack of 12, and price 40.00":     {"pack", "12", "price", "40", "00"},
		"bus gas toes trees":              {"bus", "gas", "toe", "tree"},
		"":                                nil,
		"the and of":                      nil,
		"hyaluronic acid-free  serums...": {"hyaluronic", "acid", "free", "serum"},
	}
	for in, want := range cases {
		if got := analyze(in, nil); !reflect.DeepEqual(got, want) {
			t.Errorf("analyze(%q) = %q, want %q", in, got, want)
		}
	}
}

// bm25 is the textbook formula, written out independently of Index.Search.
func bm25(tf, df, n int, dl, avgdl float64) float64 {
	idf := math.Log(1 + (float64(n-df)+0.5)/(float64(df)+0.5))
	return idf * float64(tf) * (bm25K1 + 1) / (float64(tf) + bm25K1*(1-bm25B+bm25B*dl/avgdl))
}

func TestBM25Scores(t *testing.T) {
	docs := []string{
		"wool hat",               // 0: dl 2
		"leather shoes shoes",    // 1: dl 3, tf(shoe)=2
		"canvas shoes",           // 2: dl 2
		"green hat with a brim",  // 3: dl 4 ("with", "a" are stop words)
		"suede shoes for winter", // 4: dl 3
	}
	ix := NewIndex(docs)
	avg := (2.0 + 3 + 2 + 3 + 3) / 5
	if math.Abs(ix.avgLen-avg) > 1e-12 {
		t.Fatalf("avgLen %v, want %v", ix.avgLen, avg)
	}
	hits := ix.Search("shoes", 10, nil)
	want := map[int]float64{1: bm25(2, 3, 5, 3, avg), 2: bm25(1, 3, 5, 2, avg), 4: bm25(1, 3, 5, 3, avg)}
	if len(hits) != len(want) {
		t.Fatalf("hits %v, want docs %v", hits, want)
	}
	for _, h := range hits {
		if math.Abs(h.Score-want[h.Doc]) > 1e-12 {
			t.Errorf("doc %d score %v, want %v", h.Doc, h.Score, want[h.Doc])
		}
	}
	// more occurrences first, then the shorter of two single occurrences
	if got := []int{hits[0].Doc, hits[1].Doc, hits[2].Doc}; !reflect.DeepEqual(got, []int{1, 2, 4}) {
		t.Errorf("order %v, want [1 2 4]", got)
	}
	// a two-term query sums the terms; the rare term "winter" lifts doc 4 to the top
	hits = ix.Search("winter shoes", 10, make([]float64, len(docs)))
	if hits[0].Doc != 4 || math.Abs(hits[0].Score-(bm25(1, 3, 5, 3, avg)+bm25(1, 1, 5, 3, avg))) > 1e-12 {
		t.Errorf("winter shoes: top %+v", hits[0])
	}
	// repeated query terms count per occurrence
	h1 := ix.Search("hat", 10, nil)
	h2 := ix.Search("hat hat", 10, nil)
	if math.Abs(h2[0].Score-2*h1[0].Score) > 1e-12 {
		t.Errorf("repeated term: %v vs %v", h2[0].Score, h1[0].Score)
	}
	if got := ix.Search("shoes", 2, nil); len(got) != 2 {
		t.Errorf("k=2 gave %d hits", len(got))
	}
	if got := ix.Search("the of", 10, nil); got != nil {
		t.Errorf("stop-word query gave %v", got)
	}
	if got := ix.Search("spaceship", 10, nil); len(got) != 0 {
		t.Errorf("unknown term gave %v", got)
	}
}

func TestBM25TieBreak(t *testing.T) {
	ix := NewIndex([]string{"red mug", "blue mug", "red mug"})
	hits := ix.Search("mug", 10, nil)
	if len(hits) != 3 || hits[0].Doc != 0 || hits[1].Doc != 1 || hits[2].Doc != 2 {
		t.Errorf("equal scores must keep document order: %+v", hits)
	}
}

func TestCatalogSearchFindsTitles(t *testing.T) {
	c := mustCatalog(t)
	for i := 0; i < len(c.Products); i += 37 {
		p := &c.Products[i]
		res := c.Search(p.Title)
		found := false
		for _, r := range res[:min(3, len(res))] {
			if r == i {
				found = true
			}
		}
		if !found {
			t.Errorf("searching the title of %s does not list it in the top 3", p.ASIN)
		}
	}
}
