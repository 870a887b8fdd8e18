package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"callbox/store"
)

// runner is Run's state; only Run's goroutine touches it.
type runner struct {
	d       *Dispatcher
	ctx     context.Context
	lanes   map[uint32]*lane
	results chan attempt
	flying  int // attempts in flight, all apps

	// ops wait for the writer; writing is the batch it has.
	ops      []op
	writing  []op
	writes   chan []op
	written  chan error
	writeErr time.Time // a failed batch is retried from then

	timer    <-chan time.Time
	timerAt  time.Time
	stopTmr  func() bool
	needLoad bool
	drainers []chan struct{}
}

// op is one store change for the writer.
type op struct {
	app      uint32
	ack      uint64          // outbox seq to delete, or 0
	delivery *store.Delivery // to log, or nil
	dead     *store.DeadEntry
}

// attempt is a finished request.
type attempt struct {
	app uint32
	it  *item
	res Result
}

// Run delivers until ctx ends. It then abandons the requests in flight
// (their events stay queued), stores what is known and returns; an error
// means the store could not be read at start.
func (d *Dispatcher) Run(ctx context.Context) error {
	defer close(d.done)
	r := &runner{
		d: d, ctx: ctx, lanes: map[uint32]*lane{},
		results: make(chan attempt, 64),
		writes:  make(chan []op),
		written: make(chan error),
	}
	if err := r.start(); err != nil {
		return err
	}
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for batch := range r.writes {
			r.written <- d.cfg.Store.Update(func(tx *store.Tx) error { return apply(tx, batch) })
		}
	}()
	defer func() {
		close(r.writes)
		<-writerDone
	}()
	for {
		if r.needLoad {
			r.loadAll()
		}
		r.pump()
		select {
		case <-ctx.Done():
			return r.stop()
		case <-d.wake:
			r.loadAll()
		case fn := <-d.reqs:
			fn(r)
		case a := <-r.results:
			r.finish(a)
			for more := true; more; {
				select {
				case a := <-r.results:
					r.finish(a)
				default:
					more = false
				}
			}
		case err := <-r.written:
			r.wrote(err)
		case <-r.timer:
			r.timer, r.timerAt = nil, time.Time{}
		}
	}
}

// start reads every configuration and the first window of every queue.
func (r *runner) start() error {
	var hooks []store.Webhook
	err := r.d.cfg.Store.View(func(tx *store.Tx) error {
		var err error
		hooks, err = tx.Webhooks()
		return err
	})
	if err != nil {
		return fmt.Errorf("webhook: read configuration: %w", err)
	}
	for _, w := range hooks {
		r.lane(w.SDKAppID).configure(w, true)
	}
	r.loadAll()
	return nil
}

// lane returns an app's queue, making it (unconfigured) if needed.
func (r *runner) lane(app uint32) *lane {
	l := r.lanes[app]
	if l == nil {
		l = &lane{app: app}
		r.lanes[app] = l
	}
	return l
}

// loadAll tops up every app's window from the outbox; entries the app
// does not want (no webhook, or that kind of event switched off) are
// dropped.
func (r *runner) loadAll() {
	r.needLoad = false
	window := r.d.cfg.Window
	err := r.d.cfg.Store.View(func(tx *store.Tx) error {
		apps, err := tx.OutboxApps()
		if err != nil {
			return err
		}
		for _, app := range apps {
			l := r.lane(app)
			room := window - len(l.items)
			if room <= 0 {
				l.more = true
				continue
			}
			entries, err := tx.AppOutbox(app, l.after, room)
			if err != nil {
				return err
			}
			l.more = len(entries) == room
			for _, e := range entries {
				l.after = e.Seq
				if !l.has || !Wants(l.cfg, e.Command) {
					r.drop(l, e)
					continue
				}
				l.items = append(l.items, newItem(e))
			}
		}
		return nil
	})
	if err != nil {
		// The entries stay in the store; the next wake-up reads again.
		r.d.log.Error("webhook outbox not read", "err", err)
	}
}

