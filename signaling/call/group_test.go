package call

import (
	"testing"
	"time"
)

// ring renders the invitation events of a group invitee.
func ring(u, sponsor, list string) []string {
	return []string{
		u + " onInvited sponsor=" + sponsor + " userIDList=" + list + " isFromGroup=true",
		u + " onCallReceived callerId=" + sponsor + " calleeIdList=" + list,
	}
}

func cat(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// TestGroup covers call-semantics §4 S6-S8 with §7.2-§7.5.
func TestGroup(t *testing.T) {
	everyone := []string{"A", "B", "C", "D", "E", "F", "G"}
	startABCD := step{at: 0, do: groupCall("A", "B", "C", "D"),
		ev:    cat(ring("B", "A", "[B,C,D]"), ring("C", "A", "[B,C,D]"), ring("D", "A", "[B,C,D]")),
		hooks: []string{"caller_start_call A", "callee_receive_call B", "callee_receive_call C", "callee_receive_call D"},
		rec:   "ringing/ video A:joined B:ringing C:ringing D:ringing"}
	acceptB := step{at: 5 * s, do: accept("B"),
		ev: []string{
			"A onUserEnter userID=B", "A onUserJoin userID=B",
			"B onUserEnter userID=A", "B onUserJoin userID=A",
			"A onUserAccept userID=B",
			"A onCallBegin callRole=1 callMediaType=2",
			"B onCallBegin callRole=2 callMediaType=2",
			"A onGroupCallInviteeListUpdate userIDList=[C,D]",
			"B onGroupCallInviteeListUpdate userIDList=[C,D]",
		},
		hooks: []string{"callee_accept_call B", "caller_call_accepted A"},
		rec:   "active/ video A:joined B:joined C:ringing D:ringing"}
	acceptC := step{at: 6 * s, do: accept("C"),
		ev: []string{
			"A onUserEnter userID=C", "A onUserJoin userID=C",
			"B onUserEnter userID=C", "B onUserJoin userID=C",
			"C onUserEnter userID=A", "C onUserJoin userID=A",
			"C onUserEnter userID=B", "C onUserJoin userID=B",
			"A onUserAccept userID=C", "B onUserAccept userID=C",
			"C onCallBegin callRole=2 callMediaType=2",
			"A onGroupCallInviteeListUpdate userIDList=[D]",
			"B onGroupCallInviteeListUpdate userIDList=[D]",
			"C onGroupCallInviteeListUpdate userIDList=[D]",
		},
		hooks: []string{"callee_accept_call C", "caller_call_accepted A"},
		rec:   "active/ video A:joined B:joined C:joined D:ringing"}

	for _, sc := range []scenario{
		{
			name:   "S6 B accepts, C rejects, D does not answer",
			online: everyone,
			steps: []step{
				startABCD,
				acceptB,
				{at: 10 * s, do: reject("C"),
					ev: []string{
						"A onReject userID=C", "B onReject userID=C",
						"A onUserReject userID=C", "B onUserReject userID=C",
						"A onGroupCallInviteeListUpdate userIDList=[D]",
						"B onGroupCallInviteeListUpdate userIDList=[D]",
					},
					hooks: []string{"callee_reject_call C", "caller_call_rejected A"},
					rec:   "active/ video A:joined B:joined C:rejected D:ringing"},
				{at: 30 * s,
					ev: []string{
						"D onCallingTimeout sponsor=A userIDList=[D]",
						"D onCallCancelled callerId=A",
						"A onNoResp sponsor=A userID=D userIDList=[D]",
						"B onNoResp sponsor=A userID=D userIDList=[D]",
						"A onUserNoResponse sponsor=A userID=D userIDList=[D]",
						"B onUserNoResponse sponsor=A userID=D userIDList=[D]",
						"A onGroupCallInviteeListUpdate userIDList=[]",
						"B onGroupCallInviteeListUpdate userIDList=[]",
					},
					hooks: []string{"callee_not_answer_call D", "caller_call_missed A"},
					rec:   "active/ video A:joined B:joined C:rejected D:no_answer"},
				{at: 31 * s, do: accept("D"), err: ErrNotRinging},
				{at: 100 * s, do: hangup("B"),
					ev: []string{
						"A onUserLeave userID=B",
						"B onCallEnd userID=A callEnd=95 callRole=2",
						"A onCallEnd userID=A callEnd=95 callRole=1",
					},
					hooks: []string{"callee_call_end B normal_end", "caller_call_end A normal_end"},
					rec:   "ended/normal_end video A:left B:left C:rejected D:no_answer"},
			},
		},
		{
			name:   "S6 nobody joins: the last reject ends the call",
			online: everyone,
			steps: []step{
				{at: 0, do: groupCall("A", "B", "C"),
					ev:    cat(ring("B", "A", "[B,C]"), ring("C", "A", "[B,C]")),
					hooks: []string{"caller_start_call A", "callee_receive_call B", "callee_receive_call C"}},
				{at: 1 * s, do: reject("B"),
					ev: []string{"A onReject userID=B", "A onUserReject userID=B",
						"A onGroupCallInviteeListUpdate userIDList=[C]"},
					hooks: []string{"callee_reject_call B", "caller_call_rejected A"}},
				{at: 2 * s, do: reject("C"),
					ev: []string{"A onReject userID=C", "A onUserReject userID=C",
						"A onCallEnd userID=A callEnd=0 callRole=1"},
					hooks: []string{"callee_reject_call C", "caller_call_rejected A", "caller_call_end A normal_end"},
					rec:   "ended/normal_end video A:left B:rejected C:rejected"},
			},
		},
		{
			name:   "S6 nobody joins: all time out at once",
			online: everyone,
			steps: []step{
				{at: 0, do: groupCall("A", "B", "C"),
					ev:    cat(ring("B", "A", "[B,C]"), ring("C", "A", "[B,C]")),
					hooks: []string{"caller_start_call A", "callee_receive_call B", "callee_receive_call C"}},
				{at: 30 * s,
					ev: []string{
						"B onCallingTimeout sponsor=A userIDList=[B]", "B onCallCancelled callerId=A",
						"A onNoResp sponsor=A userID=B userIDList=[B]", "A onUserNoResponse sponsor=A userID=B userIDList=[B]",
						"A onGroupCallInviteeListUpdate userIDList=[C]",
						"C onCallingTimeout sponsor=A userIDList=[C]", "C onCallCancelled callerId=A",
						"A onNoResp sponsor=A userID=C userIDList=[C]", "A onUserNoResponse sponsor=A userID=C userIDList=[C]",
						"A onCallEnd userID=A callEnd=0 callRole=1",
					},
					hooks: []string{"callee_not_answer_call B", "caller_call_missed A",
						"callee_not_answer_call C", "caller_call_missed A", "caller_call_end A normal_end"},
					rec: "ended/normal_end video A:left B:no_answer C:no_answer"},
			},
		},
		{
			name:   "group: busy invitees answered at once, all busy ends the call",
			online: everyone,
			steps: []step{
				{at: 0, do: call1("E", "B"), ev: []string{
					"B onInvited sponsor=E userIDList=[B] isFromGroup=false",
					"B onCallReceived callerId=E calleeIdList=[B]"},
					hooks: []string{"caller_start_call E", "callee_receive_call B"}},
				{at: 1 * s, do: groupCall("A", "B", "C"),
					ev: cat([]string{
						"A onLineBusy sponsor=A userID=B", "A onUserLineBusy sponsor=A userID=B", "B onLineBusy sponsor=A userID=B",
					}, ring("C", "A", "[C]")),
					hooks: []string{"caller_start_call A", "caller_call_busy A", "callee_receive_call C"},
					rec:   "ringing/ video A:joined B:busy C:ringing"},
				{at: 2 * s, do: groupCall("D", "B", "E"),
					ev: []string{
						"D onLineBusy sponsor=D userID=B", "D onUserLineBusy sponsor=D userID=B", "B onLineBusy sponsor=D userID=B",
						"D onLineBusy sponsor=D userID=E", "D onUserLineBusy sponsor=D userID=E", "E onLineBusy sponsor=D userID=E",
						"D onCallEnd userID=D callEnd=0 callRole=1",
					},
					hooks: []string{"caller_start_call D", "caller_call_busy D", "caller_call_busy D", "caller_call_end D normal_end"},
					rec:   "ended/normal_end video D:left B:busy E:busy"},
			},
		},
		{
			name:   "group cancel: caller hangs up before any accept",
			online: everyone,
			steps: []step{
				{at: 0, do: groupCall("A", "B", "C"),
					ev:    cat(ring("B", "A", "[B,C]"), ring("C", "A", "[B,C]")),
					hooks: []string{"caller_start_call A", "callee_receive_call B", "callee_receive_call C"}},
				{at: 4 * s, do: hangup("A"),
					ev: []string{
						"A onCallCancelled callerId=A",
						"B onCallingCancel callerId=A", "B onCallCancelled callerId=A",
						"C onCallingCancel callerId=A", "C onCallCancelled callerId=A",
					},
					hooks: []string{"caller_cancel_call A normal_end", "callee_call_canceled B normal_end", "callee_call_canceled C normal_end"},
					rec:   "ended/normal_end video A:left B:cancelled C:cancelled"},
			},
		},
		{
			name:   "S7 midway invite",
			online: everyone,
			steps: []step{
				{at: 0, do: groupCall("A", "B", "C"),
					ev:    cat(ring("B", "A", "[B,C]"), ring("C", "A", "[B,C]")),
					hooks: []string{"caller_start_call A", "callee_receive_call B", "callee_receive_call C"}},
				{at: 2 * s, do: accept("B"),
					ev: []string{
						"A onUserEnter userID=B", "A onUserJoin userID=B",
						"B onUserEnter userID=A", "B onUserJoin userID=A",
						"A onUserAccept userID=B",
						"A onCallBegin callRole=1 callMediaType=2",
						"B onCallBegin callRole=2 callMediaType=2",
						"A onGroupCallInviteeListUpdate userIDList=[C]",
						"B onGroupCallInviteeListUpdate userIDList=[C]",
					},
					hooks: []string{"callee_accept_call B", "caller_call_accepted A"}},
				{at: 10 * s, do: inviteMore("B", "E", "C", "E"),
					ev: cat(ring("E", "B", "[B,C,E]"), []string{
						"A onUserInviting userID=E",
						"A onGroupCallInviteeListUpdate userIDList=[C,E]",
						"B onGroupCallInviteeListUpdate userIDList=[C,E]",
					}),
					hooks: []string{"callee_invite_user E", "callee_receive_call E"},
					rec:   "active/ video A:joined B:joined C:ringing E:ringing"},
				// Everyone asked is already in: nothing happens.
				{at: 11 * s, do: inviteMore("A", "C", "E")},
				{at: 12 * s, do: inviteMore("C", "F"), err: ErrNotInCall},
				{at: 12 * s, do: inviteMore("A", "A"), err: ErrSelfInvite},
				{at: 12 * s, do: inviteMore("A", "a b"), err: ErrBadParam},
				{at: 15 * s, do: accept("E"),
					ev: []string{
						"A onUserEnter userID=E", "A onUserJoin userID=E",
						"B onUserEnter userID=E", "B onUserJoin userID=E",
						"E onUserEnter userID=A", "E onUserJoin userID=A",
						"E onUserEnter userID=B", "E onUserJoin userID=B",
						"A onUserAccept userID=E", "B onUserAccept userID=E",
						"E onCallBegin callRole=2 callMediaType=2",
						"A onGroupCallInviteeListUpdate userIDList=[C]",
						"B onGroupCallInviteeListUpdate userIDList=[C]",
						"E onGroupCallInviteeListUpdate userIDList=[C]",
					},
					hooks: []string{"callee_accept_call E", "caller_call_accepted A"}},
				{at: 16 * s, do: reject("C"),
					ev: []string{
						"A onReject userID=C", "B onReject userID=C", "E onReject userID=C",
						"A onUserReject userID=C", "B onUserReject userID=C", "E onUserReject userID=C",
						"A onGroupCallInviteeListUpdate userIDList=[]",
						"B onGroupCallInviteeListUpdate userIDList=[]",
						"E onGroupCallInviteeListUpdate userIDList=[]",
					},
					hooks: []string{"callee_reject_call C", "caller_call_rejected A"}},
				// C is invited again, by E, reusing its entry.
				{at: 17 * s, do: inviteMore("E", "C"),
					ev: cat(ring("C", "E", "[B,C,E]"), []string{
						"A onUserInviting userID=C", "B onUserInviting userID=C",
						"A onGroupCallInviteeListUpdate userIDList=[C]",
						"B onGroupCallInviteeListUpdate userIDList=[C]",
						"E onGroupCallInviteeListUpdate userIDList=[C]",
					}),
					hooks: []string{"callee_invite_user C", "callee_receive_call C"},
					rec:   "active/ video A:joined B:joined C:ringing E:joined"},
				// The midway invitation times out 30 s after it was made; the
				// sponsor is its inviter.
				{at: 47 * s,
					ev: []string{
						"C onCallingTimeout sponsor=E userIDList=[C]", "C onCallCancelled callerId=A",
						"A onNoResp sponsor=E userID=C userIDList=[C]", "B onNoResp sponsor=E userID=C userIDList=[C]", "E onNoResp sponsor=E userID=C userIDList=[C]",
						"A onUserNoResponse sponsor=E userID=C userIDList=[C]", "B onUserNoResponse sponsor=E userID=C userIDList=[C]", "E onUserNoResponse sponsor=E userID=C userIDList=[C]",
						"A onGroupCallInviteeListUpdate userIDList=[]",
						"B onGroupCallInviteeListUpdate userIDList=[]",
						"E onGroupCallInviteeListUpdate userIDList=[]",
					},
					hooks: []string{"callee_not_answer_call C", "caller_call_missed A"}},
			},
		},
		{
			name:   "S7 midway invite of a busy user, and into a 1:1 call",
			online: everyone,
			steps: []step{
				{at: 0, do: groupCall("A", "B"), ev: ring("B", "A", "[B]"),
					hooks: []string{"caller_start_call A", "callee_receive_call B"}},
				{at: 1 * s, do: call1("F", "G"), ev: []string{
					"G onInvited sponsor=F userIDList=[G] isFromGroup=false",
					"G onCallReceived callerId=F calleeIdList=[G]"},
					hooks: []string{"caller_start_call F", "callee_receive_call G"}},
				{at: 2 * s, do: inviteMore("A", "G"),
					ev:    []string{"A onLineBusy sponsor=A userID=G", "A onUserLineBusy sponsor=A userID=G", "G onLineBusy sponsor=A userID=G"},
					hooks: []string{"caller_call_busy A"},
					rec:   "ringing/ video A:joined B:ringing G:busy"},
				{at: 3 * s, do: func(e *Engine, now time.Time) (Transition, error) {
					return e.InviteMore(now, app, "F", "call-2", []string{"C"})
				}, err: ErrNotGroup},
			},
		},
		{
			name:   "S8 leaving until one remains, with an invitee still ringing (§7.2)",
			online: everyone,
			steps: []step{
				startABCD, acceptB, acceptC,
				{at: 10 * s, do: hangup("B"),
					ev:    []string{"A onUserLeave userID=B", "C onUserLeave userID=B"},
					hooks: []string{"callee_call_end B normal_end"},
					rec:   "active/ video A:joined B:left C:joined D:ringing"},
				{at: 11 * s, do: hangup("C"),
					ev:    []string{"A onUserLeave userID=C"},
					hooks: []string{"callee_call_end C normal_end"},
					rec:   "ringing/ video A:joined B:left C:left D:ringing"},
				{at: 12 * s, do: hangup("A"),
					ev: []string{
						"A onCallEnd userID=A callEnd=7 callRole=1",
						"D onCallingCancel callerId=A", "D onCallCancelled callerId=A",
					},
					hooks: []string{"caller_call_end A normal_end", "callee_call_canceled D normal_end"},
					rec:   "ended/normal_end video A:left B:left C:left D:cancelled"},
			},
		},
		{
			name:   "S8 CALL_END goes to the last two only (§7.3)",
			online: everyone,
			steps: []step{
				startABCD, acceptB, acceptC,
				{at: 7 * s, do: reject("D"),
					ev: []string{
						"A onReject userID=D", "B onReject userID=D", "C onReject userID=D",
						"A onUserReject userID=D", "B onUserReject userID=D", "C onUserReject userID=D",
						"A onGroupCallInviteeListUpdate userIDList=[]",
						"B onGroupCallInviteeListUpdate userIDList=[]",
						"C onGroupCallInviteeListUpdate userIDList=[]",
					},
					hooks: []string{"callee_reject_call D", "caller_call_rejected A"}},
				// The caller leaves first; the call goes on between B and C.
				{at: 10 * s, do: hangup("A"),
					ev:    []string{"B onUserLeave userID=A", "C onUserLeave userID=A"},
					hooks: []string{"caller_call_end A normal_end"},
					rec:   "active/ video A:left B:joined C:joined D:rejected"},
				{at: 20 * s, do: hangup("C"),
					ev: []string{
						"B onUserLeave userID=C",
						"C onCallEnd userID=B callEnd=15 callRole=2",
						"B onCallEnd userID=A callEnd=15 callRole=2",
					},
					hooks: []string{"callee_call_end C normal_end", "callee_call_end B normal_end"},
					rec:   "ended/normal_end video A:left B:left C:left D:rejected"},
			},
		},
		{
			name:   "group lifetime: the caller leaves, one joined plus one ringing keep the call",
			online: everyone,
			steps: []step{
				startABCD, acceptB,
				{at: 6 * s, do: reject("C"),
					ev: []string{"A onReject userID=C", "B onReject userID=C", "A onUserReject userID=C", "B onUserReject userID=C",
						"A onGroupCallInviteeListUpdate userIDList=[D]", "B onGroupCallInviteeListUpdate userIDList=[D]"},
					hooks: []string{"callee_reject_call C", "caller_call_rejected A"}},
				{at: 8 * s, do: hangup("A"),
					ev:    []string{"B onUserLeave userID=A"},
					hooks: []string{"caller_call_end A normal_end"},
					rec:   "ringing/ video A:left B:joined C:rejected D:ringing"},
				// D's timeout leaves B alone: the call ends around it.
				{at: 30 * s,
					ev: []string{
						"D onCallingTimeout sponsor=A userIDList=[D]", "D onCallCancelled callerId=A",
						"B onNoResp sponsor=A userID=D userIDList=[D]", "B onUserNoResponse sponsor=A userID=D userIDList=[D]",
						"B onCallEnd userID=A callEnd=25 callRole=2",
					},
					hooks: []string{"callee_not_answer_call D", "caller_call_missed A", "callee_call_end B normal_end"},
					rec:   "ended/normal_end video A:left B:left C:rejected D:no_answer"},
			},
		},
		{
			name:   "S7 the caller who left is invited back",
			online: everyone,
			steps: []step{
				startABCD, acceptB, acceptC,
				{at: 8 * s, do: hangup("A"),
					ev:    []string{"B onUserLeave userID=A", "C onUserLeave userID=A"},
					hooks: []string{"caller_call_end A normal_end"}},
				{at: 9 * s, do: inviteMore("C", "A"),
					ev: cat(ring("A", "C", "[B,C,D]"), []string{
						"B onUserInviting userID=A",
						"B onGroupCallInviteeListUpdate userIDList=[A,D]",
						"C onGroupCallInviteeListUpdate userIDList=[A,D]",
					}),
					hooks: []string{"callee_invite_user A", "callee_receive_call A"},
					rec:   "active/ video A:ringing B:joined C:joined D:ringing"},
				{at: 10 * s, do: accept("A"),
					ev: []string{
						"B onUserEnter userID=A", "B onUserJoin userID=A",
						"C onUserEnter userID=A", "C onUserJoin userID=A",
						"A onUserEnter userID=B", "A onUserJoin userID=B",
						"A onUserEnter userID=C", "A onUserJoin userID=C",
						"B onUserAccept userID=A", "C onUserAccept userID=A",
						"A onCallBegin callRole=1 callMediaType=2",
						"A onGroupCallInviteeListUpdate userIDList=[D]",
						"B onGroupCallInviteeListUpdate userIDList=[D]",
						"C onGroupCallInviteeListUpdate userIDList=[D]",
					},
					hooks: []string{"callee_accept_call A", "caller_call_accepted A"}},
			},
		},
	} {
		t.Run(sc.name, func(t *testing.T) { runScenario(t, sc) })
	}
}
