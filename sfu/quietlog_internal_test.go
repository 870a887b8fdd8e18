package sfu

import (
	"context"
	"log/slog"
	"sync"
	"testing"
)

// levels is a slog handler that records the level of each message.
type levels struct {
	mu  sync.Mutex
	got map[string]slog.Level
}

func (h *levels) Enabled(context.Context, slog.Level) bool { return true }
func (h *levels) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.got[r.Message] = r.Level
	h.mu.Unlock()
	return nil
}
func (h *levels) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *levels) WithGroup(string) slog.Handler      { return h }

// pion's start and close noise goes to Debug; its other warnings stay.
func TestPionLogLevels(t *testing.T) {
	h := &levels{got: map[string]slog.Level{}}
	l := loggerFactory{slog.New(h)}.NewLogger("ice")
	tests := []struct {
		name string
		msg  string
		want slog.Level
	}{
		{"closed pipe", "Failed to read from candidate udp4 host 10.0.0.1:7882: io: read/write on closed pipe", slog.LevelDebug},
		{"ping before pairs", "Failed to ping without candidate pairs. Connection is not possible yet.", slog.LevelDebug},
		{"accept after close", "Failed to accept RTP stream is already closed", slog.LevelDebug},
		{"candidate after close", "Failed to add remote candidate 10.0.0.2: the agent is closed", slog.LevelDebug},
		{"close_notify", "Warning: mux: no endpoint for packet starting with 21, adding to queue size(0)", slog.LevelDebug},
		{"unknown packet", "Warning: mux: no endpoint for packet starting with 5, adding to queue size(0)", slog.LevelWarn},
		{"early srtp", "Warning: mux: no endpoint for packet starting with 144, adding to queue size(0)", slog.LevelDebug},
		{"srtp dropped", "Warning: mux: no endpoint for packet starting with 144, not adding to queue size(8)", slog.LevelWarn},
		{"not rtp", "Warning: mux: no endpoint for packet starting with 192x, adding to queue size(0)", slog.LevelWarn},
		{"ipv6 unmapped", "Address rewrite mapping is enabled but no external IP is found for fe80::5019:f2ff:fe21:89af%eth0", slog.LevelDebug},
		{"ipv4 unmapped", "Address rewrite mapping is enabled but no external IP is found for 10.0.0.7", slog.LevelWarn},
		{"handshake", "Failed to start manager: handshake error: bad certificate", slog.LevelWarn},
		{"srtp", "Failed to handle RTCP: srtp: failed to verify auth tag", slog.LevelWarn},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l.Warnf("%s", tc.msg)
			if got, ok := h.got[tc.msg]; !ok || got != tc.want {
				t.Errorf("logged at %v (%v), want %v", got, ok, tc.want)
			}
		})
	}
}
