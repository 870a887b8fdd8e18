package call

import (
	"time"

	"callbox/signaling/call/record"
)

// The engine keeps one presence bit per user: Online sets it, Offline
// clears it, KickedOut leaves it set (the new session is online). An
// invitation to an online user rings at once; to an offline one it waits
// (state invited) and rings on Online while its timer has not fired.
// The busy rule keeps each user in at most one live call, so these
// methods touch at most one call and return the zero Transition when
// there is nothing to do.

// Online records that a session of user logged in. A pending invitation
// is delivered (invited -> ringing; onInvited + onCallReceived); one that
// already rang is shown again, since the new session has not seen it (page
// reload, second login after a kick-out, §7.7). A joined participant
// within its grace period resumes silently: nobody else hears of it.
func (e *Engine) Online(now time.Time, app uint32, user string) (Transition, error) {
	e.prune(now)
	if !ValidUserID(user) {
		return Transition{}, errf(ErrBadParam, "user %q: bad user id", user)
	}
	uk := userKey{app, user}
	e.setOnline(uk, true)
	c, p := e.participation(uk)
	if c == nil {
		return Transition{}, nil
	}
	// A deadline that is due but not yet expired wins: the invitation
	// has timed out, the grace has run out (Expire reports it).
	switch p.State {
	case record.PartInvited, record.PartRinging:
		if c.due(c.ringAt, user, now) {
			return Transition{}, nil
		}
		b := e.begin(c, now)
		b.deliver(p)
		return b.done(), nil
	case record.PartJoined:
		if !c.due(c.graceAt, user, now) {
			delete(c.graceAt, user)
		}
	}
	return Transition{}, nil
}

// Offline records that the user's last session went away. A joined
// participant gets Config.Grace to come back (Online) before it counts as
// interrupted (Expire); a pending invitation keeps ringing. No events.
func (e *Engine) Offline(now time.Time, app uint32, user string) (Transition, error) {
	e.prune(now)
	if !ValidUserID(user) {
		return Transition{}, errf(ErrBadParam, "user %q: bad user id", user)
	}
	uk := userKey{app, user}
	e.setOnline(uk, false)
	c, p := e.participation(uk)
	if c != nil && p.State == record.PartJoined {
		if _, ok := c.graceAt[user]; !ok {
			c.graceAt[user] = now.Add(e.cfg.Grace)
		}
	}
	return Transition{}, nil
}

// KickedOut records that a second login replaced the user's session (the
// signaling layer sends the old session onKickedOut itself). A joined
// participation ends at once as an interruption (§7.7: onUserLeave to the
// others, in 1:1 onCallEnd to the peer; webhook call_interrupted). A
// pending invitation stays for the new session, which gets it on Online.
func (e *Engine) KickedOut(now time.Time, app uint32, user string) (Transition, error) {
	e.prune(now)
	if !ValidUserID(user) {
		return Transition{}, errf(ErrBadParam, "user %q: bad user id", user)
	}
	c, p := e.participation(userKey{app, user})
	if c == nil || p.State != record.PartJoined {
		return Transition{}, nil
	}
	b := e.begin(c, now)
	b.interrupt(p)
	return b.done(), nil
}

// participation returns the user's live call and entry, if any.
func (e *Engine) participation(uk userKey) (*call, *record.Participant) {
	id, ok := e.users[uk]
	if !ok {
		return nil, nil
	}
	c := e.touch(callKey{uk.app, id})
	if c == nil {
		return nil, nil
	}
	return c, c.part(uk.user)
}
