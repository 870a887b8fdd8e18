package call

import (
	"time"

	"callbox/store"
)

// InterruptHooks returns the webhooks owed for a call that was live when
// the previous server process stopped, given its record as last stored:
// call_interrupted (interrupt) for each joined participant, and
// call_canceled (interrupt) for each invitee still invited or ringing
// (call-semantics §7.12: a dropped party gets call_interrupted). The
// caller writes them with the interrupted record in one transaction.
func InterruptHooks(rec store.CallRecord, now time.Time) []Hook {
	var hooks []Hook
	for _, p := range rec.Participants {
		var event string
		switch p.State {
		case store.PartJoined:
			event = HookInterrupted
		case store.PartInvited, store.PartRinging:
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
				CallResult:  store.ResultInterrupt,
				EventTime:   now.Unix(),
				StartCallTs: unix(rec.StartAt),
				AcceptTs:    unix(rec.AcceptAt),
				EndTs:       now.Unix(),
			},
		})
	}
	return hooks
}
