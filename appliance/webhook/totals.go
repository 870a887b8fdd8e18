package webhook

import "sync/atomic"

// totals count delivery attempts since the start, for /metrics: atomics,
// so a scrape need not ask the dispatcher's goroutine.
type totals struct {
	delivered atomic.Uint64 // events acknowledged by their receiver
	failed    atomic.Uint64 // attempts that failed (each retry counts)
}

// Totals returns the events delivered and the failed attempts since the
// dispatcher was made.
func (d *Dispatcher) Totals() (delivered, failed uint64) {
	return d.totals.delivered.Load(), d.totals.failed.Load()
}
