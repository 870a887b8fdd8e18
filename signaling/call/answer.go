package call

import (
	"time"

	"callbox/signaling/call/record"
)

// Accept joins a ringing (or not yet delivered) invitee to the call (S1,
// S6). The accepter and the joined participants exchange onUserEnter and
// onUserJoin; the joined ones get onUserAccept{accepter} (§7.4); the
// accepter gets onCallBegin, and so do the joined ones at the first accept.
// A second Accept by the same user is ErrAlreadyJoined; an invitation that
// timed out, was cancelled or rejected is ErrNotRinging.
func (e *Engine) Accept(now time.Time, app uint32, user, callID string) (Transition, error) {
	e.prune(now)
	c, p, err := e.pendingPart(now, app, user, callID)
	if err != nil {
		return Transition{}, err
	}
	b := e.begin(c, now)
	if p.RingingAt.IsZero() {
		p.RingingAt = now
	}
	b.enter(p, true)
	b.hook(user, roleCalleeString, HookAcceptCall, "")
	b.hook(c.rec.Caller, roleCallerString, HookCallAccepted, "")
	return b.done(), nil
}

// enter joins p to the call (Accept, Join): the newcomer and the joined
// participants exchange onUserEnter and onUserJoin; on an accept the
// joined ones also get onUserAccept{newcomer} (§7.4); the newcomer gets
// onCallBegin, and so do the joined ones at the call's first accept.
func (b *builder) enter(p *record.Participant, accepted bool) {
	c, user := b.c, p.UserID
	first := c.rec.AcceptAt.IsZero()
	if first {
		c.rec.AcceptAt = b.now
	}
	others := c.joined()
	p.State = record.PartJoined
	p.JoinedAt = b.now
	delete(c.ringAt, user)
	b.tr.Joined = append(b.tr.Joined, user)
	c.updateState()

	for _, o := range others {
		b.emit(o, EvUserEnter, userRef(user))
		b.emit(o, EvUserJoin, userRef(user))
	}
	for _, o := range others {
		b.emit(user, EvUserEnter, userRef(o))
		b.emit(user, EvUserJoin, userRef(o))
	}
	if accepted {
		for _, o := range others {
			b.emit(o, EvUserAccept, userRef(user))
		}
	}
	if first {
		for _, o := range others {
			b.emit(o, EvCallBegin, b.callBegin(o))
		}
	}
	b.emit(user, EvCallBegin, b.callBegin(user))
	b.listUpdate()
}

// Reject declines an invitation (S2, S6). The joined participants get
// onReject and onUserReject; the rejecter gets nothing. A 1:1 call ends
// with CallResult reject and the caller also gets onCallCancelled, but no
// onCallEnd (§7.9).
func (e *Engine) Reject(now time.Time, app uint32, user, callID string) (Transition, error) {
	e.prune(now)
	c, p, err := e.pendingPart(now, app, user, callID)
	if err != nil {
		return Transition{}, err
	}
	b := e.begin(c, now)
	b.settle(p, record.PartRejected)
	b.emitAll(c.joined(), EvReject, userRef(user))
	b.emitAll(c.joined(), EvUserReject, userRef(user))
	b.hook(user, roleCalleeString, HookRejectCall, record.ResultReject)
	b.hook(c.rec.Caller, roleCallerString, HookCallRejected, record.ResultReject)
	b.afterInvitee(record.ResultReject, user, false)
	return b.done(), nil
}

// timeout ends an unanswered invitation (S3, S6, §7.1): the invitee, if
// the invitation reached it, gets onCallingTimeout and onCallCancelled; the
// joined participants get onNoResp and onUserNoResponse.
func (e *Engine) timeout(c *call, user string, now time.Time) Transition {
	p := c.part(user)
	b := e.begin(c, now)
	rang := p.State == record.PartRinging
	b.settle(p, record.PartNoAnswer)
	if rang {
		b.emit(user, EvCallingTimeout, TimeoutData{Sponsor: p.InvitedBy, UserIDList: []string{user}})
		b.emit(user, EvCallCancelled, CancelData{CallerID: c.rec.Caller})
	}
	nr := NoRespData{Sponsor: p.InvitedBy, UserID: user, UserIDList: []string{user}, TUIUserID: user}
	b.emitAll(c.joined(), EvNoResp, nr)
	b.emitAll(c.joined(), EvUserNoResponse, nr)
	b.hook(user, roleCalleeString, HookNotAnswerCall, record.ResultNotAnswer)
	b.hook(c.rec.Caller, roleCallerString, HookCallMissed, record.ResultNotAnswer)
	b.afterInvitee(record.ResultNotAnswer, user, rang)
	return b.done()
}

// afterInvitee runs after an invitation ended without an answer (reject,
// timeout, busy): it ends the call if it no longer lives, else updates the
// invitee list of a group call.
func (b *builder) afterInvitee(result, callee string, calleeRang bool) {
	c := b.c
	if c.alive() {
		b.listUpdate()
		c.updateState()
		return
	}
	if c.group {
		b.finish(record.ResultNormalEnd)
		return
	}
	// 1:1 before an answer (S2-S4): the caller gets onCallCancelled; after
	// a timeout both also get onCallEnd{caller, 0} (§7.1). The caller's
	// terminal webhook (call_rejected, call_missed, call_busy) is sent.
	caller := c.rec.Caller
	b.emit(caller, EvCallCancelled, CancelData{CallerID: caller})
	if result == record.ResultNotAnswer {
		b.emit(caller, EvCallEnd, b.callEnd(caller, caller))
		if calleeRang {
			b.emit(callee, EvCallEnd, b.callEnd(callee, caller))
		}
	}
	if p := c.part(caller); p.State == record.PartJoined {
		b.leaveRoom(p, false)
	}
	b.close(result)
}

// pendingPart finds an invitation user may answer.
func (e *Engine) pendingPart(now time.Time, app uint32, user, callID string) (*call, *record.Participant, error) {
	c := e.touch(callKey{app, callID})
	if c == nil {
		if ts, ok := e.ended[callKey{app, callID}]; ok && ts.users[user] {
			return nil, nil, errf(ErrNotRinging, "call %q has ended", callID)
		}
		return nil, nil, errf(ErrNoCall, "%q", callID)
	}
	p := c.part(user)
	switch {
	case p == nil:
		return nil, nil, errf(ErrNotInCall, "%q in %q", user, callID)
	case p.State == record.PartJoined:
		return nil, nil, errf(ErrAlreadyJoined, "%q in %q", user, callID)
	case p.State != record.PartInvited && p.State != record.PartRinging:
		return nil, nil, errf(ErrNotRinging, "%q in %q is %s", user, callID, p.State)
	case c.due(c.ringAt, user, now):
		// The timeout is due but Expire has not run yet: the invitation
		// is over all the same.
		return nil, nil, errf(ErrNotRinging, "%q in %q timed out", user, callID)
	}
	return c, p, nil
}

func (b *builder) callBegin(to string) CallBeginData {
	role, _ := b.c.roleOf(to)
	return CallBeginData{RoomID: b.c.room, CallMediaType: b.c.media, CallRole: role}
}

// callEnd is the onCallEnd payload for to; userID follows the package:
// the caller's id for those who stay, the remaining peer's for a leaver.
func (b *builder) callEnd(to, userID string) CallEndData {
	role, _ := b.c.roleOf(to)
	secs := b.c.callEndSecs(b.now)
	return CallEndData{UserID: userID, CallEnd: secs, RoomID: b.c.room, CallMediaType: b.c.media, CallRole: role, TotalTime: secs}
}
