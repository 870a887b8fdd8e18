package signaling_test

import (
	"testing"
	"time"

	"callbox/signaling/call/record"
	"callbox/signaling/client"
	"callbox/signaling/usersig"
	"callbox/store"
)

// TestRotateKeyRevokes: after a key rotation, sessions whose sig the old
// key signed get onUserSigExpired and are closed at once (they used to
// keep working for the sig's lifetime, 7 days); a session with a sig of
// the new key stays.
func TestRotateKeyRevokes(t *testing.T) {
	h := newHarness(t, nil)
	ctx := ctxT(t)
	alice, bob := h.login("alice", false), h.login("bob", false)
	answered(t, alice, bob, "bob", client.Audio)
	if err := h.st.Update(func(tx *store.Tx) error {
		h.app.Key = store.NewKey()
		return tx.PutApp(h.app)
	}); err != nil {
		t.Fatal(err)
	}
	carol := h.login("carol", false) // signed with the new key
	if n := h.srv.AppKeyChanged(h.app.SDKAppID); n != 2 {
		t.Fatalf("%d sessions closed, want 2", n)
	}
	for name, c := range map[string]*client.Client{"alice": alice, "bob": bob} {
		expect(t, c, "onUserSigExpired")
		if code, reason := waitClosed(t, c); code != 4002 || reason != "usersig revoked" {
			t.Fatalf("%s closed with %d %q, want 4002 usersig revoked", name, code, reason)
		}
	}
	if err := carol.Ping(ctx); err != nil {
		t.Fatalf("session with a new-key sig: %v", err)
	}
	// An old-key sig cannot log in again.
	old, err := usersig.Issue(h.app.SDKAppID, "0000000000000000000000000000000000000000000000000000000000000000", "alice", time.Hour, h.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	c := h.raw()
	_, err = c.Login(ctx, client.LoginArgs{SDKAppID: h.app.SDKAppID, UserID: "alice", UserSig: old})
	wantCode(t, err, 70009)
}

// TestDeleteAppRevokes: deleting an app closes its sessions (4006), ends
// their calls, and writes no record for it.
func TestDeleteAppRevokes(t *testing.T) {
	h := newHarness(t, nil)
	ctx := ctxT(t)
	alice, bob := h.login("alice", false), h.login("bob", false)
	call := answered(t, alice, bob, "bob", client.Audio)
	var before record.Call
	if err := h.st.Update(func(tx *store.Tx) error {
		var err error
		if before, err = tx.Call(h.app.SDKAppID, call.CallID); err != nil {
			return err
		}
		return tx.DeleteApp(h.app.SDKAppID)
	}); err != nil {
		t.Fatal(err)
	}
	h.srv.AppDeleted(h.app.SDKAppID)
	for name, c := range map[string]*client.Client{"alice": alice, "bob": bob} {
		if code, reason := waitClosed(t, c); code != 4006 || reason != "app deleted" {
			t.Fatalf("%s closed with %d %q, want 4006 app deleted", name, code, reason)
		}
	}
	if live := h.srv.Calls().Live(); len(live) != 0 {
		t.Fatalf("calls of a deleted app still live: %+v", live)
	}
	// Drops and their grace leave nothing to write either.
	h.clock.Advance(time.Hour)
	if err := h.srv.Calls().End(ctx, h.app.SDKAppID, call.CallID); err == nil {
		t.Fatal("ended a call of a deleted app")
	}
	if err := h.st.View(func(tx *store.Tx) error {
		after, err := tx.Call(h.app.SDKAppID, call.CallID)
		if err != nil {
			return err
		}
		if after.State != before.State || after.Result != "" || !after.EndAt.IsZero() {
			t.Errorf("record of a deleted app written: %+v", after)
		}
		if live, _ := tx.LiveCalls(); len(live) != 0 {
			t.Errorf("deleted app's call still listed live: %+v", live)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