func (r *runner) drop(l *lane, e store.OutboxEntry) {
	l.dropped++
	r.ops = append(r.ops, op{app: l.app, ack: e.Seq})
	r.d.log.Debug("webhook event dropped: not wanted by the app's configuration", "app_id", l.app, "seq", e.Seq, "command", e.Command)
}

func newItem(e store.OutboxEntry) *item {
	var ref struct{ CallId string }
	_ = json.Unmarshal(e.Body, &ref) // a body that is not JSON has no call
	return &item{e: e, callID: ref.CallId}
}

// reload applies an app's stored configuration.
func (r *runner) reload(app uint32) error {
	var w store.Webhook
	err := r.d.cfg.Store.View(func(tx *store.Tx) error {
		var err error
		w, err = tx.Webhook(app)
		return err
	})
	has := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("webhook of app %d: %w", app, err)
	}
	l := r.lane(app)
	l.configure(w, has)
	kept := l.items[:0]
	for _, it := range l.items {
		if !it.inflight && (!l.has || !Wants(l.cfg, it.e.Command)) {
			r.drop(l, it.e)
			continue
		}
		it.nextAt = time.Time{}
		kept = append(kept, it)
	}
	clear(l.items[len(kept):])
	l.items = kept
	r.needLoad = true
	return nil
}

// retryNow makes a queued event due at once. One beyond the window
// (never tried yet) is only found: it goes in its turn.
func (r *runner) retryNow(app uint32, eventID string) bool {
	if l := r.lanes[app]; l != nil {
		for _, it := range l.items {
			if it.e.EventID == eventID {
				it.nextAt, l.probeAt = time.Time{}, time.Time{}
				return true
			}
		}
	}
	found := false
	_ = r.d.cfg.Store.View(func(tx *store.Tx) error {
		queued, err := tx.AppOutbox(app, 0, 0)
		found = slices.ContainsFunc(queued, func(e store.OutboxEntry) bool { return e.EventID == eventID })
		return err
	})
	return found
}

// pump starts every attempt that is due, arms the timer for the next one,
// hands pending store changes to the writer and wakes drainers.
func (r *runner) pump() {
	now := r.d.cfg.Clock.Now()
	var next time.Time
	for _, l := range r.lanes {
		for _, it := range l.due(now, &next) {
			r.send(l, it, now)
		}
	}
	if r.writing == nil && len(r.ops) > 0 {
		if r.writeErr.IsZero() || !now.Before(r.writeErr) {
			n := min(len(r.ops), 4096)
			r.writing = r.ops[:n:n]
			r.ops = r.ops[n:]
			r.writes <- r.writing
		} else if next.IsZero() || r.writeErr.Before(next) {
			next = r.writeErr
		}
	}
	if r.flying == 0 && r.writing == nil && len(r.ops) == 0 {
		for _, ch := range r.drainers {
			close(ch)
		}
		r.drainers = nil
	}
	r.arm(next)
}

func (r *runner) arm(next time.Time) {
	if next.Equal(r.timerAt) {
		return
	}
	if r.stopTmr != nil {
		r.stopTmr()
	}
	r.timer, r.timerAt, r.stopTmr = nil, next, nil
	if !next.IsZero() {
		r.timer, r.stopTmr = r.d.cfg.Clock.At(next)
	}
}

// send starts one attempt in a goroutine that Run waits for (stop).
func (r *runner) send(l *lane, it *item, now time.Time) {
	it.inflight = true
	it.attempts++
	l.inflight++
	r.flying++
	req := Request{
		URL: l.cfg.URL, Token: l.cfg.Token, SDKAppID: l.app, Command: it.e.Command, EventID: it.e.EventID,
		Body: it.e.Body, Now: now, Timeout: l.cfg.Timeout, UserAgent: r.d.cfg.UserAgent,
	}
	hc, ctx, app := r.d.cfg.Client, r.ctx, l.app
	go func() {
		r.results <- attempt{app: app, it: it, res: Send(ctx, hc, req)}
	}()
}

