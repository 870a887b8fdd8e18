package signaling

import (
	"errors"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"callbox/signaling/call"
	"callbox/signaling/call/record"
)

// inviteBuckets are the upper bounds of the invite-delivery latency
// histogram: from a call request's arrival to the invitee's onInvited
// being queued to its connection (a new call's invitations go out before
// its commit; one re-sent at a later login, after that login's commit).
var inviteBuckets = [...]time.Duration{
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond,
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2500 * time.Millisecond,
}

// Metrics counts what signaling does, for the appliance's /metrics. Each
// count is taken once per request or call transition, never per media
// packet; a scrape reads them with Snapshot. A nil *Metrics counts
// nothing. Give one to Config.Metrics.
type Metrics struct {
	logins     atomic.Uint64
	callSetups atomic.Uint64
	invites    [len(inviteBuckets) + 1]atomic.Uint64 // per bucket, the last for +Inf
	inviteSum  atomic.Int64                          // nanoseconds

	mu            sync.Mutex
	loginFailures map[int]uint64    // by protocol error code
	callResults   map[string]uint64 // by CallResult
}

// MetricsSnapshot is Metrics at one moment.
type MetricsSnapshot struct {
	Logins        uint64            // successful logins
	LoginFailures map[int]uint64    // refused logins by error code
	CallSetups    uint64            // calls started
	CallResults   map[string]uint64 // ended calls by CallResult
	// Invite holds the invite-delivery latencies: Buckets[i] counts those
	// up to InviteBuckets()[i] (not cumulative), Count and Sum all of them.
	InviteBuckets []uint64
	InviteCount   uint64
	InviteSum     time.Duration
}

// InviteBuckets returns the invite-delivery histogram's upper bounds.
func InviteBuckets() []time.Duration { return inviteBuckets[:] }

// login counts a login's outcome (err nil: logged in).
func (m *Metrics) login(err error) {
	if m == nil {
		return
	}
	if err == nil {
		m.logins.Add(1)
		return
	}
	code := CodeInternal
	var e *Error
	if errors.As(err, &e) {
		code = e.Code
	}
	m.mu.Lock()
	if m.loginFailures == nil {
		m.loginFailures = map[int]uint64{}
	}
	m.loginFailures[code]++
	m.mu.Unlock()
}

// applied counts a stored transition: a new call, an ended one, and the
// latency of the invitations it delivers (queued: when its request came).
// A new call's own invitations are counted by stepStart, which sends them
// ahead of the commit.
func (m *Metrics) applied(tr call.Transition, queued, now time.Time) {
	if m == nil || tr.IsZero() {
		return
	}
	rec := tr.Call
	if rec.State == record.CallRinging && len(tr.Joined) > 0 && tr.Joined[0] == rec.Caller {
		m.callSetups.Add(1)
	}
	if tr.Ended() {
		m.mu.Lock()
		if m.callResults == nil {
			m.callResults = map[string]uint64{}
		}
		m.callResults[rec.Result]++
		m.mu.Unlock()
	}
	for _, ev := range tr.Events {
		if ev.Name == call.EvInvited {
			m.invited(queued, now)
		}
	}
}

// invited counts one invitation queued to its invitee at now for a
// request that arrived at queued.
func (m *Metrics) invited(queued, now time.Time) {
	if m == nil {
		return
	}
	d := max(now.Sub(queued), 0)
	i := 0
	for i < len(inviteBuckets) && d > inviteBuckets[i] {
		i++
	}
	m.invites[i].Add(1)
	m.inviteSum.Add(int64(d))
}

// Snapshot reads the counters.
func (m *Metrics) Snapshot() MetricsSnapshot {
	s := MetricsSnapshot{Logins: m.logins.Load(), CallSetups: m.callSetups.Load(),
		InviteBuckets: make([]uint64, len(inviteBuckets)), InviteSum: time.Duration(m.inviteSum.Load())}
	for i := range m.invites {
		n := m.invites[i].Load()
		if i < len(inviteBuckets) {
			s.InviteBuckets[i] = n
		}
		s.InviteCount += n
	}
	m.mu.Lock()
	s.LoginFailures = maps.Clone(m.loginFailures)
	s.CallResults = maps.Clone(m.callResults)
	m.mu.Unlock()
	return s
}

// ConnectedUsers is how many users are logged in now, over all apps.
func (s *Server) ConnectedUsers() int {
	s.regMu.RLock()
	defer s.regMu.RUnlock()
	return len(s.users)
}
