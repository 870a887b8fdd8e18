package call

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestMediaAndEnd covers S10 (§7.6) and End by an admin.
func TestMediaAndEnd(t *testing.T) {
	for _, sc := range []scenario{
		{
			name:   "S10 switch in an answered 1:1 call",
			online: []string{"A", "B"},
			steps: []step{
				{at: 0, do: call1("A", "B"), ev: ringB, hooks: startHooks},
				{at: 1 * s, do: accept("B"), ev: acceptB, hooks: acceptHooks},
				{at: 2 * s, do: switchMedia("B", MediaAudio),
					ev: []string{
						"A onCallMediaTypeChanged oldCallMediaType=2 newCallMediaType=1",
						"B onCallMediaTypeChanged oldCallMediaType=2 newCallMediaType=1",
					},
					rec: "active/ audio A:joined B:joined"},
				{at: 3 * s, do: switchMedia("A", MediaAudio)}, // already audio: no-op
				{at: 3 * s, do: switchMedia("C", MediaVideo), err: ErrNotInCall},
				{at: 3 * s, do: switchMedia("A", 3), err: ErrBadParam},
				{at: 4 * s, do: hangup("A"),
					ev: []string{"B onUserLeave userID=A",
						"A onCallEnd userID=B callEnd=3 callRole=1", "B onCallEnd userID=A callEnd=3 callRole=2"},
					hooks: []string{"caller_call_end A normal_end", "callee_call_end B normal_end"},
					rec:   "ended/normal_end audio A:left B:left"},
			},
		},
		{
			name:   "S10 switch while ringing changes what the callee accepts",
			online: []string{"A", "B"},
			steps: []step{
				{at: 0, do: call1("A", "B"), ev: ringB, hooks: startHooks},
				{at: 1 * s, do: switchMedia("B", MediaAudio), err: ErrSwitchToAudio}, // not joined yet
				{at: 1 * s, do: switchMedia("A", MediaAudio),
					ev: []string{
						"A onCallMediaTypeChanged oldCallMediaType=2 newCallMediaType=1",
						"B onCallMediaTypeChanged oldCallMediaType=2 newCallMediaType=1",
					}},
				{at: 2 * s, do: accept("B"), ev: []string{
					"A onUserEnter userID=B", "A onUserJoin userID=B",
					"B onUserEnter userID=A", "B onUserJoin userID=A",
					"A onUserAccept userID=B",
					"A onCallBegin callRole=1 callMediaType=1",
					"B onCallBegin callRole=2 callMediaType=1",
				}, hooks: acceptHooks, rec: "active/ audio A:joined B:joined"},
			},
		},
		{
			name:   "S10 no switch in a group (60001/60002)",
			online: []string{"A", "B"},
			steps: []step{
				{at: 0, do: groupCall("A", "B"), ev: ring("B", "A", "[B]"),
					hooks: []string{"caller_start_call A", "callee_receive_call B"}},
				{at: 1 * s, do: switchMedia("A", MediaAudio), err: ErrSwitchToAudio},
				{at: 1 * s, do: switchMedia("A", MediaVideo), err: ErrSwitchToVideo},
			},
		},
		{
			name:   "End by admin after an answer",
			online: []string{"A", "B", "C"},
			steps: []step{
				{at: 0, do: groupCall("A", "B", "C"), ev: cat(ring("B", "A", "[B,C]"), ring("C", "A", "[B,C]")),
					hooks: []string{"caller_start_call A", "callee_receive_call B", "callee_receive_call C"}},
				{at: 1 * s, do: accept("B"), ev: []string{
					"A onUserEnter userID=B", "A onUserJoin userID=B", "B onUserEnter userID=A", "B onUserJoin userID=A",
					"A onUserAccept userID=B", "A onCallBegin callRole=1 callMediaType=2", "B onCallBegin callRole=2 callMediaType=2",
					"A onGroupCallInviteeListUpdate userIDList=[C]", "B onGroupCallInviteeListUpdate userIDList=[C]"},
					hooks: acceptHooks},
				{at: 9 * s, do: end("call-1"),
					ev: []string{
						"A onCallEnd userID=A callEnd=8 callRole=1",
						"B onCallEnd userID=A callEnd=8 callRole=2",
						"C onCallingCancel callerId=A", "C onCallCancelled callerId=A",
					},
					hooks: []string{"caller_call_end A normal_end", "callee_call_end B normal_end", "callee_call_canceled C normal_end"},
					rec:   "ended/normal_end video A:left B:left C:cancelled"},
				{at: 10 * s, do: end("call-1"), err: ErrNoCall},
			},
		},
		{
			name:   "End by admin while ringing is a cancel",
			online: []string{"A", "B"},
			steps: []step{
				{at: 0, do: call1("A", "B"), ev: ringB, hooks: startHooks},
				{at: 1 * s, do: end("call-1"),
					ev:    []string{"A onCallCancelled callerId=A", "B onCallingCancel callerId=A", "B onCallCancelled callerId=A"},
					hooks: []string{"caller_cancel_call A cancel", "callee_call_canceled B cancel"},
					rec:   "ended/cancel video A:left B:cancelled"},
			},
		},
	} {
		t.Run(sc.name, func(t *testing.T) { runScenario(t, sc) })
	}
}

