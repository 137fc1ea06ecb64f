// Package trainer fine-tunes a reward model on preference pairs with the pairwise loss: token-
// budget steps with gradient accumulation, periodic evaluation, JSONL metrics, atomic
// checkpoints and exact resume.
package trainer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/armap/armap/cgo"
	"github.com/armap/armap/engine/model"
	"github.com/armap/armap/engine/packer"
	"github.com/armap/armap/engine/progress"
)

// Config is the training recipe (the `train:` section of the configuration).
type Config struct {
	Steps                    int     `mapstructure:"steps" json:"steps"`       // optimizer steps; 0: Epochs decides
	Epochs                   int     `mapstructure:"epochs" json:"epochs"`     // used when Steps is 0
	StopAfter                int     `mapstructure:"stop_after" json:"-"`      // stop (with a checkpoint) after this many steps of the run
	LR                       float64 `mapstructure:"lr" json:"lr"`             // peak learning rate
	Schedule                 string  `mapstructure:"schedule" json:"schedule"` // constant, linear, cosine
	WarmupSteps              int     `mapstructure:"warmup_steps" json:"warmup_steps"`
	WarmupRatio              float64 `mapstructure:"warmup_ratio" json:"warmup_ratio"` // used when WarmupSteps is 0
	MinLRRatio               float64 `mapstructure:"min_lr_ratio" json:"min_lr_ratio"`
	WeightDecay              float64 `mapstructure:"weight_decay" json:"weight_decay"`
	Beta1                    float64 `mapstructure:"beta1" json:"beta1"`
	Beta2                    float64 `mapstructure:"beta2" json:"beta2"`
	Eps                      float64 `mapstructure:"eps" json:"eps"`
	MaxGradNorm              float64 `mapstructure:"max_grad_norm" json:"max_grad_norm"`
	CenterRewardsCoefficient float64 `mapstructure:"center_rewards_coefficient" json:"center_rewards_coefficient"`
	BatchTokens              int     `mapstructure:"batch_tokens" json:"batch_tokens"`             // tokens per optimizer step
	MicroBatchTokens         int     `mapstructure:"micro_batch_tokens" json:"micro_batch_tokens"` // per forward/backward; 0 = batch_tokens
	EvalBatchTokens          int     `mapstructure:"eval_batch_tokens" json:"-"`
	MaxLength                int     `mapstructure:"max_length" json:"max_length"` // token limit of one sequence; 0 = the model's
	Shuffle                  bool    `mapstructure:"shuffle" json:"shuffle"`
	EvalEvery                int     `mapstructure:"eval_every" json:"-"`
	SaveEvery                int     `mapstructure:"save_every" json:"-"`
	LogEvery                 int     `mapstructure:"log_every" json:"-"`
	KeepCheckpoints          int     `mapstructure:"keep_checkpoints" json:"-"`
	DType                    string  `mapstructure:"dtype" json:"-"` // f32, bf16, f16 (autocast over float32 weights)
	GradCheckpointing        bool    `mapstructure:"grad_checkpointing" json:"-"`
	LoRA                     LoRA    `mapstructure:"lora" json:"lora"`
}

// LoRA configures low-rank adapters (rank 0: full fine-tuning).
type LoRA struct {
	Rank    int      `mapstructure:"rank" json:"rank"`
	Alpha   float64  `mapstructure:"alpha" json:"alpha"`
	Targets []string `mapstructure:"targets" json:"targets"`
}

// DefaultConfig is the recipe used when nothing is configured.
func DefaultConfig() Config {
	return Config{Epochs: 1, LR: 5e-5, Schedule: "linear", WarmupRatio: 0.03, WeightDecay: 0.01, Beta1: 0.9,
		Beta2: 0.999, Eps: 1e-8, MaxGradNorm: 1, BatchTokens: 8192, Shuffle: true, LogEvery: 10, EvalEvery: 0,
		SaveEvery: 0, KeepCheckpoints: 2, DType: "f32"}
}

