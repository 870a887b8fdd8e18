package call

import (
	"time"

	"callbox/signaling/call/record"
)

// SwitchMedia switches a 1:1 call between audio and video (S10, §7.6).
// Any joined party may switch, also while the callee still rings; the
// parties that are joined or ringing get onCallMediaTypeChanged and later
// webhooks report the new type. In a group call, or for a user not joined,
// it fails with ErrSwitchToAudio (60001) or ErrSwitchToVideo (60002).
// Switching to the current type is a no-op (zero Transition).
func (e *Engine) SwitchMedia(now time.Time, app uint32, user, callID string, to MediaType) (Transition, error) {
	e.prune(now)
	if to != MediaAudio && to != MediaVideo {
		return Transition{}, errf(ErrBadParam, "media type %d", to)
	}
	fail := ErrSwitchToAudio
	if to == MediaVideo {
		fail = ErrSwitchToVideo
	}
	c, err := e.lookup(app, callID)
	if err != nil {
		return Transition{}, err
	}
	p := c.part(user)
	if p == nil {
		return Transition{}, errf(ErrNotInCall, "%q in %q", user, callID)
	}
	if c.group {
		return Transition{}, errf(fail, "%q is a group call", callID)
	}
	if p.State != record.PartJoined {
		return Transition{}, errf(fail, "%q is %s in %q", user, p.State, callID)
	}
	if c.media == to {
		return Transition{}, nil
	}
	b := e.begin(c, now)
	d := MediaChangedData{OldCallMediaType: c.media, NewCallMediaType: to}
	c.media = to
	c.rec.MediaType = to.String()
	b.emitAll(c.users(record.PartJoined, record.PartRinging), EvMediaTypeChanged, d)
	return b.done(), nil
}
