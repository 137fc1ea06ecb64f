package shop

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
)

// OptionGroup is one set of choices on an item page ("size", "color", ...).
type OptionGroup struct {
	Name   string
	Values []string
}

// Product is one catalog item.
type Product struct {
	ASIN        string
	Category    string // catalog category, e.g. "shoes"
	Path        string // WebShop's product_category, "›"-separated
	Query       string // the product type as a search phrase (WebShop's "query" field)
	Name        string // the noun phrase naming the type in the title, e.g. "Running Shoes"
	Brand       string
	Title       string
	Description string
	Features    []string
	Attributes  []string
	Options     []OptionGroup
	Price       float64
	// Nouns stand in for the nouns spaCy finds in the title, which WebShop's type reward
	// compares: the generator knows them (brand, audience and the type's noun phrase).
	Nouns []string

	// lowered text, kept for the reward's substring fallback
	lowTitle, lowFeatures, lowDesc string
}

// Text is what the search index sees: title, description, features and attributes.
func (p *Product) Text() string {
	return p.Title + "\n" + p.Description + "\n" + strings.Join(p.Features, "\n") + "\n" + strings.Join(p.Attributes, ", ")
}

// Group returns the option group called name, or nil.
func (p *Product) Group(name string) *OptionGroup {
	for i := range p.Options {
		if p.Options[i].Name == name {
			return &p.Options[i]
		}
	}
	return nil
}

// HasAttribute reports whether a is one of the product's attributes (exact phrase).
func (p *Product) HasAttribute(a string) bool {
	for _, x := range p.Attributes {
		if x == a {
			return true
		}
	}
	return false
}

// Catalog is the generated store: products, their search index and the task set. It is
// immutable after NewCatalog and shared by all Env instances of one Config.
type Catalog struct {
	cfg      Config
	Products []Product
	byASIN   map[string]int
	index    *Index
	testIDs  []int // product indices that are test targets (task i < NumTest targets testIDs[i])
	trainIDs []int // the other products, targets of train tasks
}

// Config says how to build the store.
type Config struct {
	Seed          uint64 // catalog and task seed; 0 means DefaultSeed
	Products      int    // catalog size; 0 means DefaultProducts
	TrainVariants int    // train tasks per non-test product; 0 means DefaultTrainVariants
	MaxSteps      int    // actions before the episode ends unbought; 0 means DefaultMaxSteps
}

// Defaults of Config.
const (
	DefaultSeed          = 1
	DefaultProducts      = 1200
	DefaultTrainVariants = 3
	DefaultMaxSteps      = 15
	// NumTest is the size of the test split: tasks 0..NumTest-1, one per held-out product.
	NumTest = 100
	// ResultsPerPage and MaxResults follow WebShop (10 per page, the search engine's top 50).
	ResultsPerPage = 10
	MaxResults     = 50
)

func (c Config) withDefaults() Config {
	if c.Seed == 0 {
		c.Seed = DefaultSeed
	}
	if c.Products == 0 {
		c.Products = DefaultProducts
	}
	if c.TrainVariants == 0 {
		c.TrainVariants = DefaultTrainVariants
	}
	if c.MaxSteps == 0 {
		c.MaxSteps = DefaultMaxSteps
	}
	return c
}

func (c Config) validate() error {
	if c.Products < NumTest+1 {
		return fmt.Errorf("shop: config field Products: %d is too small (need more than %d, the test split)", c.Products, NumTest)
	}
	if c.Products > 1<<20 {
		return fmt.Errorf("shop: config field Products: %d is too large (at most %d)", c.Products, 1<<20)
	}
	if c.TrainVariants < 0 || c.TrainVariants > 1000 {
		return fmt.Errorf("shop: config field TrainVariants: %d out of range 1..1000", c.TrainVariants)
	}
	if c.MaxSteps < 2 {
		return fmt.Errorf("shop: config field MaxSteps: %d is too small (a purchase takes at least 3 actions)", c.MaxSteps)
	}
	return nil
}

// Config returns the configuration the catalog was built with (defaults filled in).
func (c *Catalog) Config() Config { return c.cfg }

// Product returns the product with the given ASIN (case-insensitive).
func (c *Catalog) Product(asin string) (*Product, bool) {
	i, ok := c.byASIN[strings.ToUpper(asin)]
	if !ok {
		return nil, false
	}
	return &c.Products[i], true
}

