package call

// Event names: the SDK wire names (tencent-compat.md §4, seeds). Where
// TRTCCalling and TUICallKit name the same moment differently both are sent;
// where they share a name (onCallEnd, onUserLeave) one event carries the
// union of both payloads (call-semantics §7.13). The table in doc.go says
// who gets which, when.
const (
	EvInvited           = "onInvited"                    // TRTCCalling INVITED
	EvCallReceived      = "onCallReceived"               // TUICallKit
	EvUserAccept        = "onUserAccept"                 // TRTCCalling USER_ACCEPT
	EvUserEnter         = "onUserEnter"                  // TRTCCalling USER_ENTER
	EvUserJoin          = "onUserJoin"                   // TUICallKit
	EvUserLeave         = "onUserLeave"                  // both layers
	EvCallBegin         = "onCallBegin"                  // TUICallKit
	EvReject            = "onReject"                     // TRTCCalling REJECT
	EvUserReject        = "onUserReject"                 // TUICallKit
	EvNoResp            = "onNoResp"                     // TRTCCalling NO_RESP
	EvUserNoResponse    = "onUserNoResponse"             // TUICallKit
	EvLineBusy          = "onLineBusy"                   // TRTCCalling LINE_BUSY
	EvUserLineBusy      = "onUserLineBusy"               // TUICallKit
	EvCallingCancel     = "onCallingCancel"              // TRTCCalling CALLING_CANCEL
	EvCallCancelled     = "onCallCancelled"              // TUICallKit
	EvCallingTimeout    = "onCallingTimeout"             // TRTCCalling CALLING_TIMEOUT
	EvCallEnd           = "onCallEnd"                    // both layers
	EvInviteeListUpdate = "onGroupCallInviteeListUpdate" // TRTCCalling GROUP_CALL_INVITEE_LIST_UPDATE
	EvUserInviting      = "onUserInviting"               // TUICallKit (newer)
	EvMediaTypeChanged  = "onCallMediaTypeChanged"       // TUICallKit
)

// Call roles of TUICallKit's callRole.
const (
	RoleCaller = 1
	RoleCallee = 2
)

// RoomRef is TUICallKit's RoomId object: intRoomId for RoomIdType 1,
// strRoomId for RoomIdType 2 (the other one is zero).
type RoomRef struct {
	IntRoomID uint32 `json:"intRoomId"`
	StrRoomID string `json:"strRoomId"`
}

// InviteData is TRTCCalling's inviteData (call-semantics §3). RoomID is a
// JSON number for RoomIdType 1 and a string for RoomIdType 2.
type InviteData struct {
	Version  int       `json:"version"` // always 4
	CallType MediaType `json:"callType"`
	RoomID   any       `json:"roomID"`
	CallEnd  int       `json:"callEnd"` // always 0
}

// InvitedData is the payload of onInvited. InviteID is the call id.
type InvitedData struct {
	Sponsor     string     `json:"sponsor"`
	UserIDList  []string   `json:"userIDList"`
	IsFromGroup bool       `json:"isFromGroup"`
	InviteID    string     `json:"inviteID"`
	InviteData  InviteData `json:"inviteData"`
}

// CallReceivedData is the payload of onCallReceived. GroupID is always ""
// (callbox has no IM groups).
type CallReceivedData struct {
	CallerID      string    `json:"callerId"`
	CalleeIDList  []string  `json:"calleeIdList"`
	GroupID       string    `json:"groupId"`
	CallMediaType MediaType `json:"callMediaType"`
	UserData      string    `json:"userData"`
	RoomID        RoomRef   `json:"roomId"`
}

// UserRef names one user in both spellings: TRTCCalling's userID and
// TUICallKit's userId. Payload of onUserAccept, onUserEnter, onUserJoin,
// onUserLeave, onReject, onUserReject, onUserNoResponse, onUserInviting.
type UserRef struct {
	UserID    string `json:"userID"`
	TUIUserID string `json:"userId"`
}

func userRef(u string) UserRef { return UserRef{UserID: u, TUIUserID: u} }

// LineBusyData is the payload of onLineBusy and onUserLineBusy: sponsor is
// the inviter, userID the busy invitee.
type LineBusyData struct {
	Sponsor   string `json:"sponsor"`
	UserID    string `json:"userID"`
	TUIUserID string `json:"userId"`
}

// NoRespData is the payload of onNoResp and onUserNoResponse (§7.1: the union
// of the package's {sponsor, userIDList} and the docs' {userID, userIDList}).
type NoRespData struct {
	Sponsor    string   `json:"sponsor"`
	UserID     string   `json:"userID"`
	UserIDList []string `json:"userIDList"`
	TUIUserID  string   `json:"userId"`
}

// TimeoutData is the payload of onCallingTimeout.
type TimeoutData struct {
	Sponsor    string   `json:"sponsor"`
	UserIDList []string `json:"userIDList"`
}

// CancelData is the payload of onCallingCancel (TRTCCalling sends {}, the
// extra field is harmless) and onCallCancelled. CallerID is the call's caller.
type CancelData struct {
	CallerID string `json:"callerId"`
}

// CallEndData is the payload of the one onCallEnd event, the union of
// TRTCCalling's {userID, callEnd} and TUICallKit's {roomId, callMediaType,
// callRole, totalTime} (§7.13). CallEnd and TotalTime are both the rounded
// seconds since the first accept (0 if nobody accepted).
type CallEndData struct {
	UserID        string    `json:"userID"`
	CallEnd       int       `json:"callEnd"`
	RoomID        RoomRef   `json:"roomId"`
	CallMediaType MediaType `json:"callMediaType"`
	CallRole      int       `json:"callRole"`
	TotalTime     int       `json:"totalTime"`
}

// CallBeginData is the payload of onCallBegin.
type CallBeginData struct {
	RoomID        RoomRef   `json:"roomId"`
	CallMediaType MediaType `json:"callMediaType"`
	CallRole      int       `json:"callRole"`
}

// ListUpdateData is the payload of onGroupCallInviteeListUpdate: the
// invitees still ringing (invited or ringing), §7.5.
type ListUpdateData struct {
	UserIDList []string `json:"userIDList"`
}

// MediaChangedData is the payload of onCallMediaTypeChanged.
type MediaChangedData struct {
	OldCallMediaType MediaType `json:"oldCallMediaType"`
	NewCallMediaType MediaType `json:"newCallMediaType"`
}
