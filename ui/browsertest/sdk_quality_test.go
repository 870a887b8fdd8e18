package browsertest_test

import (
	"fmt"
	"testing"
	"time"

	"callbox/ui/browsertest"
)

// senderJS defines, in a publisher's page, encActive(): its video
// encodings as "rid:on|off" from the sender's parameters, and sentBytes():
// bytesSent per rid from its outbound-rtp stats.
const senderJS = `(() => {
	const sender = () => trtcCalling._call.media.pub.getSenders().find((s) => s.track && s.track.kind === 'video');
	window.encActive = () => sender().getParameters().encodings.map((e) => e.rid + ':' + (e.active === false ? 'off' : 'on')).join(' ');
	window.sentBytes = async () => {
		const o = {};
		(await trtcCalling._call.media.pub.getStats()).forEach((s) => {
			if (s.type === 'outbound-rtp' && s.kind === 'video') o[s.rid] = s.bytesSent;
		});
		return o;
	};
})()`

// Issue 11.3: the SFU tells a publisher which simulcast encodings
// somebody watches, and the SDK pauses the others. In a 1:1 call with the
// 720p profile (q, h, f) whose remote view is a thumbnail, al stops
// uploading h and f; when the view grows they come back.
func TestSDKPauseLayers(t *testing.T) {
	env := browsertest.Start(t, nil)
	al, bea := login(t, env, "al", false), login(t, env, "bea", true)
	al.run(t, `trtcCalling.setVideoQuality('720p')`)
	bea.run(t, recordLayersJS)
	bea.run(t, `setRemoteSize(160, 120)`)
	call(t, al, bea, 2)
	al.run(t, senderJS)
	if enc := browsertest.Eval[string](t, al.ctx, `encActive()`); enc != "q:on h:on f:on" && enc != "q:on h:off f:off" {
		t.Fatalf("al's encodings: %s, want q, h and f", enc)
	}
	browsertest.WaitFor(t, al.ctx, `encActive() === 'q:on h:off f:off'`, 20*time.Second)
	before := browsertest.Eval[map[string]float64](t, al.ctx, `sentBytes()`)
	// A few of bea's frames' time (q keeps playing), not a sleep.
	for range 3 {
		waitFrames(t, bea, framesNow(t, bea))
	}
	after := browsertest.Eval[map[string]float64](t, al.ctx, `sentBytes()`)
	for _, rid := range []string{"h", "f"} {
		if after[rid] != before[rid] {
			t.Errorf("al's paused %s layer went on sending: %.0f then %.0f bytes", rid, before[rid], after[rid])
		}
	}
	if after["q"] <= before["q"] {
		t.Errorf("al's q layer stopped too: %.0f then %.0f bytes", before["q"], after["q"])
	}
	t.Logf("while paused al sent q %.0f -> %.0f, h %.0f, f %.0f bytes", before["q"], after["q"], after["h"], after["f"])

	bea.run(t, `setRemoteSize(1280, 720)`)
	browsertest.WaitFor(t, al.ctx, `encActive() === 'q:on h:on f:on'`, 10*time.Second)
	browsertest.WaitFor(t, al.ctx, fmt.Sprintf(`sentBytes().then((o) => o.f > %.0f)`, after["f"]), 15*time.Second)
	hangupBoth(t, al, bea)
}
