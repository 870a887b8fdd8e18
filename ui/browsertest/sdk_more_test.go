package browsertest_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"callbox/ui/browsertest"
)

// Calls the other SDK tests do not make: a midway invite into a group
// call, and calls that cannot work (no WebRTC, a callee who never answers
// or does not exist), which must end in the seed's events, never hang.
func TestSDKMoreCalls(t *testing.T) {
	env := browsertest.Start(t, nil)

	// groupCall during a group call invites more people into it
	// (docs/protocol.md §4.5): the joined hear of the invitee, who joins
	// with video, and all three see each other.
	t.Run("midway invite", func(t *testing.T) {
		gus, hal, ivy := login(t, env, "gus", false), login(t, env, "hal", true), login(t, env, "ivy", true)
		for _, u := range []*tab{gus, hal} { // TUICallKit's name: the page does not listen for it
			u.run(t, `trtcCalling.on('onUserInviting', (d) => window.events.push({name: 'onUserInviting', data: d}))`)
		}
		gus.run(t, `trtcCalling.groupCall({userIDList: ['hal'], type: 2})`)
		hal.waitEvent(t, "onInvited", `d.sponsor === 'gus' && d.isFromGroup`)
		gus.waitEvent(t, "onUserEnter", `d.userID === 'hal'`)
		hal.waitEvent(t, "onUserVideoAvailable", `d.userID === 'gus' && d.isVideoAvailable`)

		// A callee invites: the call's id goes with it, so it is the same call.
		callID := browsertest.Eval[string](t, gus.ctx, `trtcCalling._call.callID`)
		hal.run(t, `trtcCalling.groupCall({userIDList: ['ivy'], type: 2})`)
		ivy.waitEvent(t, "onInvited", fmt.Sprintf(`d.sponsor === 'hal' && d.isFromGroup && d.inviteID === %q`, callID))
		gus.waitEvent(t, "onUserInviting", `d.userID === 'ivy'`)
		for _, u := range []*tab{gus, hal} {
			u.waitEvent(t, "onGroupCallInviteeListUpdate", `d.userIDList.includes('ivy')`)
			u.waitEvent(t, "onUserEnter", `d.userID === 'ivy'`)
			u.waitEvent(t, "onUserVideoAvailable", `d.userID === 'ivy' && d.isVideoAvailable`)
		}
		hal.noEvent(t, "onUserInviting") // the inviter knows
		for _, u := range []*tab{gus, hal, ivy} {
			showsTwoOthers(t, u)
			if id := browsertest.Eval[string](t, u.ctx, `trtcCalling._call.callID`); id != callID {
				t.Errorf("%s is in call %s, want %s", u.name, id, callID)
			}
		}
		browsertest.Screenshot(t, ivy.ctx, "ivy-joined-midway")
		for _, u := range []*tab{hal, ivy} {
			u.run(t, `trtcCalling.hangup()`)
		}
		gus.waitEvent(t, "onCallEnd", "")
	})

	// docs/sdk.md §4: without RTCPeerConnection the SDK still logs in
	// (signaling works) and says 60006; a call or an accept rejects with
	// it and leaves the SDK idle.
	t.Run("no RTCPeerConnection", func(t *testing.T) {
		ctx := env.Browser(t, "kim")
		browsertest.Do(t, ctx, chromedp.Navigate(env.BaseURL()+"/"))
		browsertest.Eval[chromedp.Void](t, ctx, `delete window.RTCPeerConnection`)
		kim := &tab{name: "kim", ctx: ctx}
		if code := browsertest.Eval[int](t, ctx, pageScript(t, env, "kim", false)); code != 0 {
			t.Fatalf("kim: login failed with %d", code)
		}
		kim.waitEvent(t, "onError", `d.code === 60006`)
		if got := browsertest.Eval[int](t, ctx, `trtcCalling.call({userID: 'lou', type: 2}).then(() => 0, (e) => e.code)`); got != 60006 {
			t.Errorf("call() = %d, want a rejection with 60006", got)
		}
		if st := status(t, kim); st != "idle" {
			t.Errorf("kim: status %q after the refused call", st)
		}
		lou := login(t, env, "lou", false)
		lou.run(t, `trtcCalling.call({userID: 'kim', type: 2})`)
		kim.waitEvent(t, "onInvited", `d.sponsor === 'lou'`)
		if got := browsertest.Eval[int](t, ctx, `trtcCalling.accept().then(() => 0, (e) => e.code)`); got != 60006 {
			t.Errorf("accept() = %d, want a rejection with 60006", got)
		}
		kim.run(t, `trtcCalling.reject()`)
		lou.waitEvent(t, "onReject", `d.userID === 'kim'`)
	})

	// Nobody ever logs in as the callee: the invitation rings until its
	// timeout and the caller hears NO_RESP and the end, as for any callee
	// who does not answer (spec call-semantics §7.1). A userID that cannot
	// exist is refused at once.
	t.Run("callee never logs in", func(t *testing.T) {
		max := login(t, env, "max", false)
		max.run(t, `trtcCalling.call({userID: 'nobody-ever', type: 2, timeout: 1})`)
		max.waitEvent(t, "onNoResp", `d.userID === 'nobody-ever' && d.userIDList.includes('nobody-ever')`)
		max.waitEvent(t, "onCallEnd", `d.callEnd === 0`)
		if st := status(t, max); st != "idle" {
			t.Errorf("max: status %q after the timeout", st)
		}
		for _, tc := range []struct{ name, user string }{
			{"a space in the", "no body"},
			{"an empty", ""},
		} {
			got := browsertest.Eval[int](t, max.ctx, fmt.Sprintf(`trtcCalling.call({userID: %q, type: 2}).then(() => 0, (e) => e.code)`, tc.user))
			if got != 4004 {
				t.Errorf("call with %s userID: %d, want a rejection with 4004", tc.name, got)
			}
			if st := status(t, max); st != "idle" {
				t.Errorf("max: status %q after the refused call", st)
			}
		}
	})
}

// pageScript is the tab application (pageJS) for user, logging in with a
// valid sig.
func pageScript(t *testing.T, env *browsertest.Env, user string, autoAccept bool) string {
	t.Helper()
	cfg, err := json.Marshal(pageConfig{SDKAppID: env.App().SDKAppID, UserID: user, UserSig: env.Sig(user), AutoAccept: autoAccept})
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(pageJS, cfg)
}

// showsTwoOthers waits until u's page plays two remote videos in a group
// call of three, and checks that they are the two others' (told apart by
// mid, docs/media.md §3).
func showsTwoOthers(t *testing.T, u *tab) {
	t.Helper()
	browsertest.WaitFor(t, u.ctx, `(() => { const vs = [...document.querySelectorAll('#remote video')];
		return vs.length === 2 && vs.every((v) => v.videoWidth > 0 && v.currentTime > 0.5); })()`, 20*time.Second)
	users := browsertest.Eval[[]string](t, u.ctx, `[...trtcCalling._call.media._remote.keys()].sort()`)
	if len(users) != 2 || slices.Contains(users, u.name) {
		t.Errorf("%s receives %v", u.name, users)
	}
}
