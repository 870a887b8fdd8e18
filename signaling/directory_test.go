package signaling_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"callbox/appliance/userdir"
	"callbox/signaling"
	"callbox/signaling/client"
	"callbox/store"
)

type contactW struct {
	UserID   string `json:"userID"`
	Name     string `json:"name"`
	Status   string `json:"status"`
	SignedIn bool   `json:"signedIn"`
	Added    bool   `json:"added"`
}

func contactsOf(t *testing.T, c *client.Client) map[string]contactW {
	t.Helper()
	raw, err := c.Request(ctxT(t), "contacts", nil)
	if err != nil {
		t.Fatalf("contacts: %v", err)
	}
	var rep struct{ Contacts []contactW }
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	out := map[string]contactW{}
	for _, c := range rep.Contacts {
		out[c.UserID] = c
	}
	return out
}

// loginNamed logs user in with a display name (login's name field).
func (h *harness) loginNamed(user, name string) *client.Client {
	h.t.Helper()
	c := h.raw()
	_, err := c.Request(ctxT(h.t), "login", map[string]any{"sdkappid": h.app.SDKAppID, "userID": user,
		"userSig": h.sig(user, time.Hour), "status": true, "name": name})
	if err != nil {
		h.t.Fatalf("login %s: %v", user, err)
	}
	return c
}

// status waits for the onUserStatus of user with the given status.
func status(t *testing.T, c *client.Client, user, st string) client.Event {
	t.Helper()
	ev, err := c.WaitFor(ctxT(t), func(ev client.Event) bool {
		var d struct{ UserID, Status string }
		return ev.Name == "onUserStatus" && ev.Decode(&d) == nil && d.UserID == user && d.Status == st
	})
	if err != nil {
		t.Fatalf("waiting for %s %s: %v", user, st, err)
	}
	return ev
}

// The directory lists who signed in, with names and presence (online, in
// a call, offline) pushed as it changes; added userIDs appear before they
// sign in; it is stored.
func TestDirectoryContacts(t *testing.T) {
	h := newHarness(t, nil)
	alice := h.loginNamed("alice", "Alice A")
	bob := h.loginNamed("bob", "Bob Béla")
	if ev := status(t, alice, "bob", signaling.StatusOnline); field(t, ev, "name") != "Bob Béla" {
		t.Errorf("login's status event: %s", ev.Data)
	}
	dave := h.login("dave", false)

	got := contactsOf(t, alice)
	if len(got) != 2 || got["bob"] != (contactW{UserID: "bob", Name: "Bob Béla", Status: "online", SignedIn: true}) ||
		got["dave"].Status != "online" || got["dave"].Name != "" {
		t.Fatalf("alice's contacts: %+v", got)
	}
	if _, self := contactsOf(t, bob)["bob"]; self {
		t.Error("bob's contacts list bob")
	}

	raw, err := alice.Request(ctxT(t), "addContact", map[string]string{"userID": "carol@example.com"})
	var added contactW
	if err != nil || json.Unmarshal(raw, &added) != nil || added != (contactW{UserID: "carol@example.com", Status: "offline", Added: true}) {
		t.Fatalf("addContact: %s, %v", raw, err)
	}
	if _, err := alice.Request(ctxT(t), "addContact", map[string]string{"userID": "bob"}); err != nil {
		t.Fatal(err)
	}
	got = contactsOf(t, alice)
	if !got["bob"].Added || !got["bob"].SignedIn || got["carol@example.com"].SignedIn || len(got) != 3 {
		t.Errorf("after adding: %+v", got)
	}
	if _, bobSees := contactsOf(t, bob)["carol@example.com"]; bobSees {
		t.Error("alice's added contact shows in bob's list")
	}

	// Being rung: busy (a call now would be answered busy), online again
	// after declining.
	if _, err := bob.Call(ctxT(t), "dave", 1); err != nil {
		t.Fatal(err)
	}
	expect(t, dave, client.EvInvited)
	status(t, alice, "bob", signaling.StatusBusy)
	status(t, alice, "dave", signaling.StatusBusy)
	if err := dave.Reject(ctxT(t), ""); err != nil {
		t.Fatal(err)
	}
	status(t, alice, "bob", signaling.StatusOnline)
	status(t, alice, "dave", signaling.StatusOnline)

	// In a call: busy for the others, back online after it.
	answered(t, bob, dave, "dave", 1)
	status(t, alice, "bob", signaling.StatusBusy)
	status(t, alice, "dave", signaling.StatusBusy)
	if got := contactsOf(t, alice); got["bob"].Status != "busy" || got["dave"].Status != "busy" {
		t.Errorf("during the call: %+v", got)
	}
	if err := dave.Hangup(ctxT(t), ""); err != nil {
		t.Fatal(err)
	}
	status(t, alice, "bob", signaling.StatusOnline)
	status(t, alice, "dave", signaling.StatusOnline)

	// A new name is pushed with the status.
	if _, err := bob.Request(ctxT(t), "setName", map[string]string{"name": "Bob B."}); err != nil {
		t.Fatal(err)
	}
	ev := status(t, alice, "bob", signaling.StatusOnline)
	if field(t, ev, "name") != "Bob B." {
		t.Errorf("name change event: %s", ev.Data)
	}
	bob.Close()
	status(t, alice, "bob", signaling.StatusOffline)
	if got := contactsOf(t, alice); got["bob"].Status != "offline" || got["bob"].Name != "Bob B." {
		t.Errorf("bob gone: %+v", got["bob"])
	}
	// A login without a name keeps the stored one.
	h.login("bob", false)
	must(t, h.st.View(func(tx *store.Tx) error {
		u, err := tx.User(h.app.SDKAppID, "bob")
		if err != nil || u.Name != "Bob B." {
			t.Errorf("stored bob: %+v, %v", u, err)
		}
		users, _ := tx.Users(h.app.SDKAppID)
		if len(users) != 3 {
			t.Errorf("directory: %+v", users)
		}
		return nil
	}))
}

