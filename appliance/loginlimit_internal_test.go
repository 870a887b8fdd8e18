package appliance

import (
	"fmt"
	"testing"
	"time"
)

// The back-off on its own clock: five failures hold an address back for
// 15 minutes after the last one, then it may try again; failures older
// than the back-off do not add up; the table stays bounded.
func TestLoginLimiter(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	l := newLoginLimiter(func() time.Time { return now })
	for i := range loginFailures {
		if w := l.blocked("10.0.0.1", "root"); w != 0 {
			t.Fatalf("blocked before failure %d", i+1)
		}
		l.fail("10.0.0.1", "root")
		now = now.Add(time.Minute)
	}
	if w := l.blocked("10.0.0.2", "root"); w != loginBackoff-time.Minute {
		t.Fatalf("account blocked for %v, want %v", w, loginBackoff-time.Minute)
	}
	if w := l.blocked("10.0.0.1", "other"); w == 0 {
		t.Fatal("address not blocked")
	}
	now = now.Add(loginBackoff)
	if w := l.blocked("10.0.0.1", "root"); w != 0 {
		t.Fatalf("still blocked after the back-off: %v", w)
	}
	// Spread out, failures never add up to a block.
	for range 2 * loginFailures {
		l.fail("10.0.0.3", "")
		now = now.Add(loginBackoff + time.Second)
	}
	if w := l.blocked("10.0.0.3", ""); w != 0 {
		t.Fatalf("slow failures blocked for %v", w)
	}
	// A success clears both.
	for range loginFailures {
		l.fail("10.0.0.4", "ops")
	}
	l.succeed("10.0.0.4", "ops")
	if w := l.blocked("10.0.0.4", "ops"); w != 0 {
		t.Fatalf("blocked after a success: %v", w)
	}
	// Guesses at an account from elsewhere do not lock its owner out of
	// an address it logged in from before; they do everyone else, and
	// the owner's own address still pays for its own failures.
	l.succeed("192.0.2.7", "owner")
	for i := range 2 * loginFailures {
		l.fail(fmt.Sprintf("198.51.100.%d", i), "owner")
	}
	if w := l.blocked("203.0.113.9", "owner"); w == 0 {
		t.Error("the account is not held back for a new address")
	}
	if w := l.blocked("192.0.2.7", "owner"); w != 0 {
		t.Errorf("the owner's address is held back %v by others' guesses", w)
	}
	for range loginFailures {
		l.fail("192.0.2.7", "owner")
	}
	if w := l.blocked("192.0.2.7", "owner"); w == 0 {
		t.Error("the owner's address is not held back by its own failures")
	}
	now = now.Add(loginBackoff + time.Second)
	l.succeed("192.0.2.7", "owner")
	now = now.Add(trustFor + time.Hour)
	for i := range loginFailures {
		l.fail(fmt.Sprintf("198.51.100.%d", i), "owner")
	}
	if w := l.blocked("192.0.2.7", "owner"); w == 0 {
		t.Error("trust outlived trustFor")
	}

	// A flood from many addresses keeps the table bounded and the
	// blocks that count.
	for range loginFailures {
		l.fail("10.9.9.9", "")
	}
	for i := range 3 * maxLimitEntries {
		l.fail(fmt.Sprintf("fd00::%x", i), "")
	}
	if n := len(l.byIP) + len(l.byUser); n > maxLimitEntries+1 {
		t.Errorf("%d entries after a flood", n)
	}
	if l.blocked("10.9.9.9", "") == 0 {
		t.Error("the flood lifted a block")
	}
}
