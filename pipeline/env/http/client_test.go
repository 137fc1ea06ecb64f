package httpenv

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// An env whose /reset answer lacks the instruction would give triplets with nothing for the
// reward model to judge against: the reset fails, naming the URL and the field, and the session
// the server opened for it is still closed.
func TestResetNeedsInstruction(t *testing.T) {
	for name, edit := range map[string]func(m map[string]any){
		"missing": func(m map[string]any) { delete(m, "instruction") },
		"blank":   func(m map[string]any) { m["instruction"] = " \n" },
		"null":    func(m map[string]any) { m["instruction"] = nil },
	} {
		t.Run(name, func(t *testing.T) {
			ts, srv, f := start(t, ServerOptions{})
			f.hook = func(w http.ResponseWriter, r *http.Request, n int64) bool {
				if r.URL.Path != "/reset" {
					return false
				}
				rec := httptest.NewRecorder()
				f.next.ServeHTTP(rec, r)
				var m map[string]any
				if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
					t.Error(err)
				}
				edit(m)
				json.NewEncoder(w).Encode(m)
				return true
			}
			e := client(t, ts.URL, Options{})
			_, err := e.Reset(bg, 0)
			if err == nil || !strings.Contains(err.Error(), ts.URL+"/reset") || !strings.Contains(err.Error(), `"instruction"`) {
				t.Fatalf("reset without an instruction: %v", err)
			}
			if _, err := e.Step(bg, "look"); err == nil {
				t.Fatal("Step after a refused reset succeeded")
			}
			if err := e.Close(); err != nil || srv.Sessions() != 0 {
				t.Fatalf("close: %v, %d sessions left", err, srv.Sessions())
			}
		})
	}
}

// hang makes the server hang requests to path until the client gives up (or 5 s pass).
func hang(f *faults, path string) {
	f.hook = func(w http.ResponseWriter, r *http.Request, n int64) bool {
		if r.URL.Path != path {
			return false
		}
		// The server notices a closed connection only once the body is read.
		io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		return true
	}
}

// Close runs at shutdown: against a server that hangs it, it makes one attempt bounded by
// CloseTimeout, not Timeout times the retries, and a context cuts it shorter still.
func TestCloseIsBounded(t *testing.T) {
	ts, _, f := start(t, ServerOptions{})
	hang(f, "/close")
	e := client(t, ts.URL, Options{Timeout: 2 * time.Second, Retries: 3, CloseTimeout: 50 * time.Millisecond})
	if _, err := e.Reset(bg, 0); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	err := e.Close()
	if el := time.Since(t0); !errors.Is(err, context.DeadlineExceeded) || el > time.Second {
		t.Fatalf("close against a hung server: %v after %v", err, el)
	}
	if n := f.count("/close"); n != 1 {
		t.Fatalf("close was tried %d times", n)
	}
	if e.Session() != "" {
		t.Fatal("the client kept the session it failed to close")
	}

	e2 := client(t, ts.URL, Options{Timeout: time.Minute, CloseTimeout: time.Minute})
	if _, err := e2.Reset(bg, 0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(bg)
	time.AfterFunc(30*time.Millisecond, cancel)
	t0 = time.Now()
	if err := e2.CloseContext(ctx); !errors.Is(err, context.Canceled) || time.Since(t0) > time.Second {
		t.Fatalf("cancelled close: %v after %v", err, time.Since(t0))
	}

	for _, c := range []struct{ timeout, want time.Duration }{
		{0, 2 * time.Second}, {30 * time.Second, 2 * time.Second}, {300 * time.Millisecond, 300 * time.Millisecond},
	} {
		o, err := Options{BaseURL: ts.URL, Timeout: c.timeout}.withDefaults()
		if err != nil || o.CloseTimeout != c.want {
			t.Errorf("Timeout %v: CloseTimeout %v, want %v (%v)", c.timeout, o.CloseTimeout, c.want, err)
		}
	}
}

// An env error that echoes a huge action is clipped in the client's error: its head and its size.
func TestErrorsClipPayloads(t *testing.T) {
	ts, _, f := start(t, ServerOptions{})
	huge := strings.Repeat("I am thinking very hard about this. é", 30000)
	f.hook = func(w http.ResponseWriter, r *http.Request, n int64) bool {
		switch r.URL.Path {
		case "/step":
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(errorBody{Error: "invalid action " + huge, Code: CodeBadRequest})
			return true
		case "/snapshot":
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte("<html>" + huge + "</html>"))
			return true
		}
		return false
	}
	e := client(t, ts.URL, Options{})
	if _, err := e.Reset(bg, 0); err != nil {
		t.Fatal(err)
	}
	_, err := e.Step(bg, huge)
	check := func(err error, size int) {
		t.Helper()
		msg := err.Error()
		if len(msg) > 400 || !utf8.ValidString(msg) || !strings.Contains(msg, "I am thinking") ||
			!strings.Contains(msg, "("+strconv.Itoa(size)+" bytes)") {
			t.Errorf("error of %d bytes, valid UTF-8 %v: %.300s", len(msg), utf8.ValidString(msg), msg)
		}
	}
	check(err, len("invalid action "+huge))
	_, err = e.Snapshot()
	check(err, len("<html>"+huge+"</html>"))
	// The server's own errors quote what the client sent, clipped too.
	code, eb := post(t, ts.URL+"/close", `{"session":"`+strings.Repeat("x", 100000)+`"}`)
	if code != http.StatusNotFound || len(eb.Error) > 400 || !strings.Contains(eb.Error, "(100000 bytes)") {
		t.Errorf("server error %d of %d bytes: %.300s", code, len(eb.Error), eb.Error)
	}
}
