package signaling

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// Rate is a token bucket: Burst requests at once, then one every Every.
// A negative Burst turns the limit off.
type Rate struct {
	Burst int
	Every time.Duration
}

func (r Rate) off() bool { return r.Burst < 0 }

// limiter keeps one token bucket per key (an IP address, an app/user).
// Buckets that have refilled are forgotten when the map grows, so an
// attacker cycling keys cannot grow it without bound.
type limiter struct {
	rate Rate

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// limiterSweep is the map size above which refilled buckets are dropped.
const limiterSweep = 4096

func newLimiter(r Rate) *limiter {
	return &limiter{rate: r, buckets: make(map[string]*bucket)}
}

// allow takes one token from key's bucket at now, or reports false.
func (l *limiter) allow(key string, now time.Time) bool {
	if l.rate.off() {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= limiterSweep {
			l.sweepLocked(now)
		}
		b = &bucket{tokens: float64(l.rate.Burst), at: now}
		l.buckets[key] = b
	}
	b.refill(l.rate, now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (b *bucket) refill(r Rate, now time.Time) {
	if d := now.Sub(b.at); d > 0 && r.Every > 0 {
		b.tokens = min(float64(r.Burst), b.tokens+float64(d)/float64(r.Every))
		b.at = now
	}
}

// sweepLocked forgets the buckets that are full again.
func (l *limiter) sweepLocked(now time.Time) {
	for k, b := range l.buckets {
		b.refill(l.rate, now)
		if b.tokens >= float64(l.rate.Burst) {
			delete(l.buckets, k)
		}
	}
}

// pendingConns counts the connections per IP that have not logged in.
type pendingConns struct {
	max int // <= 0: no limit

	mu sync.Mutex
	n  map[string]int
}

// add counts one more pending connection from ip, or reports false when
// ip already has max.
func (p *pendingConns) add(ip string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.max > 0 && p.n[ip] >= p.max {
		return false
	}
	p.n[ip]++
	return true
}

func (p *pendingConns) done(ip string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n[ip]--; p.n[ip] <= 0 {
		delete(p.n, ip)
	}
}

// remoteIP is the host part of r.RemoteAddr.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// clip returns at most 32 bytes of client input for an error text:
// printable ASCII kept, anything else shown as '?', longer input cut with
// "...". Error replies must not echo what a client sends back at it
// (a 64 KiB junk type once came back JSON-escaped, six times larger).
func clip(s string) string {
	const max = 32
	cut := len(s) > max
	if cut {
		s = s[:max]
	}
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	if cut {
		return string(b) + "..."
	}
	return string(b)
}
