package turn

import (
	"net"
	"sync"
	"time"
)

// pendingTimeout drops a reservation that pion never resolved (neither
// created nor errored); it only guards against paths we did not foresee.
const pendingTimeout = 30 * time.Second

// quota counts live allocations per user (the user part of the spec §5
// username, so every credential of one user shares the quota).
//
// pion asks QuotaHandler and then creates the allocation in the same
// goroutine, but a TCP client may run one such goroutine per connection, so
// an accepted request holds a pending slot, keyed by its source address,
// until pion reports the allocation created (OnAllocationCreated) or the
// request failed (OnAllocationError). Counts go down on OnAllocationDeleted,
// which pion raises on expiry, on Refresh(0) and when a TCP connection ends.
type quota struct {
	limit int
	now   func() time.Time

	mu      sync.Mutex
	live    map[string]int        // user -> live allocations
	pending map[string]pendingRes // network/src -> reservation
}

type pendingRes struct {
	user string
	at   time.Time
}

func newQuota(limit int, now func() time.Time) *quota {
	return &quota{limit: limit, now: now, live: map[string]int{}, pending: map[string]pendingRes{}}
}

func addrKey(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.Network() + "/" + a.String()
}

// reserve takes a slot for user's new allocation from src, or reports false
// when the user is at the limit.
func (q *quota) reserve(user string, src net.Addr) bool {
	now := q.now()
	q.mu.Lock()
	defer q.mu.Unlock()
	n := q.live[user]
	for k, p := range q.pending {
		if now.Sub(p.at) > pendingTimeout {
			delete(q.pending, k)
			continue
		}
		if p.user == user {
			n++
		}
	}
	if n >= q.limit {
		return false
	}
	q.pending[addrKey(src)] = pendingRes{user: user, at: now}
	return true
}

// created turns src's reservation into a live allocation of user.
func (q *quota) created(user string, src net.Addr) {
	q.mu.Lock()
	delete(q.pending, addrKey(src))
	q.live[user]++
	q.mu.Unlock()
}

// failed drops src's reservation, if any.
func (q *quota) failed(src net.Addr) {
	q.mu.Lock()
	delete(q.pending, addrKey(src))
	q.mu.Unlock()
}

// deleted releases one live allocation of user.
func (q *quota) deleted(user string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.live[user] <= 1 {
		delete(q.live, user)
		return
	}
	q.live[user]--
}

// snapshot copies the live counts.
func (q *quota) snapshot() map[string]int {
	q.mu.Lock()
	defer q.mu.Unlock()
	m := make(map[string]int, len(q.live))
	for u, n := range q.live {
		m[u] = n
	}
	return m
}
