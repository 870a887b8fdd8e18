package call

import (
	"time"

	"callbox/signaling/call/record"
)

// Hangup ends a joined user's participation. The caller hanging up before
// anyone accepted cancels the call (S5: the ringing invitees get
// onCallingCancel and onCallCancelled, the caller onCallCancelled; result
// cancel, or normal_end in a group). Otherwise the others get onUserLeave
// and, when the call no longer lives (§7.2), it ends: whoever is still
// joined gets onCallEnd, so does the leaver (§7.3), and invitees still
// ringing are cancelled. A ringing callee must Reject (ErrMustReject); a
// second hang-up gets ErrNoCall or ErrNotInCall.
func (e *Engine) Hangup(now time.Time, app uint32, user, callID string) (Transition, error) {
	e.prune(now)
	c, err := e.lookup(app, callID)
	if err != nil {
		return Transition{}, err
	}
	p := c.part(user)
	switch {
	case p == nil:
		return Transition{}, errf(ErrNotInCall, "%q in %q", user, callID)
	case p.State == record.PartInvited || p.State == record.PartRinging:
		return Transition{}, errf(ErrMustReject, "%q in %q", user, callID)
	case p.State != record.PartJoined:
		return Transition{}, errf(ErrNotInCall, "%q in %q is %s", user, callID, p.State)
	}
	b := e.begin(c, now)
	if user == c.rec.Caller && c.rec.AcceptAt.IsZero() {
		b.cancel(HookCancelCall)
	} else {
		b.leave(p, false)
	}
	return b.done(), nil
}

// End ends a call for everyone (admin console, REST end_call). Before any
// accept it is a cancel (as S5, the caller is told with onCallCancelled);
// after, everyone joined gets onCallEnd and the result is normal_end.
func (e *Engine) End(now time.Time, app uint32, callID string) (Transition, error) {
	e.prune(now)
	c, err := e.lookup(app, callID)
	if err != nil {
		return Transition{}, err
	}
	b := e.begin(c, now)
	if c.rec.AcceptAt.IsZero() {
		b.cancel(HookCancelCall)
	} else {
		b.finish(record.ResultNormalEnd)
	}
	return b.done(), nil
}

// cancel ends a call nobody accepted, on the caller's (or admin's) behalf;
// event is the caller's webhook: cancel_call, or call_failed (Fail).
func (b *builder) cancel(event string) {
	c := b.c
	result := record.ResultCancel
	if c.group {
		result = record.ResultNormalEnd
	}
	caller := c.rec.Caller
	if p := c.part(caller); p.State == record.PartJoined {
		b.leaveRoom(p, false)
		b.emit(caller, EvCallCancelled, CancelData{CallerID: caller})
		b.hook(caller, roleCallerString, event, result)
	}
	b.finish(result)
}

// interrupt ends a joined participation by kick-out or grace expiry. The
// interrupted user gets no event (its session is gone); the others see a
// hang-up. Webhooks: call_interrupted for it, and call_end(interrupt) for
// the remaining party if the call ends (§7.7, §7.12).
func (b *builder) interrupt(p *record.Participant) {
	b.leave(p, true)
}

// leave ends a joined participation and the call if it no longer lives.
func (b *builder) leave(p *record.Participant, interrupted bool) {
	c := b.c
	b.leaveRoom(p, interrupted)
	rest := c.joined()
	b.emitAll(rest, EvUserLeave, userRef(p.UserID))
	if interrupted {
		b.userHook(p.UserID, HookInterrupted, record.ResultInterrupt)
	} else {
		b.userHook(p.UserID, HookCallEnd, record.ResultNormalEnd)
	}
	if c.alive() {
		c.updateState()
		return
	}
	result := record.ResultNormalEnd
	if interrupted {
		result = record.ResultInterrupt
	}
	if !interrupted {
		peer := c.rec.Caller
		if len(rest) > 0 {
			peer = rest[0]
		}
		b.emit(p.UserID, EvCallEnd, b.callEnd(p.UserID, peer))
	}
	b.finish(result)
}

// finish ends the call: everyone still joined gets onCallEnd{caller} and a
// call_end webhook, everyone still pending is cancelled.
func (b *builder) finish(result string) {
	c := b.c
	for _, u := range c.joined() {
		b.emit(u, EvCallEnd, b.callEnd(u, c.rec.Caller))
		b.userHook(u, HookCallEnd, result)
		b.leaveRoom(c.part(u), false)
	}
	b.cancelPending(result)
	b.close(result)
}

// cancelPending cancels every pending invitation (§7.2): those that rang
// get onCallingCancel and onCallCancelled; all get call_canceled.
func (b *builder) cancelPending(result string) {
	c := b.c
	for _, u := range c.pending() {
		p := c.part(u)
		rang := p.State == record.PartRinging
		b.settle(p, record.PartCancelled)
		if rang {
			d := CancelData{CallerID: c.rec.Caller}
			b.emit(u, EvCallingCancel, d)
			b.emit(u, EvCallCancelled, d)
		}
		b.hook(u, roleCalleeString, HookCallCanceled, result)
	}
}

// close marks the call ended and makes the engine forget it.
func (b *builder) close(result string) {
	c := b.c
	c.rec.State = record.CallEnded
	c.rec.Result = result
	c.rec.EndAt = b.now
	clear(c.ringAt)
	clear(c.graceAt)
	b.e.forget(c, b.now)
}
