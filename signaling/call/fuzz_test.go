package call

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"callbox/signaling/call/record"
)

// fuzzUsers are the users the fuzzer plays with; a small set makes
// collisions (busy, re-invites, kicks) frequent.
var fuzzUsers = []string{"A", "B", "C", "D", "E", "F"}

// fuzzState tracks what a whole run must satisfy across transitions.
type fuzzState struct {
	ids     []callKey            // every call made, live or not
	open    map[string]int       // "app/call/user" -> open participations (webhooks)
	callEnd map[string]bool      // "app/call/user" got onCallEnd
	ended   map[callKey]bool     // calls that ended
	last    map[callKey]struct{} // calls seen live
}

// FuzzEngine drives random operation sequences on a fake clock and checks
// the invariants: no panic; errors change nothing; a user is never in two
// calls; ended calls leave Live; events go to participants only, once;
// every participation opened by a webhook is closed by exactly one
// terminal webhook when the call ends; onCallEnd at most once per user
// and call; Expire leaves no deadline behind.
func FuzzEngine(f *testing.F) {
	f.Add([]byte{0, 0, 1, 8, 1, 3, 1, 0, 5, 0, 0})
	f.Add([]byte{1, 0, 0x1e, 3, 1, 0, 3, 2, 0, 9, 1, 11, 200, 2, 1, 0x20, 0, 4, 3, 0, 12, 5, 0, 0})
	f.Add([]byte{8, 0, 8, 1, 8, 2, 1, 0, 0x0e, 3, 1, 0, 10, 1, 8, 1, 3, 1, 0, 11, 40, 6, 0, 0, 1, 7, 0})
	f.Add([]byte{0, 1, 2, 9, 0, 12, 0, 0, 3, 4, 11, 31, 3, 4, 0, 12})
	f.Add([]byte{0, 0, 1, 1, 13, 2, 3, 0, 1, 5, 0, 0, 13, 1, 9, 1, 12, 27, 1, 1, 0x1e, 27, 0, 8, 1, 4, 0, 9, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		e := newTestEngine(Config{MaxInvitees: 4})
		st := &fuzzState{open: map[string]int{}, callEnd: map[string]bool{}, ended: map[callKey]bool{}}
		now := t0
		next := func() byte {
			if len(data) == 0 {
				return 0
			}
			b := data[0]
			data = data[1:]
			return b
		}
		user := func() string { return fuzzUsers[int(next())%len(fuzzUsers)] }
		users := func() []string {
			m := next()
			var out []string
			for i, u := range fuzzUsers {
				if m&(1<<i) != 0 {
					out = append(out, u)
				}
			}
			return out
		}
		pick := func() callKey {
			n := int(next())
			if len(st.ids) == 0 || n == 255 {
				return callKey{app, "nope"}
			}
			return st.ids[n%len(st.ids)]
		}
		// do runs one operation picked by op.
		do := func(op byte) (trs []Transition, tr Transition, err error) {
			switch op % 16 {
			case 0:
				tr, err = e.Call(now, Invite{SDKAppID: app, Caller: user(), Callees: []string{user()}, Media: MediaType(next()%2 + 1)})
			case 1:
				tr, err = e.Call(now, Invite{SDKAppID: app, Caller: user(), Callees: users(), Media: MediaVideo, Group: true})
			case 2:
				k := pick()
				tr, err = e.InviteMore(now, k.app, user(), k.id, users())
			case 3:
				k := pick()
				tr, err = e.Accept(now, k.app, user(), k.id)
			case 4:
				k := pick()
				tr, err = e.Reject(now, k.app, user(), k.id)
			case 5:
				k := pick()
				tr, err = e.Hangup(now, k.app, user(), k.id)
			case 6:
				k := pick()
				tr, err = e.SwitchMedia(now, k.app, user(), k.id, MediaType(next()%3))
			case 7:
				k := pick()
				tr, err = e.End(now, k.app, k.id)
			case 8:
				tr, err = e.Online(now, app, user())
			case 9:
				tr, err = e.Offline(now, app, user())
			case 10:
				tr, err = e.KickedOut(now, app, user())
			case 11:
				now = now.Add(time.Duration(next()) * time.Second / 4)
				trs = e.Expire(now)
			case 12:
				if d, ok := e.NextDeadline(); ok {
					if d.Before(now) {
						t.Fatalf("deadline %v in the past (now %v)", d, now)
					}
					now = d
					if trs = e.Expire(now); len(trs) == 0 {
						t.Fatalf("Expire at NextDeadline %v fired nothing", d)
					}
				}
			case 13:
				k := pick()
				tr, err = e.Join(now, k.app, user(), k.id)
			case 14:
				k := pick()
				tr, err = e.Ignore(now, k.app, user(), k.id)
			case 15:
				k := pick()
				tr, err = e.Fail(now, k.app, user(), k.id)
			}
			return trs, tr, err
		}
		for steps := 0; len(data) > 0 && steps < 200; steps++ {
			op := next()
			if op%17 == 16 {
				// A batch that could not be stored: Undo puts back
				// exactly the state before it (the signaling layer
				// relies on this when a commit fails).
				before, then := dumpEngine(e), now
				e.Checkpoint()
				for range int(next()%3) + 1 {
					do(next())
				}
				e.Undo(e.Checkpoint())
				now = then // the clock is not engine state
				if after := dumpEngine(e); after != before {
					t.Fatalf("Undo did not restore the engine:\nbefore %s\nafter  %s", before, after)
				}
				continue
			}
			before := dumpEngine(e)
			trs, tr, err := do(op)
			if err != nil {
				// A refused operation changes nothing.
				if after := dumpEngine(e); after != before {
					t.Fatalf("error %v changed the engine:\nbefore %s\nafter  %s", err, before, after)
				}
			}
			if err != nil && !tr.IsZero() {
				t.Fatalf("error %v with transition %+v", err, tr)
			}
			if err != nil {
				if _, ok := err.(*Error); !ok {
					t.Fatalf("error %T %v is not an *Error", err, err)
				}
			}
			if !tr.IsZero() {
				trs = append(trs, tr)
			}
			for i, tr := range trs {
				last := true
				for _, x := range trs[i+1:] {
					last = last && x.Call.CallID != tr.Call.CallID
				}
				checkTransition(t, e, tr, last)
				st.track(t, tr)
			}
			if d, ok := e.NextDeadline(); ok && !d.After(now) {
				t.Fatalf("deadline %v not after now %v", d, now)
			}
			checkInvariants(t, e)
			if t.Failed() {
				t.FailNow()
			}
		}
	})
}

