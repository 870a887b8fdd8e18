package signaling

import (
	"encoding/json"
	"fmt"
	"time"

	"callbox/signaling/call"
	"callbox/signaling/call/record"
	"callbox/signaling/usersig"
)

// maxTimeout bounds the per-call invite timeout a client may ask for.
const maxTimeout = 24 * time.Hour

type callReply struct {
	CallID string         `json:"callID"`
	RoomID string         `json:"roomID"`
	Type   call.MediaType `json:"type,omitempty"`
}

func roomReply(rec record.Call) any {
	return callReply{CallID: rec.CallID, RoomID: rec.RoomID}
}

func validMedia(t int) (call.MediaType, error) {
	switch call.MediaType(t) {
	case call.MediaAudio, call.MediaVideo:
		return call.MediaType(t), nil
	}
	return 0, errorf(CodeBadRequest, "type must be 1 (audio) or 2 (video)")
}

func timeoutOf(t *float64) (*time.Duration, error) {
	if t == nil {
		return nil, nil
	}
	if *t < 0 || *t > maxTimeout.Seconds() {
		return nil, errorf(CodeBadRequest, "timeout must be 0..%d seconds", int(maxTimeout.Seconds()))
	}
	d := time.Duration(*t * float64(time.Second))
	if *t > 0 {
		d = max(d, time.Nanosecond) // 0 means "never"; a tiny timeout is not that
	}
	return &d, nil
}

func validUser(u string) error {
	if err := usersig.ValidUserID(u); err != nil {
		return &Error{Code: CodeInvalidUser, Msg: err.Error()}
	}
	return nil
}

// call implements docs/protocol.md §4.4.
func (c *session) call(req Request) (any, error) {
	var d callData
	if err := decodeData(req, &d); err != nil {
		return nil, err
	}
	if err := validUser(d.UserID); err != nil {
		return nil, err
	}
	inv, err := c.invite(d.Type, d.Timeout, d.RoomID, d.UserData)
	if err != nil {
		return nil, err
	}
	inv.Callees = []string{d.UserID}
	return nil, c.start(req, inv)
}

// invite builds the common part of a call / groupCall invitation.
func (c *session) invite(typ int, timeout *float64, roomID json.RawMessage, userData string) (call.Invite, error) {
	media, err := validMedia(typ)
	if err != nil {
		return call.Invite{}, err
	}
	to, err := timeoutOf(timeout)
	if err != nil {
		return call.Invite{}, err
	}
	room, roomType, err := roomIDOf(roomID)
	if err != nil {
		return call.Invite{}, err
	}
	if len(userData) > 4096 {
		return call.Invite{}, errorf(CodeBadRequest, "userData longer than 4096 bytes")
	}
	return call.Invite{
		SDKAppID: c.app, Caller: c.user, Media: media,
		RoomID: room, RoomIDType: roomType, Timeout: to, UserData: userData,
	}, nil
}

func (c *session) start(req Request, inv call.Invite) error {
	if err := c.setupAllowed(); err != nil {
		return err
	}
	return c.srv.engineDo(func(now time.Time) error {
		if err := c.stillLoggedInLocked(); err != nil {
			return err
		}
		tr, err := c.srv.engine.Call(now, inv)
		return c.stepStart(req, now, tr, err, roomReply)
	})
}

// groupCall implements §4.5, including the midway invite.
func (c *session) groupCall(req Request) (any, error) {
	var d groupCallData
	if err := decodeData(req, &d); err != nil {
		return nil, err
	}
	if len(d.UserIDList) == 0 {
		return nil, errorf(CodeBadRequest, "userIDList is empty")
	}
	d.UserIDList = dedupe(d.UserIDList)
	if max := c.srv.cfg.Engine.MaxInvitees; len(d.UserIDList) > max {
		return nil, errorf(CodeTooManyInvitees, "%d invitees, at most %d", len(d.UserIDList), max)
	}
	for _, u := range d.UserIDList {
		if err := validUser(u); err != nil {
			return nil, err
		}
	}
	if err := c.setupAllowed(); err != nil {
		return nil, err
	}
	s := c.srv
	return nil, s.engineDo(func(now time.Time) error {
		if err := c.stillLoggedInLocked(); err != nil {
			return err
		}
		callID := d.CallID
		if callID == "" {
			callID = c.joinedGroupCallLocked()
		}
		if callID != "" {
			tr, err := s.engine.InviteMore(now, c.app, c.user, callID, d.UserIDList)
			return c.step(req, now, tr, err, roomReply)
		}
		inv, err := c.invite(d.Type, d.Timeout, d.RoomID, d.UserData)
		if err != nil {
			return err
		}
		inv.Callees, inv.Group = d.UserIDList, true
		tr, err := s.engine.Call(now, inv)
		return c.stepStart(req, now, tr, err, roomReply)
	})
}

// stillLoggedInLocked refuses engine work for a session kicked out since
// its request was admitted.
func (c *session) stillLoggedInLocked() error {
	if !c.loggedIn {
		return errorf(CodeNotLoggedIn, "not logged in")
	}
	return nil
}

// joinedGroupCallLocked returns the group call the user is joined to, or "".
func (c *session) joinedGroupCallLocked() string {
	for _, id := range c.srv.engine.CallsOf(c.app, c.user) {
		if rec, ok := c.srv.engine.Get(c.app, id); ok && rec.CallType == "group" && isJoined(rec, c.user) {
			return id
		}
	}
	return ""
}

