package llm

import (
	"context"
	"net/http"
	"testing"
)

// BenchmarkChatParallel measures the client's own overhead per call (encode, HTTP round trip on
// loopback, decode, semaphore) against an in-process server that answers at once.
func BenchmarkChatParallel(b *testing.B) {
	f := newFake(b, func(w http.ResponseWriter, _ *http.Request, req chatRequest, _ int) {
		writeChoices(w, "c", max(req.N, 1))
	})
	cfg := testConfig(f.URL)
	cfg.Concurrency = 8
	c, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := c.Chat(context.Background(), msgs, Options{N: 2}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