// Search runs the store's BM25 search and returns product indices, best first (at most
// MaxResults).
func (c *Catalog) Search(query string) []int {
	hits := c.index.Search(query, MaxResults, nil)
	out := make([]int, len(hits))
	for i, h := range hits {
		out[i] = h.Doc
	}
	return out
}

// NewCatalog generates the store for cfg. The same Config always gives the same catalog.
func NewCatalog(cfg Config) (*Catalog, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	type typeRef struct{ cat, typ int }
	var types []typeRef
	for ci := range categories {
		for ti := range categories[ci].types {
			types = append(types, typeRef{ci, ti})
		}
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5109_ca7a_109))
	c := &Catalog{cfg: cfg, Products: make([]Product, 0, cfg.Products), byASIN: make(map[string]int, cfg.Products)}
	for i := 0; i < cfg.Products; i++ {
		t := types[i%len(types)]
		p, err := genProduct(rng, &categories[t.cat], &categories[t.cat].types[t.typ])
		if err != nil {
			return nil, fmt.Errorf("shop: generating product %d: %w", i, err)
		}
		for {
			p.ASIN = newASIN(rng)
			if _, dup := c.byASIN[p.ASIN]; !dup {
				break
			}
		}
		c.byASIN[p.ASIN] = i
		c.Products = append(c.Products, p)
	}
	// Interleave types in catalog order so that index order (the BM25 tie-break) carries no
	// information about the product type.
	rng.Shuffle(len(c.Products), func(i, j int) { c.Products[i], c.Products[j] = c.Products[j], c.Products[i] })
	docs := make([]string, len(c.Products))
	for i := range c.Products {
		c.byASIN[c.Products[i].ASIN] = i
		docs[i] = c.Products[i].Text()
	}
	c.index = NewIndex(docs)
	perm := rng.Perm(len(c.Products))
	c.testIDs = append([]int(nil), perm[:NumTest]...)
	c.trainIDs = append([]int(nil), perm[NumTest:]...)
	return c, nil
}

const asinAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

func newASIN(rng *rand.Rand) string {
	var b [10]byte
	b[0], b[1] = 'B', '0'
	for i := 2; i < len(b); i++ {
		b[i] = asinAlphabet[rng.IntN(len(asinAlphabet))]
	}
	return string(b[:])
}

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

// titleCase capitalizes each space-separated word ("non slip" -> "Non Slip").
func titleCase(s string) string {
	w := strings.Fields(s)
	for i, x := range w {
		w[i] = strings.ToUpper(x[:1]) + x[1:]
	}
	return strings.Join(w, " ")
}

// PhraseList joins phrases as English does: "a", "a and b", "a, b and c".
func PhraseList(xs []string) string {
	switch len(xs) {
	case 0:
		return ""
	case 1:
		return xs[0]
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " and " + xs[len(xs)-1]
}

// wordsOf lowercases s and splits it on non-alphanumerics, dropping one-letter pieces (the "s"
// of "men's", the "t" of "t-shirt").
func wordsOf(s string) []string {
	f := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	})
	out := f[:0]
	for _, w := range f {
		if len(w) > 1 {
			out = append(out, w)
		}
	}
	return out
}

func genProduct(rng *rand.Rand, cat *categorySpec, typ *typeSpec) (Product, error) {
	// A draw can fail only when filtering leaves an option group with fewer than two values;
	// redrawing from the same source keeps generation deterministic.
	for try := 0; try < 50; try++ {
		p, ok := drawProduct(rng, cat, typ)
		if ok {
			return p, nil
		}
	}
	return Product{}, fmt.Errorf("type %q: no valid product in 50 draws (vocabulary leaves too few option values)", typ.query)
}

