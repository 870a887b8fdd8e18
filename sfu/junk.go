package sfu

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/pion/stun/v3"
)

// dropLogInterval is the least time between two log lines about junk on
// one ICE port. Anyone can send junk, so a flood must cost a counter, not a
// log line each (docs/media.md §6).
const dropLogInterval = 10 * time.Second

// logLimiter counts events and lets one log line about them through per
// dropLogInterval. Safe for concurrent use without locks: the UDP mux's
// reader and every ICE-TCP connection's goroutine call it.
type logLimiter struct {
	n    atomic.Uint64
	last atomic.Int64 // unix nanos of the last line let through
}

// note counts one event at now; ok says whether to log it, with the total.
func (l *logLimiter) note(now time.Time) (total uint64, ok bool) {
	total = l.n.Add(1)
	t := now.UnixNano()
	last := l.last.Load()
	return total, t-last >= int64(dropLogInterval) && l.last.CompareAndSwap(last, t)
}

func (l *logLimiter) total() uint64 { return l.n.Load() }

// unhandled logs datagrams that belong to no ICE session (garbage, scans,
// stale peers). Runs in the mux's reader; must not block.
func (s *Server) unhandled(data []byte, from netip.AddrPort) {
	n, ok := s.udpDrops.note(s.now())
	if !ok {
		return
	}
	reason := "not STUN and from no known address"
	if stun.IsMessage(data) {
		reason = "STUN for no known session"
	}
	s.log.Warn("udp datagram dropped", "from", from.String(), "len", len(data), "reason", reason, "dropped_total", n)
}

// tcpMuxLog is the ICE-TCP mux's logger. pion warns once for every
// connection it drops: one whose first frame is not a STUN binding request
// with a username (junk, scans, connect-and-close; it says which and from
// where), and one of a session that fails. So its warnings and errors are
// counted and logged like junk datagrams, as "ice-tcp connection dropped"
// with pion's text as the reason; the rest goes to pionLog.
type tcpMuxLog struct {
	pionLog
	s *Server
}

func (l tcpMuxLog) dropped(format string, args ...any) {
	n, ok := l.s.tcpDrops.note(l.s.now())
	if !ok {
		return
	}
	l.s.log.Warn("ice-tcp connection dropped", "reason", fmt.Sprintf(format, args...), "dropped_total", n)
}

func (l tcpMuxLog) Warn(msg string)                   { l.dropped("%s", msg) }
func (l tcpMuxLog) Warnf(format string, args ...any)  { l.dropped(format, args...) }
func (l tcpMuxLog) Error(msg string)                  { l.dropped("%s", msg) }
func (l tcpMuxLog) Errorf(format string, args ...any) { l.dropped(format, args...) }
