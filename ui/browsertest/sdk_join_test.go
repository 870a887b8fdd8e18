package browsertest_test

import (
	"fmt"
	"testing"

	"callbox/ui/browsertest"
)

// The SDK's TUICallKit-style extensions: join a group call again, ignore
// an invitation, and a caller whose media cannot start at all
// (docs/sdk.md, docs/protocol.md §4.8, §4.13, §4.14).
func TestSDKJoinIgnoreFail(t *testing.T) {
	env := browsertest.Start(t, nil)

	// An invitee who rejected a group call changes its mind and joins
	// it: everyone sees everyone's video.
	t.Run("join after reject", func(t *testing.T) {
		ann, ben, cal := login(t, env, "ann", false), login(t, env, "ben", true), login(t, env, "cal", false)
		ann.run(t, `trtcCalling.groupCall({userIDList: ['ben', 'cal'], type: 2})`)
		cal.waitEvent(t, "onInvited", `d.sponsor === 'ann'`)
		ann.waitEvent(t, "onUserEnter", `d.userID === 'ben'`)
		cal.run(t, `trtcCalling.reject()`)
		ann.waitEvent(t, "onReject", `d.userID === 'cal'`)
		callID := browsertest.Eval[string](t, ann.ctx, `trtcCalling._call.callID`)
		got := browsertest.Eval[string](t, cal.ctx, fmt.Sprintf(`trtcCalling.join({callID: %q}).then((r) => r.callID, (e) => 'error ' + e.code)`, callID))
		if got != callID {
			t.Fatalf("join = %q, want %q", got, callID)
		}
		for _, u := range []*tab{ann, ben} {
			u.waitEvent(t, "onUserEnter", `d.userID === 'cal'`)
			u.waitEvent(t, "onUserVideoAvailable", `d.userID === 'cal' && d.isVideoAvailable`)
		}
		showsTwoOthers(t, cal)
		browsertest.Screenshot(t, cal.ctx, "cal-joined-again")
		if got := browsertest.Eval[int](t, cal.ctx, fmt.Sprintf(`trtcCalling.join({callID: %q}).then(() => 0, (e) => e.code)`, callID)); got != 4007 {
			t.Errorf("a second join = %d, want a rejection with 4007", got)
		}
		for _, u := range []*tab{ben, cal} {
			u.run(t, `trtcCalling.hangup()`)
		}
		ann.waitEvent(t, "onCallEnd", "")
	})

	// ignore: the caller hears busy and the call ends for it; the
	// ignoring side is idle at once.
	t.Run("ignore", func(t *testing.T) {
		dot, eli := login(t, env, "dot", false), login(t, env, "eli", false)
		dot.run(t, `trtcCalling.call({userID: 'eli', type: 1})`)
		eli.waitEvent(t, "onInvited", `d.sponsor === 'dot'`)
		eli.run(t, `trtcCalling.ignore()`)
		dot.waitEvent(t, "onLineBusy", `d.userID === 'eli'`)
		dot.waitEvent(t, "onCallCancelled", "")
		for _, u := range []*tab{dot, eli} {
			if st := status(t, u); st != "idle" {
				t.Errorf("%s: status %q after the ignore", u.name, st)
			}
		}
	})

	// A caller whose browser cannot make a connection for the media at
	// all (RTCPeerConnection throws) ends its call as failed: the callee
	// stops ringing at once and the caller's promise says why.
	t.Run("failed start", func(t *testing.T) {
		fay, gil := login(t, env, "fay", false), login(t, env, "gil", false)
		fay.run(t, `window.RTCPeerConnection = function () { throw new Error('blocked by test') }`)
		got := browsertest.Eval[int](t, fay.ctx, `trtcCalling.call({userID: 'gil', type: 1}).then(() => 0, (e) => e.code)`)
		if got != 60006 {
			t.Errorf("call() = %d, want a rejection with 60006", got)
		}
		gil.waitEvent(t, "onCallingCancel", "")
		if st := status(t, fay); st != "idle" {
			t.Errorf("fay: status %q after the failed start", st)
		}
	})
}
