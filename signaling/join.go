package signaling

import (
	"time"

	"callbox/signaling/call"
	"callbox/signaling/call/record"
)

// The TUICallKit operations beyond TRTCCalling (docs/protocol.md §4.13,
// §4.14): join a live group call again, ignore an invitation. A caller's
// failed start rides on hangup (§4.8).

// join enters a live group call the user was invited to before (it
// rejected, missed it, or left); the reply is accept's.
func (c *session) join(req Request) (any, error) {
	var d callRef
	if err := decodeData(req, &d); err != nil {
		return nil, err
	}
	if d.CallID == "" {
		return nil, errorf(CodeBadRequest, "join needs a callID")
	}
	return nil, c.callOp(req, func(now time.Time, id string) (call.Transition, error) {
		return c.srv.engine.Join(now, c.app, c.user, id)
	}, joinReply)
}

// joinReply is the reply of accept and join: {callID, roomID, type}.
func joinReply(rec record.Call) any {
	r := callReply{CallID: rec.CallID, RoomID: rec.RoomID, Type: call.MediaAudio}
	if rec.MediaType == call.MediaVideo.String() {
		r.Type = call.MediaVideo
	}
	return r
}

// ignore silences a ringing invitation: the inviter hears busy.
func (c *session) ignore(req Request) (any, error) {
	return nil, c.callOp(req, func(now time.Time, id string) (call.Transition, error) {
		return c.srv.engine.Ignore(now, c.app, c.user, id)
	}, nil)
}

// hangupData is hangup's data: failed marks a caller's start that could
// not get its media going (the call_failed webhook).
type hangupData struct {
	CallID string `json:"callID"`
	Failed bool   `json:"failed"`
}
