package webhook_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"callbox/appliance/callstore"
	"callbox/appliance/webhook"
	"callbox/signaling/call"
	"callbox/signaling/call/record"
	"callbox/store"
)

// eventOp is one call engine operation at t0+at.
type eventOp struct {
	at time.Duration
	do func(e *call.Engine, now time.Time, id string) ([]call.Transition, error)
}

func one(f func(e *call.Engine, now time.Time, id string) (call.Transition, error)) func(*call.Engine, time.Time, string) ([]call.Transition, error) {
	return func(e *call.Engine, now time.Time, id string) ([]call.Transition, error) {
		tr, err := f(e, now, id)
		return []call.Transition{tr}, err
	}
}

func dial(callees ...string) func(*call.Engine, time.Time, string) ([]call.Transition, error) {
	return one(func(e *call.Engine, now time.Time, _ string) (call.Transition, error) {
		return e.Call(now, call.Invite{SDKAppID: app1, Caller: "alice", Callees: callees, Media: call.MediaVideo, Group: len(callees) > 1})
	})
}

func accept(u string) func(*call.Engine, time.Time, string) ([]call.Transition, error) {
	return one(func(e *call.Engine, now time.Time, id string) (call.Transition, error) {
		return e.Accept(now, app1, u, id)
	})
}

func reject(u string) func(*call.Engine, time.Time, string) ([]call.Transition, error) {
	return one(func(e *call.Engine, now time.Time, id string) (call.Transition, error) {
		return e.Reject(now, app1, u, id)
	})
}

func hangup(u string) func(*call.Engine, time.Time, string) ([]call.Transition, error) {
	return one(func(e *call.Engine, now time.Time, id string) (call.Transition, error) {
		return e.Hangup(now, app1, u, id)
	})
}

