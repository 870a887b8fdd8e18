package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"callbox/appliance/callstore"
	"callbox/signaling/call"
	"callbox/signaling/call/record"
	"callbox/signaling/usersig"
	"callbox/store"
)

// In-process sessions: no socket, no reader or writer goroutine. A request
// goes straight to session.handle and what the session would write is
// taken from its send queue, so every request type can be driven
// (and fuzzed) deterministically against a real store.

// ipRooms is a media side that, like the SFU, calls send synchronously
// from Join and Handle.
type ipRooms struct {
	mu    sync.Mutex
	peers map[*ipPeer]bool
}

type ipPeer struct {
	r          *ipRooms
	room, user string
	send       func(json.RawMessage)
	left       bool
}

func (r *ipRooms) Join(room, user string, send func(json.RawMessage)) (RoomPeer, error) {
	p := &ipPeer{r: r, room: room, user: user, send: send}
	r.mu.Lock()
	r.peers[p] = true
	r.mu.Unlock()
	send(json.RawMessage(`{"type":"hello"}`))
	return p, nil
}

func (p *ipPeer) Handle(msg json.RawMessage) error {
	var m map[string]any
	if err := json.Unmarshal(msg, &m); err != nil || m["bad"] != nil {
		return errors.New("unsupported media message")
	}
	p.send(msg)
	return nil
}

// Leave tells the room's other peers, as the SFU does (tracks, a new
// subscribe offer), synchronously.
func (p *ipPeer) Leave() {
	p.r.mu.Lock()
	p.left = true
	delete(p.r.peers, p)
	var others []*ipPeer
	for o := range p.r.peers {
		if o.room == p.room {
			others = append(others, o)
		}
	}
	p.r.mu.Unlock()
	for _, o := range others {
		o.send(json.RawMessage(`{"type":"tracks","gone":"` + p.user + `"}`))
	}
}

type ipServer struct {
	cs    *callstore.CallStore
	fail  int // the number of the Commit to fail (1 = the next), 0 = none
	t     testing.TB
	srv   *Server
	st    *store.Store
	app   store.App
	rooms *ipRooms
	now   time.Time
}