// Options is everything a run needs besides the recipe.
type Options struct {
	Config        Config
	Seed          uint64
	Out           string
	Resume        bool
	Model         *cgo.Model
	ModelConfig   *model.Config
	TokenizerPath string // copied into the output directory when set
	Train, Eval   []packer.Pair
	TrainStats    DataStats
	Log           io.Writer         // human-readable progress (a terminal gets a bar)
	OnStep        func(StepMetrics) // called after every optimizer step (observers, tests)
	// LaunchAhead is how many steps may be queued on the backend before the oldest is read back
	// (at most cgo.MaxPendingSteps): 2 lets the host prepare a step while the GPU runs the previous
	// one. 0 means cgo.MaxPendingSteps on CUDA and 1 elsewhere (a CPU step runs while it is
	// launched, so there is nothing to overlap). The results are the same either way.
	LaunchAhead int
}

// StepMetrics is one line of metrics.jsonl for a training step.
type StepMetrics struct {
	Type        string  `json:"type"` // "train"
	Step        int     `json:"step"`
	Epoch       float64 `json:"epoch"`
	Loss        float64 `json:"loss"`
	Accuracy    float64 `json:"accuracy"`
	Margin      float64 `json:"margin"`
	GradNorm    float64 `json:"grad_norm"`
	LR          float64 `json:"lr"`
	Pairs       int     `json:"pairs"`
	Tokens      int64   `json:"tokens"`
	TokensPerS  float64 `json:"tokens_per_s"`
	PairsPerS   float64 `json:"pairs_per_s"`
	ElapsedS    float64 `json:"elapsed_s"`
	MicroBatchs int     `json:"micro_batches"`
}

// Summary is what a run reports at the end.
type Summary struct {
	Steps       int          `json:"steps"`
	Stopped     bool         `json:"stopped_early"`
	Checkpoint  string       `json:"checkpoint,omitempty"`
	Output      string       `json:"output,omitempty"`
	LastTrain   StepMetrics  `json:"last_train"`
	FinalEval   *EvalMetrics `json:"final_eval,omitempty"`
	TokensPerS  float64      `json:"tokens_per_s"`
	PairsPerS   float64      `json:"pairs_per_s"`
	TrainSecond float64      `json:"train_seconds"`
	// AlreadyComplete: a resumed run had already finished; nothing was trained or written, and
	// the rest of the summary is the finished run's.
	AlreadyComplete bool `json:"already_complete,omitempty"`
}

// schedule is the deterministic list of (epoch, span) of every optimizer step of the run.
type schedule struct {
	epochs [][]int // order per epoch
	steps  []stepRef
}

type stepRef struct {
	epoch int
	span  [2]int
	frac  float64 // epoch progress after this step
}

func buildSchedule(pairs []packer.Pair, cfg Config, seed uint64) (*schedule, error) {
	b := packer.Budget{StepTokens: cfg.BatchTokens, MicroTokens: cfg.MicroBatchTokens}
	longest := 0
	for i := range pairs {
		longest = max(longest, pairs[i].Tokens())
	}
	if err := b.Validate(longest); err != nil {
		return nil, err
	}
	s := &schedule{}
	for epoch := 0; ; epoch++ {
		if cfg.Steps > 0 && len(s.steps) >= cfg.Steps {
			s.steps = s.steps[:cfg.Steps]
			break
		}
		if cfg.Steps <= 0 && epoch >= max(cfg.Epochs, 1) {
			break
		}
		order := packer.Order(len(pairs), seed, epoch, cfg.Shuffle)
		s.epochs = append(s.epochs, order)
		plan := packer.Plan(pairs, order, b)
		for i, sp := range plan {
			s.steps = append(s.steps, stepRef{epoch: epoch, span: sp, frac: float64(epoch) + float64(i+1)/float64(len(plan))})
		}
	}
	return s, nil
}

