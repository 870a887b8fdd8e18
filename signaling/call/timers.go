package call

import (
	"cmp"
	"slices"
	"time"

	"callbox/signaling/call/record"
)

// Timers are data (STYLE §3): the signaling server arms one timer for
// NextDeadline and calls Expire when it fires.

type deadline struct {
	at    time.Time
	key   callKey
	user  string
	grace bool // grace expiry, else invite timeout
}

// Expire fires every deadline <= now, earliest first, each at its own
// time (a timeout's events and webhooks carry the deadline, not now). It
// returns one Transition per fired deadline.
func (e *Engine) Expire(now time.Time) []Transition {
	e.prune(now)
	var due []deadline
	for _, k := range e.dueCalls(now) {
		c := e.calls[k]
		for u, t := range c.ringAt {
			if !t.After(now) {
				due = append(due, deadline{t, k, u, false})
			}
		}
		for u, t := range c.graceAt {
			if !t.After(now) {
				due = append(due, deadline{t, k, u, true})
			}
		}
	}
	slices.SortFunc(due, func(a, b deadline) int {
		return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.key.app, b.key.app),
			cmp.Compare(a.key.id, b.key.id), cmp.Compare(a.user, b.user))
	})
	var out []Transition
	for _, d := range due {
		c := e.touch(d.key)
		if c == nil { // ended by an earlier deadline
			continue
		}
		if d.grace {
			if t, ok := c.graceAt[d.user]; !ok || !t.Equal(d.at) {
				continue
			}
			b := e.begin(c, d.at)
			b.interrupt(c.part(d.user))
			out = append(out, b.done())
			continue
		}
		if t, ok := c.ringAt[d.user]; !ok || !t.Equal(d.at) {
			continue
		}
		if p := c.part(d.user); p.State == record.PartInvited || p.State == record.PartRinging {
			out = append(out, e.timeout(c, d.user, d.at))
		}
	}
	return out
}