func newIP(t testing.TB) *ipServer {
	st, err := store.Open(filepath.Join(t.TempDir(), "callbox.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := &ipServer{t: t, st: st, rooms: &ipRooms{peers: make(map[*ipPeer]bool)}, now: time.Unix(1_700_000_000, 0)}
	if h.app, err = st.CreateApp("test", h.now); err != nil {
		t.Fatal(err)
	}
	off := Rate{Burst: -1} // the fuzzer's clock stands still
	h.cs = callstore.New(st, callstore.Options{})
	h.srv, err = New(Config{Committer: h, Keys: h.cs.AppKey, Rooms: h.rooms, Now: func() time.Time { return h.now },
		LoginRate: off, UserLoginRate: off, CallRate: off})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Commit is the server's Committer: the real store, except that it can
// be made to fail one commit (failNext).
func (h *ipServer) Commit(ctx context.Context, batch []call.Transition) error {
	if h.fail > 0 {
		if h.fail--; h.fail == 0 {
			return errors.New("injected store fault")
		}
	}
	return h.cs.Commit(ctx, batch)
}

func (h *ipServer) sig(user string) string {
	s, err := usersig.Issue(h.app.SDKAppID, h.app.Key, user, time.Hour, h.now)
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

func (h *ipServer) loginFrame(id int, user string) string {
	return fmt.Sprintf(`{"id":%d,"type":"login","data":{"sdkappid":%d,"userID":%q,"userSig":%q}}`, id, h.app.SDKAppID, user, h.sig(user))
}

// session returns a logged-in in-process session of user.
func (h *ipServer) session(user string) *session {
	c := newSession(h.srv, slog.New(slog.DiscardHandler))
	r := h.reply(c, 1, h.loginFrame(1, user))
	if !r.OK {
		h.t.Fatalf("login %s: %+v", user, r)
	}
	return c
}

type ipReply struct {
	ID    uint64 `json:"id"`
	OK    bool   `json:"ok"`
	Code  int    `json:"code"`
	Error string `json:"error"`
}

// do handles one frame and returns the frames the session queued.
func (h *ipServer) do(c *session, frame string) []string {
	c.handle([]byte(frame))
	items, _ := c.q.take()
	out := make([]string, len(items))
	for i, b := range items {
		out[i] = string(b)
	}
	return out
}

// reply handles one frame and returns its one reply, which must carry id
// (or 0 when the frame itself was malformed).
func (h *ipServer) reply(c *session, id uint64, frame string) ipReply {
	h.t.Helper()
	var rep []ipReply
	for _, m := range h.do(c, frame) {
		var env struct{ Type string }
		json.Unmarshal([]byte(m), &env)
		if env.Type == "reply" {
			var r ipReply
			if err := json.Unmarshal([]byte(m), &r); err != nil {
				h.t.Fatalf("bad reply %s: %v", m, err)
			}
			rep = append(rep, r)
		}
	}
	if len(rep) != 1 {
		h.t.Fatalf("frame %s: %d replies, want 1: %+v", frame, len(rep), rep)
	}
	if r := rep[0]; r.ID != id && r.ID != 0 {
		h.t.Fatalf("frame %s: reply id %d, want %d", frame, r.ID, id)
	}
	return rep[0]
}

// documented is every reply code of docs/protocol.md §6.
var documented = []int{
	70001, 70003, 70009, 70013, 70014, 70016, 70020, 60001, 60002,
	4000, 4001, 4002, 4003, 4004, 4005, 4006, 4007, 4008, 4009, 4010, 4011, 5000,
}

// check verifies that the engine and the store agree on the live calls
// (nothing half-written) and that every media peer belongs to a joined
// participant of a live call and has not been told to leave.
func (h *ipServer) check() {
	h.t.Helper()
	s := h.srv
	s.mu.Lock()
	live := s.engine.Live()
	s.mu.Unlock()
	var stored []record.Call
	if err := h.st.View(func(tx *store.Tx) (err error) { stored, err = tx.LiveCalls(); return err }); err != nil {
		h.t.Fatal(err)
	}
	summary := func(recs []record.Call) []string {
		var out []string
		for _, r := range recs {
			for _, p := range r.Participants {
				out = append(out, fmt.Sprintf("%s %s %s %s", r.CallID, r.State, p.UserID, p.State))
			}
		}
		slices.Sort(out)
		return out
	}
	if e, st := summary(live), summary(stored); !slices.Equal(e, st) {
		h.t.Fatalf("engine and store disagree:\nengine %v\nstore  %v", e, st)
	}
	s.peersMu.Lock()
	defer s.peersMu.Unlock()
	for k, p := range s.peers {
		rec, ok := s.engine.Get(k.app, k.callID)
		if !ok || !isJoined(rec, k.user) {
			h.t.Fatalf("media peer %+v of a participant not joined", k)
		}
		if p.(*ipPeer).left {
			h.t.Fatalf("media peer %+v has left but is still routed", k)
		}
	}
}

// TestClosingSessionCannotKick: a frame handled after a logout (pipelined
// behind it) must not log the dying connection in again, which would kick
// out the user's live session elsewhere.
func TestClosingSessionCannotKick(t *testing.T) {
	h := newIP(t)
	bob := h.session("bob")
	alice := h.session("alice")
	if r := h.reply(alice, 2, `{"id":2,"type":"logout"}`); !r.OK {
		t.Fatalf("logout: %+v", r)
	}
	r := h.reply(alice, 3, h.loginFrame(3, "bob"))
	if r.OK || r.Code != CodeNotLoggedIn {
		t.Fatalf("login on a logged-out, closing connection: %+v, want %d", r, CodeNotLoggedIn)
	}
	if bob.closing() || h.srv.current(userKey{h.app.SDKAppID, "bob"}) != bob {
		t.Fatal("bob was kicked out by a closing connection")
	}
	h.srv.sessionGone(alice)
	if got := h.srv.Calls().OnlineUsers(h.app.SDKAppID); !slices.Equal(got, []string{"bob"}) {
		t.Fatalf("online %v, want [bob]", got)
	}
}

// TestRenewAfterKick: a renewSig that was admitted before its session was
// kicked out does not arm a sig timer for the dead session.
func TestRenewAfterKick(t *testing.T) {
	h := newIP(t)
	old := h.session("alice")
	h.session("alice") // kicks old
	if !old.closing() {
		t.Fatal("old session not closed by the second login")
	}
	_, err := old.renewSig(Request{Type: "renewSig", Data: json.RawMessage(fmt.Sprintf(`{"userSig":%q}`, h.sig("alice")))})
	if code, _ := wireError(err); code != CodeNotLoggedIn {
		t.Fatalf("renewSig on a kicked session: %v, want %d", err, CodeNotLoggedIn)
	}
	h.srv.mu.Lock()
	defer h.srv.mu.Unlock()
	for _, e := range h.srv.sigs {
		if e.c == old {
			t.Fatal("sig timer armed for a kicked-out session")
		}
	}
}

var fuzzTypes = []string{
	"call", "groupCall", "accept", "reject", "hangup", "switchToAudio",
	"switchToVideo", "media", "renewSig", "presence", "ping", "logout", "login",
}

// FuzzRequest drives logged-in sessions (alice and bob) with arbitrary
// request bodies of every type. Each input is up to 6 lines; a line's
// first byte picks the sender and the request type (>= 0xF0: the rest of
// the line is the whole frame; 0xE0..0xEF: the store fails the request's
// commit), the rest is the data. Every request gets
// exactly one reply with a documented code, nothing panics, and the
// engine, the store and the media peers stay consistent.
func FuzzRequest(f *testing.F) {
	for _, seed := range []string{
		"\x00{\"userID\":\"bob\",\"type\":2}\n\x05{}\n\x0e{\"x\":1}\n\x0f{\"bad\":1}\n\x08{}",
		"\x00{\"userID\":\"bob\",\"type\":1,\"roomID\":\"r1\",\"timeout\":1e-12}\n\x05{}\n\x0a{}\n\x0c{}\n\x16{}",
		"\x02{\"userIDList\":[\"bob\",\"bob\",\"carol\"],\"type\":1,\"roomID\":4294967295}\n\x05{}\n\x02{\"userIDList\":[\"dave\"]}\n\x0d{}",
		"\x00{\"userID\":\"bob\",\"type\":\"2\",\"timeout\":\"30\",\"roomID\":[1]}",
		"\x00{\"userID\":null,\"type\":null,\"roomID\":{},\"userData\":7}",
		"\x00{\"userID\":\"b\\u0000b\",\"type\":1,\"timeout\":-1,\"roomID\":-5}",
		"\x00{\"userID\":\"bob\",\"type\":1,\"timeout\":1e400,\"roomID\":1e3}",
		"\x02{\"userIDList\":{\"a\":\"bob\"},\"type\":1}",
		"\x02{\"userIDList\":[null,7],\"type\":1,\"callID\":5}",
		"\x04{\"callID\":[]}\n\x06{\"callID\":null}\n\x08{\"callID\":\"\"}",
		"\x10{\"userSig\":7}\n\x10{\"userSig\":\"\"}\n\x10{\"userSig\":\"eJyrVspNLS5OTE9VslIyNDAwUdJRKs7ILEpViooCAGyeCDs_\"}",
		"\x16{}\n\x18{\"sdkappid\":-1,\"userID\":\"bob\"}\n\x18{\"version\":2}",
		"\x00{\"userID\":\"bob\",\"type\":2}\n\xe5{}\n\x05{}\n\xe0{}\n\x08{}",
		"\x0e[]\n\x0enull\n\x0e\"x\"\n\x0e{\"type\":\"publishOffer\"}",
		"\xf0{\"id\":\"7\",\"type\":\"ping\"}\n\xf1{\"id\":7,\"type\":\"call\",\"data\":{\"userID\":\"carol\",\"type\":1},\"data\":{}}",
	} {
		f.Add(seed)
	}
	h := newIP(f)
	users := []string{"alice", "bob"}
	sess := []*session{h.session("alice"), h.session("bob")}
	f.Fuzz(func(t *testing.T, in string) {
		h.t = t
		for i, line := range strings.SplitN(in, "\n", 6) {
			if line == "" {
				continue
			}
			k, body := line[0], line[1:]
			who := int(k % 2)
			if sess[who].closing() { // logged out or kicked: a new connection
				h.srv.sessionGone(sess[who])
				sess[who] = h.session(users[who])
			}
			id := uint64(10 + i)
			frame := fmt.Sprintf(`{"id":%d,"type":%q,"data":%s}`, id, fuzzTypes[int(k/2)%len(fuzzTypes)], body)
			if k >= 0xF0 {
				frame = body
			}
			// The reply carries the frame's own id (or 0): the data may
			// repeat "id" or break the frame.
			req, _ := DecodeRequest([]byte(frame))
			id = req.ID
			// 0xE0..0xEF: the store fails this request's commit, if it
			// makes one; the engine must be put back (h.check below).
			faulty := k >= 0xE0 && k < 0xF0
			if faulty {
				h.fail = 1
			}
			r := h.reply(sess[who], id, frame)
			h.fail = 0
			if !r.OK && !slices.Contains(documented, r.Code) {
				t.Fatalf("frame %s: undocumented code %d (%s)", frame, r.Code, r.Error)
			}
			if r.Code == CodeInternal && !faulty {
				t.Fatalf("frame %s: internal error %s", frame, r.Error)
			}
			h.check()
			if !sess[who].closing() {
				if r := h.reply(sess[who], 99, `{"id":99,"type":"ping"}`); !r.OK {
					t.Fatalf("session unusable after %s: %+v", frame, r)
				}
			}
		}
		// The other side's events were queued too; drop them.
		for _, c := range sess {
			c.q.take()
		}
	})
}

// TestReplyBeforeMediaEvents: the SFU may send a joiner media messages
// from inside Join; they are the requester's own events and must come
// after its call/accept reply (docs/protocol.md §2).
func TestReplyBeforeMediaEvents(t *testing.T) {
	h := newIP(t)
	alice, bob := h.session("alice"), h.session("bob")
	firstReply := func(msgs []string) {
		t.Helper()
		for _, m := range msgs {
			if strings.Contains(m, `"type":"reply"`) {
				return
			}
			if strings.Contains(m, `"event":"media"`) {
				t.Fatalf("media event before the reply: %v", msgs)
			}
		}
		t.Fatalf("no reply: %v", msgs)
	}
	firstReply(h.do(alice, `{"id":2,"type":"call","data":{"userID":"bob","type":2}}`))
	bob.q.take() // onInvited
	firstReply(h.do(bob, `{"id":2,"type":"accept"}`))
	if r := h.reply(bob, 3, `{"id":3,"type":"media","data":{"x":1}}`); !r.OK {
		t.Fatalf("media right after accept: %+v", r)
	}
}

// TestLogoutDuringCall pins docs/protocol.md §3.5: a joined user's logout
// is a hang-up (the 1:1 call ends for the peer), while a ringing invitee's
// logout leaves the invitation ringing for its next login.
func TestLogoutDuringCall(t *testing.T) {
	h := newIP(t)
	alice, bob := h.session("alice"), h.session("bob")
	h.reply(alice, 2, `{"id":2,"type":"call","data":{"userID":"bob","type":1}}`)
	h.reply(bob, 2, `{"id":2,"type":"logout"}`)
	h.srv.sessionGone(bob)
	if live := h.srv.Calls().Live(); len(live) != 1 {
		t.Fatalf("ringing invitee's logout ended the call: %+v", live)
	}
	bob = newSession(h.srv, slog.New(slog.DiscardHandler)) // the invitation is delivered again
	if msgs := strings.Join(h.do(bob, h.loginFrame(3, "bob")), "\n"); !strings.Contains(msgs, "onInvited") {
		t.Fatalf("no onInvited after re-login: %s", msgs)
	}
	h.reply(bob, 4, `{"id":4,"type":"accept"}`)
	alice.q.take()
	h.reply(bob, 5, `{"id":5,"type":"logout"}`)
	h.check()
	if live := h.srv.Calls().Live(); len(live) != 0 {
		t.Fatalf("joined user's logout left the 1:1 call live: %+v", live)
	}
	if msgs := strings.Join(h.do(alice, `{"id":6,"type":"ping"}`), "\n"); !strings.Contains(msgs, "onCallEnd") {
		t.Fatalf("peer got no onCallEnd: %s", msgs)
	}
}

// TestLeaveOrdering: at a hang-up the others hear onUserLeave/onCallEnd
// before the SFU's media messages about the leave, and a subscribe-answer
// still on its way when the call ended is dropped quietly (not 4010).
func TestLeaveOrdering(t *testing.T) {
	h := newIP(t)
	alice, bob, carol := h.session("alice"), h.session("bob"), h.session("carol")
	h.reply(alice, 2, `{"id":2,"type":"groupCall","data":{"userIDList":["bob","carol"],"type":1}}`)
	h.reply(bob, 2, `{"id":2,"type":"accept"}`)
	h.reply(carol, 2, `{"id":2,"type":"accept"}`)
	alice.q.take()
	carol.q.take()
	h.reply(bob, 3, `{"id":3,"type":"hangup"}`)
	for name, c := range map[string]*session{"alice": alice, "carol": carol} {
		items, _ := c.q.take()
		leave, media := -1, -1
		for i, b := range items {
			switch {
			case strings.Contains(string(b), `"event":"onUserLeave"`) && leave < 0:
				leave = i
			case strings.Contains(string(b), `"event":"media"`) && media < 0:
				media = i
			}
		}
		if leave < 0 || media < 0 || media < leave {
			t.Fatalf("%s heard %q: want onUserLeave before the media message of the leave", name, items)
		}
	}
	h.reply(alice, 3, `{"id":3,"type":"hangup"}`)
	h.reply(carol, 3, `{"id":3,"type":"hangup"}`)
	if r := h.reply(carol, 4, `{"id":4,"type":"media","data":{"type":"subscribe-answer","sdp":"v=0"}}`); !r.OK {
		t.Fatalf("late subscribe-answer: %+v, want dropped quietly", r)
	}
	if r := h.reply(carol, 5, `{"id":5,"type":"media","data":{"type":"publish-offer","sdp":"v=0"}}`); r.Code != CodeNoMedia {
		t.Fatalf("publish-offer out of a call: %+v, want 4010", r)
	}
}
