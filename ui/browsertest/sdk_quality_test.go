package browsertest_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"callbox/appliance"
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

// samplerJS samples, every 250 ms, the video the PC that pc() returns
// receives (inbound-rtp) into window.vq: {t: seconds since page start,
// w, h: frame size, frames: decoded, freezes, freezeS: Chromium's freeze
// count and total, lost, nacks}. Helpers:
//
//	vqNow(): the last sample
//	vqMark(): the time now, to measure from
//	vqFirst(t0, minW, maxW): the first sample at or after t0 whose width is
//	  within [minW, maxW], or null
//	vqFps(from, to): frames decoded per second between two times
//	vqStall(from, to): the longest time in seconds no frame was decoded
const samplerJS = `((pc) => {
	window.vq = [];
	const tick = async () => {
		const p = pc();
		if (p) {
			const r = { t: performance.now() / 1000, w: 0, h: 0, frames: 0, freezes: 0, freezeS: 0, lost: 0, nacks: 0 };
			(await p.getStats()).forEach((s) => {
				if (s.type !== 'inbound-rtp' || s.kind !== 'video') return;
				r.w = Math.max(r.w, s.frameWidth || 0);
				r.h = Math.max(r.h, s.frameHeight || 0);
				r.frames += s.framesDecoded || 0;
				r.freezes += s.freezeCount || 0;
				r.freezeS += s.totalFreezesDuration || 0;
				r.lost += s.packetsLost || 0;
				r.nacks += s.nackCount || 0;
				r.plis = (r.plis || 0) + (s.pliCount || 0);
				r.kf = (r.kf || 0) + (s.keyFramesDecoded || 0);
			});
			window.vq.push(r);
		}
		window.vqTimer = setTimeout(tick, 250);
	};
	tick();
	window.vqNow = () => window.vq.at(-1) || {};
	window.vqMark = () => performance.now() / 1000;
	window.vqFirst = (t0, minW, maxW) => window.vq.find((s) => s.t >= t0 && s.w >= minW && s.w <= maxW) || null;
	// vqSteady: every sample of the last secs seconds was at least minW wide.
	window.vqSteady = (minW, secs) => {
		const now = window.vqNow().t;
		return now !== undefined && window.vq[0].t <= now - secs &&
			window.vq.every((s) => s.t < now - secs || s.w >= minW);
	};
	const at = (t) => window.vq.find((s) => s.t >= t) || window.vq.at(-1);
	window.vqFps = (from, to) => { const a = at(from), b = at(to); return b.t > a.t ? (b.frames - a.frames) / (b.t - a.t) : 0; };
	window.vqStall = (from, to) => {
		let longest = 0, since = null, last = -1;
		for (const s of window.vq) {
			if (s.t < from || s.t > to) continue;
			if (s.frames !== last) { last = s.frames; since = s.t; continue; }
			longest = Math.max(longest, s.t - since);
		}
		return longest;
	};
})`

// subPC is the samplerJS argument for the SDK's subscribe PC.
const subPC = `(() => trtcCalling._call && trtcCalling._call.media.sub)`

type vqSample struct {
	T       float64 `json:"t"`
	W       int     `json:"w"`
	H       int     `json:"h"`
	Frames  int     `json:"frames"`
	Freezes int     `json:"freezes"`
	FreezeS float64 `json:"freezeS"`
	Lost    int     `json:"lost"`
	NACKs   int     `json:"nacks"`
}

// vqSeries is u's samples, two a second: "t:width/frames/l lost/n NACKs/p PLIs/k keyframes".
func vqSeries(t *testing.T, u *tab) string {
	return browsertest.Eval[string](t, u.ctx, `vq.filter((s, i) => i % 2 === 0).map((s) => (s.t - vq[0].t).toFixed(0) + 's:' + s.w + '/' + s.frames + '/l' + s.lost + '/n' + s.nacks + '/p' + s.plis + '/k' + s.kf).join(' ')`)
}