func (c Config) validate() error {
	switch {
	case c.LR <= 0:
		return fmt.Errorf("train.lr must be > 0, got %v", c.LR)
	case c.BatchTokens <= 0:
		return fmt.Errorf("train.batch_tokens must be > 0, got %d", c.BatchTokens)
	case c.Steps < 0 || c.Epochs < 0:
		return fmt.Errorf("train.steps and train.epochs must be >= 0")
	case c.WarmupRatio < 0 || c.WarmupRatio >= 1:
		return fmt.Errorf("train.warmup_ratio must be in [0, 1), got %v", c.WarmupRatio)
	}
	if c.LoRA.Rank > 0 {
		if _, err := canonicalTargets(c.LoRA.Targets); err != nil {
			return err
		}
	}
	_, err := cgo.ParseSchedule(c.Schedule)
	return err
}

// Run trains until the configured steps or epochs are done, ctx is cancelled, or StopAfter steps
// of this run have passed. A cancelled or stopped run leaves a checkpoint to resume from. A new
// run (Resume false) refuses an Out that already holds a run (see CheckOut); a resumed run that
// had already finished returns its summary with AlreadyComplete set.
func Run(ctx context.Context, opt Options) (*Summary, error) {
	// Every backend call of the run from one OS thread: PyTorch keeps per-thread CUDA state
	// (cuBLAS handles, cuDNN's built attention graphs) that a call landing on a new thread builds
	// again.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cfg := opt.Config
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if len(opt.Train) == 0 {
		return nil, errors.New("no training pairs")
	}
	if err := CheckOut(opt.Out, opt.Resume); err != nil {
		return nil, err
	}
	if err := checkLoRA(opt); err != nil {
		return nil, err
	}
	sched, err := buildSchedule(opt.Train, cfg, opt.Seed)
	if err != nil {
		return nil, err
	}
	total := len(sched.steps)
	warm := cfg.WarmupSteps
	if warm == 0 {
		warm = int(math.Ceil(cfg.WarmupRatio * float64(total)))
	}
	sk, _ := cgo.ParseSchedule(cfg.Schedule)
	tr, err := opt.Model.NewTrainer(cgo.TrainConfig{LR: cfg.LR, Beta1: cfg.Beta1, Beta2: cfg.Beta2, Eps: cfg.Eps,
		WeightDecay: cfg.WeightDecay, MaxGradNorm: cfg.MaxGradNorm, Schedule: sk, WarmupSteps: int64(warm),
		TotalSteps: int64(total), MinLRRatio: cfg.MinLRRatio, CenterRewardsCoefficient: cfg.CenterRewardsCoefficient})
	if err != nil {
		return nil, err
	}
	defer tr.Close()
	// Interrupted while the data was read: leave no output folder behind.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opt.Out, 0o755); err != nil {
		return nil, err
	}
	logw := opt.Log
	if logw == nil {
		logw = io.Discard
	}
	state := State{TotalSteps: total, WarmupSteps: warm, Seed: opt.Seed, Data: opt.TrainStats.Fingerprint, Recipe: cfg}
	start := 0
	if opt.Resume {
		if done, err := finishedRun(opt, state, logw); done != nil || err != nil {
			return done, err
		}
		if start, err = resume(opt, tr, state, logw); err != nil {
			return nil, err
		}
	}
	mw, err := openMetrics(filepath.Join(opt.Out, metricsFile), start)
	if err != nil {
		return nil, err
	}
	defer mw.Close()

	sum := &Summary{Output: opt.Out}
	bar := progress.New(logw, "train", total)
	bar.Set(start, "")
	budget := packer.Budget{StepTokens: cfg.BatchTokens, MicroTokens: cfg.MicroBatchTokens}
	t0 := time.Now()
	var trainSeconds float64
	var trainTokens int64
	var trainPairs int
	// The metrics window counts training time only: evaluations and checkpoints between its
	// steps would otherwise show as a slow step.
	var winSeconds float64
	var winTokens int64
	var winPairs int
	var last StepMetrics
	evalBudget := cfg.EvalBatchTokens
	if evalBudget <= 0 {
		evalBudget = 2 * cfg.BatchTokens
	}
	evalNow := func(step int) error {
		if len(opt.Eval) == 0 {
			return nil
		}
		em, err := Evaluate(opt.Model, opt.Eval, evalBudget)
		if err != nil {
			return fmt.Errorf("eval at step %d: %w", step, err)
		}
		em.Step = step
		sum.FinalEval = em
		bar.Log("eval step %d: accuracy %.4f loss %.4f margin %.3f reward mean %.3f std %.3f", step, em.Accuracy, em.Loss, em.Margin, em.RewardMean, em.RewardStd)
		return mw.Write(em)
	}
	checkpoint := func(step int) error {
		state.setStep(sched, step)
		// The checkpoint written because ctx was cancelled must still complete.
		p, err := saveCheckpoint(context.WithoutCancel(ctx), opt.Out, opt.Model, opt.ModelConfig, tr, state, cfg.KeepCheckpoints)
		if err != nil {
			return fmt.Errorf("checkpoint at step %d: %w", step, err)
		}
		sum.Checkpoint = p
		bar.Log("checkpoint %s", p)
		return nil
	}

	// Pack the next steps in a goroutine while the backend computes the current one (on a GPU
	// this hides the packing entirely; on a CPU it costs one goroutine's share of a core).
	pctx, stopPack := context.WithCancel(ctx)
	defer stopPack()
	packed := make(chan *packer.Step, 2)
	go func() {
		defer close(packed)
		for s := start; s < total; s++ {
			ref := sched.steps[s]
			select {
			case packed <- packer.Build(opt.Train, sched.epochs[ref.epoch], ref.span, budget):
			case <-pctx.Done():
				return
			}
		}
	}()
	// After step k (1-based) of the run, before its last: whether the loop evaluates, checkpoints, or
	// stops with a checkpoint.
	evalAfter := func(k int) bool { return cfg.EvalEvery > 0 && k%cfg.EvalEvery == 0 && k < total }
	stopAfter := func(k int) bool { return cfg.StopAfter > 0 && k-start >= cfg.StopAfter && k < total }
	saveAfter := func(k int) bool { return (cfg.SaveEvery > 0 && k%cfg.SaveEvery == 0 && k < total) || stopAfter(k) }
	// Steps are launched one ahead: the next step is queued before the current one is read back,
	// so that on a GPU the host validates, uploads and queues it while the current one runs
	// instead of the GPU waiting between steps. A step after which the loop evaluates,
	// checkpoints or stops is read back before the next is launched, as those need its weights.
	boundary := func(k int) bool { return k >= total || evalAfter(k) || saveAfter(k) }
	type launched struct {
		st  *packer.Step
		ref stepRef
		k   int
		at  time.Time
	}
	ahead := opt.LaunchAhead
	if ahead <= 0 {
		ahead = 1
		if opt.Model.Options().Device == cgo.CUDA {
			ahead = cgo.MaxPendingSteps
		}
	}
	ahead = min(ahead, cgo.MaxPendingSteps)
	var queue []launched
	next := start
	lastDone := time.Now()
	// A run that ends, stops or is interrupted reports the throughput of the steps it made.
	throughput := func() {
		if trainSeconds > 0 {
			sum.TokensPerS, sum.PairsPerS, sum.TrainSecond = float64(trainTokens)/trainSeconds, float64(trainPairs)/trainSeconds, trainSeconds
		}
	}
	step := start
	for step < total {
		// Cancelled: what is launched is finished (below) before the checkpoint.
		if err := ctx.Err(); err != nil && len(queue) == 0 {
			bar.Finish()
			if step > start {
				if cerr := checkpoint(step); cerr != nil {
					return sum, errors.Join(err, cerr)
				}
			}
			sum.Steps, sum.Stopped = step, true
			throughput()
			return sum, err
		}
		for next < total && len(queue) < ahead && ctx.Err() == nil && (len(queue) == 0 || !boundary(queue[len(queue)-1].k)) {
			st, ok := <-packed
			if !ok {
				break // cancelled: the ctx check above ends the run
			}
			// Before the launch: on CPU the whole step runs inside it.
			at := time.Now()
			if err := tr.LaunchStep(st.Micro); err != nil {
				return sum, fmt.Errorf("step %d: %w", next+1, err)
			}
			queue = append(queue, launched{st: st, ref: sched.steps[next], k: next + 1, at: at})
			next++
		}
		if len(queue) == 0 {
			continue
		}
		cur := queue[0]
		queue = queue[1:]
		st, ref := cur.st, cur.ref
		// A step's time runs from its launch, or from the previous step's end when it was
		// launched before that.
		ts := cur.at
		if lastDone.After(ts) {
			ts = lastDone
		}
		var loss, msum float64
		correct := 0
		var tokens int64
		bstats, ss, err := tr.FinishStep()
		lastDone = time.Now()
		if err != nil {
			return sum, fmt.Errorf("step %d: %w", step+1, err)
		}
		for i, bs := range bstats {
			loss += bs.Loss * float64(st.Micro[i].LossWeight)
			correct += bs.Correct
			msum += bs.MarginSum
			tokens += bs.Tokens
		}
		dt := lastDone.Sub(ts).Seconds()
		trainSeconds += dt
		winSeconds += dt
		trainTokens += tokens
		trainPairs += st.NumPairs()
		winTokens += tokens
		winPairs += st.NumPairs()
		step++
		n := float64(st.NumPairs())
		last = StepMetrics{Type: "train", Step: step, Epoch: ref.frac, Loss: loss, Accuracy: float64(correct) / n,
			Margin: msum / n, GradNorm: ss.GradNorm, LR: ss.LR, Pairs: st.NumPairs(), Tokens: tokens,
			ElapsedS: time.Since(t0).Seconds(), MicroBatchs: len(st.Micro)}
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return sum, fmt.Errorf("step %d: loss is %v: lower train.lr or check the data", step, loss)
		}
		if cfg.LogEvery > 0 && (step%cfg.LogEvery == 0 || step == total) {
			if winSeconds > 0 {
				last.TokensPerS, last.PairsPerS = float64(winTokens)/winSeconds, float64(winPairs)/winSeconds
			}
			winSeconds, winTokens, winPairs = 0, 0, 0
			if err := mw.Write(last); err != nil {
				return sum, err
			}
		}
		bar.Set(step, fmt.Sprintf("loss %.4f acc %.3f lr %.2e", loss, last.Accuracy, ss.LR))
		if opt.OnStep != nil {
			opt.OnStep(last)
		}
		if evalAfter(step) {
			if err := evalNow(step); err != nil {
				return sum, err
			}
		}
		if saveAfter(step) {
			if err := checkpoint(step); err != nil {
				return sum, err
			}
		}
		if stopAfter(step) {
			bar.Finish()
			sum.Steps, sum.Stopped, sum.LastTrain = step, true, last
			throughput()
			return sum, nil
		}
	}
	bar.Finish()
	if err := evalNow(step); err != nil {
		return sum, err
	}
	sum.Steps, sum.LastTrain = step, last
	throughput()
	state.setStep(sched, step)
	// The run is complete: a late Ctrl-C must not throw its result away.
	if err := saveFinal(context.WithoutCancel(ctx), opt, state, sum); err != nil {
		return sum, err
	}
	return sum, nil
}

