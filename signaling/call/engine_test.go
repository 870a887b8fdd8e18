package call

import (
	"testing"
	"time"
)

const s = time.Second

// Invitation events as a ringing 1:1 callee B of caller A gets them.
var ringB = []string{
	"B onInvited sponsor=A userIDList=[B] isFromGroup=false",
	"B onCallReceived callerId=A calleeIdList=[B]",
}

// Events of B accepting A's 1:1 call.
var acceptB = []string{
	"A onUserEnter userID=B", "A onUserJoin userID=B",
	"B onUserEnter userID=A", "B onUserJoin userID=A",
	"A onUserAccept userID=B",
	"A onCallBegin callRole=1 callMediaType=2",
	"B onCallBegin callRole=2 callMediaType=2",
}

var (
	startHooks  = []string{"caller_start_call A", "callee_receive_call B"}
	acceptHooks = []string{"callee_accept_call B", "caller_call_accepted A"}
)

// TestOneToOne covers call-semantics §4 S1-S5 and the §7 decisions for
// 1:1 calls.
func TestOneToOne(t *testing.T) {
	for _, sc := range []scenario{
		{
			name:   "S1 answered, caller hangs up",
			online: []string{"A", "B"},
			steps: []step{
				{at: 0, do: call1("A", "B"), ev: ringB, hooks: startHooks, rec: "ringing/ video A:joined B:ringing"},
				{at: 5 * s, do: accept("B"), ev: acceptB, hooks: acceptHooks, rec: "active/ video A:joined B:joined"},
				{at: 65*s + 400*time.Millisecond, do: hangup("A"),
					ev: []string{
						"B onUserLeave userID=A",
						"A onCallEnd userID=B callEnd=60 callRole=1",
						"B onCallEnd userID=A callEnd=60 callRole=2",
					},
					hooks: []string{"caller_call_end A normal_end", "callee_call_end B normal_end"},
					rec:   "ended/normal_end video A:left B:left"},
				// Both hang up "at once": the second finds no call.
				{at: 65 * s, do: hangup("B"), err: ErrNoCall},
			},
		},
		{
			name:   "S1 answered, callee hangs up",
			online: []string{"A", "B"},
			steps: []step{
				{at: 0, do: call1("A", "B"), ev: ringB, hooks: startHooks},
				{at: 2 * s, do: accept("B"), ev: acceptB, hooks: acceptHooks},
				{at: 12*s + 600*time.Millisecond, do: hangup("B"),
					ev: []string{
						"A onUserLeave userID=B",
						"B onCallEnd userID=A callEnd=11 callRole=2",
						"A onCallEnd userID=A callEnd=11 callRole=1",
					},
					hooks: []string{"callee_call_end B normal_end", "caller_call_end A normal_end"},
					rec:   "ended/normal_end video A:left B:left"},
				{at: 13 * s, do: hangup("A"), err: ErrNoCall},
			},
		},
		{
			name:   "S2 rejected",
			online: []string{"A", "B"},
			steps: []step{
				{at: 0, do: call1("A", "B"), ev: ringB, hooks: startHooks},
				{at: 3 * s, do: reject("B"),
					ev:    []string{"A onReject userID=B", "A onUserReject userID=B", "A onCallCancelled callerId=A"},
					hooks: []string{"callee_reject_call B reject", "caller_call_rejected A reject"},
					rec:   "ended/reject video A:left B:rejected"},
				{at: 4 * s, do: accept("B"), err: ErrNotRinging},
				{at: 4 * s, do: reject("B"), err: ErrNotRinging},
				{at: 4 * s, do: hangup("A"), err: ErrNoCall},
			},
		},
		{
			name:   "S3 no answer, callee online",
			online: []string{"A", "B"},
			steps: []step{
				{at: 0, do: call1("A", "B"), ev: ringB, hooks: startHooks},
				{at: 30*s - time.Millisecond}, // nothing due yet
				{at: 30 * s,
					ev: []string{
						"B onCallingTimeout sponsor=A userIDList=[B]",
						"B onCallCancelled callerId=A",
						"A onNoResp sponsor=A userID=B userIDList=[B]",
						"A onUserNoResponse sponsor=A userID=B userIDList=[B]",
						"A onCallCancelled callerId=A",
						"A onCallEnd userID=A callEnd=0 callRole=1",
						"B onCallEnd userID=A callEnd=0 callRole=2",
					},
					hooks: []string{"callee_not_answer_call B not_answer", "caller_call_missed A not_answer"},
					rec:   "ended/not_answer video A:left B:no_answer"},
				{at: 31 * s, do: accept("B"), err: ErrNotRinging}, // accept after timeout
				{at: 40 * s}, // fires nothing twice
			},
		},
		{
			name:   "S3 no answer, callee offline: only the caller hears",
			online: []string{"A"},
			steps: []step{
				{at: 0, do: call1("A", "B"), hooks: startHooks, rec: "ringing/ video A:joined B:invited"},
				{at: 30 * s,
					ev: []string{
						"A onNoResp sponsor=A userID=B userIDList=[B]",
						"A onUserNoResponse sponsor=A userID=B userIDList=[B]",
						"A onCallCancelled callerId=A",
						"A onCallEnd userID=A callEnd=0 callRole=1",
					},
					hooks: []string{"callee_not_answer_call B not_answer", "caller_call_missed A not_answer"},
					rec:   "ended/not_answer video A:left B:no_answer"},
				// B logs in after the timeout: nothing rings.
				{at: 31 * s, do: online("B")},
			},
		},
		{
			name:   "S4 busy: callee in another call",
			online: []string{"A", "B", "C"},
			steps: []step{
				{at: 0, do: call1("C", "B"), ev: []string{
					"B onInvited sponsor=C userIDList=[B] isFromGroup=false",
					"B onCallReceived callerId=C calleeIdList=[B]",
				}, hooks: []string{"caller_start_call C", "callee_receive_call B"}},
				{at: 1 * s, do: acceptIn("B", "call-1"), ev: []string{
					"C onUserEnter userID=B", "C onUserJoin userID=B",
					"B onUserEnter userID=C", "B onUserJoin userID=C",
					"C onUserAccept userID=B",
					"C onCallBegin callRole=1 callMediaType=2",
					"B onCallBegin callRole=2 callMediaType=2",
				}, hooks: []string{"callee_accept_call B", "caller_call_accepted C"}},
				{at: 2 * s, do: call1("A", "B"),
					ev: []string{
						"A onLineBusy sponsor=A userID=B",
						"A onUserLineBusy sponsor=A userID=B",
						"B onLineBusy sponsor=A userID=B",
						"A onCallCancelled callerId=A",
					},
					hooks: []string{"caller_start_call A", "caller_call_busy A call_busy"},
					rec:   "ended/call_busy video A:left B:busy"},
				// B's own call is untouched and A is free again.
				{at: 3 * s, do: hangupIn("B", "call-1"),
					ev: []string{
						"C onUserLeave userID=B",
						"B onCallEnd userID=C callEnd=2 callRole=2",
						"C onCallEnd userID=C callEnd=2 callRole=1",
					},
					hooks: []string{"callee_call_end B normal_end", "caller_call_end C normal_end"}},
				{at: 4 * s, do: call1("A", "B"), ev: []string{
					"B onInvited sponsor=A userIDList=[B] isFromGroup=false",
					"B onCallReceived callerId=A calleeIdList=[B]",
				}, hooks: startHooks, rec: "ringing/ video A:joined B:ringing"},
			},
		},
		{
			name:   "S4 busy: callee ringing elsewhere, callers busy from their first invite",
			online: []string{"A", "B", "C", "D"},
			steps: []step{
				{at: 0, do: call1("C", "B"), ev: []string{
					"B onInvited sponsor=C userIDList=[B] isFromGroup=false",
					"B onCallReceived callerId=C calleeIdList=[B]",
				}, hooks: []string{"caller_start_call C", "callee_receive_call B"}},
				{at: 1 * s, do: call1("A", "B"),
					ev: []string{
						"A onLineBusy sponsor=A userID=B",
						"A onUserLineBusy sponsor=A userID=B",
						"B onLineBusy sponsor=A userID=B",
						"A onCallCancelled callerId=A",
					},
					hooks: []string{"caller_start_call A", "caller_call_busy A call_busy"},
					rec:   "ended/call_busy video A:left B:busy"},
				// C is busy as caller of a call still ringing.
				{at: 2 * s, do: call1("D", "C"),
					ev: []string{
						"D onLineBusy sponsor=D userID=C",
						"D onUserLineBusy sponsor=D userID=C",
						"C onLineBusy sponsor=D userID=C",
						"D onCallCancelled callerId=D",
					},
					hooks: []string{"caller_start_call D", "caller_call_busy D call_busy"}},
				// A ringing callee cannot call out, nor can the caller.
				{at: 3 * s, do: call1("B", "D"), err: ErrBusy},
				{at: 3 * s, do: call1("C", "D"), err: ErrBusy},
				// B still rings for C's call.
				{at: 4 * s, do: acceptIn("B", "call-1"), ev: []string{
					"C onUserEnter userID=B", "C onUserJoin userID=B",
					"B onUserEnter userID=C", "B onUserJoin userID=C",
					"C onUserAccept userID=B",
					"C onCallBegin callRole=1 callMediaType=2",
					"B onCallBegin callRole=2 callMediaType=2",
				}, hooks: []string{"callee_accept_call B", "caller_call_accepted C"}},
			},
		},
		{
			name:   "S5 cancelled by the caller",
			online: []string{"A", "B"},
			steps: []step{
				{at: 0, do: call1("A", "B"), ev: ringB, hooks: startHooks},
				{at: 3 * s, do: hangup("A"),
					ev: []string{
						"A onCallCancelled callerId=A",
						"B onCallingCancel callerId=A",
						"B onCallCancelled callerId=A",
					},
					hooks: []string{"caller_cancel_call A cancel", "callee_call_canceled B cancel"},
					rec:   "ended/cancel video A:left B:cancelled"},
				{at: 3 * s, do: reject("B"), err: ErrNotRinging}, // reject after cancel
				{at: 3 * s, do: accept("B"), err: ErrNotRinging},
				{at: 30 * s}, // the timer died with the call
			},
		},
		{
			name:   "S5 cancel while the callee is offline: no events to it",
			online: []string{"A"},
			steps: []step{
				{at: 0, do: call1("A", "B"), hooks: startHooks},
				{at: 3 * s, do: hangup("A"),
					ev:    []string{"A onCallCancelled callerId=A"},
					hooks: []string{"caller_cancel_call A cancel", "callee_call_canceled B cancel"},
					rec:   "ended/cancel video A:left B:cancelled"},
				{at: 4 * s, do: online("B")},
			},
		},
		{
			name:   "ringing callee must reject, not hang up",
			online: []string{"A", "B"},
			steps: []step{
				{at: 0, do: call1("A", "B"), ev: ringB, hooks: startHooks},
				{at: 1 * s, do: hangup("B"), err: ErrMustReject},
				{at: 2 * s, do: accept("B"), ev: acceptB, hooks: acceptHooks},
				{at: 3 * s, do: accept("B"), err: ErrAlreadyJoined}, // duplicate accept
				{at: 3 * s, do: reject("B"), err: ErrAlreadyJoined},
				{at: 3 * s, do: accept("C"), err: ErrNotInCall},
				{at: 3 * s, do: hangup("C"), err: ErrNotInCall},
				{at: 3 * s, do: hangupIn("A", "nope"), err: ErrNoCall},
				{at: 3 * s, do: acceptIn("A", "nope"), err: ErrNoCall},
			},
		},
	} {
		t.Run(sc.name, func(t *testing.T) { runScenario(t, sc) })
	}
}
