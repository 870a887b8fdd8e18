package browsertest_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"callbox/ui/browsertest"
)

// The browser SDK in Firefox ESR (driven over WebDriver BiDi) calling and
// called by the SDK in Chromium, through the same server: the page and
// the events of sdk_test.go.

// sdkPage is a tab of either browser, as the SDK tests use it.
type sdkPage interface {
	eval(t *testing.T, js string) json.RawMessage
	waitFor(t *testing.T, cond string, timeout time.Duration)
	screenshot(t *testing.T, name string)
	consoleErrors() []string
}

type chromiumPage struct{ *tab }

func (p chromiumPage) eval(t *testing.T, js string) json.RawMessage {
	t.Helper()
	return browsertest.Eval[json.RawMessage](t, p.ctx, `(async () => (await (`+js+"\n)) ?? null)()")
}

func (p chromiumPage) waitFor(t *testing.T, cond string, timeout time.Duration) {
	t.Helper()
	browsertest.WaitFor(t, p.ctx, cond, timeout)
}

func (p chromiumPage) screenshot(t *testing.T, name string) {
	t.Helper()
	browsertest.Screenshot(t, p.ctx, name)
}

func (p chromiumPage) consoleErrors() []string { return browsertest.ConsoleErrors(p.ctx) }

type firefoxPage struct{ *browsertest.FirefoxTab }

func (p firefoxPage) eval(t *testing.T, js string) json.RawMessage {
	t.Helper()
	return p.Eval(t, js)
}

func (p firefoxPage) waitFor(t *testing.T, cond string, timeout time.Duration) {
	t.Helper()
	p.WaitFor(t, cond, timeout)
}

func (p firefoxPage) screenshot(t *testing.T, name string) {
	t.Helper()
	p.Screenshot(t, name)
}

func (p firefoxPage) consoleErrors() []string { return p.ConsoleErrors() }

// sdkUser is one logged-in SDK user in either browser.
type sdkUser struct {
	name    string
	browser string
	page    sdkPage
}

// loginFirefox opens the app for user in Firefox and logs in.
func loginFirefox(t *testing.T, env *browsertest.Env, user string, autoAccept bool) *sdkUser {
	t.Helper()
	ff := env.Firefox(t, user)
	ff.Navigate(t, env.BaseURL()+"/")
	u := &sdkUser{name: user, browser: "firefox", page: firefoxPage{ff}}
	u.login(t, env, autoAccept)
	return u
}

// loginChromium opens the app for user in Chromium and logs in.
func loginChromium(t *testing.T, env *browsertest.Env, user string, autoAccept bool) *sdkUser {
	t.Helper()
	return &sdkUser{name: user, browser: "chromium", page: chromiumPage{login(t, env, user, autoAccept)}}
}

func (u *sdkUser) login(t *testing.T, env *browsertest.Env, autoAccept bool) {
	t.Helper()
	cfg, _ := json.Marshal(pageConfig{SDKAppID: env.App().SDKAppID, UserID: u.name, UserSig: env.Sig(u.name), AutoAccept: autoAccept})
	var code int
	if err := json.Unmarshal(u.page.eval(t, fmt.Sprintf(pageJS, cfg)), &code); err != nil || code != 0 {
		t.Fatalf("%s (%s): login failed with %d (%v)", u.name, u.browser, code, err)
	}
}

func (u *sdkUser) run(t *testing.T, js string) {
	t.Helper()
	u.page.eval(t, `(async () => { await (`+js+"\n); })()")
}

// waitEvent waits for an event named name whose data satisfies cond on d
// ("" = any) and returns its data.
func (u *sdkUser) waitEvent(t *testing.T, name, cond string) json.RawMessage {
	t.Helper()
	if cond == "" {
		cond = "true"
	}
	find := fmt.Sprintf(`window.events.find((e) => e.name === %q && ((d) => %s)(e.data || {}))`, name, cond)
	u.page.waitFor(t, find+` !== undefined`, 20*time.Second)
	return u.page.eval(t, find+`.data`)
}