// saveFinal writes the output directory as a HuggingFace model directory.
func saveFinal(ctx context.Context, opt Options, state State, sum *Summary) error {
	if opt.Config.LoRA.Rank > 0 {
		if err := opt.Model.MergeLoRA(); err != nil {
			return err
		}
	}
	if err := model.Save(ctx, opt.Model, opt.ModelConfig, opt.Out); err != nil {
		return err
	}
	if opt.TokenizerPath != "" {
		// With its side files (tokenizer_config.json, ...): without them AutoTokenizer loads the
		// export with other special tokens and limits than the source model's.
		if _, err := model.CopyTokenizer(opt.TokenizerPath, opt.Out); err != nil {
			return err
		}
	}
	data, _ := json.MarshalIndent(struct {
		State
		Summary *Summary `json:"summary"`
	}{state, sum}, "", "  ")
	return writeFile(filepath.Join(opt.Out, "trainer_state.json"), data)
}

// setStep records in the state where the run is after step (1-based) of the schedule.
func (st *State) setStep(s *schedule, step int) {
	st.Step = step
	ref := s.steps[step-1]
	st.Epoch, st.EpochPosition = ref.epoch, ref.span[1]
}

// checkLoRA refuses LoRA targets the model does not have, and a LoRA model that got no adapter:
// either would train the head alone.
func checkLoRA(opt Options) error {
	if opt.Model.Options().LoRARank <= 0 {
		return nil
	}
	if opt.ModelConfig != nil {
		if _, err := opt.Config.LoRA.TargetBits(opt.ModelConfig); err != nil {
			return err
		}
	}
	ts, err := opt.Model.Tensors()
	if err != nil {
		return err
	}
	for _, t := range ts {
		if strings.Contains(t.Name, ".lora_") {
			return nil
		}
	}
	return fmt.Errorf("train.lora.targets %v: the model has no LoRA adapter on any of them", opt.Config.LoRA.Targets)
}

