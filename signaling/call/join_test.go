package call

import (
	"testing"
	"time"
)

func joinIn(u, id string) op {
	return func(e *Engine, now time.Time) (Transition, error) { return e.Join(now, app, u, id) }
}
func ignore(u string) op {
	return func(e *Engine, now time.Time) (Transition, error) { return e.Ignore(now, app, u, "call-1") }
}
func fail(u string) op {
	return func(e *Engine, now time.Time) (Transition, error) { return e.Fail(now, app, u, "call-1") }
}

// TestJoinIgnoreFail covers the TUICallKit operations beyond TRTCCalling:
// join (join_in_group_call), ignore (ignore_call) and a caller's failed
// start (call_failed).
func TestJoinIgnoreFail(t *testing.T) {
	everyone := []string{"A", "B", "C", "D", "X"}
	startABC := step{at: 0, do: groupCall("A", "B", "C"),
		ev:    cat(ring("B", "A", "[B,C]"), ring("C", "A", "[B,C]")),
		hooks: []string{"caller_start_call A", "callee_receive_call B", "callee_receive_call C"}}
	acceptB := step{at: 1 * s, do: accept("B"),
		ev: []string{
			"A onUserEnter userID=B", "A onUserJoin userID=B",
			"B onUserEnter userID=A", "B onUserJoin userID=A",
			"A onUserAccept userID=B",
			"A onCallBegin callRole=1 callMediaType=2",
			"B onCallBegin callRole=2 callMediaType=2",
			"A onGroupCallInviteeListUpdate userIDList=[C]",
			"B onGroupCallInviteeListUpdate userIDList=[C]",
		},
		hooks: []string{"callee_accept_call B", "caller_call_accepted A"}}
	oneToOne := step{at: 0, do: call1("A", "B"), ev: []string{
		"B onInvited sponsor=A userIDList=[B] isFromGroup=false",
		"B onCallReceived callerId=A calleeIdList=[B]",
	}, hooks: startHooks}

	for _, sc := range []scenario{
		{
			name:   "join after rejecting, and again after leaving",
			online: everyone,
			steps: []step{
				startABC,
				acceptB,
				{at: 2 * s, do: reject("C"),
					ev: []string{
						"A onReject userID=C", "B onReject userID=C",
						"A onUserReject userID=C", "B onUserReject userID=C",
						"A onGroupCallInviteeListUpdate userIDList=[]",
						"B onGroupCallInviteeListUpdate userIDList=[]",
					},
					hooks: []string{"callee_reject_call C", "caller_call_rejected A"},
					rec:   "active/ video A:joined B:joined C:rejected"},
				{at: 3 * s, do: joinIn("X", "call-1"), err: ErrNotInCall}, // never invited
				{at: 3 * s, do: joinIn("B", "call-1"), err: ErrAlreadyJoined},
				{at: 3 * s, do: joinIn("C", "call-9"), err: ErrNoCall},
				{at: 4 * s, do: joinIn("C", "call-1"),
					ev: []string{
						"A onUserEnter userID=C", "A onUserJoin userID=C",
						"B onUserEnter userID=C", "B onUserJoin userID=C",
						"C onUserEnter userID=A", "C onUserJoin userID=A",
						"C onUserEnter userID=B", "C onUserJoin userID=B",
						"C onCallBegin callRole=2 callMediaType=2",
						"A onGroupCallInviteeListUpdate userIDList=[]",
						"B onGroupCallInviteeListUpdate userIDList=[]",
						"C onGroupCallInviteeListUpdate userIDList=[]",
					},
					hooks: []string{"callee_join_in_group_call C"},
					rec:   "active/ video A:joined B:joined C:joined"},
				// The caller who left comes back in its own role.
				{at: 6 * s, do: hangup("A"),
					ev:    []string{"B onUserLeave userID=A", "C onUserLeave userID=A"},
					hooks: []string{"caller_call_end A normal_end"}},
				{at: 7 * s, do: joinIn("A", "call-1"),
					ev: []string{
						"B onUserEnter userID=A", "B onUserJoin userID=A",
						"C onUserEnter userID=A", "C onUserJoin userID=A",
						"A onUserEnter userID=B", "A onUserJoin userID=B",
						"A onUserEnter userID=C", "A onUserJoin userID=C",
						"A onCallBegin callRole=1 callMediaType=2",
						"A onGroupCallInviteeListUpdate userIDList=[]",
						"B onGroupCallInviteeListUpdate userIDList=[]",
						"C onGroupCallInviteeListUpdate userIDList=[]",
					},
					hooks: []string{"caller_join_in_group_call A"},
					rec:   "active/ video A:joined B:joined C:joined"},
			},
		},
		{
			name:   "join while ringing is an accept; join when busy elsewhere is refused",
			online: everyone,
			steps: []step{
				startABC,
				{at: 1 * s, do: joinIn("B", "call-1"),
					ev:    acceptB.ev,
					hooks: acceptB.hooks},
				{at: 2 * s, do: reject("C"), ev: []string{
					"A onReject userID=C", "B onReject userID=C",
					"A onUserReject userID=C", "B onUserReject userID=C",
					"A onGroupCallInviteeListUpdate userIDList=[]",
					"B onGroupCallInviteeListUpdate userIDList=[]",
				}, hooks: []string{"callee_reject_call C", "caller_call_rejected A"}},
				{at: 3 * s, do: callWith(Invite{Caller: "C", Callees: []string{"D"}, Media: MediaVideo}), ev: []string{
					"D onInvited sponsor=C userIDList=[D] isFromGroup=false",
					"D onCallReceived callerId=C calleeIdList=[D]",
				}, hooks: []string{"caller_start_call C", "callee_receive_call D"}},
				{at: 4 * s, do: joinIn("C", "call-1"), err: ErrBusy},
			},
		},
		{
			name:   "join a 1:1 call is refused",
			online: everyone,
			steps: []step{
				oneToOne,
				{at: 1 * s, do: joinIn("B", "call-1"), err: ErrNotGroup},
			},
		},
		{
			name:   "1:1 ignored: the caller hears busy, the callee nothing",
			online: everyone,
			steps: []step{
				oneToOne,
				{at: 1 * s, do: ignore("A"), err: ErrAlreadyJoined},
				{at: 2 * s, do: ignore("B"),
					ev: []string{
						"A onLineBusy sponsor=A userID=B",
						"A onUserLineBusy sponsor=A userID=B",
						"A onCallCancelled callerId=A",
					},
					hooks: []string{"callee_ignore_call B call_busy", "caller_call_busy A call_busy"},
					rec:   "ended/call_busy video A:left B:busy"},
				{at: 3 * s, do: ignore("B"), err: ErrNotRinging},
				{at: 31 * s}, // no timeout fires for the ignored invitation
			},
		},
		{
			name:   "group ignored by one: the call goes on",
			online: everyone,
			steps: []step{
				startABC,
				acceptB,
				{at: 2 * s, do: ignore("C"),
					ev: []string{
						"A onLineBusy sponsor=A userID=C", "B onLineBusy sponsor=A userID=C",
						"A onUserLineBusy sponsor=A userID=C", "B onUserLineBusy sponsor=A userID=C",
						"A onGroupCallInviteeListUpdate userIDList=[]",
						"B onGroupCallInviteeListUpdate userIDList=[]",
					},
					hooks: []string{"callee_ignore_call C", "caller_call_busy A"},
					rec:   "active/ video A:joined B:joined C:busy"},
			},
		},
		{
			name:   "a caller's failed start cancels the call",
			online: everyone,
			steps: []step{
				oneToOne,
				{at: 1 * s, do: fail("B"), err: ErrNotInCall}, // only the caller fails a start
				{at: 2 * s, do: fail("A"),
					ev: []string{
						"A onCallCancelled callerId=A",
						"B onCallingCancel callerId=A",
						"B onCallCancelled callerId=A",
					},
					hooks: []string{"caller_call_failed A cancel", "callee_call_canceled B cancel"},
					rec:   "ended/cancel video A:left B:cancelled"},
			},
		},
		{
			name:   "no failed start after an answer",
			online: everyone,
			steps: []step{
				startABC,
				acceptB,
				{at: 2 * s, do: fail("A"), err: ErrNotRinging},
			},
		},
	} {
		t.Run(sc.name, func(t *testing.T) { runScenario(t, sc) })
	}
}
