// Package shop is a WebShop-style store (Yao et al., 2022) over a generated catalog: an agent
// searches, browses result pages, opens items, picks options and buys. The reward is WebShop's:
// product type match times the share of matched attributes, options and the price condition. It
// is only known to the env (and exposed through Outcome for analysis); observations never show
// it, so a reward model has to judge trajectories from what the agent saw.
//
// Actions: search[<query>] on the search page; click[<button>] elsewhere, where a button is
// "back to search", "next >", "< prev", an ASIN of the current result page, an option value on
// an item page, "description", "features" or "buy now". Matching is case-insensitive.
//
// Admissible convention: every clickable of the page as click[...]; on the search page, where
// actions are free text, one concrete search action whose query is the instruction without its
// price clause (the query WebShop's rule baseline issues). Any other search[...] is accepted
// there too; policies are expected to compose their own queries.
package shop

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/armap/armap/pipeline/env"
)

// PageKind names the page an Env is on.
type PageKind string

// Pages of the store.
const (
	PageSearch  PageKind = "search"
	PageResults PageKind = "results"
	PageItem    PageKind = "item"
	PageDetail  PageKind = "detail" // description or features of an item
	PageDone    PageKind = "done"
)

// Buttons and the end-of-episode text.
const (
	BtnBackToSearch = "back to search"
	BtnNext         = "next >"
	BtnPrev         = "< prev"
	BtnBuyNow       = "buy now"
	BtnDescription  = "description"
	BtnFeatures     = "features"
	ThankYou        = "Thank you for shopping with us!"
	stepLimitNote   = "The session has ended: the step limit was reached."
)

const maxGroups = 8

type state struct {
	task    int
	goal    *Goal
	page    PageKind
	query   string
	results []int32 // immutable once made; snapshots share it
	pageNo  int     // 0-based
	item    int32   // product on item/detail pages, -1 elsewhere
	detail  string  // BtnDescription or BtnFeatures on a detail page
	optItem int32   // product the chosen options belong to
	chosen  [maxGroups]int8
	steps   int
	done    bool
	bought  bool
	outcome RewardInfo
}

// Env is one shop session. Not safe for concurrent use; make one per goroutine (they can share
// a Catalog).
type Env struct {
	cat      *Catalog
	st       state
	started  bool
	scratch  []float64
	winTask  int // task the memos below belong to
	winCache map[int32]bool
	expertQ  string
}

var (
	_ env.Env    = (*Env)(nil)
	_ env.Splits = (*Env)(nil)
	_ env.Expert = (*Env)(nil)
)

// New builds the catalog for cfg and an Env over it.
func New(cfg Config) (*Env, error) {
	cat, err := NewCatalog(cfg)
	if err != nil {
		return nil, err
	}
	return NewWithCatalog(cat), nil
}

// NewWithCatalog makes an Env over an existing (shared, read-only) catalog.
func NewWithCatalog(cat *Catalog) *Env {
	return &Env{cat: cat, scratch: make([]float64, len(cat.Products)), winTask: -1, winCache: map[int32]bool{}}
}

// NewFactory builds the catalog once and returns a Factory of Envs sharing it.
func NewFactory(cfg Config) (env.Factory, error) {
	cat, err := NewCatalog(cfg)
	if err != nil {
		return nil, err
	}
	return func() (env.Env, error) { return NewWithCatalog(cat), nil }, nil
}

// Name implements env.Env.
func (e *Env) Name() string { return "shop" }

// NumTasks implements env.Env.
func (e *Env) NumTasks() int { return e.cat.NumTasks() }

// Split implements env.Splits ("test", "train", "all").
func (e *Env) Split(name string) ([]int, error) { return e.cat.Split(name) }

// Catalog is the store the Env runs on.
func (e *Env) Catalog() *Catalog { return e.cat }

// Goal is the current task's goal (nil before Reset). Scripted policies and synthesis may read
// it; it is what the instruction says, in structured form.
func (e *Env) Goal() *Goal { return e.st.goal }

