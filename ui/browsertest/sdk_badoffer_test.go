package browsertest_test

import (
	"strings"
	"testing"
	"time"

	"callbox/ui/browsertest"
)

// spoilOfferJS makes the page's next publish offer one the SFU refuses:
// a header extension whose id does not parse, which pion would take only
// halfway (docs/media.md §6). It records the refusal in window.refusal.
const spoilOfferJS = `(() => {
	const link = trtcCalling.link, send = link.send.bind(link);
	let spoil = true;
	window.refusal = '';
	link.send = (type, data) => {
		if (!spoil || type !== 'media' || data.type !== 'publish-offer') return send(type, data);
		spoil = false;
		const sdp = data.sdp.replace(/a=mid:0\r\n/, 'a=mid:0\r\na=extmap:x y\r\n');
		return send(type, { ...data, sdp }).catch((e) => {
			window.refusal = e.code + ' ' + e.message;
			throw e;
		});
	};
})()`

// A publish offer the SFU refuses (docs/media.md §6) leaves both sides
// where they were: the SDK rolls its offer back at once, and its next
// offer is answered and carries the call's video.
func TestSDKRefusedOffer(t *testing.T) {
	env := browsertest.Start(t, nil)
	al, bea := login(t, env, "al", false), login(t, env, "bea", true)
	al.run(t, spoilOfferJS)
	al.run(t, `trtcCalling.call({userID: 'bea', type: 2})`)
	bea.waitEvent(t, "onInvited", `d.sponsor === 'al'`)
	al.waitEvent(t, "onUserAccept", `d.userID === 'bea'`)
	browsertest.WaitFor(t, al.ctx, `window.refusal !== ''`, 15*time.Second)
	if r := browsertest.Eval[string](t, al.ctx, `window.refusal`); !strings.HasPrefix(r, "4000 ") || !strings.Contains(r, "publish offer") {
		t.Errorf("refusal %q, want a 4000 about the publish offer", r)
	}
	// Rolled back: stable, and nothing negotiated yet. The SDK would
	// otherwise wait out its answer timeout and stay in have-local-offer
	// until its next negotiation.
	browsertest.WaitFor(t, al.ctx, `(() => { const pc = trtcCalling._call.media.pub; return pc.signalingState === 'stable' && !pc.currentRemoteDescription; })()`, 15*time.Second)

	// The next offer (as a camera added later would make) is answered.
	al.run(t, `trtcCalling._call.media._negotiate(false)`)
	bea.waitEvent(t, "onUserVideoAvailable", `d.userID === 'al' && d.isVideoAvailable`)
	bea.checkVideoPlays(t)
	if st := browsertest.Eval[string](t, al.ctx, `trtcCalling._call.media.pub.signalingState`); st != "stable" {
		t.Errorf("al's publish PC is %s after the answer", st)
	}
	hangupBoth(t, al, bea)
	for _, u := range []*tab{al, bea} {
		if errs := browsertest.ConsoleErrors(u.ctx); len(errs) > 0 {
			t.Errorf("%s logged errors: %q", u.name, errs)
		}
	}
}
