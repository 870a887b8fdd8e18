package webhook

import (
	"context"
	"errors"
	"slices"
	"time"

	"callbox/store"
)

// AppStats is one app's queue, for the control socket's GET /health and
// `callbox webhook get`.
type AppStats struct {
	SDKAppID uint32 `json:"sdkappid"`
	// Configured is false for an app whose queued events are being
	// dropped because it has no webhook.
	Configured bool `json:"configured"`
	// Pending is the queue depth: events in the outbox, in flight
	// included; OldestPending is when the oldest of them was queued.
	Pending       int       `json:"pending"`
	OldestPending time.Time `json:"oldestPending,omitzero"`
	InFlight      int       `json:"inFlight"`
	Dead          int       `json:"dead"` // parked, waiting for `webhook retry`
	// FailingSince counts failed attempts since the last delivery.
	Failures     int       `json:"failures"`
	LastError    string    `json:"lastError,omitempty"`
	LastErrorAt  time.Time `json:"lastErrorAt,omitzero"`
	LastDelivery time.Time `json:"lastDelivery,omitzero"`
}

// Stats describes the queue of every app that has a webhook, queued
// events or dead letters, in SDKAppID order. Without a running
// dispatcher the in-memory parts (in flight, failures) are zero.
func (d *Dispatcher) Stats(ctx context.Context) ([]AppStats, error) {
	mem := map[uint32]AppStats{}
	err := d.do(ctx, func(r *runner) {
		for app, l := range r.lanes {
			mem[app] = AppStats{InFlight: l.inflight, Failures: l.fails, LastError: l.lastError,
				LastErrorAt: l.lastErrorAt, LastDelivery: l.lastOK}
		}
	})
	if err != nil && !errors.Is(err, ErrNotRunning) {
		return nil, err
	}
	out, err := QueueStats(d.cfg.Store)
	for i := range out {
		m := mem[out[i].SDKAppID]
		out[i].InFlight, out[i].Failures, out[i].LastError = m.InFlight, m.Failures, m.LastError
		out[i].LastErrorAt, out[i].LastDelivery = m.LastErrorAt, m.LastDelivery
	}
	return out, err
}

// QueueStats reads the stored part of every app's queue: configured or
// not, depth, oldest entry and dead letters.
func QueueStats(st *store.Store) ([]AppStats, error) {
	var out []AppStats
	err := st.View(func(tx *store.Tx) error {
		hooks, err := tx.Webhooks()
		if err != nil {
			return err
		}
		queued, err := tx.OutboxApps()
		if err != nil {
			return err
		}
		dead, err := tx.DeadApps()
		if err != nil {
			return err
		}
		apps := slices.Concat(queued, dead)
		for _, w := range hooks {
			apps = append(apps, w.SDKAppID)
		}
		slices.Sort(apps)
		for _, app := range slices.Compact(apps) {
			s := AppStats{SDKAppID: app}
			s.Configured = slices.ContainsFunc(hooks, func(w store.Webhook) bool { return w.SDKAppID == app })
			if s.Pending, s.OldestPending, err = tx.OutboxDepth(app); err != nil {
				return err
			}
			if s.Dead, err = tx.DeadCount(app); err != nil {
				return err
			}
			out = append(out, s)
		}
		return nil
	})
	return out, err
}