// qualityCall sets up the 1:1 video call of the quality tests: al sends
// with the 720p profile (q 320x180, h 640x360, f 1280x720), bea renders
// al at 1280x720 and samples what she receives; al's view of bea is a
// thumbnail, to spare the machine's CPU. It returns once bea decodes al's
// full layer (f), and the time that took from the call's start.
func qualityCall(t *testing.T, env *browsertest.Env) (al, bea *tab, toFull float64) {
	t.Helper()
	al, bea = login(t, env, "al", false), login(t, env, "bea", true)
	al.run(t, `trtcCalling.setVideoQuality('720p')`)
	al.run(t, rampJS+`(() => trtcCalling._call && trtcCalling._call.media.pub)`)
	for _, u := range []*tab{al, bea} {
		u.run(t, recordLayersJS)
	}
	al.run(t, `setRemoteSize(160, 120)`)
	bea.run(t, `setRemoteSize(1280, 720)`)
	bea.run(t, samplerJS+subPC)
	start := browsertest.Eval[float64](t, bea.ctx, `vqMark()`)
	call(t, al, bea, 2)
	// Chromium's encoder starts small and its estimate has to climb: on
	// a loaded machine the full layer can take many seconds.
	browsertest.WaitFor(t, bea.ctx, `vqNow().w > 640`, 40*time.Second)
	s := browsertest.Eval[vqSample](t, bea.ctx, `vqNow()`)
	return al, bea, s.T - start
}

// Issue 11, tests: the publisher's estimate climbs and the receiver
// decodes al's 1280x720 at 20 fps at least (the 720p profile asks the
// camera for 30). The figures go to the log (docs/performance.md).
func TestSDKQuality720p(t *testing.T) {
	env := browsertest.Start(t, nil)
	al, bea, toFull := qualityCall(t, env)
	browsertest.WaitFor(t, bea.ctx, `vqNow().w >= 1280 && vqNow().h >= 720`, 30*time.Second)
	from := browsertest.Eval[float64](t, bea.ctx, `vqMark()`)
	// 5 s of frames, waited for frame by frame rather than slept.
	browsertest.WaitFor(t, bea.ctx, fmt.Sprintf(`vqNow().t >= %f`, from+5), 20*time.Second)
	fps := browsertest.Eval[float64](t, bea.ctx, fmt.Sprintf(`vqFps(%f, %f)`, from, from+5))
	s := browsertest.Eval[vqSample](t, bea.ctx, `vqNow()`)
	ramp := browsertest.Eval[rampResult](t, al.ctx, `({at1500: rampAt(1500), at1000: rampAt(1000), max: rampMax(), span: rampSpan(), last: ramp.at(-1).kbps, low: 0, series: ''})`)
	t.Logf("bea decodes %dx%d at %.1f fps (full layer %.1f s after the call started; %d freezes, %d packets lost, %d NACKs); al's estimate reached 1.5 Mbit/s after %.1f s, max %d kbit/s",
		s.W, s.H, fps, toFull, s.Freezes, s.Lost, s.NACKs, ramp.At1500, ramp.Max)
	t.Logf("al sends %s; bea received (every second) %s", browsertest.Eval[string](t, al.ctx, sendsJS), vqSeries(t, bea))
	if fps < 20 {
		t.Errorf("bea decodes al's 1280x720 at %.1f fps, want 20 at least (the camera gives 30)", fps)
	}
	hangupBoth(t, al, bea)
}