// Outcome is the reward breakdown of the purchase, once bought.
func (e *Env) Outcome() (RewardInfo, bool) { return e.st.outcome, e.st.bought }

// Reset implements env.Env.
func (e *Env) Reset(ctx context.Context, task int) (env.Observation, error) {
	if err := ctx.Err(); err != nil {
		return env.Observation{}, err
	}
	g, err := e.cat.Goal(task)
	if err != nil {
		return env.Observation{}, err
	}
	e.st = state{task: task, goal: g, page: PageSearch, item: -1, optItem: -1}
	e.clearChosen()
	e.started = true
	return env.Observation{TaskID: fmt.Sprintf("shop/%d", task), Instruction: g.Instruction, Text: e.render()}, nil
}

func (e *Env) clearChosen() {
	for i := range e.st.chosen {
		e.st.chosen[i] = -1
	}
}

// parseAction splits "name[arg]" into a lowercased name and the raw argument.
func parseAction(a string) (name, arg string, ok bool) {
	a = strings.TrimSpace(a)
	i := strings.IndexByte(a, '[')
	if i <= 0 || !strings.HasSuffix(a, "]") {
		return "", "", false
	}
	return strings.ToLower(strings.TrimSpace(a[:i])), strings.TrimSpace(a[i+1 : len(a)-1]), true
}

// Step implements env.Env.
func (e *Env) Step(ctx context.Context, action string) (env.StepResult, error) {
	if !e.started {
		return env.StepResult{}, errors.New("shop: Step before Reset")
	}
	if e.st.done {
		return env.StepResult{}, env.ErrDone
	}
	if err := ctx.Err(); err != nil {
		return env.StepResult{}, err
	}
	e.st.steps++
	obs := e.apply(action)
	res := env.StepResult{Observation: obs}
	if e.st.done {
		res.Done = true
		res.Reward = e.st.outcome.Total
	} else if e.st.steps >= e.cat.cfg.MaxSteps {
		e.st.done = true
		e.st.page = PageDone
		res.Done = true
		res.Observation = obs + "\n" + stepLimitNote
	}
	return res, nil
}

func invalid(action, why string) string {
	return fmt.Sprintf("Invalid action %q: %s.", action, why)
}

// apply performs one action and returns the observation.
func (e *Env) apply(action string) string {
	name, arg, ok := parseAction(action)
	if !ok {
		return invalid(action, "actions look like search[query] or click[button]")
	}
	st := &e.st
	switch name {
	case "search":
		if st.page != PageSearch {
			return invalid(action, "there is no search box on this page")
		}
		q := strings.ToLower(arg)
		if q == "" {
			return invalid(action, "the query is empty")
		}
		hits := e.cat.index.Search(q, MaxResults, e.scratch)
		st.results = make([]int32, len(hits))
		for i, h := range hits {
			st.results[i] = int32(h.Doc)
		}
		st.query, st.pageNo, st.page, st.item, st.optItem = q, 0, PageResults, -1, -1
		e.clearChosen() // WebShop forgets chosen options on a new search
		return e.render()
	case "click":
	default:
		return invalid(action, "unknown action "+strconv.Quote(name))
	}
	btn := strings.ToLower(arg)
	switch st.page {
	case PageSearch:
		return invalid(action, "this page only has a search box")
	case PageResults:
		switch btn {
		case BtnBackToSearch:
			st.page, st.results, st.query = PageSearch, nil, ""
			return e.render()
		case BtnNext:
			if (st.pageNo+1)*ResultsPerPage >= len(st.results) {
				return invalid(action, "this is the last page")
			}
			st.pageNo++
			return e.render()
		case BtnPrev:
			if st.pageNo == 0 {
				return invalid(action, "this is the first page")
			}
			st.pageNo--
			return e.render()
		}
		for _, pi := range e.pageResults() {
			if strings.EqualFold(e.cat.Products[pi].ASIN, btn) {
				st.page, st.item = PageItem, pi
				if st.optItem != pi {
					st.optItem = pi
					e.clearChosen()
				}
				return e.render()
			}
		}
		return invalid(action, "no such button or product on this page")
	case PageItem:
		p := &e.cat.Products[st.item]
		switch btn {
		case BtnBackToSearch:
			st.page, st.results, st.query, st.item = PageSearch, nil, "", -1
			return e.render()
		case BtnPrev:
			st.page, st.item = PageResults, -1
			return e.render()
		case BtnDescription, BtnFeatures:
			st.page, st.detail = PageDetail, btn
			return e.render()
		case BtnBuyNow:
			st.outcome = ComputeReward(p, p.Price, e.chosenMap(), st.goal)
			st.bought, st.done, st.page = true, true, PageDone
			return ThankYou
		}
		for gi := range p.Options {
			for vi, v := range p.Options[gi].Values {
				if v == btn {
					st.chosen[gi] = int8(vi)
					return "You have clicked " + v + "."
				}
			}
		}
		return invalid(action, "no such button or option on this page")
	case PageDetail:
		switch btn {
		case BtnBackToSearch:
			st.page, st.results, st.query, st.item = PageSearch, nil, "", -1
			return e.render()
		case BtnPrev:
			st.page = PageItem
			return e.render()
		}
		return invalid(action, "no such button on this page")
	}
	return invalid(action, "the episode is over")
}

