package appliance

import (
	"sync"
	"time"
)

// Console login back-off: after loginFailures failed logins from one IP
// address, or for one account, within loginBackoff, further attempts are
// refused until loginBackoff after the last failure. A success clears
// both. An address that has logged in to an account before (within
// trustFor) is not held back by that account's failures from elsewhere,
// only by its own: whoever guesses at an account's password from other
// addresses cannot lock its owner out. It lives in memory: a restart
// clears it, as does `callbox admin passwd` for a locked-out owner who has
// a shell.
const (
	loginFailures = 5
	loginBackoff  = 15 * time.Minute
	trustFor      = 30 * 24 * time.Hour
	// maxLimitEntries bounds the table; past it, stale entries go.
	maxLimitEntries = 10000
)

type loginLimiter struct {
	now func() time.Time

	mu      sync.Mutex
	byIP    map[string]*failures
	byUser  map[string]*failures
	trusted map[ipUser]time.Time // last successful login of an account from an address
}

type ipUser struct{ ip, user string }

type failures struct {
	n    int
	last time.Time
}

func newLoginLimiter(now func() time.Time) *loginLimiter {
	return &loginLimiter{now: now, byIP: map[string]*failures{}, byUser: map[string]*failures{}, trusted: map[ipUser]time.Time{}}
}

// blocked returns how long ip or user must still wait; 0 = go ahead.
// user "" is not counted (the setup link).
func (l *loginLimiter) blocked(ip, user string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	wait := l.waitLocked(l.byIP[ip], now)
	if user != "" && !l.trustedLocked(ip, user, now) {
		wait = max(wait, l.waitLocked(l.byUser[user], now))
	}
	return wait
}

// trustedLocked says ip logged in to user within trustFor.
func (l *loginLimiter) trustedLocked(ip, user string, now time.Time) bool {
	at, ok := l.trusted[ipUser{ip, user}]
	return ok && now.Sub(at) <= trustFor
}

func (l *loginLimiter) waitLocked(f *failures, now time.Time) time.Duration {
	if f == nil || f.n < loginFailures {
		return 0
	}
	return max(f.last.Add(loginBackoff).Sub(now), 0)
}

func (l *loginLimiter) fail(ip, user string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.byIP)+len(l.byUser) > maxLimitEntries {
		l.sweepLocked(now)
	}
	bump := func(m map[string]*failures, k string) {
		f := m[k]
		if f == nil || now.Sub(f.last) > loginBackoff {
			f = &failures{}
			m[k] = f
		}
		f.n++
		f.last = now
	}
	bump(l.byIP, ip)
	if user != "" && !l.trustedLocked(ip, user, now) {
		bump(l.byUser, user) // an owner's own typos do not count against the account
	}
}

func (l *loginLimiter) succeed(ip, user string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.byIP, ip)
	delete(l.byUser, user)
	if user != "" {
		if len(l.trusted) >= maxLimitEntries {
			l.sweepLocked(l.now())
		}
		l.trusted[ipUser{ip, user}] = l.now()
	}
}

// sweepLocked drops the entries whose failures no longer count and, if
// that is not enough (a flood from many addresses), those that do not
// hold anyone back yet.
func (l *loginLimiter) sweepLocked(now time.Time) {
	for k, at := range l.trusted {
		if now.Sub(at) > trustFor || len(l.trusted) >= maxLimitEntries {
			delete(l.trusted, k) // past the bound, the oldest go first only by luck: rare
		}
	}
	for _, m := range []map[string]*failures{l.byIP, l.byUser} {
		for k, f := range m {
			if now.Sub(f.last) > loginBackoff {
				delete(m, k)
			}
		}
	}
	if len(l.byIP)+len(l.byUser) > maxLimitEntries {
		for _, m := range []map[string]*failures{l.byIP, l.byUser} {
			for k, f := range m {
				if f.n < loginFailures {
					delete(m, k)
				}
			}
		}
	}
}