// Issue 11, tests: under a 500 kbit/s downlink the receiver steps down to
// a lower layer within 3 s with no freeze over 1 s, and back up within 10 s
// of the limit being lifted (the times go to the log and to
// docs/performance.md).
func TestSDKStepDownUp(t *testing.T) {
	env := browsertest.Start(t, nil)
	al, bea, _ := qualityCall(t, env)
	full := browsertest.Eval[vqSample](t, bea.ctx, `vqNow()`).W
	// The limit holds for the whole namespace, al's downlink too, and
	// bea's camera to al (about 300 kbit/s) would take most of it: bea
	// turns hers off, so that the 500 kbit/s are what al's video to bea
	// crosses, as on bea's own access link.
	bea.run(t, `trtcCalling.closeCamera()`)

	t0 := browsertest.Eval[float64](t, bea.ctx, `vqMark()`)
	env.LimitDownlink(t, 500)
	browsertest.WaitFor(t, bea.ctx, fmt.Sprintf(`vqFirst(%f, 1, %d) !== null`, t0, full-1), 20*time.Second)
	down := browsertest.Eval[vqSample](t, bea.ctx, fmt.Sprintf(`vqFirst(%f, 1, %d)`, t0, full-1))
	// Frames keep coming on the lower layer.
	f := down.Frames
	browsertest.WaitFor(t, bea.ctx, fmt.Sprintf(`vqNow().frames > %d`, f+10), 20*time.Second)
	stallDown := browsertest.Eval[float64](t, bea.ctx, fmt.Sprintf(`vqStall(%f, vqNow().t)`, t0))
	held := browsertest.Eval[vqSample](t, bea.ctx, `vqNow()`)

	t1 := browsertest.Eval[float64](t, bea.ctx, `vqMark()`)
	env.LimitDownlink(t, 0)
	browsertest.WaitFor(t, bea.ctx, fmt.Sprintf(`vqFirst(%f, %d, 100000) !== null`, t1, full), 40*time.Second)
	up := browsertest.Eval[vqSample](t, bea.ctx, fmt.Sprintf(`vqFirst(%f, %d, 100000)`, t1, full))
	stallUp := browsertest.Eval[float64](t, bea.ctx, fmt.Sprintf(`vqStall(%f, vqNow().t)`, t1))
	t.Logf("500 kbit/s: %dpx -> %dpx after %.1f s, longest stall %.1f s (%d freezes, %.1f s frozen so far); lifted: back to %dpx after %.1f s, longest stall %.1f s",
		full, down.W, down.T-t0, stallDown, held.Freezes, held.FreezeS, up.W, up.T-t1, stallUp)
	t.Logf("limited %.1f s, lifted %.1f s into bea's samples; received (every second) %s", t0-browsertest.Eval[float64](t, bea.ctx, `vq[0].t`), t1-browsertest.Eval[float64](t, bea.ctx, `vq[0].t`), vqSeries(t, bea))
	// The figures: down within 3 s with no freeze over 1 s, up
	// within 10 s (stalls are seen in 250 ms samples).
	if d := down.T - t0; d > 3 {
		t.Errorf("bea stepped down %.1f s after the limit, want 3 s at most", d)
	}
	if stallDown > 1 || stallUp > 1 {
		t.Errorf("bea's video stalled %.1f s stepping down and %.1f s stepping up, want 1 s at most", stallDown, stallUp)
	}
	if u := up.T - t1; u > 10 {
		t.Errorf("bea stepped back up %.1f s after the limit was lifted, want 10 s at most", u)
	}
	hangupBoth(t, al, bea)
}

// Issue 11, tests: a view made small, then large again; the layer bea
// receives follows within 2 s each way.
func TestSDKViewFollows(t *testing.T) {
	env := browsertest.Start(t, nil)
	al, bea, _ := qualityCall(t, env)
	// Start from a settled call: qualityCall returns at the first frame
	// over 640 px, which can be the top layer sent before bea's estimate
	// is known; the estimate's first climb is not what this measures.
	browsertest.WaitFor(t, bea.ctx, `vqSteady(1280, 2)`, 40*time.Second)
	full := browsertest.Eval[vqSample](t, bea.ctx, `vqNow()`).W

	t0 := browsertest.Eval[float64](t, bea.ctx, `vqMark()`)
	bea.run(t, `setRemoteSize(160, 120)`)
	browsertest.WaitFor(t, bea.ctx, fmt.Sprintf(`vqFirst(%f, 1, 320) !== null`, t0), 15*time.Second)
	small := browsertest.Eval[vqSample](t, bea.ctx, fmt.Sprintf(`vqFirst(%f, 1, 320)`, t0))
	// Until al has paused h and f (after 2 s unwanted), so that the way
	// back includes resuming them.
	al.run(t, senderJS)
	browsertest.WaitFor(t, al.ctx, `encActive() === 'q:on h:off f:off'`, 15*time.Second)

	t1 := browsertest.Eval[float64](t, bea.ctx, `vqMark()`)
	bea.run(t, `setRemoteSize(1280, 720)`)
	browsertest.WaitFor(t, bea.ctx, fmt.Sprintf(`vqFirst(%f, %d, 100000) !== null`, t1, full), 20*time.Second)
	large := browsertest.Eval[vqSample](t, bea.ctx, fmt.Sprintf(`vqFirst(%f, %d, 100000)`, t1, full))
	t.Logf("view made small: %dpx -> %dpx after %.1f s; large again: %dpx after %.1f s (h and f had been paused)", full, small.W, small.T-t0, large.W, large.T-t1)
	if a, b := small.T-t0, large.T-t1; a > 2 || b > 2 {
		t.Errorf("the layer followed the view in %.1f s (small) and %.1f s (large), want 2 s at most each way", a, b)
	}
	hangupBoth(t, al, bea)
}