// chosenMap is the chosen options of the current item as WebShop's session["options"].
func (e *Env) chosenMap() map[string]string {
	m := map[string]string{}
	if e.st.optItem < 0 {
		return m
	}
	p := &e.cat.Products[e.st.optItem]
	for gi := range p.Options {
		if c := e.st.chosen[gi]; c >= 0 {
			m[p.Options[gi].Name] = p.Options[gi].Values[c]
		}
	}
	return m
}

// pageResults is the products listed on the current results page.
func (e *Env) pageResults() []int32 {
	lo := e.st.pageNo * ResultsPerPage
	hi := min(lo+ResultsPerPage, len(e.st.results))
	if lo >= hi {
		return nil
	}
	return e.st.results[lo:hi]
}

func numPages(n int) int { return max(1, (n+ResultsPerPage-1)/ResultsPerPage) }

func formatPrice(p float64) string { return "$" + strconv.FormatFloat(p, 'f', 2, 64) }

// render draws the current page in WebShop's text style: one element per line, clickables in
// brackets.
func (e *Env) render() string {
	st := &e.st
	var b strings.Builder
	switch st.page {
	case PageSearch:
		b.WriteString("WebShop\nInstruction:\n")
		b.WriteString(st.goal.Instruction)
		b.WriteString("\n[Search]")
	case PageResults:
		b.WriteString("[Back to Search]\n")
		fmt.Fprintf(&b, "Page %d (Total results: %d)\n", st.pageNo+1, len(st.results))
		if st.pageNo > 0 {
			b.WriteString("[< Prev]\n")
		}
		if (st.pageNo+1)*ResultsPerPage < len(st.results) {
			b.WriteString("[Next >]\n")
		}
		rs := e.pageResults()
		if len(rs) == 0 {
			b.WriteString("No products match your search.")
		}
		for i, pi := range rs {
			p := &e.cat.Products[pi]
			if i > 0 {
				b.WriteByte('\n')
			}
			b.WriteString("[")
			b.WriteString(p.ASIN)
			b.WriteString("]\n")
			b.WriteString(p.Title)
			b.WriteByte('\n')
			b.WriteString(formatPrice(p.Price))
		}
	case PageItem:
		p := &e.cat.Products[st.item]
		b.WriteString("[Back to Search]\n[< Prev]\n")
		for _, g := range p.Options {
			b.WriteString(g.Name)
			for _, v := range g.Values {
				b.WriteString(" [")
				b.WriteString(v)
				b.WriteString("]")
			}
			b.WriteByte('\n')
		}
		b.WriteString(p.Title)
		b.WriteString("\nPrice: ")
		b.WriteString(formatPrice(p.Price))
		b.WriteString("\nRating: N.A.\n[Description]\n[Features]\n[Buy Now]")
	case PageDetail:
		p := &e.cat.Products[st.item]
		b.WriteString("[Back to Search]\n[< Prev]\n")
		if st.detail == BtnDescription {
			b.WriteString(p.Description)
		} else {
			b.WriteString(strings.Join(p.Features, "\n"))
		}
	case PageDone:
		b.WriteString(ThankYou)
	}
	return b.String()
}

