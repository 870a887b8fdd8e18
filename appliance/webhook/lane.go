package webhook

import (
	"slices"
	"time"

	"callbox/store"
)

// lane is one app's queue: a window of its outbox entries in Seq order.
type lane struct {
	app      uint32
	cfg      store.Webhook // with defaults
	has      bool          // the app has a webhook
	items    []*item
	after    uint64 // the last Seq read from the store
	more     bool   // the window was full: more may wait in the store
	inflight int

	// fails counts failed attempts since the last success; from
	// breakerAfter on, one probe at a time goes out, at probeAt.
	fails   int
	probeAt time.Time

	lastError   string
	lastErrorAt time.Time
	lastOK      time.Time
	dropped     int
}

// item is a queued entry and its retry state.
type item struct {
	e        store.OutboxEntry
	callID   string
	attempts int
	nextAt   time.Time // not before; zero = now
	inflight bool
}

// configure applies a configuration; a change clears the breaker, so a
// fixed receiver hears at once.
func (l *lane) configure(w store.Webhook, has bool) {
	l.cfg, l.has = withDefaults(w), has
	l.fails, l.probeAt = 0, time.Time{}
}

// due returns the items to send now, in Seq order: the first pending
// item of each call (an event waits for its call's earlier ones; with
// concurrency 1, for all the app's earlier ones), not in
// flight, whose backoff has run out, up to the concurrency limit. With
// the breaker open it returns at most one, once probeAt has come: the
// one tried least (a fresh event tells best whether the receiver is
// back). It lowers *next to the earliest time something becomes due.
func (l *lane) due(now time.Time, next *time.Time) []*item {
	if !l.has || len(l.items) == 0 {
		return nil
	}
	earlier := func(t time.Time) {
		if next.IsZero() || t.Before(*next) {
			*next = t
		}
	}
	limit, breaker := l.cfg.Concurrency, l.fails >= breakerAfter
	if breaker {
		limit = 1
		if now.Before(l.probeAt) {
			earlier(l.probeAt)
			return nil
		}
	}
	if l.inflight >= limit {
		return nil
	}
	// With concurrency 1 the whole app is one sequence: its head holds
	// up everything behind it.
	ordered := l.cfg.Concurrency == 1
	var out []*item
	var probe *item
	seen := make(map[string]bool, 16)
	for _, it := range l.items {
		if l.inflight+len(out) >= limit {
			break
		}
		if key := it.callID; ordered || key != "" {
			if ordered {
				key = "*"
			}
			if seen[key] {
				continue
			}
			seen[key] = true
		}
		switch {
		case it.inflight:
		case breaker:
			if probe == nil || it.attempts < probe.attempts {
				probe = it
			}
		case it.nextAt.After(now):
			earlier(it.nextAt)
		default:
			out = append(out, it)
		}
	}
	if probe != nil {
		out = append(out, probe)
	}
	return out
}

func (l *lane) remove(it *item) {
	if i := slices.Index(l.items, it); i >= 0 {
		l.items = slices.Delete(l.items, i, i+1)
	}
}

func (l *lane) succeeded(now time.Time) {
	l.fails, l.probeAt, l.lastOK = 0, time.Time{}, now
}

func (l *lane) failed(now time.Time, err string, jitter func(time.Duration) time.Duration) {
	l.fails++
	l.lastError, l.lastErrorAt = err, now
	if l.fails >= breakerAfter {
		l.probeAt = now.Add(jitter(backoff(l.fails)))
	}
}
