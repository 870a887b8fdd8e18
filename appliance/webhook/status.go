package webhook

import (
	"encoding/json"
	"strings"
	"time"

	"callbox/signaling/call"
	"callbox/signaling/call/record"
)

// StatusCallbacks derives the call status callbacks (tencent-compat.md
// §3) from the record of a call that has just ended: one per participant,
// command call_end, the per-event body with Event call_end and CallResult
// set. CallResult is the call's; a participant whose own part was cut
// (kick-out, dropped connection, restart) gets interrupt. It returns nil
// for a call that has not ended. The committer stores them with the
// ending transition, in the same transaction.
func StatusCallbacks(rec record.Call) []call.Hook {
	if rec.State != record.CallEnded {
		return nil
	}
	out := make([]call.Hook, 0, len(rec.Participants))
	for _, p := range rec.Participants {
		result := rec.Result
		if p.Interrupted {
			result = record.ResultInterrupt
		}
		out = append(out, call.Hook{
			Command: StatusCommand,
			Body: call.HookBody{
				UserId:      p.UserID,
				RoomId:      rec.RoomID,
				TotalNum:    len(rec.Participants),
				MediaType:   rec.MediaType,
				CallType:    rec.CallType,
				CallId:      rec.CallID,
				Role:        p.Role,
				Event:       StatusCommand,
				CallResult:  result,
				EventTime:   unix(rec.EndAt),
				StartCallTs: unix(rec.StartAt),
				AcceptTs:    unix(rec.AcceptAt),
				EndTs:       unix(rec.EndAt),
			},
		})
	}
	return out
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// SampleBody is the body `webhook test` sends for a command: a made-up
// 1:1 audio call between callbox-test-caller and callbox-test-callee, its
// CallId starting with "callbox-test-" so that a receiver can tell it
// from a real one.
func SampleBody(command, callID string, now time.Time) []byte {
	role, event, ok := strings.Cut(command, "_")
	if command == StatusCommand || !ok {
		role, event = "caller", StatusCommand
	}
	user := "callbox-test-" + role
	b := call.HookBody{
		UserId: user, RoomId: "1", TotalNum: 2, MediaType: "audio", CallType: "single",
		CallId: callID, Role: role, Event: event, EventTime: now.Unix(), StartCallTs: now.Unix(),
	}
	if event == "call_end" {
		b.CallResult, b.AcceptTs, b.EndTs = record.ResultNormalEnd, now.Unix(), now.Unix()
	}
	v, _ := json.Marshal(b)
	return v
}