type historyW struct {
	Calls []struct {
		CallID       string `json:"callID"`
		MediaType    string `json:"mediaType"`
		Group        bool   `json:"group"`
		Caller       string `json:"caller"`
		Result       string `json:"result"`
		StartAt      int64  `json:"startAt"`
		Duration     int64  `json:"duration"`
		Role         string `json:"role"`
		State        string `json:"state"`
		Participants []struct {
			UserID, Role, State string
		} `json:"participants"`
	} `json:"calls"`
	Next string `json:"next"`
}

func historyOf(t *testing.T, c *client.Client, args any) historyW {
	t.Helper()
	raw, err := c.Request(ctxT(t), "history", args)
	if err != nil {
		t.Fatalf("history: %v", err)
	}
	var h historyW
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// history is the user's own records, newest first, paged by a cursor:
// who, when, how long, the result and the user's own part.
func TestHistory(t *testing.T) {
	h := newHarness(t, nil)
	alice, bob, carol := h.login("alice", false), h.login("bob", false), h.login("carol", false)

	first := answered(t, alice, bob, "bob", 2)
	h.clock.Advance(42 * time.Second)
	if err := bob.Hangup(ctxT(t), ""); err != nil {
		t.Fatal(err)
	}
	expect(t, alice, "onCallEnd")
	h.clock.Advance(time.Minute)
	second, err := alice.Call(ctxT(t), "bob", 1)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, bob, client.EvInvited)
	h.clock.Advance(31 * time.Second) // no answer
	expect(t, alice, "onCallEnd")

	hist := historyOf(t, alice, nil)
	if len(hist.Calls) != 2 || hist.Next != "" {
		t.Fatalf("alice's history: %+v", hist)
	}
	missed, normal := hist.Calls[0], hist.Calls[1]
	if missed.CallID != second.CallID || missed.Result != "not_answer" || missed.Role != "caller" || missed.MediaType != "audio" || missed.Duration != 0 {
		t.Errorf("newest: %+v", missed)
	}
	if normal.CallID != first.CallID || normal.Result != "normal_end" || normal.Duration != 42 || normal.Caller != "alice" ||
		normal.MediaType != "video" || normal.Group || len(normal.Participants) != 2 || normal.StartAt >= missed.StartAt {
		t.Errorf("oldest: %+v", normal)
	}
	bh := historyOf(t, bob, nil)
	if len(bh.Calls) != 2 || bh.Calls[0].Role != "callee" || bh.Calls[0].State != "no_answer" || bh.Calls[1].State != "left" {
		t.Errorf("bob's history: %+v", bh)
	}
	if ch := historyOf(t, carol, nil); len(ch.Calls) != 0 {
		t.Errorf("carol's history: %+v", ch)
	}

	// Paging: one at a time, then the cursor, then nothing more.
	p1 := historyOf(t, alice, map[string]any{"limit": 1})
	if len(p1.Calls) != 1 || p1.Calls[0].CallID != second.CallID || p1.Next == "" {
		t.Fatalf("page 1: %+v", p1)
	}
	p2 := historyOf(t, alice, map[string]any{"limit": 1, "before": p1.Next})
	if len(p2.Calls) != 1 || p2.Calls[0].CallID != first.CallID || p2.Next != "" {
		t.Fatalf("page 2 (the last): %+v", p2)
	}
}

