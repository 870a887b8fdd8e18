package browsertest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"callbox/signaling/usersig"
	"callbox/ui/browsertest"
)

// The browser SDK (/sdk/trtc-calling.js, docs/sdk.md) in Chromium against
// a real server: the seed's example code (seeds/trtccalling-web-api.md)
// with only its import line changed, calls with real media through the
// SFU, and the events of spec call-semantics §7.

// pageJS is the application of each tab: the seed doc's snippets (new
// TRTCCalling, on INVITED → accept, USER_VIDEO_AVAILABLE → startRemoteView,
// ERROR). The server's CSP (default-src 'self') refuses inline scripts, so
// the test runs it through DevTools as an async function, and its import
// line, once 'trtc-calling-js', becomes the dynamic import of the server's
// module. It records every event in window.events for the test, logs in
// with the config given and resolves to the login's code (0 = ok).
const pageJS = `(async () => {
const cfg = window.testConfig = %s;
for (const id of ['local', 'remote']) {
  const div = document.createElement('div');
  div.id = id;
  Object.assign(div.style, { width: '320px', height: '240px', background: '#333', display: 'inline-block', margin: '4px' });
  document.body.append(div);
}

const { default: TRTCCalling } = await import('/sdk/trtc-calling.mjs');

window.events = [];
const plain = (d) => { try { return JSON.parse(JSON.stringify(d === undefined ? null : d)); } catch (e) { return String(d); } };

let options = {
  SDKAppID: cfg.SDKAppID, // Replace with the SDKAppID of your application
};
let trtcCalling = new TRTCCalling(options);
window.trtcCalling = trtcCalling;

const names = new Set(Object.values(TRTCCalling.EVENT).concat(Object.values(TRTCCalling.CALLBOX_EVENT),
  ['onCallBegin', 'onCallReceived', 'onCallCancelled', 'onKickedOffline', 'onUserNoResponse', 'onUserReject']));
for (const name of names) trtcCalling.on(name, (data) => window.events.push({ name, data: plain(data) }));

let handleInvite = function ({inviteID, sponsor, inviteData}) {
    console.log(` + "`inviteID: ${inviteID}, sponsor: ${sponsor}, inviteData: ${JSON.stringify(inviteData)}`" + `);
};
trtcCalling.on('onInvited', handleInvite, this);

trtcCalling.on(TRTCCalling.EVENT.INVITED, ({inviteID, sponsor, inviteData}) => {
  // ...
  // v1.0.0 and later versions
  if (cfg.autoAccept) trtcCalling.accept();
})

let handleUserVideoChange = function({userID, isVideoAvailable}) {
  console.log(userID, isVideoAvailable)
  if (isVideoAvailable) trtcCalling.startRemoteView({userID, videoViewDomID: 'remote'});
};
trtcCalling.on(TRTCCalling.EVENT.USER_VIDEO_AVAILABLE, handleUserVideoChange);

let onError = function(error) {
  console.log(error);
};
trtcCalling.on(TRTCCalling.EVENT.ERROR, onError);

// Test helpers: the remote video as the page shows it, with the subscribe
// PC's inbound video statistics, and the publish offer.
window.remoteVideo = async () => {
  const v = document.querySelector('#remote video');
  const r = { width: v ? v.videoWidth : 0, time: v ? v.currentTime : 0, frames: 0, lost: 0, received: 0 };
  const c = trtcCalling._call;
  if (c && c.media.sub) {
    (await c.media.sub.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') {
        r.frames += s.framesDecoded || 0;
        r.lost += s.packetsLost || 0;
        r.received += s.packetsReceived || 0;
      }
    });
  }
  return r;
};
window.offerSDP = () => trtcCalling._call && trtcCalling._call.media.pub.localDescription.sdp;

try {
  await trtcCalling.login({userID: cfg.userID, userSig: cfg.userSig});
  return 0;
} catch (e) {
  return e.code || -1;
}
})()`

// tab is one user's page with the SDK logged in.
type tab struct {
	name string
	ctx  context.Context
}

type pageConfig struct {
	SDKAppID   uint32 `json:"SDKAppID"`
	UserID     string `json:"userID"`
	UserSig    string `json:"userSig"`
	AutoAccept bool   `json:"autoAccept"`
}

