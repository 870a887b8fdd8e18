package call

import (
	"slices"
	"time"

	"callbox/signaling/call/record"
)

// builder collects one Transition of one call.
type builder struct {
	e   *Engine
	c   *call
	now time.Time
	tr  Transition
}

func (e *Engine) begin(c *call, now time.Time) *builder {
	return &builder{e: e, c: c, now: now}
}

// emit queues a client event.
func (b *builder) emit(to, name string, data any) {
	b.tr.Events = append(b.tr.Events, Event{To: to, Name: name, CallID: b.c.rec.CallID, Data: data})
}

// emitAll sends the same event to each user.
func (b *builder) emitAll(to []string, name string, data any) {
	for _, u := range to {
		b.emit(u, name, data)
	}
}

// groupResultEvents are the webhook events that carry a CallResult in a
// group call; the per-invitee ones (reject, not answer, busy) carry ""
// (call-semantics §4 S6, tencent-compat §3 "group calls only report
// normal_end and interrupt").
var groupResultEvents = map[string]bool{
	HookCallEnd: true, HookInterrupted: true, HookCancelCall: true, HookCallCanceled: true,
	HookCallFailed: true,
}

// terminalEvents end a user's participation; they carry EndTs.
var terminalEvents = map[string]bool{
	HookCallEnd: true, HookInterrupted: true, HookCancelCall: true, HookCallCanceled: true,
	HookRejectCall: true, HookCallRejected: true, HookNotAnswerCall: true, HookCallMissed: true,
	HookCallBusy: true, HookCallFailed: true, HookIgnoreCall: true,
}

// hook queues a webhook for user in role ("caller"/"callee"); result is
// dropped where the event carries none.
func (b *builder) hook(user, role, event, result string) {
	c := b.c
	if c.group && !groupResultEvents[event] {
		result = ""
	}
	var end int64
	if terminalEvents[event] {
		end = b.now.Unix()
	} else {
		result = ""
	}
	b.tr.Hooks = append(b.tr.Hooks, Hook{
		Command: role + "_" + event,
		Body: HookBody{
			UserId:      user,
			RoomId:      c.rec.RoomID,
			MediaType:   c.rec.MediaType,
			CallType:    c.rec.CallType,
			CallId:      c.rec.CallID,
			Role:        role,
			Event:       event,
			CallResult:  result,
			EventTime:   b.now.Unix(),
			StartCallTs: unix(c.rec.StartAt),
			AcceptTs:    unix(c.rec.AcceptAt),
			EndTs:       end,
		},
	})
}

// userHook queues a webhook for a participant in its own role.
func (b *builder) userHook(user, event, result string) {
	_, role := b.c.roleOf(user)
	b.hook(user, role, event, result)
}

// done returns the Transition with a copy of the record. TotalNum is the
// participant count after the whole change, so start_call counts every
// invitee (S6: TotalNum 4 for a caller and three invitees).
func (b *builder) done() Transition {
	for i := range b.tr.Hooks {
		b.tr.Hooks[i].Body.TotalNum = len(b.c.rec.Participants)
	}
	// A caller whose call ends in the same transition (1:1 busy, all
	// invitees busy) never really entered the room: net it out, so that
	// applying Left then Joined leaves nobody behind in a dead room.
	both := func(u string) bool { return slices.Contains(b.tr.Joined, u) && slices.Contains(b.tr.Left, u) }
	var joined, left []string
	for _, u := range b.tr.Joined {
		if !both(u) {
			joined = append(joined, u)
		}
	}
	for _, u := range b.tr.Left {
		if !both(u) {
			left = append(left, u)
		}
	}
	b.tr.Joined, b.tr.Left = joined, left
	b.tr.Call = b.c.snapshot()
	return b.tr
}

// leaveRoom marks a joined participant as gone.
func (b *builder) leaveRoom(p *record.Participant, interrupted bool) {
	p.State = record.PartLeft
	p.LeftAt = b.now
	p.Interrupted = interrupted
	delete(b.c.graceAt, p.UserID)
	b.tr.Left = append(b.tr.Left, p.UserID)
	b.e.release(b.c, p.UserID)
}

// settle marks a pending invitee with a terminal state and stops its timer.
func (b *builder) settle(p *record.Participant, state string) {
	p.State = state
	delete(b.c.ringAt, p.UserID)
	b.e.release(b.c, p.UserID)
}

// release frees a user for other calls.
func (e *Engine) release(c *call, user string) {
	k := userKey{c.rec.SDKAppID, user}
	if e.users[k] == c.rec.CallID {
		e.delUser(k)
	}
}