func drawProduct(rng *rand.Rand, cat *categorySpec, typ *typeSpec) (Product, bool) {
	p := Product{
		Category: cat.name,
		Path:     typ.path,
		Query:    typ.query,
		Name:     pick(rng, typ.names),
		Brand:    pick(rng, cat.brands),
	}
	slots := append(append([][]string(nil), cat.attrs...), typ.attrs...)
	k := 3 + rng.IntN(3)
	if k > len(slots) {
		k = len(slots)
	}
	for _, si := range rng.Perm(len(slots))[:k] {
		p.Attributes = append(p.Attributes, pick(rng, slots[si]))
	}

	aud := typ.audience
	titled := make([]string, len(p.Attributes))
	for i, a := range p.Attributes {
		titled[i] = titleCase(a)
	}
	filler := pick(rng, cat.fillers)
	audPrefix := ""
	if aud != "" {
		audPrefix = aud + " "
	}
	switch rng.IntN(5) {
	case 0:
		p.Title = fmt.Sprintf("%s %s%s, %s", p.Brand, audPrefix, p.Name, strings.Join(titled, ", "))
	case 1:
		p.Title = fmt.Sprintf("%s %s %s%s with %s", p.Brand, filler, audPrefix, p.Name, PhraseList(titled))
	case 2:
		p.Title = fmt.Sprintf("%s %s%s by %s - %s", titled[0], audPrefix, p.Name, p.Brand, strings.Join(titled[1:], ", "))
	case 3:
		p.Title = fmt.Sprintf("%s %s%s | %s | %s", p.Brand, audPrefix, p.Name, strings.Join(titled, " | "), filler)
	default:
		forWhom := ""
		if aud != "" {
			forWhom = " for " + strings.TrimSuffix(aud, "'s")
		}
		p.Title = fmt.Sprintf("%s %s %s%s - %s, %s", p.Brand, filler, p.Name, forWhom, strings.Join(titled, ", "), filler)
	}

	lowName := strings.ToLower(p.Name)
	fill := func(t string) string {
		return strings.NewReplacer("{brand}", p.Brand, "{name}", lowName).Replace(t)
	}
	attrsShuffled := append([]string(nil), p.Attributes...)
	rng.Shuffle(len(attrsShuffled), func(i, j int) { attrsShuffled[i], attrsShuffled[j] = attrsShuffled[j], attrsShuffled[i] })
	p.Description = fill(pick(rng, cat.intros)) + " " +
		strings.Replace(pick(rng, cat.middles), "{attrs}", PhraseList(attrsShuffled), 1) + " " +
		fill(pick(rng, cat.closers))
	for _, a := range p.Attributes {
		p.Features = append(p.Features, strings.ToUpper(a)+": "+pick(rng, cat.benefits))
	}
	for _, i := range rng.Perm(len(cat.extras))[:1+rng.IntN(2)] {
		p.Features = append(p.Features, cat.extras[i])
	}
	p.lowTitle = strings.ToLower(p.Title)
	p.lowFeatures = strings.ToLower(strings.Join(p.Features, " "))
	p.lowDesc = strings.ToLower(p.Description)

	for _, g := range typ.groups {
		n := g.min + rng.IntN(g.max-g.min+1)
		if n > len(g.values) {
			n = len(g.values)
		}
		var vals []string
		if g.contiguous {
			start := rng.IntN(len(g.values) - n + 1)
			vals = append(vals, g.values[start:start+n]...)
		} else {
			idx := rng.Perm(len(g.values))[:n]
			// keep the pool's order so pages list sizes and colours in a stable way
			for vi, v := range g.values {
				for _, j := range idx {
					if j == vi {
						vals = append(vals, v)
					}
				}
			}
		}
		// WebShop credits an option found anywhere in the product's text, so a value the
		// text happens to contain ("blue" in "bluetooth") could never be chosen wrongly;
		// such values are not offered.
		kept := vals[:0]
		for _, v := range vals {
			if !p.textContains(v) && !p.textContains(normalizeColor(v)) {
				kept = append(kept, v)
			}
		}
		if len(kept) < 2 {
			return Product{}, false
		}
		p.Options = append(p.Options, OptionGroup{Name: g.name, Values: kept})
	}

	cents := []float64{0.99, 0.49, 0.95, 0.0, 0.79}
	base := typ.lo + rng.Float64()*(typ.hi-typ.lo)
	p.Price = math.Floor(base) + pick(rng, cents)
	if p.Price < 1 {
		p.Price = 1.99
	}

	seen := map[string]bool{}
	for _, src := range []string{p.Brand, aud, p.Name} {
		for _, w := range wordsOf(src) {
			if !seen[w] {
				seen[w] = true
				p.Nouns = append(p.Nouns, w)
			}
		}
	}
	return p, true
}

// textContains reports whether s (lowercased) occurs in the title, features or description.
func (p *Product) textContains(s string) bool {
	s = strings.ToLower(s)
	return strings.Contains(p.lowTitle, s) || strings.Contains(p.lowFeatures, s) || strings.Contains(p.lowDesc, s)
}
