// Package synth makes ARMAP's preference triplets without human labels: an agent explores an
// environment; the instruction a trajectory fulfils becomes its task (refinement); negatives come
// from changing the positive's actions and re-running them in the env, from a weaker policy's
// lower-reward run of the same task, or, for Game of 24, from LLM-written wrong answers of known
// kinds; a pair is kept only when the env rates the positive strictly above the negative.
//
// Output is one JSONL line per triplet (DESIGN.md):
//
//	{"id", "env", "instruction",
//	 "chosen": {"steps", "env_reward"}, "rejected": {"steps", "env_reward"},
//	 "meta": {"negative": kind, "source": perturb|weaker|llm, "task_id", "positive": how, ...}}
//
// The file is a function of the configuration and the seed alone: attempt i draws everything
// from (seed, i), workers fill attempt slots in any order, and kept triplets are written in
// attempt order, so any worker count gives the same bytes.
package synth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/armap/armap/engine/atomicfile"
	"github.com/armap/armap/engine/progress"
	"github.com/armap/armap/pipeline/dataset"
	"github.com/armap/armap/pipeline/llm"
)

// Run synthesizes cfg.Triplets triplets into cfg.Out and returns the summary (also printed to
// deps.Log). LLM failures are counted, never fatal, but MaxConsecutiveFailures failed attempts in
// a row (a dead server) or reaching MaxAttempts first end the run with an error; the output file
// is then not written.
func Run(ctx context.Context, cfg Config, deps Deps) (Summary, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return Summary{}, err
	}
	s, err := newSetup(ctx, cfg, deps)
	if err != nil {
		return Summary{}, err
	}
	workers := make([]*worker, 0, cfg.Workers)
	defer func() {
		// In parallel: a hung env server costs one close timeout in all, not one per worker.
		var wg sync.WaitGroup
		for _, w := range workers {
			wg.Go(func() { w.e.Close() })
		}
		wg.Wait()
	}()
	for range cfg.Workers {
		w, err := s.newWorker()
		if err != nil {
			return Summary{}, err
		}
		workers = append(workers, w)
	}

	c := newCollector(s)
	var bar *progress.Bar
	if deps.Progress != nil {
		bar = progress.New(deps.Progress, "synth "+s.name, cfg.Triplets)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()

	// A window bounds how far attempts may run ahead of the oldest unfinished one, so a slow
	// attempt (an LLM retrying) does not let the others pile up results without end.
	window := make(chan struct{}, 4*cfg.Workers)
	for range cap(window) {
		window <- struct{}{}
	}
	jobs := make(chan job)
	results := make(chan outcome, cfg.Workers)
	go func() {
		defer close(jobs)
		sched := newScheduler(s.slots)
		for i := 0; i < cfg.MaxAttempts; i++ {
			sl := sched.next()
			select {
			case <-window:
			case <-runCtx.Done():
				return
			}
			select {
			case jobs <- job{idx: i, sl: sl}:
			case <-runCtx.Done():
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				o := w.attempt(runCtx, j)
				select {
				case results <- o:
				case <-runCtx.Done():
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); close(results) }()

	pending := map[int]outcome{}
	var runErr error
	for o := range results {
		pending[o.idx] = o
		for runErr == nil && !c.done() {
			next, ok := pending[c.next]
			if !ok {
				break
			}
			delete(pending, c.next)
			window <- struct{}{}
			runErr = c.add(ctx, next)
			if bar != nil {
				bar.Set(len(c.kept), c.status())
			}
		}
		if runErr != nil || c.done() {
			break
		}
	}
	cancel()
	for range results {
		// let the workers see the cancellation and finish
	}
	if bar != nil {
		bar.Finish()
	}
	sum := c.summary(time.Since(c.start))
	if runErr == nil && !c.done() {
		if err := ctx.Err(); err != nil {
			runErr = fmt.Errorf("synth: %w", err)
		} else {
			runErr = fmt.Errorf("synth: only %d of %d triplets after max_attempts=%d attempts (discarded: %s; LLM failures: %s; env failures: %d); raise max_attempts or loosen kinds/mix",
				len(c.kept), cfg.Triplets, cfg.MaxAttempts, sortedCounts(sum.Discarded), sortedCounts(sum.LLMFailures), sum.EnvFailures)
		}
	}
	if failed := sumCounts(sum.LLMFailures); runErr == nil && failed > 0 && sum.LLMAnswers == 0 {
		// Every triplet came from the attempts that needed no LLM: not the data the run was asked for.
		runErr = fmt.Errorf("synth: the LLM gave no usable answer (%d attempts failed on it: %s; e.g. %s); no triplet holds LLM output, so %s is not written",
			failed, sortedCounts(sum.LLMFailures), firstLLMExample(sum), cfg.Out)
	}
	if runErr != nil {
		if deps.Log != nil {
			fmt.Fprintf(deps.Log, "synth failed; the run so far (nothing written):\n%s", sum.String())
		}
		return sum, runErr
	}
	if err := writeTriplets(cfg.Out, c.kept); err != nil {
		return sum, err
	}
	sum.Seconds = time.Since(c.start).Seconds()
	sum.rates()
	if deps.Log != nil {
		fmt.Fprint(deps.Log, sum.String())
	}
	return sum, nil
}

// writeTriplets writes the JSONL file atomically.
func writeTriplets(path string, ts []*dataset.Triplet) error {
	err := atomicfile.Write(path, 0o644, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false) // "< prev" stays readable
		for _, t := range ts {
			if err := enc.Encode(t); err != nil {
				return fmt.Errorf("triplet %s: %w", t.ID, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("synth: write %s: %w", path, err)
	}
	return nil
}

// collector takes outcomes in attempt order: it deduplicates, counts and keeps.
type collector struct {
	s           *setup
	start       time.Time
	next        int
	kept        []*dataset.Triplet
	seen        map[string]bool
	consecutive int // failed attempts in a row
	// llmConsecutive is the attempts that failed on the LLM since its last usable answer.
	llmConsecutive int
	sum            Summary
}

func newCollector(s *setup) *collector {
	return &collector{s: s, start: time.Now(), seen: map[string]bool{}, sum: newSummary(s)}
}

func (c *collector) done() bool { return len(c.kept) >= c.s.cfg.Triplets }

func (c *collector) status() string {
	return fmt.Sprintf("attempts %d discarded %d llm-fail %d", c.sum.Attempts, sumCounts(c.sum.Discarded), sumCounts(c.sum.LLMFailures))
}

// add accounts for the next outcome in attempt order.
func (c *collector) add(ctx context.Context, o outcome) error {
	c.next++
	if o.fail != nil && ctx.Err() != nil {
		return fmt.Errorf("synth: %w", ctx.Err())
	}
	c.sum.Attempts++
	c.sum.EnvSteps += o.steps
	c.sum.LLMAnswers += o.llmOK
	if o.llmOK > 0 {
		c.llmConsecutive = 0
	}
	switch {
	case errors.Is(o.fail, llm.ErrFatal):
		// Refused credentials, an unknown model or endpoint: no retry or later attempt fixes them.
		c.sum.example("llm_fatal", o.fail.Error())
		return fmt.Errorf("synth: %w", o.fail)
	case o.fail != nil:
		c.sum.EnvFailures++
		c.consecutive++
		c.sum.example("env_failure", o.fail.Error())
		if c.consecutive >= c.s.cfg.MaxConsecutiveFailures {
			return fmt.Errorf("synth: %d attempts in a row failed (max_consecutive_failures); last: %w", c.consecutive, o.fail)
		}
		return nil
	case o.llmUse != "":
		c.sum.LLMFailures[o.llmUse]++
		c.sum.example("llm_"+o.llmUse, o.detail)
		// Counted apart from other failures and reset only by a usable LLM answer (above): attempts
		// that do not call the LLM (scripted weaker runs) succeed between the failing ones, and a
		// run would otherwise finish on their data alone.
		c.llmConsecutive++
		c.consecutive++
		switch {
		case c.llmConsecutive >= c.s.cfg.MaxConsecutiveFailures:
			return fmt.Errorf("synth: the LLM failed on %d attempts in a row that called it (max_consecutive_failures), with no usable answer between them; last: %s", c.llmConsecutive, o.detail)
		case c.consecutive >= c.s.cfg.MaxConsecutiveFailures:
			return fmt.Errorf("synth: %d attempts in a row failed (max_consecutive_failures); last: %s", c.consecutive, o.detail)
		}
		return nil
	}
	c.consecutive = 0
	if o.trip == nil {
		c.sum.Discarded[o.discard]++
		c.sum.example(o.discard, o.detail)
		return nil
	}
	if c.seen[o.key] {
		c.sum.Discarded[DiscardDuplicate]++
		return nil
	}
	c.seen[o.key] = true
	c.kept = append(c.kept, o.trip)
	c.sum.keep(o.trip)
	return nil
}

func sumCounts(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// firstLLMExample is the first LLM failure message the summary kept, by use.
func firstLLMExample(s Summary) string {
	for _, use := range []string{UseExplore, UseWeak, UseRefine, UseWrongAnswers} {
		if m, ok := s.Examples["llm_"+use]; ok {
			return m
		}
	}
	return "(none kept)"
}
