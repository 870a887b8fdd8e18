package call

import (
	"time"

	"callbox/signaling/call/record"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultTimeout     = 30 * time.Second // call-semantics §2, §7.1
	DefaultGrace       = 15 * time.Second // DESIGN "reconnect grace"
	DefaultMaxInvitees = 200
)

// Config configures an Engine. Zero fields get the Default* values.
type Config struct {
	// DefaultTimeout is the invite timeout of calls that do not set one.
	// It cannot be "none" here (0 means the default); a call asks for no
	// timeout with Invite.Timeout pointing at 0.
	DefaultTimeout time.Duration
	// Grace is how long a joined participant whose connection dropped
	// (Offline) stays in the call before it counts as interrupted.
	Grace time.Duration
	// MaxInvitees caps the callees of one call (initial + midway).
	MaxInvitees int
	// NewCallID makes call ids; default uuid.NewString.
	NewCallID func() string
	// NewRoomID makes room ids for calls that bring none; default a random
	// decimal integer in 1..4294967295 (RoomIdType 1).
	NewRoomID func() string
}

// MediaType is TRTCCalling's call type: 1 audio, 2 video (tencent-compat §4).
type MediaType int

// Media types.
const (
	MediaAudio MediaType = 1
	MediaVideo MediaType = 2
)

// String is the webhook / record spelling: "audio" or "video".
func (m MediaType) String() string {
	switch m {
	case MediaAudio:
		return "audio"
	case MediaVideo:
		return "video"
	}
	return "unknown"
}

// Invite starts a call (Engine.Call).
type Invite struct {
	SDKAppID uint32
	Caller   string
	// Callees: exactly one for a 1:1 call (Group false), one or more for
	// a group call. Duplicates are collapsed; the caller itself is an error.
	Callees []string
	Media   MediaType
	Group   bool
	// RoomID is optional; "" = generate one (RoomIDType 1).
	RoomID string
	// RoomIDType: 1 = decimal integer (default), 2 = string.
	RoomIDType int
	// Timeout is the invite timeout of this call: nil = Config.DefaultTimeout,
	// 0 = invitations never time out.
	Timeout  *time.Duration
	UserData string
}

// Transition is the outcome of one engine operation on one call. The caller
// persists Call and Hooks in one store transaction, then delivers Events.
// The zero Transition (IsZero) means nothing changed: persist nothing.
type Transition struct {
	Call   record.Call // the record after the change (a copy)
	Events []Event     // client events, in delivery order
	Hooks  []Hook      // webhook outbox entries, in order
	// Joined lists users who entered the call's media room in this
	// transition (the caller at Call, a callee at Accept).
	Joined []string
	// Left lists users whose joined participation ended in this transition
	// (hang-up, interruption, or the call ending around them); the
	// signaling layer takes them out of the media room.
	Left []string
}

// IsZero reports whether the transition carries nothing (no call touched).
func (t Transition) IsZero() bool { return t.Call.CallID == "" }

// Ended reports whether this transition ended the call. The engine has
// already forgotten it; the store keeps the record.
func (t Transition) Ended() bool { return t.Call.State == record.CallEnded }

// Event is one client event for one user. Name is the SDK's wire name
// (TRTCCalling's EVENT values or TUICallKit's callback names), so the browser
// SDK re-emits it unchanged; Data is one of the payload structs of events.go.
type Event struct {
	To     string `json:"to"`
	Name   string `json:"name"`
	CallID string `json:"callId"`
	Data   any    `json:"data"`
}
