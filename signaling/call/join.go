package call

import (
	"time"

	"callbox/signaling/call/record"
)

// Join enters a live group call without a ringing invitation (TUICallKit's
// join / joinInGroupCall; webhook join_in_group_call). callbox has no IM
// groups to say who may join, so the call itself says it: a user the call
// ever invited (who rejected, missed, was busy, or left) may join it again
// while it lives; nobody else may, so a call id alone does not let a
// stranger listen in. A user whose invitation still rings joins by
// accepting it. The others see the newcomer as after an accept, without
// onUserAccept.
func (e *Engine) Join(now time.Time, app uint32, user, callID string) (Transition, error) {
	e.prune(now)
	c, err := e.lookup(app, callID)
	if err != nil {
		return Transition{}, err
	}
	if !c.group {
		return Transition{}, errf(ErrNotGroup, "%q", callID)
	}
	p := c.part(user)
	switch {
	case p == nil:
		return Transition{}, errf(ErrNotInCall, "%q was never invited to %q", user, callID)
	case p.State == record.PartJoined:
		return Transition{}, errf(ErrAlreadyJoined, "%q in %q", user, callID)
	case p.State == record.PartInvited || p.State == record.PartRinging:
		return e.Accept(now, app, user, callID)
	}
	if _, busy := e.users[userKey{app, user}]; busy {
		return Transition{}, errf(ErrBusy, "%q", user)
	}
	b := e.begin(c, now)
	p.LeftAt, p.Interrupted = time.Time{}, false
	e.setUser(userKey{app, user}, callID)
	b.enter(p, false)
	b.userHook(user, HookJoinInGroupCall, "")
	return b.done(), nil
}

// Ignore silences a ringing invitation without declining it (TUICallEngine's
// ignore()): the inviter side hears the line busy, as from a callee already
// in a call (S4), and the ignoring user gets nothing. A 1:1 call ends with
// CallResult call_busy; webhooks callee ignore_call and caller call_busy.
func (e *Engine) Ignore(now time.Time, app uint32, user, callID string) (Transition, error) {
	e.prune(now)
	c, p, err := e.pendingPart(now, app, user, callID)
	if err != nil {
		return Transition{}, err
	}
	b := e.begin(c, now)
	b.settle(p, record.PartBusy)
	busy := LineBusyData{Sponsor: p.InvitedBy, UserID: user, TUIUserID: user}
	b.emitAll(c.joined(), EvLineBusy, busy)
	b.emitAll(c.joined(), EvUserLineBusy, busy)
	b.hook(user, roleCalleeString, HookIgnoreCall, record.ResultBusy)
	b.hook(c.rec.Caller, roleCallerString, HookCallBusy, record.ResultBusy)
	b.afterInvitee(record.ResultBusy, user, false)
	return b.done(), nil
}

// Fail ends a call its caller could not get going (its media never
// connected) before anyone accepted: a cancel for everyone else, and the
// caller's webhook is call_failed instead of cancel_call. After an
// accept there is nothing to fail: it is ErrNotRinging, and the caller
// hangs up as usual.
func (e *Engine) Fail(now time.Time, app uint32, user, callID string) (Transition, error) {
	e.prune(now)
	c, err := e.lookup(app, callID)
	if err != nil {
		return Transition{}, err
	}
	p := c.part(user)
	switch {
	case p == nil || user != c.rec.Caller || p.State != record.PartJoined:
		return Transition{}, errf(ErrNotInCall, "%q is not the joined caller of %q", user, callID)
	case !c.rec.AcceptAt.IsZero():
		return Transition{}, errf(ErrNotRinging, "%q was answered", callID)
	}
	b := e.begin(c, now)
	b.cancel(HookCallFailed)
	return b.done(), nil
}
