package sfu_test

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"callbox/sfu"
)

// logRecord is one record a recordHandler kept, with the logger's
// attributes and the record's own flattened into attrs.
type logRecord struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

// recordHandler keeps every record at Info and above.
type recordHandler struct {
	mu     *sync.Mutex
	recs   *[]logRecord
	attrs  []slog.Attr
	notify chan struct{} // a value after each record (capacity 1)
}

func newRecordHandler() *recordHandler {
	return &recordHandler{mu: new(sync.Mutex), recs: new([]logRecord), notify: make(chan struct{}, 1)}
}

func (h *recordHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	for _, a := range h.attrs {
		rec.attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.String()
		return true
	})
	h.mu.Lock()
	*h.recs = append(*h.recs, rec)
	h.mu.Unlock()
	select {
	case h.notify <- struct{}{}:
	default:
	}
	return nil
}

// wait waits until n records were kept after the first base and returns
// them all. The server counts a junk connection before it logs it, so a
// test that saw the count must still wait for the line.
func (h *recordHandler) wait(ctx context.Context, t *testing.T, base, n int) []logRecord {
	t.Helper()
	for h.count()-base < n {
		select {
		case <-h.notify:
		case <-ctx.Done():
			t.Fatalf("%d log lines, want %d: %v", h.count()-base, n, h.since(base))
		}
	}
	return h.since(base)
}

func (h *recordHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return &c
}

func (h *recordHandler) WithGroup(string) slog.Handler { return h }

// since returns the records kept after the first n.
func (h *recordHandler) since(n int) []logRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]logRecord(nil), (*h.recs)[n:]...)
}

func (h *recordHandler) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(*h.recs)
}

// clock is a fake Config.Now that moves only when told.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// junkTCP is what scanners and confused clients send to the ICE-TCP port:
// each connects, sends the bytes (RFC 4571 framing or not) and closes.
var junkTCP = []struct {
	name string
	data []byte
}{
	{"connect and close", nil},
	{"framed garbage", []byte{0, 10, 'h', 'e', 'l', 'l', 'o', ',', ' ', 's', 'f', 'u'}},
	{"HTTP request", []byte("GET / HTTP/1.1\r\nHost: sfu\r\n\r\n")},
	{"truncated frame", []byte{1, 0, 1, 2, 3}},
	// A STUN binding request without USERNAME, and a binding success.
	{"STUN without username", []byte{0, 20, 0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}},
	{"STUN response", []byte{0, 20, 1, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}},
}

func sendJunkTCP(t *testing.T, addr string, data []byte) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if len(data) > 0 {
		if _, err := c.Write(data); err != nil {
			t.Fatal(err)
		}
	}
}

// waitDroppedTCP waits until the server has counted n dropped ICE-TCP
// connections.
func waitDroppedTCP(ctx context.Context, t *testing.T, s *sfu.Server, n uint64) {
	t.Helper()
	for s.Stats().DroppedTCPConns < n {
		select {
		case <-ctx.Done():
			t.Fatalf("dropped ICE-TCP connections: %d, want %d", s.Stats().DroppedTCPConns, n)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// TestJunkTCPRateLimited sends a stream of junk connections to the ICE-TCP
// port. Each is counted, and the whole stream makes one log line per
// interval of the server's clock, at Warn, as junk datagrams do.
func TestJunkTCPRateLimited(t *testing.T) {
	t.Parallel()
	h := newRecordHandler()
	clk := &clock{now: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	s, err := sfu.New(sfu.Config{ListenIP: "127.0.0.1", Logger: slog.New(h), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	base := h.count() // startup lines

	const conns = 200
	for i := 0; i < conns; i++ {
		sendJunkTCP(t, s.TCPAddr(), junkTCP[i%len(junkTCP)].data)
	}
	waitDroppedTCP(ctx, t, s, conns)
	recs := h.wait(ctx, t, base, 1)
	if len(recs) != 1 {
		t.Fatalf("%d junk connections made %d log lines, want 1: %v", conns, len(recs), recs)
	}
	if r := recs[0]; r.level != slog.LevelWarn || r.msg != "ice-tcp connection dropped" || r.attrs["reason"] == "" || r.attrs["dropped_total"] != "1" {
		t.Errorf("log line = %+v", r)
	}

	// One interval later the next junk is logged again, with the total.
	clk.Advance(10 * time.Second)
	total := s.Stats().DroppedTCPConns
	sendJunkTCP(t, s.TCPAddr(), nil)
	waitDroppedTCP(ctx, t, s, total+1)
	recs = h.wait(ctx, t, base, 2)
	if len(recs) != 2 {
		t.Fatalf("after an interval: %d log lines, want 2: %v", len(recs), recs)
	}
	if r := recs[1]; r.msg != "ice-tcp connection dropped" || r.attrs["dropped_total"] != strconv.FormatUint(total+1, 10) {
		t.Errorf("second log line = %+v", r)
	}
}

// TestJunkTCPEachLogged checks that each kind of junk is seen at all: a
// fresh server logs its first one.
func TestJunkTCPEachLogged(t *testing.T) {
	t.Parallel()
	for _, tc := range junkTCP {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newRecordHandler()
			s, err := sfu.New(sfu.Config{ListenIP: "127.0.0.1", Logger: slog.New(h)})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			base := h.count()
			sendJunkTCP(t, s.TCPAddr(), tc.data)
			waitDroppedTCP(ctx, t, s, 1)
			if recs := h.wait(ctx, t, base, 1); len(recs) != 1 || recs[0].msg != "ice-tcp connection dropped" {
				t.Errorf("log = %+v", recs)
			}
		})
	}
}