// finishedRun returns the summary of the run in opt.Out when it has already finished (its
// trainer_state.json is written last, once the model is complete), after checking that it is the
// run asked for; nil when it has not finished.
func finishedRun(opt Options, want State, logw io.Writer) (*Summary, error) {
	path := filepath.Join(opt.Out, stateFile)
	st, sum, err := readState(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("resume: %w", err)
	}
	if st.TotalSteps <= 0 || st.Step < st.TotalSteps {
		return nil, fmt.Errorf("resume: %s says step %d of %d: it is written only when a run finishes; remove it to resume from the checkpoints", path, st.Step, st.TotalSteps)
	}
	diffs, err := runDiffs(opt.Out, st, want, opt.ModelConfig)
	if err != nil {
		return nil, fmt.Errorf("resume: the finished run in %s: %w", opt.Out, err)
	}
	if len(diffs) > 0 {
		return nil, &differentRun{what: opt.Out + " holds a different run, already finished", diffs: diffs}
	}
	fmt.Fprintf(logw, "resume: the run in %s is already complete (step %d/%d); nothing to do\n", opt.Out, st.Step, st.TotalSteps)
	if sum == nil {
		sum = &Summary{Steps: st.Step, Output: opt.Out}
	}
	sum.AlreadyComplete = true
	return sum, nil
}

