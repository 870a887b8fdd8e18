package signaling

import (
	"errors"
	"time"

	"callbox/signaling/call"
	"callbox/signaling/usersig"
)

// handler serves one request type (docs/protocol.md §4). It returns the
// reply data or an error; a handler whose reply must go out ahead of the
// events it causes queues it through the commit pipeline and sets
// c.replied.
type handler struct {
	fn           func(c *session, req Request) (any, error)
	beforeLogin  bool // allowed before login
	whileExpired bool // allowed while the UserSig is expired (§3.4)
}

// handlers is the request table of docs/protocol.md §4. It is immutable
// and holds no configuration.
var handlers = map[string]handler{
	"login":         {fn: (*session).login, beforeLogin: true},
	"ping":          {fn: (*session).pingReq, beforeLogin: true, whileExpired: true},
	"renewSig":      {fn: (*session).renewSig, whileExpired: true},
	"logout":        {fn: (*session).logout, whileExpired: true},
	"presence":      {fn: (*session).presenceReq},
	"call":          {fn: (*session).call},
	"groupCall":     {fn: (*session).groupCall},
	"accept":        {fn: (*session).accept},
	"reject":        {fn: (*session).reject, whileExpired: true},
	"hangup":        {fn: (*session).hangup, whileExpired: true},
	"switchToAudio": {fn: (*session).switchToAudio},
	"switchToVideo": {fn: (*session).switchToVideo},
	"media":         {fn: (*session).media, whileExpired: true},
	"contacts":      {fn: (*session).contactsReq},
	"addContact":    {fn: (*session).addContact},
	"setName":       {fn: (*session).setName},
	"history":       {fn: (*session).history},
	"join":          {fn: (*session).join},
	"ignore":        {fn: (*session).ignore, whileExpired: true},
}

// handle decodes one frame, runs its handler and replies.
func (c *session) handle(b []byte) {
	req, err := DecodeRequest(b)
	if err != nil {
		c.send(encodeReply(req.ID, nil, err))
		return
	}
	h, ok := handlers[req.Type]
	if !ok {
		c.send(encodeReply(req.ID, nil, errorf(CodeUnknownType, "unknown request type %q", clip(req.Type))))
		return
	}
	c.srv.mu.Lock()
	loggedIn, expired := c.loggedIn, c.sigExpired
	c.srv.mu.Unlock()
	switch {
	case !loggedIn && !h.beforeLogin:
		err = errorf(CodeNotLoggedIn, "not logged in")
	case expired && !h.whileExpired:
		err = &Error{Code: CodeSigExpired, Msg: "UserSig expired: renew it with renewSig"}
	}
	if err != nil {
		c.send(encodeReply(req.ID, nil, err))
		return
	}
	c.replied = false
	data, err := h.fn(c, req)
	if req.Type == "login" && err != nil {
		c.srv.cfg.Metrics.login(err)
	}
	if err != nil {
		c.logRequestError(req, err)
	}
	if !c.replied {
		c.send(encodeReply(req.ID, data, err))
	}
}

func (c *session) logRequestError(req Request, err error) {
	code, _ := wireError(err)
	if code == CodeInternal {
		c.logger().Error("request failed", "type", req.Type, "user_id", c.user, "app_id", c.app, "err", err)
		return
	}
	c.logger().Debug("request refused", "type", req.Type, "code", code, "err", err)
}

// wireError maps any error to its code and client-safe text (docs/protocol.md
// §6). Unknown errors are internal and their text is not shown.
func wireError(err error) (int, string) {
	var e *Error
	if errors.As(err, &e) {
		return e.Code, e.Msg
	}
	var ue *usersig.Error
	if errors.As(err, &ue) {
		return ue.Code, ue.Msg
	}
	var ce *call.Error
	if errors.As(err, &ce) {
		return callCode(ce), ce.Msg
	}
	return CodeInternal, "internal error"
}

// callCode maps engine errors to protocol codes.
func callCode(ce *call.Error) int {
	switch ce.Code {
	case call.ErrSwitchToAudio.Code, call.ErrSwitchToVideo.Code:
		return ce.Code
	case call.ErrNoCall.Code, call.ErrNotInCall.Code, call.ErrNotRinging.Code,
		call.ErrMustReject.Code, call.ErrAlreadyJoined.Code:
		return CodeNoCall
	case call.ErrBusy.Code:
		return CodeBusy
	case call.ErrSelfInvite.Code:
		return CodeInvalidUser
	case call.ErrTooManyInvitees.Code:
		return CodeTooManyInvitees
	}
	return CodeBadRequest // ErrBadParam, ErrNotGroup, ErrRoomInUse
}

func (c *session) pingReq(Request) (any, error) {
	return map[string]int64{"time": time.Now().UnixMilli()}, nil
}