// open loads the app for user in a browser context of its own and logs in
// with sig ("" = a valid one); it returns the tab and the login's code.
func open(t *testing.T, env *browsertest.Env, user, sig string, autoAccept bool) (*tab, int) {
	t.Helper()
	if sig == "" {
		sig = env.Sig(user)
	}
	ctx := env.Browser(t, user)
	browsertest.Do(t, ctx, chromedp.Navigate(env.BaseURL()+"/"))
	cfg, _ := json.Marshal(pageConfig{SDKAppID: env.App().SDKAppID, UserID: user, UserSig: sig, AutoAccept: autoAccept})
	code := browsertest.Eval[int](t, ctx, fmt.Sprintf(pageJS, cfg))
	return &tab{name: user, ctx: ctx}, code
}

func login(t *testing.T, env *browsertest.Env, user string, autoAccept bool) *tab {
	t.Helper()
	u, code := open(t, env, user, "", autoAccept)
	if code != 0 {
		t.Fatalf("%s: login failed with %d", user, code)
	}
	return u
}

// run evaluates js in u's page.
func (u *tab) run(t *testing.T, js string) {
	t.Helper()
	browsertest.Eval[chromedp.Void](t, u.ctx, js)
}

// waitEvent waits for an event named name whose data satisfies the JS
// condition cond on d ("" = any), and returns its data.
func (u *tab) waitEvent(t *testing.T, name, cond string) json.RawMessage {
	t.Helper()
	if cond == "" {
		cond = "true"
	}
	find := fmt.Sprintf(`window.events.find((e) => e.name === %q && ((d) => %s)(e.data || {}))`, name, cond)
	browsertest.WaitFor(t, u.ctx, find+` !== undefined`, 15*time.Second)
	return browsertest.Eval[json.RawMessage](t, u.ctx, `JSON.stringify(`+find+`.data)`)
}

// noEvent fails t if u got an event named name.
func (u *tab) noEvent(t *testing.T, name string) {
	t.Helper()
	if browsertest.Eval[bool](t, u.ctx, fmt.Sprintf(`window.events.some((e) => e.name === %q)`, name)) {
		t.Errorf("%s got %s", u.name, name)
	}
}

// eventNames lists the events u got, in order.
func (u *tab) eventNames(t *testing.T) []string {
	t.Helper()
	return browsertest.Eval[[]string](t, u.ctx, `window.events.map((e) => e.name)`)
}

type remoteVideo struct {
	Width    int     `json:"width"`
	Time     float64 `json:"time"`
	Frames   int     `json:"frames"`
	Lost     int     `json:"lost"`
	Received int     `json:"received"`
}

// checkVideoPlays checks that u's remote view plays the peer's video:
// decoded frames, a size, a clock that advances, frames that keep coming,
// and almost no loss.
func (u *tab) checkVideoPlays(t *testing.T) remoteVideo {
	t.Helper()
	browsertest.WaitFor(t, u.ctx, `(async () => { const r = await remoteVideo(); return r.width > 0 && r.frames > 10; })()`, 20*time.Second)
	a := browsertest.Eval[remoteVideo](t, u.ctx, `remoteVideo()`)
	// A loaded machine makes Chromium's encoder drop to a few frames a
	// second: ask for progress, not for a rate.
	browsertest.WaitFor(t, u.ctx, fmt.Sprintf(`(async () => { const r = await remoteVideo(); return r.frames >= %d && r.time > %f; })()`,
		a.Frames+5, a.Time+0.5), 20*time.Second)
	b := browsertest.Eval[remoteVideo](t, u.ctx, `remoteVideo()`)
	if b.Received == 0 || float64(b.Lost) >= 0.01*float64(b.Received+b.Lost) {
		t.Errorf("%s: %d video packets lost of %d", u.name, b.Lost, b.Received+b.Lost)
	}
	t.Logf("%s: remote video %dpx wide, %d frames decoded, time %.1f s, %d/%d packets lost", u.name, b.Width, b.Frames, b.Time, b.Lost, b.Received)
	return b
}

