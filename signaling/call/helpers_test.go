package call

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"callbox/signaling/call/record"
)

// t0 is the fake clock's start; steps are offsets from it.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const app uint32 = 1400000000

// op is one engine operation at a time.
type op func(e *Engine, now time.Time) (Transition, error)

// step runs do at t0+at (Expire(now) when do is nil) and checks what came
// out: the exact events and hooks (rendered by renderEvent / renderHook),
// the error (errors.Is), and the record after the step when rec != "".
type step struct {
	at    time.Duration
	do    op
	err   error
	ev    []string
	hooks []string
	rec   string
}

type scenario struct {
	name   string
	cfg    Config
	online []string // users online at t0
	steps  []step
}

// newTestEngine makes an engine with deterministic ids: call-1, call-2, ...
// and rooms 1001, 1002, ...
func newTestEngine(cfg Config) *Engine {
	n, r := 0, 1000
	cfg.NewCallID = func() string { n++; return fmt.Sprintf("call-%d", n) }
	cfg.NewRoomID = func() string { r++; return fmt.Sprint(r) }
	return New(cfg)
}

func runScenario(t *testing.T, sc scenario) {
	t.Helper()
	e := newTestEngine(sc.cfg)
	for _, u := range sc.online {
		if tr, err := e.Online(t0, app, u); err != nil || !tr.IsZero() {
			t.Fatalf("Online(%s) = %+v, %v", u, tr, err)
		}
	}
	for i, st := range sc.steps {
		now := t0.Add(st.at)
		var trs []Transition
		var err error
		if st.do == nil {
			trs = e.Expire(now)
		} else {
			var tr Transition
			tr, err = st.do(e, now)
			if !tr.IsZero() {
				trs = append(trs, tr)
			}
			if err != nil && !tr.IsZero() {
				t.Errorf("step %d: error %v with a non-zero transition", i, err)
			}
		}
		switch {
		case st.err == nil && err != nil:
			t.Fatalf("step %d (t=%v): unexpected error %v", i, st.at, err)
		case st.err != nil && !errors.Is(err, st.err):
			t.Fatalf("step %d (t=%v): error %v, want %v", i, st.at, err, st.err)
		}
		var evs, hooks []string
		for i, tr := range trs {
			later := slices.ContainsFunc(trs[i+1:], func(x Transition) bool { return x.Call.CallID == tr.Call.CallID })
			checkTransition(t, e, tr, !later)
			for _, ev := range tr.Events {
				evs = append(evs, renderEvent(t, ev))
			}
			for _, h := range tr.Hooks {
				hooks = append(hooks, renderHook(h))
			}
		}
		checkInvariants(t, e)
		if !slices.Equal(evs, st.ev) {
			t.Errorf("step %d (t=%v) events:\n got  %s\n want %s", i, st.at, strings.Join(evs, "\n      "), strings.Join(st.ev, "\n      "))
		}
		if !slices.Equal(hooks, st.hooks) {
			t.Errorf("step %d (t=%v) hooks:\n got  %q\n want %q", i, st.at, hooks, st.hooks)
		}
		if st.rec != "" {
			if len(trs) == 0 {
				t.Errorf("step %d: want record %q, got no transition", i, st.rec)
			} else if got := renderRecord(trs[len(trs)-1].Call); got != st.rec {
				t.Errorf("step %d (t=%v) record:\n got  %s\n want %s", i, st.at, got, st.rec)
			}
		}
	}
}

// renderKeys lists, per event, the payload keys rendered for comparison.
var renderKeys = map[string][]string{
	EvInvited:           {"sponsor", "userIDList", "isFromGroup"},
	EvCallReceived:      {"callerId", "calleeIdList"},
	EvUserAccept:        {"userID"},
	EvUserEnter:         {"userID"},
	EvUserJoin:          {"userID"},
	EvUserLeave:         {"userID"},
	EvUserInviting:      {"userID"},
	EvReject:            {"userID"},
	EvUserReject:        {"userID"},
	EvLineBusy:          {"sponsor", "userID"},
	EvUserLineBusy:      {"sponsor", "userID"},
	EvNoResp:            {"sponsor", "userID", "userIDList"},
	EvUserNoResponse:    {"sponsor", "userID", "userIDList"},
	EvCallingTimeout:    {"sponsor", "userIDList"},
	EvCallingCancel:     {"callerId"},
	EvCallCancelled:     {"callerId"},
	EvCallEnd:           {"userID", "callEnd", "callRole"},
	EvCallBegin:         {"callRole", "callMediaType"},
	EvInviteeListUpdate: {"userIDList"},
	EvMediaTypeChanged:  {"oldCallMediaType", "newCallMediaType"},
}

