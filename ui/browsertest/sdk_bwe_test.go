package browsertest_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"callbox/ui/browsertest"

	"github.com/chromedp/chromedp"
)

// rampJS starts sampling the send-side bandwidth estimate of the PC that
// pc() returns (getStats: the nominated candidate pair's
// availableOutgoingBitrate) every 250 ms into window.ramp, from the moment
// the estimate first shows up: {t: seconds since then, kbps}. window.rampAt(k)
// is the first t at which the estimate reached k kbit/s, or -1.
const rampJS = `((pc) => {
	window.ramp = [];
	let t0 = 0;
	const tick = async () => {
		const p = pc();
		if (p) (await p.getStats()).forEach((s) => {
			if (s.type !== 'candidate-pair' || !s.nominated || !s.availableOutgoingBitrate) return;
			if (!t0) t0 = performance.now();
			window.ramp.push({ t: (performance.now() - t0) / 1000, kbps: Math.round(s.availableOutgoingBitrate / 1000) });
		});
		window.rampTimer = setTimeout(tick, 250);
	};
	tick();
	window.rampAt = (k) => { const s = window.ramp.find((s) => s.kbps >= k); return s ? s.t : -1; };
	window.rampMax = () => Math.max(0, ...window.ramp.map((s) => s.kbps));
	window.rampSpan = () => window.ramp.length ? window.ramp.at(-1).t : 0;
	window.rampMinAfter = (t) => Math.min(...window.ramp.filter((s) => s.t >= t).map((s) => s.kbps));
})`

// pairJS is a call with no SFU: a sender PC and a receiver PC in one
// page, signalled in the page, with cfg (JS) as their RTCConfiguration;
// the fake camera at 1280x720, 30 fps, on one encoding capped at
// maxBitrate (bits/s), played by the receiver in a <video>. The PCs are
// window.pairA (sending) and window.pairB.
func pairJS(cfg string, maxBitrate int) string {
	return fmt.Sprintf(`(async () => {
	const cam = await navigator.mediaDevices.getUserMedia({ video: { width: 1280, height: 720, frameRate: 30 } });
	const cfg = %s;
	const a = new RTCPeerConnection(cfg), b = new RTCPeerConnection(cfg);
	a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
	b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
	b.ontrack = (e) => { const v = document.createElement('video'); v.muted = true; v.autoplay = true; v.srcObject = new MediaStream([e.track]); document.body.append(v); };
	a.addTransceiver(cam.getVideoTracks()[0], { direction: 'sendonly', sendEncodings: [{ maxBitrate: %d }] });
	await a.setLocalDescription();
	await b.setRemoteDescription(a.localDescription);
	await b.setLocalDescription();
	await a.setRemoteDescription(b.localDescription);
	window.pairA = a;
	window.pairB = b;
})()`, cfg, maxBitrate)
}

// directJS is the ramp test's call with no SFU, on loopback in the page,
// capped at the sum of the SDK's 720p simulcast layers (docs/sdk.md).
var directJS = pairJS(`{}`, 2187500)

type rampResult struct {
	At1500 float64 `json:"at1500"`
	At1000 float64 `json:"at1000"`
	Max    int     `json:"max"`
	Last   int     `json:"last"`
	Low    int     `json:"low"` // the lowest in the last 10 s
	Span   float64 `json:"span"`
	Series string  `json:"series"`
}

// waitRamp waits until u's page has 20 s of samples and returns them.
func waitRamp(t *testing.T, u *tab) rampResult {
	t.Helper()
	browsertest.WaitFor(t, u.ctx, `rampSpan() >= 20`, 40*time.Second)
	return browsertest.Eval[rampResult](t, u.ctx, `({at1500: rampAt(1500), at1000: rampAt(1000), max: rampMax(), span: rampSpan(), last: ramp.at(-1).kbps, low: rampMinAfter(rampSpan() - 10),
		series: ramp.filter((s, i) => i % 4 === 0).map((s) => s.t.toFixed(0) + 's:' + s.kbps).join(' ')})`)
}

// Issue 11, item 1: over 20 s of a 1:1 video call with the fake camera
// and the 720p profile, the publisher's bandwidth estimate climbs from
// Chromium's 300 kbit/s start, as it does with no SFU. It stayed there
// while the SFU's transport-wide feedback reported Chromium's RTX
// padding probes lost. The same run measures a call with no SFU.
func TestSDKBandwidthRamp(t *testing.T) {
	env := browsertest.Start(t, nil)
	al, bea := login(t, env, "al", false), login(t, env, "bea", true)
	al.run(t, `trtcCalling.setVideoQuality('720p')`)
	al.run(t, rampJS+`(() => trtcCalling._call && trtcCalling._call.media.pub)`)
	call(t, al, bea, 2)
	// The publish offer carries RTX again (the SFU now counts its probes).
	if sdp := browsertest.Eval[string](t, al.ctx, `trtcCalling._call.media.pub.localDescription.sdp`); !strings.Contains(sdp, "rtx/90000") {
		t.Errorf("al's publish offer has no RTX")
	}
	sfu := waitRamp(t, al)
	hangupBoth(t, al, bea)
	logRamp(t, "through the SFU", sfu)

	dc := env.Browser(t, "direct")
	browsertest.Do(t, dc, chromedp.Navigate(env.BaseURL()+"/"))
	d := &tab{name: "direct", ctx: dc}
	d.run(t, rampJS+`(() => window.pairA)`)
	d.run(t, directJS)
	direct := waitRamp(t, d)
	logRamp(t, "no SFU", direct)

	// With probes reported lost the estimate stays at 300 kbit/s or
	// below. On a quiet machine Chromium's first probe clusters take it
	// past the 1.5 Mbit/s within a second (performance.md); on a
	// loaded one the feedback's arrival times carry scheduling delay (they
	// are taken as pion reads a packet, not at the socket) and the climb
	// can take 20 s or more. The test asks for what holds there too, well
	// clear of the broken case; the 1.5 Mbit/s figure is the benchmark's.
	const want = 600
	if sfu.Max < want {
		t.Errorf("through the SFU the estimate reached %d kbit/s in %.0f s, want %d (no SFU: %d kbit/s)", sfu.Max, sfu.Span, want, direct.Max)
	}
	if sfu.At1500 < 0 {
		t.Logf("through the SFU the estimate did not reach 1.5 Mbit/s in %.0f s (a loaded machine?)", sfu.Span)
	}
}

func logRamp(t *testing.T, what string, r rampResult) {
	t.Logf("%s: 1 Mbit/s after %.1f s, 1.5 Mbit/s after %.1f s, max %d kbit/s, at least %d kbit/s over the last 10 s, %d kbit/s at %.0f s: %s",
		what, r.At1000, r.At1500, r.Max, r.Low, r.Last, r.Span, r.Series)
}