// RuleQuery is the search query of the search page's admissible action: the instruction without
// its price clause.
func RuleQuery(instruction string) string {
	if i := strings.Index(instruction, ", and price lower than"); i >= 0 {
		return instruction[:i]
	}
	return instruction
}

// Admissible implements env.Env (see the package comment for the search convention). After
// the episode ends it is empty, not nil.
func (e *Env) Admissible() []string {
	st := &e.st
	if !e.started || st.done {
		return []string{}
	}
	switch st.page {
	case PageSearch:
		return []string{"search[" + RuleQuery(st.goal.Instruction) + "]"}
	case PageResults:
		out := []string{"click[" + BtnBackToSearch + "]"}
		if st.pageNo > 0 {
			out = append(out, "click["+BtnPrev+"]")
		}
		if (st.pageNo+1)*ResultsPerPage < len(st.results) {
			out = append(out, "click["+BtnNext+"]")
		}
		for _, pi := range e.pageResults() {
			out = append(out, "click["+e.cat.Products[pi].ASIN+"]")
		}
		return out
	case PageItem:
		p := &e.cat.Products[st.item]
		out := []string{"click[" + BtnBackToSearch + "]", "click[" + BtnPrev + "]"}
		for _, g := range p.Options {
			for _, v := range g.Values {
				out = append(out, "click["+v+"]")
			}
		}
		return append(out, "click["+BtnDescription+"]", "click["+BtnFeatures+"]", "click["+BtnBuyNow+"]")
	case PageDetail:
		return []string{"click[" + BtnBackToSearch + "]", "click[" + BtnPrev + "]"}
	}
	return []string{}
}

// View is a structured picture of the current page, for scripted policies and tests.
type View struct {
	Kind     PageKind
	Query    string   // the last search (results pages)
	Page     int      // 1-based results page
	NumPages int      // results pages in all
	Results  []string // ASINs listed on the current results page
	ASIN     string   // the item on item and detail pages
	Chosen   map[string]string
	Steps    int
	Done     bool
}

// View describes the current page.
func (e *Env) View() View {
	st := &e.st
	v := View{Kind: st.page, Query: st.query, Page: st.pageNo + 1, NumPages: numPages(len(st.results)), Steps: st.steps, Done: st.done, Chosen: e.chosenMap()}
	if st.page == PageResults {
		for _, pi := range e.pageResults() {
			v.Results = append(v.Results, e.cat.Products[pi].ASIN)
		}
	}
	if st.item >= 0 {
		v.ASIN = e.cat.Products[st.item].ASIN
	}
	return v
}

// Satisfies reports whether buying the product with the goal's options (those it offers) would
// earn the full reward for the current task.
func (e *Env) Satisfies(asin string) bool {
	i, ok := e.cat.byASIN[strings.ToUpper(asin)]
	if !ok || e.st.goal == nil {
		return false
	}
	return e.satisfies(int32(i))
}

func (e *Env) satisfies(pi int32) bool {
	e.syncMemo()
	if w, ok := e.winCache[pi]; ok {
		return w
	}
	p := &e.cat.Products[pi]
	g := e.st.goal
	// Cheap necessary conditions first: within budget and offering every asked-for value
	// (an option it cannot be bought with never counts). Only then the full reward.
	w := p.Price <= g.PriceUpper
	chosen := make(map[string]string, len(g.Options))
	for _, o := range g.Options {
		if !w {
			break
		}
		w = false
		if grp := p.Group(o.Name); grp != nil {
			for _, v := range grp.Values {
				if v == o.Value {
					chosen[o.Name] = v
					w = true
				}
			}
		}
	}
	w = w && ComputeReward(p, p.Price, chosen, g).Total >= 1-1e-9
	e.winCache[pi] = w
	return w
}