func (u *sdkUser) eventNames(t *testing.T) []string {
	t.Helper()
	var names []string
	json.Unmarshal(u.page.eval(t, `window.events.map((e) => e.name)`), &names)
	return names
}

func (u *sdkUser) remoteVideo(t *testing.T) remoteVideo {
	t.Helper()
	var r remoteVideo
	if err := json.Unmarshal(u.page.eval(t, `remoteVideo()`), &r); err != nil {
		t.Fatalf("%s: remoteVideo: %v", u.name, err)
	}
	return r
}

// checkVideoPlays checks that u's remote view plays the peer's video:
// decoded frames, a size, a clock that advances and frames that keep
// coming.
func (u *sdkUser) checkVideoPlays(t *testing.T) {
	t.Helper()
	u.page.waitFor(t, `remoteVideo().then((r) => r.width > 0 && r.frames > 10)`, 30*time.Second)
	a := u.remoteVideo(t)
	u.page.waitFor(t, fmt.Sprintf(`remoteVideo().then((r) => r.frames >= %d && r.time > %f)`, a.Frames+5, a.Time+0.5), 30*time.Second)
	b := u.remoteVideo(t)
	t.Logf("%s (%s): remote video %dpx wide, %d frames decoded, time %.1f s, %d/%d packets lost",
		u.name, u.browser, b.Width, b.Frames, b.Time, b.Lost, b.Received)
}

// videoCall has caller call callee with video (the callee's page accepts
// by itself), checks that both see each other's video, and has the
// caller hang up.
func videoCall(t *testing.T, caller, callee *sdkUser) {
	caller.run(t, fmt.Sprintf(`trtcCalling.call({userID: %q, type: 2})`, callee.name))
	callee.waitEvent(t, "onInvited", fmt.Sprintf(`d.sponsor === %q && d.inviteData.callType === 2`, caller.name))
	caller.waitEvent(t, "onUserAccept", fmt.Sprintf(`d.userID === %q`, callee.name))
	caller.waitEvent(t, "onUserVideoAvailable", fmt.Sprintf(`d.userID === %q && d.isVideoAvailable`, callee.name))
	callee.waitEvent(t, "onUserVideoAvailable", fmt.Sprintf(`d.userID === %q && d.isVideoAvailable`, caller.name))
	for _, u := range []*sdkUser{caller, callee} {
		u.run(t, fmt.Sprintf(`trtcCalling.startLocalView({userID: %q, videoViewDomID: 'local'})`, u.name))
	}
	caller.checkVideoPlays(t)
	callee.checkVideoPlays(t)
	// Both browsers publish the simulcast layers of docs/media.md §1 (the
	// half and full size of a 640x480 camera).
	for _, u := range []*sdkUser{caller, callee} {
		var sdp string
		json.Unmarshal(u.page.eval(t, `offerSDP()`), &sdp)
		for _, want := range []string{"a=simulcast:send h;f", "a=rid:h send", "a=rid:f send"} {
			if !strings.Contains(sdp, want) {
				t.Errorf("%s (%s): publish offer lacks %q", u.name, u.browser, want)
			}
		}
	}
	for _, u := range []*sdkUser{caller, callee} {
		u.page.waitFor(t, `document.querySelector('#local video') && document.querySelector('#local video').videoWidth > 0`, 10*time.Second)
		u.page.screenshot(t, u.name+"-in-call")
	}

	caller.run(t, `trtcCalling.hangup()`)
	callee.waitEvent(t, "onCallEnd", fmt.Sprintf(`d.userID === %q`, caller.name))
	callee.waitEvent(t, "onUserLeave", fmt.Sprintf(`d.userID === %q`, caller.name))
	callee.page.waitFor(t, `document.querySelectorAll('#remote video').length === 0`, 10*time.Second)
	for _, u := range []*sdkUser{caller, callee} {
		u.page.waitFor(t, `trtcCalling.getCallStatus() === 'idle'`, 10*time.Second)
		t.Logf("%s (%s) events: %v", u.name, u.browser, u.eventNames(t))
	}
	noConsoleErrors(t, caller, callee)
}