// renderEvent renders "To Name k=v ..." from the JSON form of the payload,
// and checks the superset rules on the way (userId == userID, totalTime ==
// callEnd).
func renderEvent(t *testing.T, ev Event) string {
	t.Helper()
	keys, ok := renderKeys[ev.Name]
	if !ok {
		t.Errorf("unknown event name %q", ev.Name)
	}
	raw, err := json.Marshal(ev.Data)
	if err != nil {
		t.Fatalf("marshal %s: %v", ev.Name, err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("unmarshal %s: %v", ev.Name, err)
	}
	if id, ok := m["userID"]; ok && ev.Name != EvCallEnd {
		if m["userId"] != id {
			t.Errorf("%s: userId %v != userID %v", ev.Name, m["userId"], id)
		}
	}
	if ce, ok := m["callEnd"]; ok && ev.Name == EvCallEnd && m["totalTime"] != ce {
		t.Errorf("onCallEnd: totalTime %v != callEnd %v", m["totalTime"], ce)
	}
	var b strings.Builder
	b.WriteString(ev.To + " " + ev.Name)
	for _, k := range keys {
		v, ok := m[k]
		if !ok {
			t.Errorf("%s: payload lacks %q: %s", ev.Name, k, raw)
			continue
		}
		fmt.Fprintf(&b, " %s=%s", k, renderValue(v))
	}
	return b.String()
}

func renderValue(v any) string {
	switch v := v.(type) {
	case []any:
		s := make([]string, len(v))
		for i, x := range v {
			s[i] = renderValue(x)
		}
		return "[" + strings.Join(s, ",") + "]"
	case nil:
		return "[]"
	}
	return fmt.Sprint(v)
}

// renderHook renders "command UserId [CallResult]".
func renderHook(h Hook) string {
	s := h.Command + " " + h.Body.UserId
	if h.Body.CallResult != "" {
		s += " " + h.Body.CallResult
	}
	return s
}

// renderRecord renders "state/result media U:state ..." ("!" marks an
// interrupted participant).
func renderRecord(r record.Call) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s/%s %s", r.State, r.Result, r.MediaType)
	for _, p := range r.Participants {
		fmt.Fprintf(&b, " %s:%s", p.UserID, p.State)
		if p.Interrupted {
			b.WriteString("!")
		}
	}
	return b.String()
}

// Operations used by the scenario tables; calls are "call-1", "call-2", ...

func call1(caller, callee string) op {
	return func(e *Engine, now time.Time) (Transition, error) {
		return e.Call(now, Invite{SDKAppID: app, Caller: caller, Callees: []string{callee}, Media: MediaVideo})
	}
}

func callWith(inv Invite) op {
	return func(e *Engine, now time.Time) (Transition, error) {
		if inv.SDKAppID == 0 {
			inv.SDKAppID = app
		}
		if inv.Media == 0 {
			inv.Media = MediaVideo
		}
		return e.Call(now, inv)
	}
}

func groupCall(caller string, callees ...string) op {
	return callWith(Invite{Caller: caller, Callees: callees, Group: true})
}

func accept(u string) op { return acceptIn(u, "call-1") }
func reject(u string) op { return rejectIn(u, "call-1") }
func hangup(u string) op { return hangupIn(u, "call-1") }
func acceptIn(u, id string) op {
	return func(e *Engine, now time.Time) (Transition, error) { return e.Accept(now, app, u, id) }
}
func rejectIn(u, id string) op {
	return func(e *Engine, now time.Time) (Transition, error) { return e.Reject(now, app, u, id) }
}
func hangupIn(u, id string) op {
	return func(e *Engine, now time.Time) (Transition, error) { return e.Hangup(now, app, u, id) }
}
func inviteMore(by string, users ...string) op {
	return func(e *Engine, now time.Time) (Transition, error) { return e.InviteMore(now, app, by, "call-1", users) }
}
func switchMedia(u string, to MediaType) op {
	return func(e *Engine, now time.Time) (Transition, error) { return e.SwitchMedia(now, app, u, "call-1", to) }
}
func end(id string) op {
	return func(e *Engine, now time.Time) (Transition, error) { return e.End(now, app, id) }
}
func online(u string) op {
	return func(e *Engine, now time.Time) (Transition, error) { return e.Online(now, app, u) }
}
func offline(u string) op {
	return func(e *Engine, now time.Time) (Transition, error) { return e.Offline(now, app, u) }
}
func kicked(u string) op {
	return func(e *Engine, now time.Time) (Transition, error) { return e.KickedOut(now, app, u) }
}