// call makes caller call callee (type 1 audio, 2 video) and waits until
// both are in the call; the callee's page accepts by itself.
func call(t *testing.T, caller, callee *tab, typ int) {
	t.Helper()
	caller.run(t, fmt.Sprintf(`trtcCalling.call({userID: %q, type: %d})`, callee.name, typ))
	callee.waitEvent(t, "onInvited", fmt.Sprintf(`d.sponsor === %q && d.inviteData.callType === %d`, caller.name, typ))
	caller.waitEvent(t, "onUserAccept", fmt.Sprintf(`d.userID === %q`, callee.name))
	if typ == 2 {
		caller.waitEvent(t, "onUserVideoAvailable", fmt.Sprintf(`d.userID === %q && d.isVideoAvailable`, callee.name))
		callee.waitEvent(t, "onUserVideoAvailable", fmt.Sprintf(`d.userID === %q && d.isVideoAvailable`, caller.name))
	}
}

// The seed's 1:1 video call: alice calls bob, bob accepts, both see each
// other's video, alice hangs up and bob gets CALL_END.
func TestSDKVideoCall(t *testing.T) {
	env := browsertest.Start(t, nil)
	alice := login(t, env, "alice", false)
	bob := login(t, env, "bob", true)
	alice.waitEvent(t, "sdkReady", "")

	call(t, alice, bob, 2)
	alice.run(t, `trtcCalling.startLocalView({userID: 'alice', videoViewDomID: 'local'})`)
	bob.run(t, `trtcCalling.startLocalView({userID: 'bob', videoViewDomID: 'local'})`)
	alice.checkVideoPlays(t)
	bob.checkVideoPlays(t)

	// The publish offer has the simulcast rids and the audio level
	// extension of docs/media.md §1: the half and full size layers of
	// the fake camera's 640x480 (docs/sdk.md §5).
	sdp := browsertest.Eval[string](t, alice.ctx, `offerSDP()`)
	for _, want := range []string{"a=simulcast:send h;f", "urn:ietf:params:rtp-hdrext:ssrc-audio-level", "a=rid:h send", "a=rid:f send"} {
		if !strings.Contains(sdp, want) {
			t.Errorf("publish offer lacks %q", want)
		}
	}
	browsertest.WaitFor(t, alice.ctx, `document.querySelector('#local video') && document.querySelector('#local video').videoWidth > 0`, 5*time.Second)
	browsertest.Screenshot(t, alice.ctx, "alice-in-call")
	browsertest.Screenshot(t, bob.ctx, "bob-in-call")

	alice.run(t, `trtcCalling.hangup()`)
	end := bob.waitEvent(t, "onCallEnd", `d.userID === 'alice'`)
	t.Logf("bob's CALL_END: %s", end)
	bob.waitEvent(t, "onUserLeave", `d.userID === 'alice'`)
	if n := browsertest.Eval[int](t, bob.ctx, `document.querySelectorAll('#remote video').length`); n != 0 {
		t.Errorf("bob still shows %d remote videos after the call", n)
	}
	for _, u := range []*tab{alice, bob} {
		if st := browsertest.Eval[string](t, u.ctx, `trtcCalling.getCallStatus()`); st != "idle" {
			t.Errorf("%s: status %q after the call, want idle", u.name, st)
		}
	}
	t.Logf("alice's events: %v", alice.eventNames(t))
	t.Logf("bob's events: %v", bob.eventNames(t))
	for _, u := range []*tab{alice, bob} {
		if errs := browsertest.ConsoleErrors(u.ctx); len(errs) > 0 {
			t.Errorf("%s logged errors: %q", u.name, errs)
		}
	}
}

// hangupBoth ends the call from u and waits until the peer hears it.
func hangupBoth(t *testing.T, u, peer *tab) {
	t.Helper()
	u.run(t, `trtcCalling.hangup()`)
	peer.waitEvent(t, "onCallEnd", "")
}

func status(t *testing.T, u *tab) string {
	t.Helper()
	return browsertest.Eval[string](t, u.ctx, `trtcCalling.getCallStatus()`)
}

// framesNow is the number of video frames u's page decoded so far.
func framesNow(t *testing.T, u *tab) int {
	t.Helper()
	return browsertest.Eval[remoteVideo](t, u.ctx, `remoteVideo()`).Frames
}

// waitFrames waits until u decoded more video frames than n.
func waitFrames(t *testing.T, u *tab, n int) {
	t.Helper()
	browsertest.WaitFor(t, u.ctx, fmt.Sprintf(`remoteVideo().then((r) => r.frames > %d)`, n+5), 20*time.Second)
}

