package browsertest_test

import (
	"fmt"
	"testing"
	"time"

	"callbox/ui/browsertest"
)

// recordLayersJS makes the page record every layer request the SDK sends
// (docs/media.md §3) in window.layers, and defines setRemoteSize(w, h),
// which resizes the element the remote view renders into, and
// frameWidth(), the width of the video frames the subscribe PC decodes
// (getStats inbound-rtp), 0 before any.
const recordLayersJS = `(() => {
	const link = trtcCalling.link, send = link.send.bind(link);
	window.layers = [];
	link.send = (type, data) => {
		if (type === 'media' && data.type === 'layer') window.layers.push(data);
		return send(type, data);
	};
	window.setRemoteSize = (w, h) => Object.assign(document.getElementById('remote').style, { width: w + 'px', height: h + 'px' });
	window.frameWidth = async () => {
		const c = trtcCalling._call;
		let w = 0;
		if (c && c.media.sub) (await c.media.sub.getStats()).forEach((s) => {
			if (s.type === 'inbound-rtp' && s.kind === 'video') w = Math.max(w, s.frameWidth || 0);
		});
		return w;
	};
})()`

// sendsJS lists what the page's publish PC sends: each video layer's rid
// and frame width, and the bandwidth estimate.
const sendsJS = `trtcCalling._call.media.pub.getStats().then((st) => {
	const a = [];
	st.forEach((s) => {
		if (s.type === 'outbound-rtp' && s.kind === 'video') a.push(s.rid + ' ' + (s.frameWidth || 0) + 'px');
		if (s.type === 'candidate-pair' && s.nominated) a.push('estimate ' + Math.round(s.availableOutgoingBitrate / 1000) + ' kbit/s');
	});
	return a.sort().join(', ');
})`

// Simulcast (docs/media.md §5): the SDK asks for the layer that fits the
// remote view's rendered size, again when it is resized, and the SFU
// sends the smallest layer that covers it. The fake camera's 640x480 is
// published as a 320 and a 640 wide layer (docs/sdk.md §5).
func TestSDKSimulcastLayer(t *testing.T) {
	env := browsertest.Start(t, nil)
	al, bea := login(t, env, "al", false), login(t, env, "bea", true)
	bea.run(t, recordLayersJS)
	// bea's view starts small: thumbnail size.
	bea.run(t, `setRemoteSize(160, 120)`)
	call(t, al, bea, 2)
	// Chromium sends only the layers its bandwidth estimate allows; on a
	// quiet machine it reaches the full layer within seconds, on a loaded
	// one its estimate may stay low for longer (sdk_bwe_test.go). Wait for
	// the full layer a while, then work with the widest layer al sends.
	widest := func() int {
		return browsertest.Eval[int](t, al.ctx, `trtcCalling._call.media.pub.getStats().then((st) => {
			let w = 0;
			st.forEach((s) => { if (s.type === 'outbound-rtp' && s.kind === 'video' && s.frameWidth > w) w = s.frameWidth; });
			return w;
		})`)
	}
	deadline := time.Now().Add(15 * time.Second)
	for widest() <= 320 && time.Now().Before(deadline) {
		waitFrames(t, bea, framesNow(t, bea)) // a few frames' time, not a sleep
	}
	top := widest()
	t.Logf("al sends %s", browsertest.Eval[string](t, al.ctx, sendsJS))

	wantLayer := func(w, h int) {
		t.Helper()
		browsertest.WaitFor(t, bea.ctx, fmt.Sprintf(`(layers.at(-1) || {}).maxWidth === %d && layers.at(-1).maxHeight === %d`, w, h), 5*time.Second)
	}
	small := func() {
		t.Helper()
		wantLayer(160, 120)
		// The half size layer, the smallest there is, and it plays.
		browsertest.WaitFor(t, bea.ctx, `frameWidth().then((w) => w > 0 && w <= 320)`, 15*time.Second)
		waitFrames(t, bea, framesNow(t, bea))
		if w := browsertest.Eval[int](t, bea.ctx, `frameWidth()`); w > 320 {
			t.Errorf("bea's 160x120 view receives %d wide frames", w)
		}
	}
	small()

	// A large view asks for more and gets the widest layer al sends.
	bea.run(t, `setRemoteSize(640, 480)`)
	wantLayer(640, 480)
	if top > 160 {
		browsertest.WaitFor(t, bea.ctx, fmt.Sprintf(`frameWidth().then((w) => w > %d)`, top/2), 15*time.Second)
	} else {
		t.Logf("al sends only the quarter layer (a loaded machine?): the step up is not checked")
	}
	t.Logf("bea's 640x480 view receives %d wide frames; al sends %s",
		browsertest.Eval[int](t, bea.ctx, `frameWidth()`), browsertest.Eval[string](t, al.ctx, sendsJS))

	bea.run(t, `setRemoteSize(160, 120)`)
	small()
	browsertest.Screenshot(t, bea.ctx, "bea-small-view")
	hangupBoth(t, al, bea)
}
