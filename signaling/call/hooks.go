package call

// Hook is one call-status webhook outbox entry (tencent-compat.md §3).
// Command is the role prefix + "_" + Body.Event, e.g. "caller_start_call",
// "callee_invite_user".
type Hook struct {
	Command string
	Body    HookBody
}

// HookBody is the webhook body, field names exactly as tencent-compat.md §3.
// Every field is always present: timestamps not reached are 0 and a
// CallResult not decided is "".
type HookBody struct {
	UserId      string `json:"UserId"`
	RoomId      string `json:"RoomId"`
	TotalNum    int    `json:"TotalNum"`
	MediaType   string `json:"MediaType"`
	CallType    string `json:"CallType"`
	CallId      string `json:"CallId"`
	Role        string `json:"Role"`
	Event       string `json:"Event"`
	CallResult  string `json:"CallResult"`
	EventTime   int64  `json:"EventTime"`
	StartCallTs int64  `json:"StartCallTs"`
	AcceptTs    int64  `json:"AcceptTs"`
	EndTs       int64  `json:"EndTs"`
}

// Webhook events (the Event field; tencent-compat.md §3).
const (
	HookStartCall       = "start_call"
	HookCallAccepted    = "call_accepted"
	HookCallMissed      = "call_missed"
	HookCallRejected    = "call_rejected"
	HookCallBusy        = "call_busy"
	HookCancelCall      = "cancel_call"
	HookCallEnd         = "call_end"
	HookInterrupted     = "call_interrupted"
	HookReceiveCall     = "receive_call"
	HookAcceptCall      = "accept_call"
	HookNotAnswerCall   = "not_answer_call"
	HookRejectCall      = "reject_call"
	HookCallCanceled    = "call_canceled"
	HookInviteUser      = "invite_user"
	HookCallFailed      = "call_failed"
	HookIgnoreCall      = "ignore_call"
	HookJoinInGroupCall = "join_in_group_call"
	roleCallerString    = "caller"
	roleCalleeString    = "callee"
)
