package signaling

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// faultStep is one step of a fault-injection scenario: a request frame of
// a user, a login of a user on a new connection, or the clock moving on
// (expiries).
type faultStep struct {
	who     string
	frame   string        // a request; "" with login false: advance
	login   bool          // a login of who on a new connection
	advance time.Duration // with frame "": move the clock and expire
}

// TestCommitFaults injects a store fault at each step of call scenarios
// (call, accept, hangup, groupCall, reject, midway invite, a login that
// delivers a ringing invitation, logout, an invite timeout) and checks
// docs/protocol.md §2: the requester gets 5000, nobody hears anything,
// the engine agrees with the store (the check FuzzRequest uses), and the
// same step then succeeds on retry, and so does the rest of the scenario.
func TestCommitFaults(t *testing.T) {
	scenarios := map[string][]faultStep{
		"1:1": {
			{who: "alice", frame: `{"id":2,"type":"call","data":{"userID":"bob","type":2}}`},
			{who: "bob", frame: `{"id":2,"type":"accept"}`},
			{who: "alice", frame: `{"id":3,"type":"switchToAudio"}`},
			{who: "alice", frame: `{"id":4,"type":"hangup"}`},
			{who: "bob", frame: `{"id":3,"type":"call","data":{"userID":"alice","type":1}}`},
			{who: "alice", frame: `{"id":5,"type":"reject"}`},
		},
		"group": {
			{who: "alice", frame: `{"id":2,"type":"groupCall","data":{"userIDList":["bob","carol"],"type":1}}`},
			{who: "bob", frame: `{"id":2,"type":"accept"}`},
			{who: "carol", frame: `{"id":2,"type":"reject"}`},
			{who: "bob", frame: `{"id":3,"type":"groupCall","data":{"userIDList":["dave"]}}`},
			{who: "dave", login: true},
			{who: "dave", frame: `{"id":3,"type":"accept"}`},
			{who: "alice", frame: `{"id":3,"type":"logout"}`},
			{who: "bob", frame: `{"id":4,"type":"hangup"}`},
		},
		"timeout": {
			{who: "alice", frame: `{"id":2,"type":"call","data":{"userID":"bob","type":1,"timeout":5}}`},
			{advance: 6 * time.Second},
			{who: "alice", frame: `{"id":3,"type":"call","data":{"userID":"bob","type":1,"timeout":5}}`},
		},
	}
	for name, steps := range scenarios {
		for fail := range steps {
			t.Run(fmt.Sprintf("%s/fail-step-%d", name, fail), func(t *testing.T) {
				h := newIP(t)
				sess := map[string]*session{}
				for _, u := range []string{"alice", "bob", "carol"} {
					sess[u] = h.session(u)
				}
				for i, st := range steps {
					if i == fail {
						h.faultyStep(sess, st)
					}
					h.okStep(sess, st)
					h.check()
				}
			})
		}
	}
}

// okStep runs a step that must succeed.
func (h *ipServer) okStep(sess map[string]*session, st faultStep) {
	h.t.Helper()
	switch {
	case st.login:
		c := newSession(h.srv, slog.New(slog.DiscardHandler))
		if r := h.reply(c, 1, h.loginFrame(1, st.who)); !r.OK {
			h.t.Fatalf("login %s: %+v", st.who, r)
		}
		sess[st.who] = c
	case st.frame == "":
		h.expire(st.advance)
	default:
		if r := h.reply(sess[st.who], idOf(st.frame), st.frame); !r.OK {
			h.t.Fatalf("%s %s: %+v", st.who, st.frame, r)
		}
	}
}

// faultyStep runs a step whose commit fails and checks that nothing of
// it is seen or kept.
func (h *ipServer) faultyStep(sess map[string]*session, st faultStep) {
	h.t.Helper()
	open := map[string]bool{}
	for u, c := range sess {
		c.q.take()
		open[u] = !c.closing()
	}
	h.fail = 1
	switch {
	case st.login:
		c := newSession(h.srv, slog.New(slog.DiscardHandler))
		if r := h.reply(c, 1, h.loginFrame(1, st.who)); r.Code != CodeInternal {
			h.t.Fatalf("login %s with a store fault: %+v, want 5000", st.who, r)
		}
		if h.srv.current(userKey{h.app.SDKAppID, st.who}) != nil {
			h.t.Fatalf("login %s stayed registered after a store fault", st.who)
		}
	case st.frame == "":
		h.expire(st.advance)
		h.now = h.now.Add(commitRetry) // Run holds retries back this long
	default:
		if r := h.reply(sess[st.who], idOf(st.frame), st.frame); r.Code != CodeInternal {
			h.t.Fatalf("%s %s with a store fault: %+v, want 5000", st.who, st.frame, r)
		}
	}
	if h.fail != 0 {
		h.t.Fatalf("step %+v made no commit", st)
	}
	for u, c := range sess {
		if items, _ := c.q.take(); len(items) > 0 && !inviteThenCancel(items) {
			h.t.Fatalf("%s heard of a change that was not stored: %s", u, items)
		}
		if open[u] && c.closing() {
			h.t.Fatalf("%s closed by a change that was not stored", u)
		}
	}
	h.check()
}

// expire moves the clock and runs what Run would: expiries, then a flush.
func (h *ipServer) expire(d time.Duration) {
	h.now = h.now.Add(d)
	s := h.srv
	s.mu.Lock()
	s.expireLocked(h.now)
	s.mu.Unlock()
	s.flush()
}

func idOf(frame string) uint64 {
	var id uint64
	fmt.Sscanf(frame[strings.Index(frame, `"id":`)+5:], "%d", &id)
	return id
}

// inviteThenCancel reports whether frames are exactly an invitation sent
// while its call's commit was in flight and the cancel that follows when
// the commit failed (docs/protocol.md §2), all for one call.
func inviteThenCancel(frames [][]byte) bool {
	want := []string{"onInvited", "onCallReceived", "onCallingCancel", "onCallCancelled"}
	if len(frames) != len(want) {
		return false
	}
	var callID string
	for i, b := range frames {
		var ev struct{ Event, CallID string }
		if json.Unmarshal(b, &ev) != nil || ev.Event != want[i] || (i > 0 && ev.CallID != callID) {
			return false
		}
		callID = ev.CallID
	}
	return true
}
