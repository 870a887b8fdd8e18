// Package record is the call record model: a call, its participants, their
// states and the CallResult. The call engine, the store, webhooks and REST
// share it. It is a leaf: it imports nothing of callbox's and holds no rules
// (the engine owns those; the store only persists).
package record

import "time"

// Call states of a Call.
const (
	CallRinging = "ringing" // only the caller has joined, someone still rings
	CallActive  = "active"  // two or more have joined
	CallEnded   = "ended"
)

// CallResult values are Tencent's lowercase ones (tencent-compat.md §3).
const (
	ResultCancel    = "cancel"
	ResultReject    = "reject"
	ResultNotAnswer = "not_answer"
	ResultBusy      = "call_busy"
	ResultNormalEnd = "normal_end"
	ResultInterrupt = "interrupt"
)

// Participant states (DESIGN.md "The call engine").
const (
	PartInvited   = "invited"   // invitation not yet delivered (invitee offline)
	PartRinging   = "ringing"   // invitation delivered
	PartJoined    = "joined"    // in the call
	PartLeft      = "left"      // was joined, has left
	PartRejected  = "rejected"  // declined the invitation
	PartNoAnswer  = "no_answer" // invitation timed out
	PartBusy      = "busy"      // was busy when invited
	PartCancelled = "cancelled" // the call ended while it rang
)

// Participant is one user's part in a call. Times are zero until reached.
type Participant struct {
	UserID    string    `json:"UserId"`
	Role      string    `json:"Role"` // "caller" or "callee"
	State     string    `json:"State"`
	InvitedBy string    `json:"InvitedBy,omitempty"`
	InvitedAt time.Time `json:"InvitedAt,omitzero"`
	RingingAt time.Time `json:"RingingAt,omitzero"`
	JoinedAt  time.Time `json:"JoinedAt,omitzero"`
	LeftAt    time.Time `json:"LeftAt,omitzero"`
	// Interrupted is set when the participation ended by a kick-out or a
	// dropped connection rather than a hang-up.
	Interrupted bool `json:"Interrupted,omitempty"`
}

// Call is a call, live or finished. The call engine owns live records;
// the store keeps every version it is given, the last one wins.
type Call struct {
	SDKAppID     uint32        `json:"SDKAppID"`
	CallID       string        `json:"CallId"`
	RoomID       string        `json:"RoomId"`
	RoomIDType   int           `json:"RoomIdType"` // 1 = integer, 2 = string
	MediaType    string        `json:"MediaType"`  // "audio" or "video"
	CallType     string        `json:"CallType"`   // "single" or "group"
	Caller       string        `json:"Caller"`
	State        string        `json:"State"`
	Result       string        `json:"CallResult"` // "" until ended
	Timeout      time.Duration `json:"Timeout"`    // invite timeout; 0 = none
	UserData     string        `json:"UserData,omitempty"`
	StartAt      time.Time     `json:"StartAt"`
	AcceptAt     time.Time     `json:"AcceptAt,omitzero"`
	EndAt        time.Time     `json:"EndAt,omitzero"`
	Participants []Participant `json:"Participants"`
}
