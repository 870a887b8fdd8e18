package browsertest_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"callbox/ui/browsertest"
)

// watchICEJS records in the page, from now on, each PC's ICE connection
// states (window.iceLog, "pub:disconnected"), the SDK's calls of
// iceTrouble (window.iceTroubles), which a PC's failed or lasting
// disconnected state makes, and the resume flag of each login the SDK
// sends (window.resumes).
const watchICEJS = `(() => {
	window.resumes = [];
	const wsSend = WebSocket.prototype.send;
	WebSocket.prototype.send = function (d) {
		const m = JSON.parse(d);
		if (m.type === 'login') window.resumes.push(!!m.data.resume);
		return wsSend.call(this, d);
	};
	const m = trtcCalling._call.media;
	window.iceLog = [];
	for (const name of ['pub', 'sub']) {
		const pc = m[name];
		pc.addEventListener('iceconnectionstatechange', () => window.iceLog.push(name + ':' + pc.iceConnectionState));
	}
	window.iceTroubles = 0;
	const trouble = trtcCalling.iceTrouble;
	trtcCalling.iceTrouble = function () { window.iceTroubles++; return trouble.apply(this, arguments); };
})()`

// ufragsJS is the SFU's ICE username fragment on each PC, "sub,pub": an
// ICE restart changes both.
const ufragsJS = `['sub', 'pub'].map((pc) => trtcCalling._call.media[pc].remoteDescription.sdp.match(/a=ice-ufrag:(\S+)/)[1]).join()`

// The network drops mid-call: the browsers' link goes down with no close
// and no packet telling anyone. The SDK keeps the call: media resumes in
// the same call and the peer hears of no leave or end.
func TestSDKNetworkDrop(t *testing.T) {
	env := browsertest.Start(t, nil)
	amy, bo := login(t, env, "amy", false), login(t, env, "bo", true)
	call(t, amy, bo, 2)
	amy.checkVideoPlays(t)
	bo.checkVideoPlays(t)
	callID := browsertest.Eval[string](t, amy.ctx, `trtcCalling._call.callID`)
	for _, u := range []*tab{amy, bo} {
		u.run(t, watchICEJS)
		u.run(t, `window.events = []`)
	}
	// stillInCall checks that u's media runs again in the same call and
	// that nothing ended.
	stillInCall := func(t *testing.T, u *tab) {
		t.Helper()
		waitVideoResumes(t, u)
		if id := browsertest.Eval[string](t, u.ctx, `trtcCalling._call ? trtcCalling._call.callID : ''`); id != callID {
			t.Errorf("%s: in call %q after the outage, want %q", u.name, id, callID)
		}
		if st := status(t, u); st != "connected" {
			t.Errorf("%s: status %q after the outage", u.name, st)
		}
		for _, ev := range []string{"onCallEnd", "onUserLeave", "onCallingCancel", "onInvited", "onReconnectFailed", "onDisconnected"} {
			u.noEvent(t, ev)
		}
	}

	t.Run("3 s", func(t *testing.T) {
		// Too short for Chromium's ICE to call the pair disconnected
		// (it takes about 5.5 s): the media just flows again.
		env.SetLink(t, false)
		<-time.After(3 * time.Second) // the outage's length; nothing to wait for
		env.SetLink(t, true)
		for _, u := range []*tab{amy, bo} {
			stillInCall(t, u)
			t.Logf("%s: ICE %v, events %v", u.name, browsertest.Eval[[]string](t, u.ctx, `iceLog`), callEvents(t, u))
		}
	})

	t.Run("until the SDK reconnects", func(t *testing.T) {
		before := browsertest.Eval[string](t, amy.ctx, ufragsJS)
		// The link stays down until amy's SDK has given up on ICE by
		// itself (disconnected, then 2.5 s of grace), pinged the server
		// in vain (3 s) and begun to reconnect: its own recovery path.
		env.SetLink(t, false)
		down := time.Now()
		browsertest.WaitFor(t, amy.ctx, `iceTroubles > 0`, 20*time.Second)
		amy.waitEvent(t, "onReconnecting", "")
		env.SetLink(t, true)
		t.Logf("link down for %v", time.Since(down).Round(100*time.Millisecond))
		// The reconnect's login takes over the session the server may
		// still hold, and the call resumes with ICE restarted on both PCs.
		amy.waitEvent(t, "onReconnected", `d.resumed === true`)
		if r := browsertest.Eval[[]bool](t, amy.ctx, `resumes`); len(r) == 0 || slices.Contains(r, false) {
			t.Errorf("amy's reconnect logins said resume %v, want true", r)
		}
		browsertest.WaitFor(t, amy.ctx, fmt.Sprintf(`%s.split(',').every((u, i) => u !== %q.split(',')[i])`, ufragsJS, before), 10*time.Second)
		for _, u := range []*tab{amy, bo} {
			stillInCall(t, u)
			if log := browsertest.Eval[[]string](t, u.ctx, `iceLog`); !slices.Contains(log, "pub:disconnected") {
				t.Errorf("%s: ICE states %v, want the publish PC disconnected", u.name, log)
			}
			t.Logf("%s: ICE %v, events %v", u.name, browsertest.Eval[[]string](t, u.ctx, `iceLog`), callEvents(t, u))
		}
	})
	hangupBoth(t, amy, bo)
}

// waitVideoResumes waits until u's remote video decodes more frames and
// its clock advances by a second.
func waitVideoResumes(t *testing.T, u *tab) {
	t.Helper()
	r := browsertest.Eval[remoteVideo](t, u.ctx, `remoteVideo()`)
	browsertest.WaitFor(t, u.ctx, fmt.Sprintf(`remoteVideo().then((r) => r.frames > %d && r.time > %f)`, r.Frames+10, r.Time+1), 30*time.Second)
}

// callEvents lists u's events but the periodic volume and quality ones.
func callEvents(t *testing.T, u *tab) []string {
	t.Helper()
	return slices.DeleteFunc(u.eventNames(t), func(name string) bool {
		return strings.HasPrefix(name, "onUserVoiceVolume") || name == "onUserNetworkQualityChanged"
	})
}
