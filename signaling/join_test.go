package signaling_test

import (
	"encoding/json"
	"slices"
	"testing"

	"callbox/signaling"
	"callbox/signaling/call/record"
	"callbox/signaling/client"
	"callbox/store"
)

// outboxCommands lists the webhook commands stored for one call.
func outboxCommands(t *testing.T, h *harness, callID string) []string {
	t.Helper()
	var cmds []string
	if err := h.st.View(func(tx *store.Tx) error {
		out, err := tx.Outbox(0, 0)
		for _, e := range out {
			var b struct{ CallId, UserId string }
			if err := json.Unmarshal(e.Body, &b); err != nil {
				return err
			}
			if b.CallId == callID {
				cmds = append(cmds, e.Command+" "+b.UserId)
			}
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return cmds
}

// TestJoinOnTheWire: a group invitee who rejected joins the live call with
// join; a stranger and a bad request are refused and the session stays
// usable.
func TestJoinOnTheWire(t *testing.T) {
	h := newHarness(t, nil)
	ctx := ctxT(t)
	alice, bob, carol, eve := h.login("alice", false), h.login("bob", false), h.login("carol", false), h.login("eve", false)
	call, err := alice.GroupCall(ctx, client.CallArgs{UserIDList: []string{"bob", "carol"}, Type: client.Video})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, bob, client.EvInvited)
	eventsUntil(t, carol, client.EvCallReceived)
	if _, err := bob.Accept(ctx, call.CallID); err != nil {
		t.Fatal(err)
	}
	if err := carol.Reject(ctx, call.CallID); err != nil {
		t.Fatal(err)
	}
	_, err = eve.Join(ctx, call.CallID)
	wantCode(t, err, signaling.CodeNoCall)
	_, err = carol.Join(ctx, "")
	wantCode(t, err, signaling.CodeBadRequest)
	eventsUntil(t, alice, client.EvUserReject)

	r, err := carol.Join(ctx, call.CallID)
	if err != nil {
		t.Fatal(err)
	}
	if r.CallID != call.CallID || r.RoomID != call.RoomID || r.Type != client.Video {
		t.Fatalf("join reply %+v", r)
	}
	wantSeq(t, "carol", carol, "onUserEnter", "onUserJoin", "onUserEnter", "onUserJoin", "onCallBegin")
	if got := eventsUntil(t, alice, client.EvUserJoin); !slices.Contains(got, client.EvUserEnter) || slices.Contains(got, client.EvUserAccept) {
		t.Fatalf("alice saw %v", got)
	}
	if live, _ := h.srv.Calls().Get(h.app.SDKAppID, call.CallID); live.Participants[2].State != record.PartJoined {
		t.Fatalf("carol in the record: %+v", live.Participants[2])
	}
	if cmds := outboxCommands(t, h, call.CallID); !slices.Contains(cmds, "callee_join_in_group_call carol") {
		t.Fatalf("outbox %v", cmds)
	}
	if err := eve.Ping(ctx); err != nil {
		t.Fatalf("eve's session after a refused join: %v", err)
	}
}

// TestIgnoreOnTheWire: an ignored 1:1 invitation ends the call as busy for
// the caller; the callee's client hears nothing more.
func TestIgnoreOnTheWire(t *testing.T) {
	h := newHarness(t, nil)
	ctx := ctxT(t)
	alice, bob := h.login("alice", false), h.login("bob", false)
	call, err := alice.Call(ctx, "bob", client.Audio)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, bob, client.EvInvited)
	if err := bob.Ignore(ctx, ""); err != nil {
		t.Fatal(err)
	}
	wantSeq(t, "alice", alice, client.EvLineBusy, client.EvUserLineBusy, client.EvCallCancelled)
	err = bob.Ignore(ctx, call.CallID)
	wantCode(t, err, signaling.CodeNoCall)
	if cmds := outboxCommands(t, h, call.CallID); !slices.Contains(cmds, "callee_ignore_call bob") || !slices.Contains(cmds, "caller_call_busy alice") {
		t.Fatalf("outbox %v", cmds)
	}
}

// TestHangupFailed: a caller's failed start cancels the call for the
// callee and is recorded as call_failed; after an answer it is refused.
func TestHangupFailed(t *testing.T) {
	h := newHarness(t, nil)
	ctx := ctxT(t)
	alice, bob := h.login("alice", false), h.login("bob", false)
	call, err := alice.Call(ctx, "bob", client.Video)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, bob, client.EvInvited)
	if err := alice.HangupFailed(ctx, ""); err != nil {
		t.Fatal(err)
	}
	expect(t, bob, client.EvCallingCancel)
	if cmds := outboxCommands(t, h, call.CallID); !slices.Contains(cmds, "caller_call_failed alice") || slices.Contains(cmds, "caller_cancel_call alice") {
		t.Fatalf("outbox %v", cmds)
	}

	answered(t, alice, bob, "bob", client.Audio)
	wantCode(t, alice.HangupFailed(ctx, ""), signaling.CodeNoCall)
}