// track checks the cross-transition rules for one Transition.
func (st *fuzzState) track(t *testing.T, tr Transition) {
	t.Helper()
	r := tr.Call
	k := callKey{r.SDKAppID, r.CallID}
	if st.ended[k] {
		t.Fatalf("transition on ended call %s", r.CallID)
	}
	if st.last == nil {
		st.last = map[callKey]struct{}{}
	}
	if _, seen := st.last[k]; !seen {
		st.last[k] = struct{}{}
		st.ids = append(st.ids, k)
	}
	once := map[string]bool{}
	for _, ev := range tr.Events {
		raw, _ := json.Marshal(ev.Data)
		key := ev.To + " " + ev.Name + " " + string(raw)
		if once[key] {
			t.Fatalf("event sent twice in one transition: %s", key)
		}
		once[key] = true
		if ev.Name == EvCallEnd {
			uk := fmt.Sprintf("%d/%s/%s", r.SDKAppID, r.CallID, ev.To)
			if st.callEnd[uk] {
				t.Fatalf("second onCallEnd to %s in %s", ev.To, r.CallID)
			}
			st.callEnd[uk] = true
		}
	}
	for _, h := range tr.Hooks {
		uk := fmt.Sprintf("%d/%s/%s", r.SDKAppID, r.CallID, h.Body.UserId)
		switch {
		case h.Body.Event == HookStartCall || h.Body.Event == HookReceiveCall || h.Body.Event == HookJoinInGroupCall:
			if st.open[uk] != 0 {
				t.Fatalf("%s opens %s twice", h.Command, uk)
			}
			st.open[uk] = 1
		case closes(h, r.CallType == "group"):
			if st.open[uk] != 1 {
				t.Fatalf("%s closes %s, open %d", h.Command, uk, st.open[uk])
			}
			st.open[uk] = 0
		}
	}
	if tr.Ended() {
		st.ended[k] = true
		for _, p := range r.Participants {
			if st.open[fmt.Sprintf("%d/%s/%s", r.SDKAppID, r.CallID, p.UserID)] != 0 {
				t.Fatalf("call %s ended with %s's participation open (%s)", r.CallID, p.UserID, renderRecord(r))
			}
		}
		switch r.Result {
		case record.ResultCancel, record.ResultReject, record.ResultNotAnswer, record.ResultBusy:
			if r.CallType == "group" || !r.AcceptAt.IsZero() {
				t.Fatalf("call %s (%s, accepted %v) ended with %s", r.CallID, r.CallType, r.AcceptAt, r.Result)
			}
		case record.ResultNormalEnd, record.ResultInterrupt:
		default:
			t.Fatalf("call %s ended with result %q", r.CallID, r.Result)
		}
	}
}

// closes reports whether a webhook ends its user's participation.
func closes(h Hook, group bool) bool {
	switch h.Body.Event {
	case HookCallEnd, HookInterrupted, HookCancelCall, HookCallCanceled, HookRejectCall, HookNotAnswerCall,
		HookCallFailed, HookIgnoreCall:
		return true
	case HookCallRejected, HookCallMissed, HookCallBusy:
		return !group && h.Body.Role == roleCallerString
	}
	return false
}

// dumpEngine renders the engine's whole live state deterministically.
func dumpEngine(e *Engine) string {
	var b strings.Builder
	for _, rec := range e.Live() {
		raw, _ := json.Marshal(rec)
		c := e.calls[callKey{rec.SDKAppID, rec.CallID}]
		fmt.Fprintf(&b, "%s ring=%v grace=%v idx=%v\n", raw, sortedTimes(c.ringAt), sortedTimes(c.graceAt), sortedKeys(c.idx))
	}
	users := make([]string, 0, len(e.users))
	for k, id := range e.users {
		users = append(users, fmt.Sprintf("%d/%s=%s", k.app, k.user, id))
	}
	slices.Sort(users)
	online := make([]string, 0, len(e.online))
	for k := range e.online {
		online = append(online, fmt.Sprintf("%d/%s", k.app, k.user))
	}
	slices.Sort(online)
	next, ok := e.NextDeadline()
	fmt.Fprintf(&b, "users=%v online=%v next=%v,%v", users, online, next, ok)
	return b.String()
}

func sortedTimes(m map[string]time.Time) []string {
	out := make([]string, 0, len(m))
	for k, t := range m {
		out = append(out, k+"@"+t.Format(time.RFC3339Nano))
	}
	slices.Sort(out)
	return out
}

func sortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k, i := range m {
		out = append(out, fmt.Sprintf("%s:%d", k, i))
	}
	slices.Sort(out)
	return out
}