// finish records an attempt's outcome.
func (r *runner) finish(a attempt) {
	l, it, res := r.lanes[a.app], a.it, a.res
	it.inflight = false
	l.inflight--
	r.flying--
	if res.Err != nil && r.ctx.Err() != nil {
		return // abandoned at shutdown: not the receiver's failure
	}
	now := r.d.cfg.Clock.Now()
	d := &store.Delivery{At: now, Seq: it.e.Seq, EventID: it.e.EventID, Command: it.e.Command,
		Attempt: it.attempts, Status: res.Status, Latency: res.Latency}
	log := r.d.log.With("app_id", l.app, "seq", it.e.Seq, "event_id", it.e.EventID, "command", it.e.Command, "attempt", it.attempts)
	if res.Err == nil {
		if l.fails > 0 {
			log.Info("webhook receiver answers again", "failed_attempts", l.fails)
		}
		l.succeeded(now)
		r.d.totals.delivered.Add(1)
		l.remove(it)
		r.ops = append(r.ops, op{app: l.app, ack: it.e.Seq, delivery: d})
		r.needLoad = r.needLoad || l.more
		return
	}
	d.Error = res.Err.Error()
	if l.fails == 0 {
		log.Warn("webhook delivery failed; retrying with backoff", "status", res.Status, "err", res.Err)
	} else {
		log.Debug("webhook delivery failed", "status", res.Status, "err", res.Err)
	}
	l.failed(now, d.Error, r.d.cfg.Jitter)
	r.d.totals.failed.Add(1)
	switch {
	case !l.has || !Wants(l.cfg, it.e.Command):
		l.remove(it)
		r.drop(l, it.e)
		r.ops = append(r.ops, op{app: l.app, delivery: d})
	case !now.Before(it.e.Created.Add(l.cfg.RetryFor)):
		d.Dead = true
		log.Error("webhook event parked as dead: retries ran out", "retry_for", l.cfg.RetryFor, "err", res.Err)
		l.remove(it)
		r.ops = append(r.ops, op{app: l.app, delivery: d,
			dead: &store.DeadEntry{OutboxEntry: it.e, Attempts: it.attempts, LastError: d.Error, DeadAt: now}})
		r.needLoad = r.needLoad || l.more
	default:
		it.nextAt = now.Add(r.d.cfg.Jitter(backoff(it.attempts)))
		r.ops = append(r.ops, op{app: l.app, delivery: d})
	}
}

// wrote takes the writer's answer for the batch it had.
func (r *runner) wrote(err error) {
	if err != nil {
		// Nothing of the batch is stored: keep it, try again in a second.
		// Until then a crash only means deliveries made twice.
		r.d.log.Error("webhook outcomes not stored; retrying", "ops", len(r.writing), "err", err)
		r.ops = append(r.writing, r.ops...)
		r.writeErr = r.d.cfg.Clock.Now().Add(time.Second)
	} else {
		r.writeErr = time.Time{}
	}
	r.writing = nil
}

// apply makes a batch's changes in one transaction.
func apply(tx *store.Tx, batch []op) error {
	for _, o := range batch {
		switch {
		case o.dead != nil:
			if err := tx.ParkOutbox(*o.dead); err != nil {
				return err
			}
		case o.ack != 0:
			if err := tx.AckOutbox(o.app, o.ack); err != nil {
				return err
			}
		}
		if o.delivery != nil {
			if err := tx.AppendDelivery(o.app, *o.delivery); err != nil {
				return err
			}
		}
	}
	return nil
}

// stop ends Run: it waits for the requests in flight (cancelled with
// ctx; one that was answered still counts) and stores what is pending.
func (r *runner) stop() error {
	defer r.d.cfg.Client.CloseIdleConnections()
	for r.flying > 0 {
		r.finish(<-r.results)
	}
	if r.writing != nil {
		r.wrote(<-r.written)
	}
	if r.stopTmr != nil {
		r.stopTmr()
	}
	if len(r.ops) == 0 {
		return nil
	}
	r.writes <- r.ops
	if err := <-r.written; err != nil {
		r.d.log.Error("webhook outcomes not stored at shutdown; those events will be sent again", "ops", len(r.ops), "err", err)
	}
	return nil
}