// checkTransition checks one Transition against the engine; last says
// whether it is the last one of its call in the batch (else the engine may
// have moved on).
func checkTransition(t *testing.T, e *Engine, tr Transition, last bool) {
	t.Helper()
	r := tr.Call
	parts := map[string]bool{}
	for _, p := range r.Participants {
		parts[p.UserID] = true
	}
	for _, ev := range tr.Events {
		if !parts[ev.To] {
			t.Errorf("event %s to %q, not a participant of %s", ev.Name, ev.To, r.CallID)
		}
		if ev.CallID != r.CallID {
			t.Errorf("event %s carries call %q, transition is %q", ev.Name, ev.CallID, r.CallID)
		}
	}
	for _, h := range tr.Hooks {
		if h.Command != h.Body.Role+"_"+h.Body.Event {
			t.Errorf("hook command %q != role %q + event %q", h.Command, h.Body.Role, h.Body.Event)
		}
		if h.Body.CallResult != "" && !terminalEvents[h.Body.Event] {
			t.Errorf("hook %s carries CallResult %q", h.Command, h.Body.CallResult)
		}
		if h.Body.CallId != r.CallID || h.Body.RoomId != r.RoomID || h.Body.StartCallTs != r.StartAt.Unix() {
			t.Errorf("hook %s: body %+v does not match record", h.Command, h.Body)
		}
	}
	if r.Result != "" && !tr.Ended() {
		t.Errorf("live call %s has result %q", r.CallID, r.Result)
	}
	if !last {
		return
	}
	live, inLive := e.Get(r.SDKAppID, r.CallID)
	if tr.Ended() {
		if inLive {
			t.Errorf("ended call %s still live", r.CallID)
		}
		if r.EndAt.IsZero() || r.Result == "" {
			t.Errorf("ended call %s: EndAt %v Result %q", r.CallID, r.EndAt, r.Result)
		}
		for _, p := range r.Participants {
			switch p.State {
			case record.PartInvited, record.PartRinging, record.PartJoined:
				t.Errorf("ended call %s: %s still %s", r.CallID, p.UserID, p.State)
			}
		}
		return
	}
	if !inLive {
		t.Errorf("call %s not live after a non-ending transition", r.CallID)
	} else if renderRecord(live) != renderRecord(r) {
		t.Errorf("transition record %s != engine record %s", renderRecord(r), renderRecord(live))
	}
}

// checkInvariants checks the engine's internal consistency.
func checkInvariants(t *testing.T, e *Engine) {
	t.Helper()
	seen := map[userKey]string{}
	for k, c := range e.calls {
		if c.rec.State == record.CallEnded {
			t.Errorf("call %s ended but live", k.id)
		}
		if !c.alive() {
			t.Errorf("call %s live but not alive: %s", k.id, renderRecord(c.rec))
		}
		if j := len(c.joined()); (j >= 2) != (c.rec.State == record.CallActive) {
			t.Errorf("call %s: %d joined, state %s", k.id, j, c.rec.State)
		}
		for i, p := range c.rec.Participants {
			if c.idx[p.UserID] != i {
				t.Errorf("call %s: index of %s broken", k.id, p.UserID)
			}
			uk := userKey{k.app, p.UserID}
			switch p.State {
			case record.PartInvited, record.PartRinging, record.PartJoined:
				if prev, dup := seen[uk]; dup {
					t.Errorf("user %s in calls %s and %s", p.UserID, prev, k.id)
				}
				seen[uk] = k.id
				if e.users[uk] != k.id {
					t.Errorf("user %s in call %s but mapped to %q", p.UserID, k.id, e.users[uk])
				}
			}
			if _, ok := c.ringAt[p.UserID]; ok && p.State != record.PartInvited && p.State != record.PartRinging {
				t.Errorf("call %s: timer for %s who is %s", k.id, p.UserID, p.State)
			}
			if _, ok := c.graceAt[p.UserID]; ok && p.State != record.PartJoined {
				t.Errorf("call %s: grace for %s who is %s", k.id, p.UserID, p.State)
			}
		}
	}
	if len(seen) != len(e.users) {
		t.Errorf("users map has %d entries, calls have %d busy users", len(e.users), len(seen))
	}
	// The indexes (deadlines.go) agree with a scan of every call.
	var want time.Time
	for k, c := range e.calls {
		if at, ok := c.minDeadline(); ok && (want.IsZero() || at.Before(want)) {
			want = at
		}
		if !e.roomInUse(k.app, c.rec.RoomID) {
			t.Errorf("call %s: room %q not indexed", k.id, c.rec.RoomID)
		}
	}
	if got, ok := e.NextDeadline(); ok == want.IsZero() || !got.Equal(want) {
		t.Errorf("NextDeadline %v %v, a scan finds %v", got, ok, want)
	}
}