// Bad input to the directory requests gets a clear error and changes
// nothing.
func TestDirectoryBadInput(t *testing.T) {
	h := newHarness(t, nil)
	alice := h.loginNamed("alice", "Alice")

	for _, tc := range []struct {
		typ  string
		data any
		code int
	}{
		{"addContact", nil, signaling.CodeInvalidUser},
		{"addContact", map[string]any{"userID": ""}, signaling.CodeInvalidUser},
		{"addContact", map[string]any{"userID": "a b"}, signaling.CodeInvalidUser},
		{"addContact", map[string]any{"userID": "a,b"}, signaling.CodeInvalidUser},
		{"addContact", map[string]any{"userID": strings.Repeat("x", 33)}, signaling.CodeInvalidUser},
		{"addContact", map[string]any{"userID": "alice"}, signaling.CodeInvalidUser},
		{"addContact", map[string]any{"userID": 7}, signaling.CodeBadRequest},
		{"setName", nil, signaling.CodeBadRequest},
		{"setName", map[string]any{"name": ""}, signaling.CodeBadRequest},
		{"setName", map[string]any{"name": " Alice"}, signaling.CodeBadRequest},
		{"setName", map[string]any{"name": "Al\nice"}, signaling.CodeBadRequest},
		{"setName", map[string]any{"name": "Al\u202eice"}, signaling.CodeBadRequest},
		{"setName", map[string]any{"name": strings.Repeat("é", 33)}, signaling.CodeBadRequest},
		{"setName", map[string]any{"name": []string{"x"}}, signaling.CodeBadRequest},
		{"history", map[string]any{"limit": -1}, signaling.CodeBadRequest},
		{"history", map[string]any{"limit": 201}, signaling.CodeBadRequest},
		{"history", map[string]any{"limit": "5"}, signaling.CodeBadRequest},
		{"history", map[string]any{"before": "yesterday"}, signaling.CodeBadRequest},
		{"history", map[string]any{"before": "-5"}, signaling.CodeBadRequest},
		{"history", map[string]any{"before": 5}, signaling.CodeBadRequest},
	} {
		_, err := alice.Request(ctxT(t), tc.typ, tc.data)
		var ce *client.Error
		if !errors.As(err, &ce) || ce.Code != tc.code || ce.Msg == "" {
			t.Errorf("%s %v: %v, want code %d", tc.typ, tc.data, err, tc.code)
		}
	}
	// A bad name at login refuses the login, and the connection stays.
	c := h.raw()
	for _, name := range []string{"\x00", strings.Repeat("n", 65), "tab\there"} {
		_, err := c.Request(ctxT(t), "login", map[string]any{"sdkappid": h.app.SDKAppID, "userID": "bob",
			"userSig": h.sig("bob", time.Hour), "name": name})
		wantCode(t, err, signaling.CodeBadRequest)
	}
	// Not valid UTF-8 (a raw frame: encoding/json would repair it).
	frame := []byte(`{"id":9,"type":"login","data":{"sdkappid":` + jsonNum(h.app.SDKAppID) + `,"userID":"bob","userSig":"` +
		h.sig("bob", time.Hour) + "\",\"name\":\"b\xffb\"}}")
	if rep, err := c.Exchange(ctxT(t), 9, frame); err != nil || rep.OK || rep.Code != signaling.CodeBadRequest {
		t.Errorf("login with a name not UTF-8: %+v, %v", rep, err)
	}
	// Before login, the directory is closed.
	if _, err := c.Request(ctxT(t), "contacts", nil); err == nil {
		t.Error("contacts before login: no error")
	} else {
		wantCode(t, err, signaling.CodeNotLoggedIn)
	}
	// Nothing of that was stored: alice keeps her name, bob is not in the
	// directory, alice added nobody.
	must(t, h.st.View(func(tx *store.Tx) error {
		users, _ := tx.Users(h.app.SDKAppID)
		added, _ := tx.Contacts(h.app.SDKAppID, "alice")
		if len(users) != 1 || users[0].Name != "Alice" || len(added) != 0 {
			t.Errorf("stored: users %+v, contacts %+v", users, added)
		}
		return nil
	}))
}

