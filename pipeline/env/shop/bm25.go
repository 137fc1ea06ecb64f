package shop

import (
	"math"
	"sort"
	"strings"
)

// BM25 parameters of Anserini/Pyserini, the Lucene wrapper WebShop's search engine uses.
const (
	bm25K1 = 0.9
	bm25B  = 0.4
)

// stopWords is Lucene's classic English stop set (EnglishAnalyzer's default).
var stopWords = map[string]bool{
	"a": true, "an": true, "and": true, "are": true, "as": true, "at": true, "be": true,
	"but": true, "by": true, "for": true, "if": true, "in": true, "into": true, "is": true,
	"it": true, "no": true, "not": true, "of": true, "on": true, "or": true, "such": true,
	"that": true, "the": true, "their": true, "then": true, "there": true, "these": true,
	"they": true, "this": true, "to": true, "was": true, "will": true, "with": true,
}

// stem folds English plurals so "shoe" finds "shoes" and "bodies" finds "body". It is the
// s-stemmer (Harman 1991) plus a sibilant rule ("dresses" -> "dress"), lighter than Porter's,
// which is enough for a catalog whose text varies mostly in number.
func stem(t string) string {
	n := len(t)
	if n < 4 {
		return t
	}
	switch {
	case strings.HasSuffix(t, "sses") || strings.HasSuffix(t, "ches") || strings.HasSuffix(t, "shes") || strings.HasSuffix(t, "xes"):
		// dresses, benches, dishes, boxes: the plural added "es" to a sibilant
		return t[:n-2]
	case strings.HasSuffix(t, "ies") && !strings.HasSuffix(t, "eies") && !strings.HasSuffix(t, "aies"):
		return t[:n-3] + "y"
	case strings.HasSuffix(t, "es") && !strings.HasSuffix(t, "aes") && !strings.HasSuffix(t, "ees") && !strings.HasSuffix(t, "oes"):
		return t[:n-1]
	case strings.HasSuffix(t, "s") && !strings.HasSuffix(t, "us") && !strings.HasSuffix(t, "ss"):
		return t[:n-1]
	}
	return t
}

// analyze splits text into index terms: lowercase ASCII letters and digits, stop words dropped,
// plurals folded. Apostrophes are dropped inside words so "men's" and "mens" agree.
func analyze(text string, dst []string) []string {
	var buf [64]byte
	w := buf[:0]
	flush := func() {
		if len(w) == 0 {
			return
		}
		t := string(w)
		w = w[:0]
		if stopWords[t] {
			return
		}
		dst = append(dst, stem(t))
	}
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case c >= 'A' && c <= 'Z':
			w = append(w, c+('a'-'A'))
		case (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'):
			w = append(w, c)
		case c == '\'':
			// keep the word going: "men's" -> "mens"
		default:
			flush()
		}
	}
	flush()
	return dst
}

type posting struct {
	doc int32
	tf  int32
}

// Index is an in-memory BM25 index over a fixed set of documents. It is immutable after
// NewIndex and safe for concurrent searches.
type Index struct {
	postings map[string][]posting
	docLen   []float64
	avgLen   float64
	norm     []float64 // k1 * (1 - b + b*dl/avgdl) per document
}

// NewIndex indexes docs; document i gets id i.
func NewIndex(docs []string) *Index {
	ix := &Index{postings: make(map[string][]posting), docLen: make([]float64, len(docs))}
	var terms []string
	counts := make(map[string]int32)
	total := 0.0
	for i, d := range docs {
		terms = analyze(d, terms[:0])
		clear(counts)
		for _, t := range terms {
			counts[t]++
		}
		for t, c := range counts {
			ix.postings[t] = append(ix.postings[t], posting{doc: int32(i), tf: c})
		}
		ix.docLen[i] = float64(len(terms))
		total += float64(len(terms))
	}
	if len(docs) > 0 {
		ix.avgLen = total / float64(len(docs))
	}
	ix.norm = make([]float64, len(docs))
	for i, dl := range ix.docLen {
		ix.norm[i] = bm25K1 * (1 - bm25B + bm25B*dl/ix.avgLen)
	}
	// Postings were appended in doc order per term already; map iteration only shuffled terms.
	return ix
}

// idf is Lucene's BM25 idf, always positive: ln(1 + (N - n + 0.5)/(n + 0.5)).
func (ix *Index) idf(n int) float64 {
	N := float64(len(ix.docLen))
	return math.Log(1 + (N-float64(n)+0.5)/(float64(n)+0.5))
}

// Hit is one search result.
type Hit struct {
	Doc   int
	Score float64
}

// Search ranks documents by BM25 against query and returns the best k with a positive score,
// highest first, ties broken by the lower document id. scratch, when it has one slot per
// document, is reused for the score accumulators (pass nil to allocate).
func (ix *Index) Search(query string, k int, scratch []float64) []Hit {
	terms := analyze(query, nil)
	if len(terms) == 0 || k <= 0 {
		return nil
	}
	if len(scratch) != len(ix.docLen) {
		scratch = make([]float64, len(ix.docLen))
	} else {
		clear(scratch)
	}
	var touched []int32
	// Repeated query terms count once per occurrence, as repeated clauses of a Lucene boolean
	// query do.
	for _, t := range terms {
		pl := ix.postings[t]
		if len(pl) == 0 {
			continue
		}
		idf := ix.idf(len(pl))
		for _, p := range pl {
			tf := float64(p.tf)
			norm := ix.norm[p.doc]
			if scratch[p.doc] == 0 {
				touched = append(touched, p.doc)
			}
			scratch[p.doc] += idf * tf * (bm25K1 + 1) / (tf + norm)
		}
	}
	// Keep the best k in a slice sorted best-first; most documents lose to the current k-th
	// and cost one comparison, which beats sorting every touched document.
	hits := make([]Hit, 0, min(k, len(touched)))
	better := func(a, b Hit) bool { return a.Score > b.Score || (a.Score == b.Score && a.Doc < b.Doc) }
	for _, d := range touched {
		h := Hit{Doc: int(d), Score: scratch[d]}
		if len(hits) == k && !better(h, hits[k-1]) {
			continue
		}
		i := sort.Search(len(hits), func(i int) bool { return better(h, hits[i]) })
		if len(hits) < k {
			hits = append(hits, Hit{})
		}
		copy(hits[i+1:], hits[i:len(hits)-1])
		hits[i] = h
	}
	return hits
}
