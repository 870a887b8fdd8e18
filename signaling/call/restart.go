package call

import (
	"time"

	"callbox/signaling/call/record"
)

// Interrupt is the restart rule: a call that was live when the previous
// server process stopped is over, since no client holds it any more. Given
// its record as last stored and the time it is taken to have stopped at,
// Interrupt returns the transition that ends it with CallResult interrupt:
// joined participants leave (interrupted), invitees still invited or
// ringing are cancelled, and the webhooks owed go with it
// (call-semantics §7.12: a dropped party gets call_interrupted, an
// invitee call_canceled). The caller stores Call and Hooks in one
// transaction; there are no client events, nobody is connected.
func Interrupt(rec record.Call, at time.Time) Transition {
	at = at.UTC()
	var hooks []Hook
	for _, p := range rec.Participants {
		var event string
		switch p.State {
		case record.PartJoined:
			event = HookInterrupted
		case record.PartInvited, record.PartRinging:
			event = HookCallCanceled
		default:
			continue
		}
		hooks = append(hooks, Hook{
			Command: p.Role + "_" + event,
			Body: HookBody{
				UserId:      p.UserID,
				RoomId:      rec.RoomID,
				TotalNum:    len(rec.Participants),
				MediaType:   rec.MediaType,
				CallType:    rec.CallType,
				CallId:      rec.CallID,
				Role:        p.Role,
				Event:       event,
				CallResult:  record.ResultInterrupt,
				EventTime:   at.Unix(),
				StartCallTs: unix(rec.StartAt),
				AcceptTs:    unix(rec.AcceptAt),
				EndTs:       at.Unix(),
			},
		})
	}
	rec.Participants = append([]record.Participant(nil), rec.Participants...)
	rec.State = record.CallEnded
	rec.Result = record.ResultInterrupt
	rec.EndAt = at
	for i := range rec.Participants {
		p := &rec.Participants[i]
		switch p.State {
		case record.PartJoined:
			p.State, p.LeftAt, p.Interrupted = record.PartLeft, at, true
		case record.PartInvited, record.PartRinging:
			p.State = record.PartCancelled
		}
	}
	return Transition{Call: rec, Hooks: hooks}
}