// Issue 11, tests: with 2 % of the datagrams to the browsers lost at
// random (as netem would drop them on the host end of the veth; the
// kernel here has none, so browsertest.LossyMedia's proxy drops them), NACK
// and RTX repair bea's video: over 20 s of al's 720p it does not freeze
// once and keeps its frame rate. Then, for the log (docs/performance.md),
// 2 % each way for 20 s, al's uplink too.
func TestSDKRandomLoss(t *testing.T) {
	var loss *browsertest.Loss
	env := browsertest.Start(t, func(c *appliance.Config) { loss = browsertest.LossyMedia(t, c) })
	al, bea, _ := qualityCall(t, env)
	lossy := func(down, up float64) (before, after vqSample, fps, stall float64) {
		before = browsertest.Eval[vqSample](t, bea.ctx, `vqNow()`)
		passed0, dropped0 := loss.Counts()
		loss.Set(down, up)
		from := browsertest.Eval[float64](t, bea.ctx, `vqMark()`)
		browsertest.WaitFor(t, bea.ctx, fmt.Sprintf(`vqNow().t >= %f`, from+20), 40*time.Second)
		loss.Set(0, 0)
		after = browsertest.Eval[vqSample](t, bea.ctx, `vqNow()`)
		passed, dropped := loss.Counts()
		passed, dropped = passed-passed0, dropped-dropped0
		fps = browsertest.Eval[float64](t, bea.ctx, fmt.Sprintf(`vqFps(%f, %f)`, from, from+20))
		stall = browsertest.Eval[float64](t, bea.ctx, fmt.Sprintf(`vqStall(%f, %f)`, from, from+20))
		share := float64(dropped) / float64(max(1, passed+dropped))
		t.Logf("loss %.0f %% down, %.0f %% up for 20 s: the proxy dropped %d of %d datagrams (%.1f %%); bea decoded %dpx at %.1f fps, %d freezes (%.1f s, longest stall %.2f s), %d packets lost after repair, %d NACKs",
			100*down, 100*up, dropped, passed+dropped, 100*share, after.W, fps, after.Freezes-before.Freezes, after.FreezeS-before.FreezeS, stall, after.Lost-before.Lost, after.NACKs-before.NACKs)
		if want := (down + up) / 2; share < want/2 || share > want*2 {
			t.Fatalf("the proxy dropped %.1f %% of the datagrams, want about %.1f %%", 100*share, 100*want)
		}
		return before, after, fps, stall
	}
	before, after, fps, _ := lossy(0.02, 0)
	t.Logf("bea received (every second) %s", vqSeries(t, bea))
	if after.NACKs == before.NACKs {
		t.Errorf("bea sent no NACK: nothing was repaired")
	}
	if n := after.Freezes - before.Freezes; n != 0 {
		t.Errorf("bea's video froze %d times (%.1f s) under 2 %% loss, want none", n, after.FreezeS-before.FreezeS)
	}
	if fps < 20 {
		t.Errorf("bea decoded %.1f fps under 2 %% loss, want 20 at least", fps)
	}
	lossy(0.02, 0.02)
	hangupBoth(t, al, bea)
}

