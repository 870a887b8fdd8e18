// Package webhook delivers the call-status callbacks that the call store
// queues in the store's outbox to each app's backend, in Tencent's wire
// format (tencent-compat.md §3): at least once, across restarts and
// kill -9, in order per call, retried with exponential backoff and jitter
// for a day (then parked as dead for a manual retry), each attempt in a
// bounded delivery log.
//
// One goroutine, Run, owns the queues: it is woken by Notify after each
// commit that queued events (it never polls), starts each attempt in a
// goroutine of its own that it waits for, and hands acknowledgements,
// log entries and dead letters to one writer goroutine that commits them
// in batches. An entry leaves the outbox only once its receiver answered
// HTTP 2xx with the OK JSON, or when its app's configuration no longer
// wants it; an event is never lost, and may arrive twice (after a crash
// between the answer and the commit), with the same X-Callbox-Event-Id.
//
// Apps are independent: each has its own queue, concurrency limit and
// circuit breaker, so that a slow or dead receiver delays only its own
// app's events. Within an app, an event waits for the earlier events of
// the same call; events of different calls may overtake one another
// (with concurrency 1, an app's events arrive in outbox order).
//
// It must not touch call rules or records, and must not block its
// callers: Notify never blocks, the other methods wait only for Run.
package webhook

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"time"

	"callbox/store"
)

// Clock is the dispatcher's time: Now, and a channel that fires at a
// deadline with a function that stops it. Tests step a fake one.
type Clock interface {
	Now() time.Time
	At(t time.Time) (<-chan time.Time, func() bool)
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) At(t time.Time) (<-chan time.Time, func() bool) {
	tm := time.NewTimer(time.Until(t))
	return tm.C, tm.Stop
}

// Backoff is the wait after an event's n-th failed attempt (the last one
// repeats), before jitter: doubling from 1 s to 5 min.
var Backoff = []time.Duration{
	1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second,
	32 * time.Second, 64 * time.Second, 128 * time.Second, 256 * time.Second, 5 * time.Minute,
}

func backoff(n int) time.Duration {
	return Backoff[min(max(n, 1), len(Backoff))-1]
}

// breakerAfter is how many failed attempts in a row, with no success in
// between, make an app's queue send one probe at a time on the backoff
// table instead of up to its concurrency: a receiver that is down gets a
// trickle, not every queued event at once.
const breakerAfter = 3

// DefaultWindow is how many of an app's queued entries are held in
// memory; the rest wait in the store and are read as the window empties.
const DefaultWindow = 256

// Config configures a Dispatcher. Store is required.
type Config struct {
	Store *store.Store
	// Client makes the requests; default NewClient(Self).
	Client *http.Client
	// Self reports an address of this server's own HTTP listener; the
	// default client refuses to connect to one.
	Self func(netip.AddrPort) bool
	// Clock defaults to the real one.
	Clock Clock
	// Jitter spreads a backoff wait; default uniform in [d/2, d].
	Jitter func(time.Duration) time.Duration
	// Logger defaults to discarding.
	Logger *slog.Logger
	// UserAgent of the requests, e.g. "callbox/1.0".
	UserAgent string
	// Window is DefaultWindow when zero.
	Window int
}

// Dispatcher drains the outbox. Create it with New, start Run once.
type Dispatcher struct {
	cfg  Config
	log  *slog.Logger
	wake chan struct{} // capacity 1: a pending wake-up
	reqs chan func(*runner)
	done chan struct{} // closed when Run returns
	totals
}

// ErrNotRunning is returned by the methods that need Run when it has
// stopped.
var ErrNotRunning = errors.New("webhook dispatcher is not running")

// New returns a dispatcher; it starts nothing (Run does).
func New(cfg Config) *Dispatcher {
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	if cfg.Client == nil {
		cfg.Client = NewClient(cfg.Self)
	}
	if cfg.Jitter == nil {
		cfg.Jitter = func(d time.Duration) time.Duration { return d/2 + rand.N(d/2+1) }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	return &Dispatcher{
		cfg:  cfg,
		log:  cfg.Logger.With("component", "webhook"),
		wake: make(chan struct{}, 1),
		reqs: make(chan func(*runner)),
		done: make(chan struct{}),
	}
}

// Notify says that events were queued. It never blocks: wake-ups that
// arrive while one is pending fold into it.
func (d *Dispatcher) Notify() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// do runs fn on Run's goroutine and waits for it.
func (d *Dispatcher) do(ctx context.Context, fn func(*runner)) error {
	ran := make(chan struct{})
	select {
	case d.reqs <- func(r *runner) { fn(r); close(ran) }:
	case <-ctx.Done():
		return ctx.Err()
	case <-d.done:
		return ErrNotRunning
	}
	select {
	case <-ran:
		return nil
	case <-d.done:
		return ErrNotRunning
	}
}

// Reload re-reads an app's configuration (after it was set or deleted):
// queued events it no longer wants are dropped, and the others are
// retried at once (a fixed URL need not wait out the backoff).
func (d *Dispatcher) Reload(ctx context.Context, app uint32) error {
	var err error
	if derr := d.do(ctx, func(r *runner) { err = r.reload(app) }); derr != nil {
		return derr
	}
	return err
}

// Drain waits until nothing is in flight or due and every outcome is
// stored, or ctx ends: at shutdown, after the last calls ended, so that
// their events go out before the store closes. Events waiting out a
// backoff do not hold it up.
func (d *Dispatcher) Drain(ctx context.Context) error {
	idle := make(chan struct{})
	if err := d.do(ctx, func(r *runner) {
		// A wake-up not taken yet would leave events unread.
		select {
		case <-d.wake:
			r.loadAll()
		default:
		}
		r.drainers = append(r.drainers, idle)
	}); err != nil {
		return err
	}
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-d.done:
		return ErrNotRunning
	}
}

// ErrNoEvent means Retry found no such event queued or dead.
var ErrNoEvent = errors.New("no such event queued or dead (delivered events are not kept)")

// Retry sends an app's event again now: a dead letter goes back to the
// queue with its event id, a queued event skips the rest of its backoff
// (and the app's breaker waits no longer for its next probe). An empty
// eventID retries every dead letter of the app. It returns how many
// events it touched; ErrNoEvent when eventID names none.
func (d *Dispatcher) Retry(ctx context.Context, app uint32, eventID string) (int, error) {
	var n int
	var err error
	derr := d.do(ctx, func(r *runner) {
		if n, err = RequeueDead(d.cfg.Store, app, eventID, r.d.cfg.Clock.Now()); err != nil {
			return
		}
		r.loadAll()
		if l := r.lanes[app]; l != nil {
			l.probeAt = time.Time{}
		}
		if n == 0 && eventID != "" {
			if !r.retryNow(app, eventID) {
				err = ErrNoEvent
				return
			}
			n = 1
		}
	})
	if derr != nil {
		return 0, derr
	}
	return n, err
}

// RequeueDead puts an app's dead letter with this event id (all of them
// when eventID is "") back in the outbox, for the dispatcher to send as
// new, and returns how many it moved.
func RequeueDead(st *store.Store, app uint32, eventID string, now time.Time) (int, error) {
	n := 0
	err := st.Update(func(tx *store.Tx) error {
		dead, err := tx.DeadEntries(app)
		if err != nil {
			return err
		}
		for _, e := range dead {
			if eventID != "" && e.EventID != eventID {
				continue
			}
			if _, err := tx.RequeueDead(app, e.Seq, now); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}