// TestBadInput: every malformed request is a clear error and changes nothing.
func TestBadInput(t *testing.T) {
	many := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("u%d", i)
		}
		return out
	}
	dur := func(d time.Duration) *time.Duration { return &d }
	for _, tc := range []struct {
		name string
		inv  Invite
		err  error
	}{
		{"self", Invite{Caller: "A", Callees: []string{"B", "A"}, Group: true}, ErrSelfInvite},
		{"self 1:1", Invite{Caller: "A", Callees: []string{"A"}}, ErrSelfInvite},
		{"no callees", Invite{Caller: "A"}, ErrBadParam},
		{"two callees 1:1", Invite{Caller: "A", Callees: []string{"B", "C"}}, ErrBadParam},
		{"201 invitees", Invite{Caller: "A", Callees: many(201), Group: true}, ErrTooManyInvitees},
		{"space", Invite{Caller: "A", Callees: []string{"b c"}}, ErrBadParam},
		{"comma", Invite{Caller: "A", Callees: []string{"b,c"}}, ErrBadParam},
		{"empty id", Invite{Caller: "A", Callees: []string{""}}, ErrBadParam},
		{"33 bytes", Invite{Caller: "A", Callees: []string{strings.Repeat("x", 33)}}, ErrBadParam},
		{"non-ASCII", Invite{Caller: "A", Callees: []string{"bé"}}, ErrBadParam},
		{"control", Invite{Caller: "A", Callees: []string{"b\n"}}, ErrBadParam},
		{"bad caller", Invite{Caller: "", Callees: []string{"B"}}, ErrBadParam},
		{"no app", Invite{SDKAppID: 0, Caller: "A", Callees: []string{"B"}}, ErrBadParam},
		{"media 0", Invite{Caller: "A", Callees: []string{"B"}, Media: -1}, ErrBadParam},
		{"negative timeout", Invite{Caller: "A", Callees: []string{"B"}, Timeout: dur(-1)}, ErrBadParam},
		{"room not a number", Invite{Caller: "A", Callees: []string{"B"}, RoomID: "abc"}, ErrBadParam},
		{"room 0", Invite{Caller: "A", Callees: []string{"B"}, RoomID: "0"}, ErrBadParam},
		{"room leading zero", Invite{Caller: "A", Callees: []string{"B"}, RoomID: "012"}, ErrBadParam},
		{"room too big", Invite{Caller: "A", Callees: []string{"B"}, RoomID: "4294967296"}, ErrBadParam},
		{"room type 3", Invite{Caller: "A", Callees: []string{"B"}, RoomIDType: 3}, ErrBadParam},
		{"string room too long", Invite{Caller: "A", Callees: []string{"B"}, RoomIDType: 2, RoomID: strings.Repeat("r", 65)}, ErrBadParam},
		{"room in use", Invite{Caller: "A", Callees: []string{"B"}, RoomID: "1001"}, ErrRoomInUse},
		{"user data", Invite{Caller: "A", Callees: []string{"B"}, UserData: strings.Repeat("d", maxUserData+1)}, ErrBadParam},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEngine(Config{})
			if _, err := e.Call(t0, Invite{SDKAppID: app, Caller: "X", Callees: []string{"Y"}, Media: MediaAudio}); err != nil {
				t.Fatal(err) // holds room 1001
			}
			inv := tc.inv
			if inv.SDKAppID == 0 && tc.name != "no app" {
				inv.SDKAppID = app
			}
			if inv.Media == 0 {
				inv.Media = MediaVideo
			}
			tr, err := e.Call(t0, inv)
			if !errors.Is(err, tc.err) || !tr.IsZero() {
				t.Fatalf("Call = %+v, %v; want %v", tr, err, tc.err)
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.Code != tc.err.(*Error).Code || err.Error() == "" {
				t.Fatalf("error %v is not an *Error with code %d", err, tc.err.(*Error).Code)
			}
			if len(e.Live()) != 1 || len(e.users) != 2 {
				t.Fatalf("a failed Call changed the engine: %v", e.Live())
			}
		})
	}

	t.Run("200 invitees and duplicates collapse", func(t *testing.T) {
		e := newTestEngine(Config{})
		tr, err := e.Call(t0, Invite{SDKAppID: app, Caller: "A", Callees: append(many(200), "u0", "u1"), Media: MediaAudio, Group: true})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(tr.Call.Participants); n != 201 {
			t.Fatalf("%d participants, want 201", n)
		}
		if _, err := e.InviteMore(t0, app, "A", tr.Call.CallID, []string{"extra"}); !errors.Is(err, ErrTooManyInvitees) {
			t.Fatalf("InviteMore past the cap: %v", err)
		}
		// 1:1 with the callee listed twice is still 1:1.
		tr, err = e.Call(t0, Invite{SDKAppID: app, Caller: "B", Callees: []string{"C", "C"}, Media: MediaAudio})
		if err != nil || len(tr.Call.Participants) != 2 {
			t.Fatalf("Call(B->C,C) = %v, %v", tr.Call.Participants, err)
		}
	})

	t.Run("string room ids and apps are separate", func(t *testing.T) {
		e := newTestEngine(Config{})
		tr, err := e.Call(t0, Invite{SDKAppID: app, Caller: "A", Callees: []string{"B"}, Media: MediaAudio, RoomIDType: 2, RoomID: "team room"})
		if err != nil || tr.Call.RoomID != "team room" || tr.Call.RoomIDType != 2 {
			t.Fatalf("Call = %+v, %v", tr.Call, err)
		}
		// The same users and room in another app are another world.
		if _, err := e.Call(t0, Invite{SDKAppID: app + 1, Caller: "B", Callees: []string{"A"}, Media: MediaAudio, RoomIDType: 2, RoomID: "team room"}); err != nil {
			t.Fatal(err)
		}
		if got := e.CallsOf(app+1, "A"); !slices.Equal(got, []string{"call-2"}) {
			t.Fatalf("CallsOf = %v", got)
		}
		if _, err := e.Accept(t0, app, "B", "call-2"); !errors.Is(err, ErrNoCall) {
			t.Fatalf("cross-app accept: %v", err)
		}
	})
}

