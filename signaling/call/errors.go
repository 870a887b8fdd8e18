package call

import "fmt"

// Error is an engine error with a stable code. Codes 60001/60002 are
// TRTCCalling's (tencent-compat.md §4), 101002/101004 the REST API's
// (tencent-compat.md §2); the 61xxx range is callbox's own. The signaling
// layer turns an Error into its wire form; compare with errors.Is against
// the sentinels below (two Errors match when their codes match, so a
// detailed error such as &Error{Code: 101002, Msg: "callee \"a b\": bad user id"}
// still matches ErrBadParam).
type Error struct {
	Code int
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("call: %s (%d)", e.Msg, e.Code) }

// Is reports whether target is an *Error with the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Sentinels, for errors.Is. Each has its own code.
var (
	// ErrBadParam: malformed input (user id syntax, media type, room id, timeout, ...).
	ErrBadParam = &Error{Code: 101002, Msg: "bad parameter"}
	// ErrNoCall: no live call with that id (never existed, or already ended).
	ErrNoCall = &Error{Code: 101004, Msg: "no such call"}
	// ErrNotInCall: the user takes no part in that call (or not in a way
	// that allows the action, e.g. hanging up after having rejected).
	ErrNotInCall = &Error{Code: 61001, Msg: "user not in call"}
	// ErrNotRinging: accept/reject of an invitation that no longer rings
	// (timed out, cancelled, already answered, or the call ended).
	ErrNotRinging = &Error{Code: 61002, Msg: "invitation not ringing"}
	// ErrBusy: the caller itself is busy (joined to a call or holding an
	// unanswered invitation); TRTCCalling's call() throws unless idle.
	ErrBusy = &Error{Code: 61003, Msg: "caller busy"}
	// ErrSelfInvite: a user invited itself.
	ErrSelfInvite = &Error{Code: 61004, Msg: "cannot invite yourself"}
	// ErrTooManyInvitees: more invitees than Config.MaxInvitees.
	ErrTooManyInvitees = &Error{Code: 61005, Msg: "too many invitees"}
	// ErrNotGroup: a midway invite into a 1:1 call.
	ErrNotGroup = &Error{Code: 61006, Msg: "not a group call"}
	// ErrMustReject: a ringing callee called Hangup; it must Reject
	// (TRTCCalling hangup() throws "call/groupCall incomplete").
	ErrMustReject = &Error{Code: 61007, Msg: "ringing invitation: reject it"}
	// ErrAlreadyJoined: Accept by a user who already joined (duplicate accept
	// is an error, not idempotent, so no event is ever sent twice).
	ErrAlreadyJoined = &Error{Code: 61008, Msg: "already joined"}
	// ErrRoomInUse: the requested room id belongs to another live call of the app.
	ErrRoomInUse = &Error{Code: 61009, Msg: "room in use"}
	// ErrSwitchToAudio / ErrSwitchToVideo: a media switch outside a 1:1 call
	// (TRTCCalling 60001 / 60002, call-semantics §7.6).
	ErrSwitchToAudio = &Error{Code: 60001, Msg: "switchToAudioCall failed: only in a 1:1 call"}
	ErrSwitchToVideo = &Error{Code: 60002, Msg: "switchToVideoCall failed: only in a 1:1 call"}
)

// errf returns an error with the code of base and a specific message.
func errf(base *Error, format string, args ...any) error {
	return &Error{Code: base.Code, Msg: base.Msg + ": " + fmt.Sprintf(format, args...)}
}