// ExpertQuery is the search the expert issues: the goal's attributes and product type, or the
// target's title when that short query would not list any product that satisfies the goal.
func (e *Env) ExpertQuery() string {
	e.syncMemo()
	if e.expertQ != "" {
		return e.expertQ
	}
	e.expertQ = e.expertQuery()
	return e.expertQ
}

// syncMemo drops the per-task memos when the env moved to another task (Reset or Restore).
func (e *Env) syncMemo() {
	if e.winTask != e.st.task {
		clear(e.winCache)
		e.expertQ = ""
		e.winTask = e.st.task
	}
}

func (e *Env) expertQuery() string {
	g := e.st.goal
	q := strings.ToLower(strings.Join(append(append([]string(nil), g.Attributes...), g.Query), " "))
	for _, h := range e.cat.index.Search(q, MaxResults, e.scratch) {
		if e.satisfies(int32(h.Doc)) {
			return q
		}
	}
	return strings.ToLower(e.cat.Products[g.Product].Title)
}

// ExpertAction implements env.Expert: search for the goal, open the first listed product that
// satisfies it (turning pages if needed), pick the goal's options, buy.
func (e *Env) ExpertAction() (string, bool) {
	st := &e.st
	if !e.started || st.done {
		return "", false
	}
	switch st.page {
	case PageSearch:
		return "search[" + e.ExpertQuery() + "]", true
	case PageResults:
		for _, pi := range e.pageResults() {
			if e.satisfies(pi) {
				return "click[" + e.cat.Products[pi].ASIN + "]", true
			}
		}
		for i, pi := range st.results {
			if e.satisfies(pi) {
				if i/ResultsPerPage > st.pageNo {
					return "click[" + BtnNext + "]", true
				}
				return "click[" + BtnPrev + "]", true
			}
		}
		return "click[" + BtnBackToSearch + "]", true
	case PageItem:
		if !e.satisfies(st.item) {
			return "click[" + BtnPrev + "]", true
		}
		if a, ok := e.nextGoalOption(); ok {
			return a, true
		}
		return "click[" + BtnBuyNow + "]", true
	case PageDetail:
		return "click[" + BtnPrev + "]", true
	}
	return "", false
}

// nextGoalOption is the click that sets the first goal option not yet chosen on the item.
func (e *Env) nextGoalOption() (string, bool) {
	p := &e.cat.Products[e.st.item]
	for _, o := range e.st.goal.Options {
		for gi := range p.Options {
			if p.Options[gi].Name != o.Name {
				continue
			}
			for vi, v := range p.Options[gi].Values {
				if v == o.Value && e.st.chosen[gi] != int8(vi) {
					return "click[" + v + "]", true
				}
			}
		}
	}
	return "", false
}

type snapshot struct {
	cfg     Config
	st      state
	started bool
}

// Snapshot implements env.Env. The copy is cheap: result lists and the goal are immutable and
// shared.
func (e *Env) Snapshot() (env.Snapshot, error) {
	return &snapshot{cfg: e.cat.cfg, st: e.st, started: e.started}, nil
}

// Restore implements env.Env. It accepts snapshots of any Env built with the same Config.
func (e *Env) Restore(s env.Snapshot) error {
	sn, ok := s.(*snapshot)
	if !ok || sn == nil {
		return fmt.Errorf("shop: restore: snapshot of type %T is not a shop snapshot", s)
	}
	if sn.cfg != e.cat.cfg {
		return fmt.Errorf("shop: restore: snapshot from a catalog with config %+v, this env has %+v", sn.cfg, e.cat.cfg)
	}
	e.st = sn.st
	e.started = sn.started
	return nil
}

// Close implements env.Env.
func (e *Env) Close() error { return nil }
