package planner

import (
	"context"
	"testing"
)

// BenchmarkPlan measures one planned episode per method with the oracle reward model (whose
// replay is part of the cost) and the weak scripted policy; rm_calls/op is per episode.
func BenchmarkPlan(b *testing.B) {
	for _, fx := range fixtures(b, 10) {
		o, err := NewOracle(context.Background(), fx.factory, fx.tasks, OracleOptions{})
		if err != nil {
			b.Fatal(err)
		}
		p := newPlanner(b, fx, o, DefaultConfig())
		for _, m := range Methods() {
			b.Run(fx.name+"/"+m, func(b *testing.B) {
				var calls int64
				i := 0
				for b.Loop() {
					r, err := p.Plan(context.Background(), m, fx.tasks[i%len(fx.tasks)])
					if err != nil {
						b.Fatal(err)
					}
					calls += r.RMCalls
					i++
				}
				b.ReportMetric(float64(calls)/float64(i), "rm_calls/op")
			})
		}
		o.Close()
	}
}