// TestWireForms checks the JSON of a webhook body and of the payloads.
func TestWireForms(t *testing.T) {
	e := newTestEngine(Config{})
	e.Online(t0, app, "B")
	tr, err := e.Call(t0, Invite{SDKAppID: app, Caller: "A", Callees: []string{"B", "C"}, Media: MediaAudio, Group: true, UserData: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	start := tr.Hooks[0]
	raw, _ := json.Marshal(start.Body)
	want := fmt.Sprintf(`{"UserId":"A","RoomId":"1001","TotalNum":3,"MediaType":"audio","CallType":"group","CallId":"call-1","Role":"caller","Event":"start_call","CallResult":"","EventTime":%d,"StartCallTs":%d,"AcceptTs":0,"EndTs":0}`, t0.Unix(), t0.Unix())
	if string(raw) != want || start.Command != "caller_start_call" {
		t.Fatalf("start hook %s %s\nwant %s", start.Command, raw, want)
	}
	inv, _ := json.Marshal(tr.Events[0].Data)
	if got := string(inv); got != `{"sponsor":"A","userIDList":["B","C"],"isFromGroup":true,"inviteID":"call-1","inviteData":{"version":4,"callType":1,"roomID":1001,"callEnd":0}}` {
		t.Fatalf("onInvited %s", got)
	}
	rcv, _ := json.Marshal(tr.Events[1].Data)
	if got := string(rcv); got != `{"callerId":"A","calleeIdList":["B","C"],"groupId":"","callMediaType":1,"userData":"hi","roomId":{"intRoomId":1001,"strRoomId":""}}` {
		t.Fatalf("onCallReceived %s", got)
	}
	tr, _ = e.Accept(t0.Add(2*s), app, "B", "call-1")
	last := tr.Hooks[len(tr.Hooks)-1]
	if last.Body.AcceptTs != t0.Add(2*s).Unix() || last.Body.EndTs != 0 {
		t.Fatalf("accept hook %+v", last.Body)
	}
	e.Reject(t0.Add(3*s), app, "C", "call-1")
	tr, _ = e.Hangup(t0.Add(62*s), app, "B", "call-1")
	var endA Event
	for _, ev := range tr.Events {
		if ev.To == "A" && ev.Name == EvCallEnd {
			endA = ev
		}
	}
	raw, _ = json.Marshal(endA.Data)
	if got := string(raw); got != `{"userID":"A","callEnd":60,"roomId":{"intRoomId":1001,"strRoomId":""},"callMediaType":1,"callRole":1,"totalTime":60}` {
		t.Fatalf("onCallEnd %s", got)
	}
	h := tr.Hooks[len(tr.Hooks)-1]
	raw, _ = json.Marshal(h.Body)
	want = fmt.Sprintf(`{"UserId":"A","RoomId":"1001","TotalNum":3,"MediaType":"audio","CallType":"group","CallId":"call-1","Role":"caller","Event":"call_end","CallResult":"normal_end","EventTime":%d,"StartCallTs":%d,"AcceptTs":%d,"EndTs":%d}`,
		t0.Unix()+62, t0.Unix(), t0.Unix()+2, t0.Unix()+62)
	if string(raw) != want || h.Command != "caller_call_end" {
		t.Fatalf("end hook %s %s\nwant %s", h.Command, raw, want)
	}
	if !tr.Ended() || !slices.Equal(tr.Left, []string{"B", "A"}) {
		t.Fatalf("Left = %v, ended %v", tr.Left, tr.Ended())
	}
	if e.CallsOf(app, "A") != nil || len(e.Live()) != 0 {
		t.Fatal("ended call still known")
	}
}