// noConsoleErrors fails t for every error a user's page logged.
func noConsoleErrors(t *testing.T, users ...*sdkUser) {
	t.Helper()
	for _, u := range users {
		if errs := u.page.consoleErrors(); len(errs) > 0 {
			t.Errorf("%s (%s) logged errors: %q", u.name, u.browser, errs)
		}
	}
}

// Firefox calls Chromium with video and hangs up; then Chromium calls
// Firefox.
func TestFirefoxCallsChromium(t *testing.T) {
	env := browsertest.Start(t, nil)
	fox := loginFirefox(t, env, "fox", true)
	chrome := loginChromium(t, env, "chrome", true)
	fox.waitEvent(t, "sdkReady", "")

	if !t.Run("firefox calls", func(t *testing.T) { videoCall(t, fox, chrome) }) {
		return
	}
	t.Run("chromium calls", func(t *testing.T) {
		for _, u := range []*sdkUser{fox, chrome} {
			u.run(t, `window.events = []`)
		}
		videoCall(t, chrome, fox)
	})
}

// waitFrames waits until u decoded 5 video frames more than n.
func (u *sdkUser) waitFrames(t *testing.T, n int) {
	t.Helper()
	u.page.waitFor(t, fmt.Sprintf(`remoteVideo().then((r) => r.frames > %d)`, n+5), 30*time.Second)
}

