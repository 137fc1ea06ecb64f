package llm

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// parseRetryAfter reads how long a server asks us to wait: `retry-after-ms` (OpenAI and Azure
// send it, finer than seconds) wins over `Retry-After`, which is either delay-seconds or an
// HTTP-date (RFC 9110 section 10.2.3). Unparsable or past values give 0.
func parseRetryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