func isJoined(rec record.Call, user string) bool {
	for _, p := range rec.Participants {
		if p.UserID == user {
			return p.State == record.PartJoined
		}
	}
	return false
}

// callOf resolves the callID of accept/reject/hangup/switch: the given one,
// or the user's one live call. Called with s.mu held.
func (c *session) callOf(data json.RawMessage, req Request) (string, error) {
	var d callRef
	if err := decodeData(req, &d); err != nil {
		return "", err
	}
	if d.CallID != "" {
		return d.CallID, nil
	}
	ids := c.srv.engine.CallsOf(c.app, c.user)
	if len(ids) == 0 {
		return "", errorf(CodeNoCall, "no call")
	}
	return ids[0], nil
}

// callOp runs an engine operation on the user's call (§4.6–4.9).
func (c *session) callOp(req Request, op func(now time.Time, callID string) (call.Transition, error), reply func(record.Call) any) error {
	return c.srv.engineDo(func(now time.Time) error {
		if err := c.stillLoggedInLocked(); err != nil {
			return err
		}
		id, err := c.callOf(req.Data, req)
		if err != nil {
			return err
		}
		tr, err := op(now, id)
		return c.step(req, now, tr, err, reply)
	})
}

func (c *session) accept(req Request) (any, error) {
	return nil, c.callOp(req, func(now time.Time, id string) (call.Transition, error) {
		return c.srv.engine.Accept(now, c.app, c.user, id)
	}, joinReply)
}

func (c *session) reject(req Request) (any, error) {
	return nil, c.callOp(req, func(now time.Time, id string) (call.Transition, error) {
		return c.srv.engine.Reject(now, c.app, c.user, id)
	}, nil)
}

func (c *session) hangup(req Request) (any, error) {
	var d hangupData
	if err := decodeData(req, &d); err != nil {
		return nil, err
	}
	return nil, c.callOp(req, func(now time.Time, id string) (call.Transition, error) {
		if d.Failed {
			return c.srv.engine.Fail(now, c.app, c.user, id)
		}
		return c.srv.engine.Hangup(now, c.app, c.user, id)
	}, nil)
}

func (c *session) switchToAudio(req Request) (any, error) {
	return nil, c.switchMedia(req, call.MediaAudio, call.ErrSwitchToAudio)
}

func (c *session) switchToVideo(req Request) (any, error) {
	return nil, c.switchMedia(req, call.MediaVideo, call.ErrSwitchToVideo)
}

// switchMedia answers "not in a call" with TRTCCalling's 60001/60002
// (call-semantics §7.6) rather than 4005.
func (c *session) switchMedia(req Request, to call.MediaType, notHere *call.Error) error {
	err := c.callOp(req, func(now time.Time, id string) (call.Transition, error) {
		return c.srv.engine.SwitchMedia(now, c.app, c.user, id, to)
	}, nil)
	if code, _ := wireError(err); code == CodeNoCall {
		return &call.Error{Code: notHere.Code, Msg: notHere.Msg}
	}
	return err
}

// media implements §4.10: the data goes to the user's room peer, called
// with no lock held (the SFU may take time).
func (c *session) media(req Request) (any, error) {
	s := c.srv
	if s.cfg.Rooms == nil {
		return nil, errorf(CodeNoMedia, "this server has no media")
	}
	if req.Data == nil {
		return nil, errorf(CodeBadRequest, "media needs a data object")
	}
	s.mu.Lock()
	err := c.stillLoggedInLocked()
	ids := s.engine.CallsOf(c.app, c.user)
	s.mu.Unlock()
	if err != nil {
		return nil, err // kicked out since the request was admitted
	}
	p := s.peerOf(c.app, c.user, ids)
	if p == nil {
		if lateMedia(req.Data) {
			return nil, nil // the room was just left; nothing to do
		}
		return nil, errorf(CodeNoMedia, "not in a media room")
	}
	if err := p.Handle(req.Data); err != nil {
		return nil, &Error{Code: CodeBadRequest, Msg: "media: " + err.Error(), Err: err}
	}
	return nil, nil
}

// lateMedia reports whether a media message is one that may still be on
// its way when the call ends under it (an answer to the SFU's last offer,
// a trickled candidate, a mute or layer change): it is dropped quietly,
// where a new publish or restart gets 4010 (docs/media.md).
func lateMedia(data json.RawMessage) bool {
	var m struct{ Type string }
	if json.Unmarshal(data, &m) != nil {
		return false
	}
	switch m.Type {
	case "subscribe-answer", "candidate", "mute", "layer":
		return true
	}
	return false
}

// setupAllowed applies the per-user call-setup rate (Config.CallRate): a
// client looping call/hang-up would otherwise grow the store without
// bound (each setup writes a record and its webhooks).
func (c *session) setupAllowed() error {
	s := c.srv
	s.mu.Lock()
	key := fmt.Sprintf("%d/%s", c.app, c.user)
	s.mu.Unlock()
	if !s.callSetups.allow(key, s.cfg.Now()) {
		return errorf(CodeRateLimited, "too many calls started; retry later")
	}
	return nil
}

// dedupe drops repeated userIDs, keeping the first of each, so that a list
// naming one user 201 times counts as one invitee.
func dedupe(users []string) []string {
	seen := make(map[string]bool, len(users))
	out := users[:0:0]
	for _, u := range users {
		if !seen[u] {
			seen[u] = true
			out = append(out, u)
		}
	}
	return out
}