// The call outcomes of spec call-semantics §4 as the SDK's events, each
// with users of its own (the server limits call setups per user).
func TestSDKCallScenarios(t *testing.T) {
	env := browsertest.Start(t, nil)

	t.Run("reject", func(t *testing.T) {
		carol, dave := login(t, env, "carol", false), login(t, env, "dave", false)
		carol.run(t, `trtcCalling.call({userID: 'dave', type: 2})`)
		dave.waitEvent(t, "onInvited", `d.sponsor === 'carol'`)
		dave.run(t, `trtcCalling.reject()`)
		carol.waitEvent(t, "onReject", `d.userID === 'dave'`)
		carol.waitEvent(t, "onCallCancelled", "")
		carol.noEvent(t, "onCallEnd") // §7.9: no CALL_END after a 1:1 reject
		if st := status(t, carol); st != "idle" {
			t.Errorf("carol: status %q after the reject", st)
		}
	})

	t.Run("busy", func(t *testing.T) {
		erin, frank, gina := login(t, env, "erin", false), login(t, env, "frank", false), login(t, env, "gina", false)
		erin.run(t, `trtcCalling.call({userID: 'frank', type: 2})`)
		frank.waitEvent(t, "onInvited", `d.sponsor === 'erin'`)
		gina.run(t, `trtcCalling.call({userID: 'frank', type: 1})`)
		gina.waitEvent(t, "onLineBusy", `d.userID === 'frank' && d.sponsor === 'gina'`)
		frank.waitEvent(t, "onLineBusy", `d.sponsor === 'gina'`) // §7.8: the busy callee hears it too
		// The busy signal of another call leaves frank's invitation alone.
		frank.run(t, `trtcCalling.accept()`)
		erin.waitEvent(t, "onUserAccept", `d.userID === 'frank'`)
		hangupBoth(t, erin, frank)
	})

	t.Run("no answer", func(t *testing.T) {
		henry, ivan := login(t, env, "henry", false), login(t, env, "ivan", false)
		henry.run(t, `trtcCalling.call({userID: 'ivan', type: 2, timeout: 2})`)
		ivan.waitEvent(t, "onInvited", "")
		henry.waitEvent(t, "onNoResp", `d.userID === 'ivan' && d.userIDList.includes('ivan')`)
		ivan.waitEvent(t, "onCallingTimeout", `d.sponsor === 'henry'`)
		henry.waitEvent(t, "onCallEnd", `d.callEnd === 0`)
		ivan.waitEvent(t, "onCallEnd", "")
		for _, u := range []*tab{henry, ivan} {
			if st := status(t, u); st != "idle" {
				t.Errorf("%s: status %q after the timeout", u.name, st)
			}
		}
	})

	t.Run("cancel", func(t *testing.T) {
		jack, kate := login(t, env, "jack", false), login(t, env, "kate", false)
		jack.run(t, `trtcCalling.call({userID: 'kate', type: 2})`)
		kate.waitEvent(t, "onInvited", "")
		jack.run(t, `trtcCalling.hangup()`)
		kate.waitEvent(t, "onCallingCancel", "")
		if st := status(t, kate); st != "idle" {
			t.Errorf("kate: status %q after the cancel", st)
		}
		kate.run(t, `trtcCalling.accept()`) // nothing rings: a no-op
	})

	t.Run("mic mute", func(t *testing.T) {
		leo, mia := login(t, env, "leo", false), login(t, env, "mia", true)
		call(t, leo, mia, 2)
		mia.waitEvent(t, "onUserAudioAvailable", `d.userID === 'leo' && d.isAudioAvailable`)
		leo.run(t, `trtcCalling.setMicMute(true)`)
		mia.waitEvent(t, "onUserAudioAvailable", `d.userID === 'leo' && !d.isAudioAvailable`)
		if browsertest.Eval[bool](t, leo.ctx, `trtcCalling.local.audio.enabled`) {
			t.Error("leo's microphone track is still enabled")
		}
		mia.run(t, `window.events = []`)
		leo.run(t, `trtcCalling.setMicMute(false)`)
		mia.waitEvent(t, "onUserAudioAvailable", `d.userID === 'leo' && d.isAudioAvailable`)
		hangupBoth(t, leo, mia)
	})

	t.Run("camera off and on", func(t *testing.T) {
		nick, olga := login(t, env, "nick", false), login(t, env, "olga", true)
		call(t, nick, olga, 2)
		olga.checkVideoPlays(t)
		olga.run(t, `window.events = []`)
		nick.run(t, `trtcCalling.closeCamera()`)
		olga.waitEvent(t, "onUserVideoAvailable", `d.userID === 'nick' && !d.isVideoAvailable`)
		if browsertest.Eval[bool](t, nick.ctx, `trtcCalling.local.video !== null`) {
			t.Error("nick's camera is still open")
		}
		nick.run(t, `trtcCalling.openCamera()`)
		olga.waitEvent(t, "onUserVideoAvailable", `d.userID === 'nick' && d.isVideoAvailable`)
		waitFrames(t, olga, framesNow(t, olga))
		hangupBoth(t, nick, olga)
	})

	t.Run("switch to audio and back", func(t *testing.T) {
		pat, quinn := login(t, env, "pat", false), login(t, env, "quinn", true)
		call(t, pat, quinn, 2)
		pat.run(t, `window.events = []`)
		quinn.run(t, `window.events = []`)
		pat.run(t, `trtcCalling.switchToAudioCall()`)
		for _, u := range []*tab{pat, quinn} {
			u.waitEvent(t, "onCallMediaTypeChanged", `d.oldCallMediaType === 2 && d.newCallMediaType === 1`)
		}
		quinn.waitEvent(t, "onUserVideoAvailable", `d.userID === 'pat' && !d.isVideoAvailable`)
		pat.waitEvent(t, "onUserVideoAvailable", `d.userID === 'quinn' && !d.isVideoAvailable`)
		n := framesNow(t, quinn)
		quinn.run(t, `trtcCalling.switchToVideoCall()`)
		pat.waitEvent(t, "onCallMediaTypeChanged", `d.newCallMediaType === 2`)
		quinn.waitEvent(t, "onUserVideoAvailable", `d.userID === 'pat' && d.isVideoAvailable`)
		pat.waitEvent(t, "onUserVideoAvailable", `d.userID === 'quinn' && d.isVideoAvailable`)
		waitFrames(t, quinn, n)
		hangupBoth(t, pat, quinn)
	})

	t.Run("audio call", func(t *testing.T) {
		rita, sam := login(t, env, "rita", false), login(t, env, "sam", true)
		call(t, rita, sam, 1)
		sam.waitEvent(t, "onUserAudioAvailable", `d.userID === 'rita' && d.isAudioAvailable`)
		if sdp := browsertest.Eval[string](t, rita.ctx, `offerSDP()`); strings.Contains(sdp, "m=video") {
			t.Error("an audio call published video")
		}
		// The fake microphone beeps: the SFU's volume reaches the app.
		sam.waitEvent(t, "onUserVoiceVolume", `d.volumeMap && d.volumeMap.rita > 0`)
		// Switching an audio call to video adds a camera to each side's
		// publish PC (a renegotiation) and the video plays.
		rita.run(t, `trtcCalling.switchToVideoCall()`)
		sam.waitEvent(t, "onUserVideoAvailable", `d.userID === 'rita' && d.isVideoAvailable`)
		rita.waitEvent(t, "onUserVideoAvailable", `d.userID === 'sam' && d.isVideoAvailable`)
		sam.checkVideoPlays(t)
		rita.checkVideoPlays(t)
		hangupBoth(t, rita, sam)
	})

	// getUserMedia's failures, as a browser without a camera or with a
	// refused permission gives them (the page replaces getUserMedia).
	t.Run("devices missing or refused", func(t *testing.T) {
		for _, tc := range []struct {
			name      string
			fail      string // the kind whose getUserMedia fails
			err       string // the DOMException's name
			code      int    // the ERROR event's code
			audioOnly bool   // the call goes on without video; else call() rejects
		}{
			{"no camera", "video", "NotFoundError", 60004, true},
			{"camera denied", "video", "NotAllowedError", 60005, true},
			{"no microphone", "audio", "NotFoundError", 60003, false},
			{"microphone denied", "audio", "NotAllowedError", 60005, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				caller, callee := login(t, env, "dev-"+tc.fail+tc.err, false), login(t, env, "peer-"+tc.fail+tc.err, true)
				caller.run(t, fmt.Sprintf(`(() => {
					const md = navigator.mediaDevices, gum = md.getUserMedia.bind(md);
					md.getUserMedia = (c) => c[%q] ? Promise.reject(new DOMException('test', %q)) : gum(c);
				})()`, tc.fail, tc.err))
				got := browsertest.Eval[int](t, caller.ctx, fmt.Sprintf(
					`trtcCalling.call({userID: %q, type: 2}).then(() => 0, (e) => e.code)`, callee.name))
				caller.waitEvent(t, "onError", fmt.Sprintf(`d.code === %d`, tc.code))
				if !tc.audioOnly {
					if got != tc.code {
						t.Fatalf("call() = %d, want a rejection with %d", got, tc.code)
					}
					if st := status(t, caller); st != "idle" {
						t.Errorf("status %q after the refused call", st)
					}
					return
				}
				if got != 0 {
					t.Fatalf("call() rejected with %d, want an audio-only call", got)
				}
				callee.waitEvent(t, "onUserAudioAvailable", fmt.Sprintf(`d.userID === %q && d.isAudioAvailable`, caller.name))
				caller.waitEvent(t, "onUserVideoAvailable", fmt.Sprintf(`d.userID === %q && d.isVideoAvailable`, callee.name))
				if sdp := browsertest.Eval[string](t, caller.ctx, `offerSDP()`); strings.Contains(sdp, "m=video") {
					t.Error("the caller published video without a camera")
				}
				callee.noEvent(t, "onUserVideoAvailable")
				hangupBoth(t, caller, callee)
			})
		}
	})

	t.Run("kicked out by a second login", func(t *testing.T) {
		tina := login(t, env, "tina", false)
		login(t, env, "tina", false)
		tina.waitEvent(t, "onKickedOut", "")
		tina.waitEvent(t, "onDisconnected", `d.code === 4001`)
		tina.noEvent(t, "onReconnecting")
	})

	t.Run("bad sig", func(t *testing.T) {
		for _, tc := range []struct {
			name, sig string
			code      int
		}{
			{"another user's sig", env.Sig("victor"), 70013},
			{"garbage", "not-a-sig", 70003},
		} {
			if _, code := open(t, env, "uma", tc.sig, false); code != tc.code {
				t.Errorf("%s: login rejected with %d, want %d", tc.name, code, tc.code)
			}
		}
	})

	t.Run("reconnect during a call resumes it", func(t *testing.T) {
		oscar, paul := login(t, env, "oscar", false), login(t, env, "paul", true)
		call(t, oscar, paul, 2)
		oscar.checkVideoPlays(t)
		paul.checkVideoPlays(t)
		// The SFU's ICE credentials on both PCs.
		ufrag := `['sub', 'pub'].map((pc) => trtcCalling._call.media[pc].remoteDescription.sdp.match(/a=ice-ufrag:(\S+)/)[1]).join()`
		before := browsertest.Eval[string](t, oscar.ctx, ufrag)
		// The signaling connection breaks as a network would break it.
		oscar.run(t, `trtcCalling.link.drop()`)
		oscar.waitEvent(t, "onReconnecting", "")
		oscar.waitEvent(t, "onReconnected", `d.resumed === true`)
		// docs/media.md §2.5: ICE restarts on both PCs (the SFU's subscribe
		// offer, the client's publish offer), so both get new credentials.
		browsertest.WaitFor(t, oscar.ctx, fmt.Sprintf(`%s.split(',').every((u, i) => u !== %q.split(',')[i])`, ufrag, before), 10*time.Second)
		waitFrames(t, oscar, framesNow(t, oscar))
		waitFrames(t, paul, framesNow(t, paul))
		paul.noEvent(t, "onUserLeave")
		if st := status(t, oscar); st != "connected" {
			t.Errorf("oscar: status %q after the resume", st)
		}
		hangupBoth(t, oscar, paul)
	})

	t.Run("sig expires in a call and is renewed", func(t *testing.T) {
		app := env.App()
		short, err := usersig.Issue(app.SDKAppID, app.Key, "rosa", 3*time.Second, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		rosa, code := open(t, env, "rosa", short, false)
		if code != 0 {
			t.Fatalf("rosa: login %d", code)
		}
		saul := login(t, env, "saul", true)
		call(t, rosa, saul, 2)
		rosa.waitEvent(t, "onUserSigExpired", "")
		browsertest.Eval[chromedp.Void](t, rosa.ctx, fmt.Sprintf(`trtcCalling.renewSig(%q)`, env.Sig("rosa")))
		rosa.run(t, `trtcCalling.switchToAudioCall()`) // before the renewal: 70001
		saul.waitEvent(t, "onCallMediaTypeChanged", `d.newCallMediaType === 1`)
		saul.noEvent(t, "onCallEnd")
		hangupBoth(t, rosa, saul)
	})

	t.Run("classic script and module give one class", func(t *testing.T) {
		ctx := env.Browser(t, "vera")
		browsertest.Do(t, ctx, chromedp.Navigate(env.BaseURL()+"/"))
		type result struct {
			Invited string `json:"invited"`
			Same    bool   `json:"same"`
			User    string `json:"user"`
		}
		r := browsertest.Eval[result](t, ctx, fmt.Sprintf(`new Promise((resolve, reject) => {
			const s = document.createElement('script');
			s.src = '/sdk/trtc-calling.js';
			s.onload = resolve;
			s.onerror = () => reject(new Error('script failed'));
			document.head.append(s);
		}).then(async () => {
			const trtcCalling = new TRTCCalling({SDKAppID: %d});
			const m = await import('/sdk/trtc-calling.mjs');
			const reply = await trtcCalling.login({userID: 'vera', userSig: %q});
			return {invited: TRTCCalling.EVENT.INVITED, same: m.default === window.TRTCCalling, user: reply.userID};
		})`, env.App().SDKAppID, env.Sig("vera")))
		if r != (result{Invited: "onInvited", Same: true, User: "vera"}) {
			t.Errorf("classic script: %+v", r)
		}
	})

	t.Run("ICE restart on a live connection", func(t *testing.T) {
		ada, ben := login(t, env, "ada", false), login(t, env, "ben", true)
		call(t, ada, ben, 2)
		ada.checkVideoPlays(t)
		ufrag := `['sub', 'pub'].map((pc) => trtcCalling._call.media[pc].remoteDescription.sdp.match(/a=ice-ufrag:(\S+)/)[1]).join()`
		before := browsertest.Eval[string](t, ada.ctx, ufrag)
		// What the SDK does when a PC's ICE fails: the signaling answers
		// its ping, so only the media path is restarted.
		ada.run(t, `trtcCalling.iceTrouble()`)
		browsertest.WaitFor(t, ada.ctx, fmt.Sprintf(`%s.split(',').every((u, i) => u !== %q.split(',')[i])`, ufrag, before), 10*time.Second)
		waitFrames(t, ada, framesNow(t, ada))
		waitFrames(t, ben, framesNow(t, ben))
		ada.noEvent(t, "onReconnecting")
		hangupBoth(t, ada, ben)
	})

	t.Run("group call", func(t *testing.T) {
		wendy := login(t, env, "wendy", false)
		xavier, yara := login(t, env, "xavier", true), login(t, env, "yara", true)
		wendy.run(t, `trtcCalling.groupCall({userIDList: ['xavier', 'yara'], type: 2})`)
		for _, u := range []*tab{xavier, yara} {
			u.waitEvent(t, "onInvited", `d.sponsor === 'wendy' && d.isFromGroup`)
			wendy.waitEvent(t, "onUserEnter", fmt.Sprintf(`d.userID === %q`, u.name))
		}
		// Each page shows the two others: its tracks are told apart by mid.
		for _, u := range []*tab{wendy, xavier, yara} {
			showsTwoOthers(t, u)
		}
		browsertest.Screenshot(t, wendy.ctx, "wendy-group")
		xavier.run(t, `trtcCalling.hangup()`)
		wendy.waitEvent(t, "onUserLeave", `d.userID === 'xavier'`)
		// Xavier's tracks leave wendy's page (his view stays for the app to stop).
		browsertest.WaitFor(t, wendy.ctx, `((r) => !r || !r.audio && !r.video)(trtcCalling._call.media._remote.get('xavier'))`, 10*time.Second)
		wendy.noEvent(t, "onCallEnd") // two are still in the call
		hangupBoth(t, wendy, yara)
	})
}