// TestEventsOnTheWire runs each call of the list through the
// real call engine and call store and checks, at a Tencent-style
// receiver that verifies Sign and RequestTime, every callback it gets:
// command, user, CallResult, the counts and the timestamps (§3).
// Each want line is "command user result" ("-" = empty CallResult);
// the call's status callbacks (command call_end) come last.
func TestEventsOnTheWire(t *testing.T) {
	tests := []struct {
		name   string
		online []string
		ops    []eventOp
		group  bool
		want   []string
	}{
		{"1:1 answered", []string{"bob"}, []eventOp{{0, dial("bob")}, {2 * time.Second, accept("bob")}, {9 * time.Second, hangup("alice")}}, false, []string{
			"caller_start_call alice -", "callee_receive_call bob -", "callee_accept_call bob -", "caller_call_accepted alice -",
			"caller_call_end alice normal_end", "callee_call_end bob normal_end", "call_end alice normal_end", "call_end bob normal_end"}},
		{"1:1 rejected", []string{"bob"}, []eventOp{{0, dial("bob")}, {time.Second, reject("bob")}}, false, []string{
			"caller_start_call alice -", "callee_receive_call bob -", "callee_reject_call bob reject", "caller_call_rejected alice reject",
			"call_end alice reject", "call_end bob reject"}},
		{"1:1 missed", []string{"bob"}, []eventOp{{0, dial("bob")}, {30 * time.Second, func(e *call.Engine, now time.Time, _ string) ([]call.Transition, error) {
			return e.Expire(now), nil
		}}}, false, []string{
			"caller_start_call alice -", "callee_receive_call bob -", "callee_not_answer_call bob not_answer", "caller_call_missed alice not_answer",
			"call_end alice not_answer", "call_end bob not_answer"}},
		{"1:1 busy", []string{"bob", "carol"}, []eventOp{
			{0, one(func(e *call.Engine, now time.Time, _ string) (call.Transition, error) {
				return e.Call(now, call.Invite{SDKAppID: app1, Caller: "carol", Callees: []string{"bob"}, Media: call.MediaAudio})
			})},
			{time.Second, dial("bob")}}, false, []string{
			"caller_start_call alice -", "caller_call_busy alice call_busy", "call_end alice call_busy", "call_end bob call_busy"}},
		{"1:1 cancelled", []string{"bob"}, []eventOp{{0, dial("bob")}, {3 * time.Second, hangup("alice")}}, false, []string{
			"caller_start_call alice -", "callee_receive_call bob -", "caller_cancel_call alice cancel", "callee_call_canceled bob cancel",
			"call_end alice cancel", "call_end bob cancel"}},
		{"1:1 interrupted by a kick-out", []string{"bob"}, []eventOp{{0, dial("bob")}, {time.Second, accept("bob")},
			{5 * time.Second, one(func(e *call.Engine, now time.Time, _ string) (call.Transition, error) {
				return e.KickedOut(now, app1, "bob")
			})}}, false, []string{
			"caller_start_call alice -", "callee_receive_call bob -", "callee_accept_call bob -", "caller_call_accepted alice -",
			"callee_call_interrupted bob interrupt", "caller_call_end alice interrupt", "call_end alice interrupt", "call_end bob interrupt"}},
		{"interrupted by a restart", []string{"bob"}, []eventOp{{0, dial("bob")}, {time.Second, accept("bob")},
			{5 * time.Second, func(e *call.Engine, now time.Time, id string) ([]call.Transition, error) {
				rec, _ := e.Get(app1, id) // what the store held when the process died
				return []call.Transition{call.Interrupt(rec, now)}, nil
			}}}, false, []string{
			"caller_start_call alice -", "callee_receive_call bob -", "callee_accept_call bob -", "caller_call_accepted alice -",
			"caller_call_interrupted alice interrupt", "callee_call_interrupted bob interrupt", "call_end alice interrupt", "call_end bob interrupt"}},
		{"group: a kicked participant", []string{"bob", "carol"}, []eventOp{
			{0, dial("bob", "carol")}, {time.Second, accept("bob")}, {time.Second, accept("carol")},
			{2 * time.Second, one(func(e *call.Engine, now time.Time, _ string) (call.Transition, error) {
				return e.KickedOut(now, app1, "bob")
			})},
			{3 * time.Second, hangup("carol")}}, true, []string{
			"caller_start_call alice -", "callee_receive_call bob -", "callee_receive_call carol -",
			"callee_accept_call bob -", "caller_call_accepted alice -", "callee_accept_call carol -", "caller_call_accepted alice -",
			"callee_call_interrupted bob interrupt", "callee_call_end carol normal_end", "caller_call_end alice normal_end",
			"call_end alice normal_end", "call_end bob interrupt", "call_end carol normal_end"}},
		{"group: midway invite and join", []string{"bob", "carol", "dave"}, []eventOp{
			{0, dial("bob", "carol")}, {time.Second, accept("bob")}, {2 * time.Second, reject("carol")},
			{3 * time.Second, one(func(e *call.Engine, now time.Time, id string) (call.Transition, error) {
				return e.InviteMore(now, app1, "bob", id, []string{"dave"})
			})},
			{4 * time.Second, accept("dave")}, {6 * time.Second, hangup("bob")}, {7 * time.Second, hangup("dave")}}, true, []string{
			"caller_start_call alice -", "callee_receive_call bob -", "callee_receive_call carol -",
			"callee_accept_call bob -", "caller_call_accepted alice -", "callee_reject_call carol -", "caller_call_rejected alice -",
			"callee_invite_user dave -", "callee_receive_call dave -", "callee_accept_call dave -", "caller_call_accepted alice -",
			"callee_call_end bob normal_end", "callee_call_end dave normal_end", "caller_call_end alice normal_end",
			"call_end alice normal_end", "call_end bob normal_end", "call_end carol normal_end", "call_end dave normal_end"}},
		{"group: a rejecter joins after all", []string{"bob", "carol"}, []eventOp{
			{0, dial("bob", "carol")}, {time.Second, accept("bob")}, {2 * time.Second, reject("carol")},
			{3 * time.Second, one(func(e *call.Engine, now time.Time, id string) (call.Transition, error) {
				return e.Join(now, app1, "carol", id)
			})},
			{5 * time.Second, hangup("bob")}, {6 * time.Second, hangup("carol")}}, true, []string{
			"caller_start_call alice -", "callee_receive_call bob -", "callee_receive_call carol -",
			"callee_accept_call bob -", "caller_call_accepted alice -", "callee_reject_call carol -", "caller_call_rejected alice -",
			"callee_join_in_group_call carol -",
			"callee_call_end bob normal_end", "callee_call_end carol normal_end", "caller_call_end alice normal_end",
			"call_end alice normal_end", "call_end bob normal_end", "call_end carol normal_end"}},
		{"1:1 ignored", []string{"bob"}, []eventOp{{0, dial("bob")}, {2 * time.Second, one(func(e *call.Engine, now time.Time, id string) (call.Transition, error) {
			return e.Ignore(now, app1, "bob", id)
		})}}, false, []string{
			"caller_start_call alice -", "callee_receive_call bob -", "callee_ignore_call bob call_busy", "caller_call_busy alice call_busy",
			"call_end alice call_busy", "call_end bob call_busy"}},
		{"1:1 failed start", []string{"bob"}, []eventOp{{0, dial("bob")}, {time.Second, one(func(e *call.Engine, now time.Time, id string) (call.Transition, error) {
			return e.Fail(now, app1, "alice", id)
		})}}, false, []string{
			"caller_start_call alice -", "callee_receive_call bob -", "caller_call_failed alice cancel", "callee_call_canceled bob cancel",
			"call_end alice cancel", "call_end bob cancel"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newEnv(t, app1)
			rc := newReceiver(t, "tok", env.clock.Now)
			env.setHook(store.Webhook{SDKAppID: app1, URL: rc.url(), Token: "tok", EventCallbacks: true, StatusCallback: true})
			env.start(nil)
			n := 0
			eng := call.New(call.Config{
				NewCallID: func() string { n++; return fmt.Sprintf("call-%d", n) },
				NewRoomID: func() string { return fmt.Sprint(4241 + n) },
			})
			cs := callstore.New(env.st, callstore.Options{Now: env.clock.Now, Notify: env.d.Notify})
			for _, u := range tc.online {
				if _, err := eng.Online(t0, app1, u); err != nil {
					t.Fatal(err)
				}
			}
			var id, room string               // alice's call
			times := map[string][]time.Time{} // when each command+user's step ran, in order
			var started, accepted, ended time.Time
			for _, op := range tc.ops {
				env.clock.Advance(t0.Add(op.at).Sub(env.clock.Now()))
				now := env.clock.Now()
				trs, err := op.do(eng, now, id)
				if err != nil {
					t.Fatal(err)
				}
				if err := cs.Commit(ctxT(t, 5*time.Second), trs); err != nil {
					t.Fatal(err)
				}
				for _, tr := range trs {
					if tr.Call.Caller != "alice" {
						continue
					}
					id, room, started = tr.Call.CallID, tr.Call.RoomID, tr.Call.StartAt
					for _, h := range tr.Hooks {
						k := h.Command + " " + h.Body.UserId
						times[k] = append(times[k], now)
					}
					if accepted.IsZero() {
						accepted = tr.Call.AcceptAt
					}
					ended = tr.Call.EndAt
				}
			}
			env.drain()
			ctx := ctxT(t, 5*time.Second)
			var seen []string
			for len(seen) < len(tc.want) {
				g := rc.next(ctx)
				if g.body.CallId != id {
					continue // the busy case's first call
				}
				b := g.body
				res := b.CallResult
				if res == "" {
					res = "-"
				}
				seen = append(seen, fmt.Sprintf("%s %s %s", g.command, b.UserId, res))
				wantType := map[bool]string{false: "single", true: "group"}[tc.group]
				if b.RoomId != room || b.CallType != wantType || b.MediaType != "video" || b.StartCallTs != started.Unix() {
					t.Errorf("%s: body %+v", g.command, b)
				}
				at := ended
				if g.command != webhook.StatusCommand {
					k := g.command + " " + b.UserId
					if len(times[k]) == 0 {
						t.Fatalf("%s: not produced by the engine", k)
					}
					at, times[k] = times[k][0], times[k][1:]
				}
				terminal := g.command == webhook.StatusCommand || terminalEvents[b.Event]
				if b.EventTime != at.Unix() || (b.EndTs != 0) != terminal || terminal && b.EndTs != at.Unix() {
					t.Errorf("%s %s: EventTime %d EndTs %d, want %d (terminal %v)", g.command, b.UserId, b.EventTime, b.EndTs, at.Unix(), terminal)
				}
				wantAccept := int64(0)
				if !accepted.IsZero() && !at.Before(accepted) {
					wantAccept = accepted.Unix()
				}
				if b.AcceptTs != wantAccept {
					t.Errorf("%s %s: AcceptTs %d, want %d", g.command, b.UserId, b.AcceptTs, wantAccept)
				}
			}
			if strings.Join(seen, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("callbacks\n%s\nwant\n%s", strings.Join(seen, "\n"), strings.Join(tc.want, "\n"))
			}
			for more := true; more; {
				select {
				case g := <-rc.got:
					if g.body.CallId == id {
						t.Fatalf("extra callback %s %s", g.command, g.raw)
					}
				default:
					more = false
				}
			}
			var rec record.Call
			must(t, env.st.View(func(tx *store.Tx) error {
				var err error
				rec, err = tx.Call(app1, id)
				return err
			}))
			if rec.State != record.CallEnded {
				t.Fatalf("record %+v", rec)
			}
		})
	}
}

// terminalEvents end a participation: they carry EndTs.
var terminalEvents = map[string]bool{
	"call_end": true, "call_interrupted": true, "cancel_call": true, "call_canceled": true, "reject_call": true,
	"call_rejected": true, "not_answer_call": true, "call_missed": true, "call_busy": true,
	"ignore_call": true, "call_failed": true,
}

func unixOr0(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}
