package trainer

import (
	"math"

	"github.com/armap/armap/cgo"
	"github.com/armap/armap/engine/packer"
)

// EvalMetrics summarizes a model on held-out pairs (one metrics.jsonl line of type "eval").
type EvalMetrics struct {
	Type         string  `json:"type"` // "eval"
	Step         int     `json:"step"`
	Pairs        int     `json:"pairs"`
	Accuracy     float64 `json:"accuracy"` // share of pairs with r_chosen > r_rejected
	Loss         float64 `json:"loss"`     // mean -log sigmoid(r_chosen - r_rejected)
	Margin       float64 `json:"margin"`   // mean r_chosen - r_rejected
	RewardMean   float64 `json:"reward_mean"`
	RewardStd    float64 `json:"reward_std"`
	ChosenMean   float64 `json:"chosen_mean"`
	RejectedMean float64 `json:"rejected_mean"`
}

// Evaluate scores both sides of every pair (packed by a token budget, no autograd).
func Evaluate(m *cgo.Model, pairs []packer.Pair, budgetTokens int) (*EvalMetrics, error) {
	seqs := make([][]int32, 0, 2*len(pairs))
	for i := range pairs {
		seqs = append(seqs, pairs[i].Chosen, pairs[i].Rejected)
	}
	scores, err := ScoreAll(m, seqs, budgetTokens)
	if err != nil {
		return nil, err
	}
	em := &EvalMetrics{Type: "eval", Pairs: len(pairs)}
	var sum, sq float64
	for i := range pairs {
		c, r := float64(scores[2*i]), float64(scores[2*i+1])
		d := c - r
		if d > 0 {
			em.Accuracy++
		}
		em.Margin += d
		em.Loss += -logSigmoid(d)
		em.ChosenMean += c
		em.RejectedMean += r
		sum += c + r
		sq += c*c + r*r
	}
	n := float64(len(pairs))
	em.Accuracy /= n
	em.Margin /= n
	em.Loss /= n
	em.ChosenMean /= n
	em.RejectedMean /= n
	em.RewardMean = sum / (2 * n)
	em.RewardStd = math.Sqrt(math.Max(0, sq/(2*n)-em.RewardMean*em.RewardMean))
	return em, nil
}

// ScoreAll scores sequences in order, packed into batches of at most budgetTokens tokens.
func ScoreAll(m *cgo.Model, seqs [][]int32, budgetTokens int) ([]float32, error) {
	out := make([]float32, len(seqs))
	batches, idx := packer.Sequences(seqs, budgetTokens)
	for bi, b := range batches {
		s, err := m.Score(b)
		if err != nil {
			return nil, err
		}
		for j, k := range idx[bi] {
			out[k] = s[j]
		}
	}
	return out, nil
}

func logSigmoid(x float64) float64 {
	if x < 0 {
		return x - math.Log1p(math.Exp(x))
	}
	return -math.Log1p(math.Exp(-x))
}