// What a call does midway, done by the Firefox side: camera off and on,
// microphone mute, an ICE restart, a resumed reconnect, and a switch to
// audio and back that Chromium starts and Firefox follows.
func TestFirefoxMidCall(t *testing.T) {
	env := browsertest.Start(t, nil)
	fox := loginFirefox(t, env, "fox", false)
	chrome := loginChromium(t, env, "chrome", true)
	fox.run(t, `trtcCalling.call({userID: 'chrome', type: 2})`)
	chrome.waitEvent(t, "onInvited", `d.sponsor === 'fox'`)
	fox.waitEvent(t, "onUserVideoAvailable", `d.userID === 'chrome' && d.isVideoAvailable`)
	chrome.waitEvent(t, "onUserVideoAvailable", `d.userID === 'fox' && d.isVideoAvailable`)
	fox.checkVideoPlays(t)
	chrome.checkVideoPlays(t)
	reset := func() {
		for _, u := range []*sdkUser{fox, chrome} {
			u.run(t, `window.events = []`)
		}
	}

	t.Run("camera off and on", func(t *testing.T) {
		reset()
		fox.run(t, `trtcCalling.closeCamera()`)
		chrome.waitEvent(t, "onUserVideoAvailable", `d.userID === 'fox' && !d.isVideoAvailable`)
		n := chrome.remoteVideo(t).Frames
		fox.run(t, `trtcCalling.openCamera()`)
		chrome.waitEvent(t, "onUserVideoAvailable", `d.userID === 'fox' && d.isVideoAvailable`)
		chrome.waitFrames(t, n)
		// A Firefox sender whose track was taken away goes on sending
		// frames, about one a second, so frames alone do not show that
		// the camera is back: its sender has the new camera track too.
		fox.page.waitFor(t, `((tr) => tr && tr === trtcCalling.local.video && tr.readyState === 'live')(trtcCalling._call.media._senders.video.track)`, 10*time.Second)
	})

	t.Run("mic mute", func(t *testing.T) {
		reset()
		fox.run(t, `trtcCalling.setMicMute(true)`)
		chrome.waitEvent(t, "onUserAudioAvailable", `d.userID === 'fox' && !d.isAudioAvailable`)
		chrome.run(t, `window.events = []`)
		fox.run(t, `trtcCalling.setMicMute(false)`)
		chrome.waitEvent(t, "onUserAudioAvailable", `d.userID === 'fox' && d.isAudioAvailable`)
	})

	// The SFU's ICE credentials on both of Firefox's PCs.
	const ufrag = `['sub', 'pub'].map((pc) => trtcCalling._call.media[pc].remoteDescription.sdp.match(/a=ice-ufrag:(\S+)/)[1]).join()`
	restarted := func(t *testing.T, before json.RawMessage) {
		t.Helper()
		fox.page.waitFor(t, fmt.Sprintf(`%s.split(',').every((u, i) => u !== %s.split(',')[i])`, ufrag, before), 15*time.Second)
		fox.waitFrames(t, fox.remoteVideo(t).Frames)
		chrome.waitFrames(t, chrome.remoteVideo(t).Frames)
	}

	t.Run("ICE restart", func(t *testing.T) {
		reset()
		before := fox.page.eval(t, ufrag)
		fox.run(t, `trtcCalling.iceTrouble()`)
		restarted(t, before)
	})

	t.Run("reconnect resumes the call", func(t *testing.T) {
		reset()
		before := fox.page.eval(t, ufrag)
		fox.run(t, `trtcCalling.link.drop()`)
		fox.waitEvent(t, "onReconnecting", "")
		fox.waitEvent(t, "onReconnected", `d.resumed === true`)
		restarted(t, before)
		if got := string(fox.page.eval(t, `trtcCalling.getCallStatus()`)); got != `"connected"` {
			t.Errorf("fox: status %s after the resume", got)
		}
	})

	t.Run("switch to audio and back", func(t *testing.T) {
		reset()
		chrome.run(t, `trtcCalling.switchToAudioCall()`)
		fox.waitEvent(t, "onCallMediaTypeChanged", `d.oldCallMediaType === 2 && d.newCallMediaType === 1`)
		fox.waitEvent(t, "onUserVideoAvailable", `d.userID === 'chrome' && !d.isVideoAvailable`)
		chrome.waitEvent(t, "onUserVideoAvailable", `d.userID === 'fox' && !d.isVideoAvailable`)
		n := chrome.remoteVideo(t).Frames
		fox.run(t, `trtcCalling.switchToVideoCall()`)
		chrome.waitEvent(t, "onCallMediaTypeChanged", `d.newCallMediaType === 2`)
		chrome.waitEvent(t, "onUserVideoAvailable", `d.userID === 'fox' && d.isVideoAvailable`)
		fox.waitEvent(t, "onUserVideoAvailable", `d.userID === 'chrome' && d.isVideoAvailable`)
		chrome.waitFrames(t, n)
	})

	chrome.run(t, `trtcCalling.hangup()`)
	fox.waitEvent(t, "onCallEnd", "")
	fox.page.waitFor(t, `trtcCalling.getCallStatus() === 'idle'`, 10*time.Second)
	noConsoleErrors(t, fox, chrome)
}

// A group call started in Firefox with two Chromium users: every page
// shows the two others (tracks told apart by mid, in Firefox too), and
// Firefox's leaving ends nobody else's call.
func TestFirefoxGroupCall(t *testing.T) {
	env := browsertest.Start(t, nil)
	fox := loginFirefox(t, env, "fox", false)
	ann, bo := loginChromium(t, env, "ann", true), loginChromium(t, env, "bo", true)
	fox.run(t, `trtcCalling.groupCall({userIDList: ['ann', 'bo'], type: 2})`)
	for _, u := range []*sdkUser{ann, bo} {
		u.waitEvent(t, "onInvited", `d.sponsor === 'fox' && d.isFromGroup`)
		fox.waitEvent(t, "onUserEnter", fmt.Sprintf(`d.userID === %q`, u.name))
	}
	for _, u := range []*sdkUser{fox, ann, bo} {
		u.page.waitFor(t, `(() => { const vs = [...document.querySelectorAll('#remote video')];
			return vs.length === 2 && vs.every((v) => v.videoWidth > 0 && v.currentTime > 0.5); })()`, 30*time.Second)
		var users []string
		json.Unmarshal(u.page.eval(t, `[...trtcCalling._call.media._remote.keys()].sort()`), &users)
		if len(users) != 2 || slices.Contains(users, u.name) {
			t.Errorf("%s (%s) receives %v", u.name, u.browser, users)
		}
	}
	fox.page.screenshot(t, "fox-group")
	fox.run(t, `trtcCalling.hangup()`)
	for _, u := range []*sdkUser{ann, bo} {
		u.waitEvent(t, "onUserLeave", `d.userID === 'fox'`)
	}
	// Fox's tracks leave the others' pages; they are still in a call.
	for _, u := range []*sdkUser{ann, bo} {
		u.page.waitFor(t, `((r) => !r || !r.audio && !r.video)(trtcCalling._call.media._remote.get('fox'))`, 10*time.Second)
		if n := string(u.page.eval(t, `window.events.filter((e) => e.name === 'onCallEnd').length`)); n != "0" {
			t.Errorf("%s got onCallEnd when fox left a call of three", u.name)
		}
	}
	ann.run(t, `trtcCalling.hangup()`)
	bo.waitEvent(t, "onCallEnd", "")
	noConsoleErrors(t, fox, ann, bo)
}