// relayedJS is a call with no SFU that crosses the veth (pairJS), each PC
// allowed only relay candidates of the server's TURN (the credentials the
// SDK got at login), so that the media goes out to the host and back in
// through the link LimitDownlink shapes; capped at the SDK's 720p top
// layer.
var relayedJS = pairJS(`{ iceServers: trtcCalling._iceServers, iceTransportPolicy: 'relay' }`, 1500000)

// Issue 11, performance (docs/performance.md): the 500 kbit/s limit of
// TestSDKStepDownUp on a Chromium-to-Chromium call with no SFU, relayed
// by the server's TURN so that it crosses the same link, for the figures
// beside the SFU's. Nothing is asserted but that the video plays: how
// Chromium adapts a single encoding is not ours to judge.
func TestRelayedStepDownUp(t *testing.T) {
	env := browsertest.Start(t, func(c *appliance.Config) {
		// The relay's peers are the relay's own addresses, on the host.
		c.TURNAllow = []netip.Prefix{netip.PrefixFrom(netip.MustParseAddr(c.RTCListenIP), 32)}
	})
	u := login(t, env, "al", false)
	u.run(t, relayedJS)
	u.run(t, samplerJS+`(() => window.pairB)`)
	start := browsertest.Eval[float64](t, u.ctx, `vqMark()`)
	browsertest.WaitFor(t, u.ctx, `vqNow().w >= 1280`, 40*time.Second)
	full := browsertest.Eval[vqSample](t, u.ctx, `vqNow()`)
	// A few seconds at full size first, frame by frame.
	browsertest.WaitFor(t, u.ctx, fmt.Sprintf(`vqNow().frames > %d`, full.Frames+90), 20*time.Second)

	t0 := browsertest.Eval[float64](t, u.ctx, `vqMark()`)
	env.LimitDownlink(t, 500)
	browsertest.WaitFor(t, u.ctx, fmt.Sprintf(`vqNow().t >= %f`, t0+10), 30*time.Second)
	down := browsertest.Eval[*vqSample](t, u.ctx, fmt.Sprintf(`vqFirst(%f, 1, 1279)`, t0))
	stallDown := browsertest.Eval[float64](t, u.ctx, fmt.Sprintf(`vqStall(%f, %f)`, t0, t0+10))
	fpsDown := browsertest.Eval[float64](t, u.ctx, fmt.Sprintf(`vqFps(%f, %f)`, t0+3, t0+10))

	t1 := browsertest.Eval[float64](t, u.ctx, `vqMark()`)
	env.LimitDownlink(t, 0)
	browsertest.WaitFor(t, u.ctx, fmt.Sprintf(`vqNow().t >= %f`, t1+20), 40*time.Second)
	up := browsertest.Eval[*vqSample](t, u.ctx, fmt.Sprintf(`vqFirst(%f, 1280, 100000)`, t1))
	stallUp := browsertest.Eval[float64](t, u.ctx, fmt.Sprintf(`vqStall(%f, %f)`, t1, t1+20))
	end := browsertest.Eval[vqSample](t, u.ctx, `vqNow()`)
	at := func(s *vqSample, from float64) string {
		if s == nil {
			return "never"
		}
		return fmt.Sprintf("%dpx after %.1f s", s.W, s.T-from)
	}
	t.Logf("no SFU, relayed: 1280px after %.1f s; 500 kbit/s: below 1280px %s, longest stall %.1f s, %.1f fps from 3 s on; lifted: back to 1280px %s, longest stall %.1f s; %d freezes in all (%.1f s)",
		full.T-start, at(down, t0), stallDown, fpsDown, at(up, t1), stallUp, end.Freezes, end.FreezeS)
	t.Logf("received (every half second) %s", vqSeries(t, u))
	if end.Frames <= full.Frames {
		t.Errorf("the relayed call stopped playing")
	}
}