// resume restores the newest checkpoint of opt.Out and returns its step (0 when there is none and
// nothing else of a run to lose). A damaged checkpoint is an error that says how to go past it,
// never a silent fallback to an older one.
func resume(opt Options, tr *cgo.Trainer, want State, logw io.Writer) (int, error) {
	if err := removeTempCheckpoints(opt.Out); err != nil {
		return 0, err
	}
	all, err := listCheckpoints(opt.Out)
	if err != nil {
		return 0, err
	}
	if len(all) == 0 {
		// A crash before the first checkpoint leaves metrics only; model files with neither a
		// checkpoint nor a finished state are not this run's to replace.
		for _, f := range []string{model.WeightsFile, model.ConfigFile} {
			if _, err := os.Lstat(filepath.Join(opt.Out, f)); err == nil {
				return 0, fmt.Errorf("resume: %s holds %s but no checkpoint and no finished run's %s: nothing to resume; train into another --out", opt.Out, f, stateFile)
			}
		}
		fmt.Fprintf(logw, "resume: no checkpoint in %s, starting from scratch\n", opt.Out)
		return 0, nil
	}
	ck := all[len(all)-1]
	st, err := restore(ck, opt.Model, tr, want, opt.ModelConfig)
	if err != nil {
		if _, ok := errors.AsType[*differentRun](err); ok {
			return 0, fmt.Errorf("resume: %w", err)
		}
		if _, ok := errors.AsType[*damagedCheckpoint](err); !ok {
			// Not the checkpoint's fault (the backend refused it, no permission): keep it.
			return 0, fmt.Errorf("resume from %s: %w", ck, err)
		}
		hint := "to start over"
		if len(all) > 1 {
			hint = "to resume from " + all[len(all)-2]
		}
		return 0, fmt.Errorf("resume from %s: the checkpoint is damaged: %w; remove it (rm -r %s) %s", ck, err, ck, hint)
	}
	fmt.Fprintf(logw, "resumed from %s at step %d/%d\n", ck, st.Step, want.TotalSteps)
	return st.Step, nil
}