// Simulcast from Firefox (docs/media.md §5): Chromium's small view gets
// the half size layer Firefox sends, a large view the widest one, and
// back.
func TestFirefoxSimulcastLayer(t *testing.T) {
	env := browsertest.Start(t, nil)
	fox := loginFirefox(t, env, "fox", false)
	chrome := loginChromium(t, env, "chrome", true)
	chrome.run(t, recordLayersJS)
	chrome.run(t, `setRemoteSize(160, 120)`)
	fox.run(t, `trtcCalling.call({userID: 'chrome', type: 2})`)
	chrome.waitEvent(t, "onUserVideoAvailable", `d.userID === 'fox' && d.isVideoAvailable`)
	chrome.checkVideoPlays(t)
	// The widest layer Firefox sends, after it had a few seconds to
	// reach the full one.
	widest := func() int {
		var w int
		json.Unmarshal(fox.page.eval(t, `trtcCalling._call.media.pub.getStats().then((st) => {
			let w = 0;
			st.forEach((s) => { if (s.type === 'outbound-rtp' && s.kind === 'video' && s.frameWidth > w) w = s.frameWidth; });
			return w;
		})`), &w)
		return w
	}
	for deadline := time.Now().Add(15 * time.Second); widest() <= 320 && time.Now().Before(deadline); {
		chrome.waitFrames(t, chrome.remoteVideo(t).Frames) // a few frames' time, not a sleep
	}
	top := widest()
	var sends string
	json.Unmarshal(fox.page.eval(t, sendsJS), &sends)
	t.Logf("fox sends %s", sends)
	frameWidth := func() int {
		var w int
		json.Unmarshal(chrome.page.eval(t, `frameWidth()`), &w)
		return w
	}
	small := func() {
		t.Helper()
		chrome.page.waitFor(t, `(layers.at(-1) || {}).maxWidth === 160`, 10*time.Second)
		chrome.page.waitFor(t, `frameWidth().then((w) => w > 0 && w <= 320)`, 20*time.Second)
		chrome.waitFrames(t, chrome.remoteVideo(t).Frames)
		if w := frameWidth(); w > 320 {
			t.Errorf("chrome's 160x120 view receives %d wide frames", w)
		}
	}
	small()
	chrome.run(t, `setRemoteSize(640, 480)`)
	chrome.page.waitFor(t, `(layers.at(-1) || {}).maxWidth === 640`, 10*time.Second)
	if top > 320 {
		chrome.page.waitFor(t, fmt.Sprintf(`frameWidth().then((w) => w > %d)`, top/2), 20*time.Second)
	} else {
		t.Logf("fox sends only the half layer (a loaded machine?): the step up is not checked")
	}
	t.Logf("chrome's 640x480 view receives %d wide frames", frameWidth())
	chrome.run(t, `setRemoteSize(160, 120)`)
	small()
	fox.run(t, `trtcCalling.hangup()`)
	chrome.waitEvent(t, "onCallEnd", "")
}
