package scorer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/armap/armap/cgo"
	"github.com/armap/armap/engine/model"
	"github.com/armap/armap/internal/testenv"
	"github.com/armap/armap/pipeline/dataset"
)

func tinyModel(t testing.TB) *cgo.Model {
	t.Helper()
	b := testenv.CPUBackend(t)
	cfg, _ := model.Preset("tiny")
	m, err := b.NewModel(cfg.Backend(), cgo.ModelOptions{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func randIDs(r *rand.Rand) []int32 {
	s := make([]int32, 3+r.IntN(60))
	for i := range s {
		s[i] = int32(r.IntN(1024))
	}
	return s
}

// Many goroutines submitting single sequences get the same scores as one offline pass, and the
// batcher actually batches them.
func TestConcurrentEqualsOffline(t *testing.T) {
	m := tinyModel(t)
	r := rand.New(rand.NewPCG(1, 1))
	seqs := make([][]int32, 200)
	for i := range seqs {
		seqs[i] = randIDs(r)
	}
	offline := make([]float32, len(seqs))
	for i, s := range seqs {
		v, err := m.Score(&cgo.Batch{Tokens: s, CuSeqlens: []int32{0, int32(len(s))}})
		if err != nil {
			t.Fatal(err)
		}
		offline[i] = v[0]
	}
	sc := New(m, &Inputs{Vocab: 1024, MaxLen: 512}, Options{MaxBatchTokens: 2048, MaxWait: 5 * time.Millisecond})
	defer sc.Close()
	maxSeqs := 0
	var mu sync.Mutex
	sc.OnBatch = func(bi BatchInfo) {
		mu.Lock()
		maxSeqs = max(maxSeqs, bi.Seqs)
		mu.Unlock()
		if bi.Tokens > 2048 && bi.Seqs > 1 {
			t.Errorf("batch of %d tokens over budget", bi.Tokens)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(seqs))
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < len(seqs); i += 32 {
				v, err := sc.ScoreIDs(context.Background(), seqs[i])
				if err != nil {
					errs <- err
					return
				}
				if d := math.Abs(v - float64(offline[i])); d > 1e-5 {
					errs <- fmt.Errorf("seq %d: served %v offline %v", i, v, offline[i])
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := sc.Stats()
	mu.Lock()
	largest := maxSeqs
	mu.Unlock()
	if st.Sequences != 200 || st.Batches >= 200 || largest < 2 {
		t.Fatalf("no batching happened: %+v, largest batch %d", st, largest)
	}
}

func TestCancelledRequestIsDropped(t *testing.T) {
	m := tinyModel(t)
	sc := New(m, &Inputs{Vocab: 1024, MaxLen: 512}, Options{MaxBatchTokens: 4096, MaxWait: 50 * time.Millisecond})
	defer sc.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := sc.ScoreIDs(ctx, []int32{1, 2, 3}); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
	// the live request in the same batch is still answered
	if _, err := sc.ScoreIDs(context.Background(), []int32{4, 5}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	if sc.Stats().Dropped != 1 {
		t.Fatalf("stats %+v", sc.Stats())
	}
}

func TestBadInputsRejectedBeforeBatching(t *testing.T) {
	m := tinyModel(t)
	sc := New(m, &Inputs{Vocab: 1024, MaxLen: 8}, Options{})
	defer sc.Close()
	for _, ids := range [][]int32{{1, 2000}, {-1}, make([]int32, 9), {}} {
		if _, err := sc.ScoreIDs(context.Background(), ids); err == nil {
			t.Errorf("%v accepted", ids)
		}
	}
	sc.Close()
	if _, err := sc.ScoreIDs(context.Background(), []int32{1}); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}

func TestStreamKeepsOrderAndReportsLines(t *testing.T) {
	m := tinyModel(t)
	var in bytes.Buffer
	r := rand.New(rand.NewPCG(2, 2))
	var seqs [][]int32
	for i := 0; i < 50; i++ {
		s := randIDs(r)
		seqs = append(seqs, s)
		line, _ := json.Marshal(dataset.ScoreRequest{ID: fmt.Sprintf("r%d", i), InputIDs: s})
		in.Write(append(line, '\n'))
	}
	var out bytes.Buffer
	st, err := Stream(context.Background(), m, &Inputs{Vocab: 1024, MaxLen: 512}, &in, "in.jsonl", &out, 300)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if st.Lines != 50 || len(lines) != 50 || st.Batches < 2 {
		t.Fatalf("stats %+v, %d lines", st, len(lines))
	}
	for i, l := range lines {
		var res dataset.ScoreResult
		json.Unmarshal([]byte(l), &res)
		want, _ := m.Score(&cgo.Batch{Tokens: seqs[i], CuSeqlens: []int32{0, int32(len(seqs[i]))}})
		if res.ID != fmt.Sprintf("r%d", i) || math.Abs(res.Score-float64(want[0])) > 1e-5 {
			t.Fatalf("line %d: %s, want score %v", i, l, want[0])
		}
	}
	_, err = Stream(context.Background(), m, &Inputs{Vocab: 1024, MaxLen: 512}, strings.NewReader(`{"id":"a","input_ids":[1]}`+"\n"+`{"id":"b","input_ids":[5000]}`), "req.jsonl", &out, 300)
	if err == nil || !strings.Contains(err.Error(), "req.jsonl:2") || !strings.Contains(err.Error(), "input_ids[0]") {
		t.Fatalf("bad line error: %v", err)
	}
}

// Interrupted while its read waits on a pipe, Stream ends at once with the cancellation, whether
// or not the writer ever sends or closes; what it wrote before is whole answer lines.
func TestStreamCancelledDuringABlockedRead(t *testing.T) {
	m := tinyModel(t)
	for _, more := range []bool{true, false} { // the writer sends another line, or stays silent
		ctx, cancel := context.WithCancel(context.Background())
		pr, pw, err := os.Pipe() // buffered by the kernel: a write does not wait for the read
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		done := make(chan error)
		go func() {
			_, err := Stream(ctx, m, &Inputs{Vocab: 1024, MaxLen: 512}, pr, "<stdin>", &out, 300)
			done <- err
		}()
		pw.Write([]byte(`{"id":"a","input_ids":[1,2]}` + "\n"))
		time.Sleep(50 * time.Millisecond) // let Stream read it and block on the next read
		cancel()
		if more {
			pw.Write([]byte(`{"id":"b","input_ids":[3]}` + "\n"))
		}
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("more input %v: err %v, want context.Canceled", more, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("more input %v: Stream still waiting on its input 5 s after the cancellation", more)
		}
		if o := out.String(); o != "" && (!strings.HasPrefix(o, `{"id":"a","score":`) || strings.Count(o, "\n") != 1 || !strings.HasSuffix(o, "\n")) {
			t.Errorf("more input %v: output %q, want nothing or a's whole answer", more, o)
		}
		pw.Close()
		pr.Close()
	}
}

// A producer that waits for each answer before it sends the next request gets it: Stream answers
// what it has when its input stalls, not only at EOF.
func TestStreamAnswersWhenInputStalls(t *testing.T) {
	m := tinyModel(t)
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := Stream(context.Background(), m, &Inputs{Vocab: 1024, MaxLen: 512}, inR, "<stdin>", outW, 300)
		outW.CloseWithError(err)
		done <- err
	}()
	answers := bufio.NewReader(outR)
	for i, ids := range [][]int32{{1, 2, 3}, {4, 5}, {6}} {
		line, _ := json.Marshal(dataset.ScoreRequest{ID: fmt.Sprint(i), InputIDs: ids})
		if _, err := inW.Write(append(line, '\n')); err != nil {
			t.Fatal(err)
		}
		got := make(chan string, 1)
		go func() { l, _ := answers.ReadString('\n'); got <- l }()
		select {
		case l := <-got:
			want, _ := m.Score(&cgo.Batch{Tokens: ids, CuSeqlens: []int32{0, int32(len(ids))}})
			var res dataset.ScoreResult
			if json.Unmarshal([]byte(l), &res) != nil || res.ID != fmt.Sprint(i) || math.Abs(res.Score-float64(want[0])) > 1e-5 {
				t.Fatalf("request %d: answer %q, want score %v", i, l, want[0])
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("request %d: no answer while the producer waits for it", i)
		}
	}
	inW.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// ScoreBatch answers in order, and a sequence that cannot be queued cancels the ones before it
// instead of letting them cost a forward pass.
func TestScoreBatchOrderAndCancel(t *testing.T) {
	m := tinyModel(t)
	sc := New(m, &Inputs{Vocab: 1024, MaxLen: 64}, Options{MaxBatchTokens: 4096, MaxWait: 50 * time.Millisecond})
	defer sc.Close()
	r := rand.New(rand.NewPCG(5, 5))
	seqs := make([][]int32, 12)
	for i := range seqs {
		seqs[i] = randIDs(r)
	}
	got, err := sc.ScoreBatch(context.Background(), seqs)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range seqs {
		want, _ := m.Score(&cgo.Batch{Tokens: s, CuSeqlens: []int32{0, int32(len(s))}})
		if math.Abs(got[i]-float64(want[0])) > 1e-5 {
			t.Fatalf("seq %d: got %v want %v", i, got[i], want[0])
		}
	}
	before := sc.Stats()
	_, err = sc.ScoreBatch(context.Background(), [][]int32{{1, 2}, {3, 4}, {5, 9999}})
	if err == nil || !strings.Contains(err.Error(), "sequence 2") {
		t.Fatalf("bad third sequence: %v", err)
	}
	// The two good sequences before the bad one were never queued: nothing to drop, no batch.
	time.Sleep(60 * time.Millisecond) // past MaxWait, when a queued sequence would have run
	if st := sc.Stats(); st != before {
		t.Fatalf("a refused call changed the queue: before %+v after %+v", before, st)
	}
}

// ScoreRequests scores items in order, like ScoreBatch on their token ids, and an item that
// cannot be tokenized is named and keeps the others out of the queue.
func TestScoreRequests(t *testing.T) {
	m := tinyModel(t)
	sc := New(m, &Inputs{Vocab: 1024, MaxLen: 64}, Options{MaxBatchTokens: 4096, MaxWait: 5 * time.Millisecond})
	defer sc.Close()
	r := rand.New(rand.NewPCG(7, 7))
	reqs := make([]dataset.ScoreRequest, 6)
	seqs := make([][]int32, len(reqs))
	for i := range reqs {
		seqs[i] = randIDs(r)
		reqs[i] = dataset.ScoreRequest{ID: fmt.Sprint("r", i), InputIDs: seqs[i]}
	}
	got, err := sc.ScoreRequests(context.Background(), reqs)
	if err != nil {
		t.Fatal(err)
	}
	want, err := sc.ScoreBatch(context.Background(), seqs)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d scores for %d requests", len(got), len(want))
	}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-5 {
			t.Errorf("item %d: ScoreRequests %v, ScoreBatch %v", i, got[i], want[i])
		}
	}
	before := sc.Stats()
	bad := append(reqs[:2:2], dataset.ScoreRequest{ID: "too-big", InputIDs: []int32{5, 5000}})
	_, err = sc.ScoreRequests(context.Background(), bad)
	if err == nil || !strings.Contains(err.Error(), `item 2 (id "too-big")`) || !strings.Contains(err.Error(), "input_ids[1]") {
		t.Fatalf("bad item: %v", err)
	}
	if st := sc.Stats(); st.Sequences != before.Sequences {
		t.Errorf("a request with a bad item queued %d sequences", st.Sequences-before.Sequences)
	}
}

// Requests already queued when a batch starts all go into it, however long the first of them
// has waited: the batch is not cut short by an expired MaxWait.
func TestQueuedRequestsFillOneBatch(t *testing.T) {
	m := tinyModel(t)
	sc := New(m, &Inputs{Vocab: 1024, MaxLen: 64}, Options{MaxBatchTokens: 1 << 20, MaxWait: 0})
	defer sc.Close()
	release := make(chan struct{})
	var mu sync.Mutex
	var sizes []int
	sc.OnBatch = func(bi BatchInfo) {
		mu.Lock()
		sizes = append(sizes, bi.Seqs)
		first := len(sizes) == 1
		mu.Unlock()
		if first {
			<-release // hold the batcher while the others queue up
		}
	}
	nbatches := func() int { mu.Lock(); defer mu.Unlock(); return len(sizes) }
	firstDone := make(chan error, 1)
	go func() { _, err := sc.ScoreIDs(context.Background(), []int32{1, 2, 3}); firstDone <- err }()
	deadline := time.Now().Add(5 * time.Second)
	for nbatches() != 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	r := rand.New(rand.NewPCG(9, 9))
	seqs := make([][]int32, 40)
	for i := range seqs {
		seqs[i] = randIDs(r)
	}
	done := make(chan error, 1)
	go func() { _, err := sc.ScoreBatch(context.Background(), seqs); done <- err }()
	for sc.Stats().QueueDepth != 40 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(release)
	if err := <-firstDone; err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sizes) != 2 || sizes[1] != 40 {
		t.Fatalf("batch sizes %v, want [1 40]", sizes)
	}
}

// Submissions racing Close are either answered or refused with ErrClosed; none is left
// waiting forever.
func TestCloseRacingSubmitsNeverStrands(t *testing.T) {
	m := tinyModel(t)
	for round := 0; round < 20; round++ {
		sc := New(m, &Inputs{Vocab: 1024, MaxLen: 512}, Options{MaxBatchTokens: 256, MaxWait: time.Millisecond})
		var wg sync.WaitGroup
		stranded := make(chan error, 16)
		for i := 0; i < 16; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_, err := sc.ScoreIDs(ctx, []int32{int32(i), 2, 3})
				if err != nil && !errors.Is(err, ErrClosed) {
					stranded <- err
				}
			}(i)
		}
		sc.Close()
		wg.Wait()
		close(stranded)
		for err := range stranded {
			t.Fatalf("round %d: %v", round, err)
		}
	}
}

// A call that does not fit the queue is refused whole: none of its sequences stays queued to take
// the room of the next caller, and a call larger than the whole queue says so.
func TestQueueFullRefusesWholeCall(t *testing.T) {
	m := tinyModel(t)
	sc := New(m, &Inputs{Vocab: 1024, MaxLen: 64}, Options{MaxBatchTokens: 1 << 20, MaxWait: 0, QueueLimit: 8})
	defer sc.Close()
	release := make(chan struct{})
	var unholdOnce, once sync.Once
	unhold := func() { unholdOnce.Do(func() { close(release) }) }
	defer unhold() // before Close, which waits for the batcher, should a check fail while it is held
	held := make(chan struct{})
	sc.OnBatch = func(BatchInfo) {
		once.Do(func() { close(held); <-release }) // hold the batcher while the queue fills
	}
	firstDone := make(chan error, 1)
	go func() { _, err := sc.ScoreIDs(context.Background(), []int32{1, 2, 3}); firstDone <- err }()
	<-held
	r := rand.New(rand.NewPCG(4, 4))
	batch := func(n int) [][]int32 {
		seqs := make([][]int32, n)
		for i := range seqs {
			seqs[i] = randIDs(r)
		}
		return seqs
	}
	fiveDone := make(chan error, 1)
	go func() { _, err := sc.ScoreBatch(context.Background(), batch(5)); fiveDone <- err }()
	deadline := time.Now().Add(5 * time.Second)
	for sc.Stats().QueueDepth != 5 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if d := sc.Stats().QueueDepth; d != 5 {
		t.Fatalf("queue depth %d, want 5", d)
	}
	if _, err := sc.ScoreBatch(context.Background(), batch(4)); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("4 more sequences into 3 free places: %v, want ErrQueueFull", err)
	}
	if d := sc.Stats().QueueDepth; d != 5 {
		t.Fatalf("after the refusal the queue holds %d sequences, want the 5 from before", d)
	}
	if _, err := sc.ScoreBatch(context.Background(), batch(9)); err == nil || errors.Is(err, ErrQueueFull) || !strings.Contains(err.Error(), "queue_limit 8") {
		t.Fatalf("9 sequences with queue_limit 8: %v, want an error naming queue_limit", err)
	}
	threeDone := make(chan error, 1)
	go func() { _, err := sc.ScoreBatch(context.Background(), batch(3)); threeDone <- err }()
	for sc.Stats().QueueDepth != 8 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	unhold()
	for _, ch := range []chan error{firstDone, fiveDone, threeDone} {
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
	if st := sc.Stats(); st.Sequences != 9 || st.Dropped != 0 || st.QueueDepth != 0 {
		t.Fatalf("stats %+v, want 9 sequences, none dropped, none queued", st)
	}
}