// A contact list is bounded: the store refuses a new entry past the
// limit, but adding one already there again is fine.
func TestContactsFull(t *testing.T) {
	h := newHarness(t, nil)
	cs := userdir.New(h.st)
	ctx := context.Background()
	now := time.Now()
	for _, u := range []string{"b", "c"} {
		if _, err := cs.AddContact(ctx, h.app.SDKAppID, "a", u, 2, now); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cs.AddContact(ctx, h.app.SDKAppID, "a", "d", 2, now); !errors.Is(err, signaling.ErrContactsFull) {
		t.Errorf("third contact of 2: %v", err)
	}
	if _, err := cs.AddContact(ctx, h.app.SDKAppID, "a", "c", 2, now); err != nil {
		t.Errorf("adding c again: %v", err)
	}
}

// Without a Directory the requests are refused, and login works as before.
func TestNoDirectory(t *testing.T) {
	h := newHarness(t, func(cfg *signaling.Config) { cfg.Directory = nil })
	alice := h.login("alice", false)
	_, err := alice.Request(ctxT(t), "contacts", nil)
	wantCode(t, err, signaling.CodeUnknownType)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func jsonNum(n uint32) string { b, _ := json.Marshal(n); return string(b) }

// A contacts reply holds at most MaxContactsReply users: the added ones
// and those online first, and says it is cut.
func TestContactsReplyBounded(t *testing.T) {
	h := newHarness(t, nil)
	must(t, h.st.Update(func(tx *store.Tx) error {
		for i := range signaling.MaxContactsReply + 10 {
			if err := tx.PutUser(store.User{SDKAppID: h.app.SDKAppID, UserID: fmt.Sprintf("u%04d", i)}); err != nil {
				return err
			}
		}
		return nil
	}))
	alice := h.login("alice", false)
	h.login("u1009", false) // online, sorts last
	if _, err := alice.Request(ctxT(t), "addContact", map[string]string{"userID": "zed"}); err != nil {
		t.Fatal(err)
	}
	raw, err := alice.Request(ctxT(t), "contacts", nil)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Contacts  []contactW
		Truncated bool
	}
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, c := range rep.Contacts {
		got[c.UserID] = true
	}
	if len(rep.Contacts) != signaling.MaxContactsReply || !rep.Truncated || !got["zed"] || !got["u1009"] || got["alice"] {
		t.Errorf("%d contacts, truncated %v, zed %v, u1009 %v", len(rep.Contacts), rep.Truncated, got["zed"], got["u1009"])
	}
	if len(raw) > 128<<10 {
		t.Errorf("the reply is %d bytes", len(raw))
	}
	if small := contactsOf(t, h.login("bob", false)); len(small) != signaling.MaxContactsReply {
		t.Errorf("bob's list: %d", len(small))
	}
}

// failingDir is the real directory with a switch that makes SignedIn
// fail, as a full disk would.
type failingDir struct {
	signaling.Directory
	fail atomic.Bool
}

func (f *failingDir) SignedIn(ctx context.Context, app uint32, user, name string, at time.Time) (string, error) {
	if f.fail.Load() {
		return "", errors.New("disk full")
	}
	return f.Directory.SignedIn(ctx, app, user, name, at)
}

// A login whose directory entry cannot be stored is refused with 5000
// and changes nothing; the same connection logs in once it can.
func TestLoginDirectoryFails(t *testing.T) {
	var fd *failingDir
	h := newHarness(t, func(cfg *signaling.Config) {
		fd = &failingDir{Directory: cfg.Directory}
		cfg.Directory = fd
	})
	watcher := h.loginNamed("watcher", "W")
	fd.fail.Store(true)
	c := h.raw()
	args := map[string]any{"sdkappid": h.app.SDKAppID, "userID": "alice", "userSig": h.sig("alice", time.Hour), "name": "Alice"}
	_, err := c.Request(ctxT(t), "login", args)
	wantCode(t, err, signaling.CodeInternal)
	if _, err := c.Request(ctxT(t), "contacts", nil); err == nil {
		t.Fatal("contacts after a failed login: no error")
	} else {
		wantCode(t, err, signaling.CodeNotLoggedIn)
	}
	if got := contactsOf(t, watcher); len(got) != 0 {
		t.Errorf("watcher sees %+v", got)
	}
	fd.fail.Store(false)
	if _, err := c.Request(ctxT(t), "login", args); err != nil {
		t.Fatalf("login once the directory works: %v", err)
	}
	if ev := status(t, watcher, "alice", signaling.StatusOnline); field(t, ev, "name") != "Alice" {
		t.Errorf("status event: %s", ev.Data)
	}
}
