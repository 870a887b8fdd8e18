package sfu

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// Tick intervals of Run.
const (
	// volumeInterval paces onUserVoiceVolume while someone speaks, and the
	// layer bitrate/selection update. The SDK may thin events to 1 s
	// (spec call-semantics §2).
	volumeInterval = 400 * time.Millisecond
	// reportInterval paces RTCP sender reports to subscribers and, per
	// publisher, receiver reports (reportClock).
	reportInterval = time.Second
	// qualityInterval paces onUserNetworkQualityChanged (as TRTC: 2 s).
	qualityInterval = 2 * time.Second
)

// volumeTick sends every member the volume of every publisher of audio,
// and updates the simulcast layers.
func (r *room) volumeTick(now time.Time) {
	peers := r.peerList()
	vols := voiceVolume{UserVolumes: []UserVolume{}, VolumeMap: map[string]int{}}
	loud := false
	for _, p := range peers {
		v, ok := p.takeVolume()
		if !ok {
			continue
		}
		vols.UserVolumes = append(vols.UserVolumes, UserVolume{UserID: p.id, Volume: v})
		vols.VolumeMap[p.id] = v
		loud = loud || v > 0
	}
	if loud || r.loud {
		msg := mustJSON(eventMsg{Type: msgEvent, Event: evVoiceVolume, Data: vols})
		for _, p := range peers {
			p.emit(msg)
		}
	}
	r.loud = loud
	for _, p := range peers {
		p.layerTick(now)
	}
}

// takeVolume returns the loudest level of p's audio since the last tick
// (0 while muted); ok is false if p publishes no audio.
func (p *Peer) takeVolume() (int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v, ok := int32(0), false
	for _, t := range p.tracks {
		if t.kind == webrtc.RTPCodecTypeAudio {
			ok = true
			v = max(v, t.peak.Swap(-1))
		}
	}
	if p.audioMuted.Load() {
		v = 0
	}
	return int(v), ok
}

// layerTick updates the bitrate of p's published layers, then the layer
// each of p's video subscriptions should receive.
func (p *Peer) layerTick(now time.Time) {
	p.mu.Lock()
	var simulcast []*pubTrack
	for _, t := range p.tracks {
		if t.simulcast {
			simulcast = append(simulcast, t)
		}
	}
	p.mu.Unlock()
	ls, downs := p.layers(), p.videoDowns()
	for _, l := range ls {
		if r, ok := l.rates.add(now, l.bytes.Load()); ok {
			l.bitrate.Store(r)
		}
	}
	for _, t := range simulcast {
		p.pauseTick(t, now)
	}
	p.selMu.Lock()
	defer p.selMu.Unlock()
	budget := p.budget(now)
	p.budgets.add(now, budget)
	held := p.budgets.held(now)
	for _, d := range downs {
		if need := d.selectLayer(now, budget, held, downSlack); need > 0 {
			// A larger layer is wanted but not affordable: probe for the
			// difference on top of what p's whole estimate covers.
			p.maybeProbe(d, p.cc.estimate(now)+need-min(need, budget), now)
		}
		if d.waiting() {
			// The keyframe asked for may have been lost (written before
			// DTLS was up, or the PLI itself): ask again, rate-limited.
			d.t.requestKeyframe(d.target.Load(), now)
		}
	}
}

// rateTicks is how many layer ticks a layer's bitrate spans: over one
// tick a keyframe (tens of kilobytes after a PLI) would double the rate
// of a layer that just came up, and selection would flap down again.
const rateTicks = 3

// rateWindow turns a layer's byte counter into a bitrate over the last
// rateTicks ticks.
type rateWindow struct {
	bytes [rateTicks + 1]uint64
	at    [rateTicks + 1]time.Time
	n     int
}

// add notes the counter at now and returns the bitrate since the oldest
// note kept; ok is false until there are two notes.
func (w *rateWindow) add(now time.Time, bytes uint64) (uint64, bool) {
	i := w.n % len(w.at)
	w.bytes[i], w.at[i] = bytes, now
	w.n++
	if w.n < 2 {
		return 0, false
	}
	j := (w.n - min(w.n, len(w.at))) % len(w.at)
	dt := now.Sub(w.at[j])
	if dt <= 0 {
		return 0, false
	}
	return (bytes - w.bytes[j]) * 8 * uint64(time.Second) / uint64(dt), true
}

// stepDownEvery bounds how often a falling estimate re-selects layers
// between ticks (stepDown).
const stepDownEvery = 100 * time.Millisecond

// stepDown re-selects the layers of p's video subscriptions at once, not at
// the next layer tick, after p's estimate fell (issue 11.2: "a step-down at
// once on congestion"). It only steps down: with no held budget,
// selectLayer takes no step up. Called from an RTCP reader.
func (p *Peer) stepDown(now time.Time) {
	last := p.lastStepDown.Load()
	if now.UnixNano()-last < int64(stepDownEvery) || !p.lastStepDown.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	downs := p.videoDowns()
	if len(downs) == 0 {
		return
	}
	p.selMu.Lock()
	defer p.selMu.Unlock()
	budget := p.budget(now)
	for _, d := range downs {
		d.selectLayer(now, budget, 0, 1)
	}
}

// videoDowns lists p's video subscriptions.
func (p *Peer) videoDowns() []*downTrack {
	p.mu.Lock()
	defer p.mu.Unlock()
	var downs []*downTrack
	for _, d := range p.downs {
		if d.t.kind == webrtc.RTPCodecTypeVideo {
			downs = append(downs, d)
		}
	}
	return downs
}

// Layer selection hysteresis: a step up needs the budget to have stayed
// above the next layer's bitrate with margin for upHold; a step down
// happens at once.
const (
	upHold   = 1200 * time.Millisecond
	upMargin = 1.2
	// downSlack is how far a layer's bitrate may exceed the budget before
	// a tick steps down: a layer's rate wanders (keyframes, scene
	// changes), and a real congestion shows as a cut of the estimate,
	// which steps down strictly and at once (stepDown).
	downSlack = 1.25
	// audioShare is what each audio subscription takes from the estimate
	// before the rest is divided among the video ones.
	audioShare = 40_000
)

// budget is the bandwidth available to each of p's video subscriptions,
// 0 = unknown (no cap). The estimate from p's transport-cc feedback comes
// first; without it, the smaller of p's REMB and the loss-based estimate.
func (p *Peer) budget(now time.Time) uint64 {
	bwe := p.cc.estimate(now)
	if bwe == 0 {
		bwe = p.q.bwe.Load()
		if r := p.remb.Load(); r > 0 && (bwe == 0 || r < bwe) {
			bwe = r
		}
	}
	if bwe == 0 {
		return 0
	}
	p.mu.Lock()
	video, audio := 0, 0
	for t := range p.downs {
		if t.kind == webrtc.RTPCodecTypeVideo {
			video++
		} else {
			audio++
		}
	}
	p.mu.Unlock()
	bwe -= min(bwe/2, uint64(audio)*audioShare)
	return max(bwe/uint64(max(video, 1)), 1)
}

// budgetLog keeps the budgets of the last layer ticks.
type budgetLog struct {
	at     [4]time.Time
	budget [4]uint64
	n      int
}

func (b *budgetLog) add(now time.Time, budget uint64) {
	b.at[b.n%len(b.at)], b.budget[b.n%len(b.at)] = now, budget
	b.n++
}

// held is the least budget over the last upHold, 0 if the log does not
// reach that far back yet or the budget was unknown (no cap) meanwhile.
func (b *budgetLog) held(now time.Time) uint64 {
	var least uint64
	reach := false
	for k := 1; k <= min(b.n, len(b.at)); k++ {
		i := (b.n - k) % len(b.at)
		age := now.Sub(b.at[i])
		if age > upHold {
			break
		}
		if b.budget[i] == 0 {
			return 0
		}
		if least == 0 || b.budget[i] < least {
			least = b.budget[i]
		}
		reach = reach || age >= upHold-volumeInterval
	}
	if !reach {
		return 0
	}
	return least
}

// selectLayer picks the layer d should receive. The rendered size (the
// `layer` request) sets the ceiling: the smallest active layer that covers
// it, the largest if none does. Under that ceiling the budget decides:
// d steps down at once to a layer the budget covers (the lowest if none
// does, with slack for a tick's step down), and up one layer at a time only when the budget has held above
// that layer's bitrate with margin for upHold (held). A change of target
// asks for a keyframe of the new layer; the switch happens on it. With no
// budget (unknown), the ceiling is taken at once. It returns the bitrate
// a wanted step up lacks a budget for (a reason to probe), else 0.
func (d *downTrack) selectLayer(now time.Time, budget, held uint64, slack float64) uint64 {
	if !d.t.simulcast {
		return 0
	}
	ls := d.t.activeLayers(now)
	if len(ls) == 0 {
		return 0
	}
	w, h := d.maxW.Load(), d.maxH.Load()
	ceil := len(ls) - 1
	if w > 0 || h > 0 {
		for i, l := range ls {
			lw, lh := l.size(len(d.t.layers))
			if lw >= w && lh >= h {
				ceil = i
				break
			}
		}
	}
	pick, need := ceil, uint64(0)
	if budget > 0 {
		cur := -1
		target := d.target.Load()
		for i, l := range ls {
			if l.idx == target {
				cur = i
			}
		}
		if cur < 0 { // the target went inactive: take the nearest below
			cur = 0
			for i, l := range ls {
				if l.idx < target {
					cur = i
				}
			}
		}
		afford := min(cur, ceil)
		over := func(l *layer) bool { return float64(l.bitrate.Load()) > float64(budget)*slack }
		for afford > 0 && over(ls[afford]) {
			afford--
		}
		pick = afford
		if afford == cur && cur < ceil {
			// A layer that just came up has no measured bitrate yet:
			// wait for the next tick rather than step up blind.
			next := ls[cur+1].bitrate.Load()
			want := uint64(float64(next) * upMargin)
			if next > 0 && held >= want {
				pick = cur + 1
			} else if next > 0 {
				need = want
			}
		}
	}
	target := ls[pick].idx
	if prev := d.target.Swap(target); prev != target {
		d.peer.log.Debug("layer target", "track", d.t.id, "from", prev, "to", target, "budget", budget, "held", held)
		d.t.requestKeyframe(target, now)
	}
	// A step down because the budget no longer covers the layer being
	// sent stops that layer at once: what is sent meanwhile only deepens
	// the queue the new layer's keyframe must pass (TestSDKStepDownUp),
	// and most of it would be lost anyway. A step down for a smaller view
	// keeps the old layer playing until the switch.
	starve := false
	if fwd := d.curLayer(); budget > 0 && target < fwd {
		if l := d.t.layer(fwd); l != nil && float64(l.bitrate.Load()) > float64(budget)*slack {
			starve = true
		}
	}
	if d.starve.Swap(starve) != starve {
		d.peer.log.Debug("layer starved", "track", d.t.id, "on", starve, "budget", budget)
	}
	return need
}

// pauseAfter is how long a layer must have been unwanted before the
// publisher is told to pause it; wanting it again resumes it at once.
const pauseAfter = 2 * time.Second

// pauseTick tells p which encodings of its simulcast track t to send
// (issue 11.3): every layer up to the largest that a subscriber of t would
// take for its rendered size; only the smallest when nobody subscribes.
// Bandwidth is not considered: it limits one subscriber, not the others.
func (p *Peer) pauseTick(t *pubTrack, now time.Time) {
	top := t.wantedTop()
	switch {
	case top > t.sentTop:
	case top < t.sentTop:
		if t.lowerSince.IsZero() {
			t.lowerSince = now
		}
		if now.Sub(t.lowerSince) < pauseAfter {
			return
		}
	default:
		t.lowerSince = time.Time{}
		return
	}
	t.sentTop, t.lowerSince = top, time.Time{}
	rids := make([]string, 0, top+1)
	for _, l := range t.layers[:top+1] {
		rids = append(rids, l.rid)
	}
	p.log.Debug("publisher layers", "track", t.id, "rids", rids)
	p.emit(mustJSON(layersMsg{Type: msgLayers, Mid: t.mid, RIDs: rids}))
}

// wantedTop is the largest layer of t that some subscriber would take for
// its rendered size (the top one for a subscriber that sent no size), 0
// if nobody subscribes.
func (t *pubTrack) wantedTop() int32 {
	n := len(t.layers)
	top := int32(0)
	for _, d := range *t.downs.Load() {
		w, h := d.maxW.Load(), d.maxH.Load()
		c := int32(n - 1)
		if w > 0 || h > 0 {
			for i, l := range t.layers {
				if lw, lh := l.size(n); lw >= w && lh >= h {
					c = int32(i)
					break
				}
			}
		}
		top = max(top, c)
	}
	return top
}

// size is the layer's frame size: parsed from VP8 keyframes, otherwise
// assumed from the usual 1/4, 1/2, 1 scaling of a 1280x720 top layer.
func (l *layer) size(n int) (int32, int32) {
	if w, h := l.width.Load(), l.height.Load(); w > 0 {
		return w, h
	}
	shift := n - 1 - int(l.idx)
	return 1280 >> shift, 720 >> shift
}

// reportTick sends RTCP sender reports for every subscription.
func (r *room) reportTick(now time.Time) {
	for _, p := range r.peerList() {
		p.mu.Lock()
		var pkts []rtcp.Packet
		for _, d := range p.downs {
			if sr := d.senderReport(now); sr != nil {
				pkts = append(pkts, sr)
			}
		}
		p.mu.Unlock()
		if len(pkts) > 0 {
			_ = p.sub.WriteRTCP(pkts) // fails only while closing
		}
	}
}

// qualityState holds the inputs of a peer's network quality.
type qualityState struct {
	pubICE, subICE atomic.Int32  // webrtc.ICEConnectionState
	bwe            atomic.Uint64 // loss-based estimate, bits/s, 0 = none

	mu       sync.Mutex
	downLoss uint8  // last fraction lost reported by the subscriber (/256)
	rtt      uint32 // ms, 0 = unknown
	haveRR   bool
	// per published layer: packets and losses at the previous tick
	prevRecv, prevLost uint64
}

// noteReceiverReport takes one report block from the subscriber: loss and
// RTT for the quality, and a loss-based bandwidth estimate (GCC's loss
// controller, RFC draft-ietf-rmcat-gcc §6): over 10 % loss cuts by half the
// loss, under 2 % grows 8 %.
func (p *Peer) noteReceiverReport(fraction uint8, rtt uint32, rate uint64) {
	p.q.mu.Lock()
	p.q.downLoss, p.q.haveRR = fraction, true
	if rtt > 0 {
		p.q.rtt = rtt
	}
	p.q.mu.Unlock()
	est := p.q.bwe.Load()
	loss := float64(fraction) / 256
	switch {
	case loss > 0.10:
		if est == 0 {
			est = rate
		}
		est = uint64(float64(est) * (1 - 0.5*loss))
	case loss < 0.02 && est != 0:
		est = est * 108 / 100
		if est > 20_000_000 {
			est = 0 // no cap
		}
	}
	p.q.bwe.Store(est)
}

// quality computes p's network quality from the ICE states, the loss of
// what p publishes (measured here) and what p's subscriber reports.
func (p *Peer) quality() int {
	for _, st := range []int32{p.q.pubICE.Load(), p.q.subICE.Load()} {
		switch webrtc.ICEConnectionState(st) {
		case webrtc.ICEConnectionStateDisconnected, webrtc.ICEConnectionStateFailed:
			return QualityDown
		}
	}
	var recv, lost uint64
	p.mu.Lock()
	for _, t := range p.tracks {
		t.mu.Lock()
		for _, l := range t.layers {
			recv += l.packets.Load()
			lost += l.lost.Load()
		}
		t.mu.Unlock()
	}
	p.mu.Unlock()
	p.q.mu.Lock()
	defer p.q.mu.Unlock()
	dr, dl := recv-p.q.prevRecv, lost-p.q.prevLost
	p.q.prevRecv, p.q.prevLost = recv, lost
	if dr+dl == 0 && !p.q.haveRR {
		return QualityUnknown
	}
	upLoss := 0.0
	if dr+dl > 0 {
		upLoss = float64(dl) / float64(dr+dl)
	}
	return qualityLevel(max(upLoss, float64(p.q.downLoss)/256), p.q.rtt)
}

// qualityLevel maps loss (0-1) and RTT (ms) to Excellent..Vbad.
func qualityLevel(loss float64, rtt uint32) int {
	switch {
	case loss < 0.02 && rtt < 150:
		return QualityExcellent
	case loss < 0.05 && rtt < 250:
		return QualityGood
	case loss < 0.10 && rtt < 400:
		return QualityPoor
	case loss < 0.20 && rtt < 600:
		return QualityBad
	}
	return QualityVbad
}

// qualityTick sends every member its own quality and the others'.
func (r *room) qualityTick() {
	peers := r.peerList()
	qs := make([]UserQuality, len(peers))
	for i, p := range peers {
		qs[i] = UserQuality{UserID: p.id, Quality: p.quality()}
	}
	for i, p := range peers {
		remote := make([]UserQuality, 0, len(qs)-1)
		for j, q := range qs {
			if j != i {
				remote = append(remote, q)
			}
		}
		p.emit(mustJSON(eventMsg{Type: msgEvent, Event: evNetworkQuality,
			Data: networkQuality{LocalQuality: qs[i].Quality, RemoteQuality: remote}}))
	}
}

// checkCandidate refuses candidates the SFU must never send to: names it
// cannot resolve (mDNS is off), unspecified, multicast and broadcast
// addresses, port 0, and loopback unless the server allows it.
func checkCandidate(c webrtc.ICECandidateInit, allowLoopback bool) error {
	if c.Candidate == "" {
		return nil // end-of-candidates
	}
	cand, err := ice.UnmarshalCandidate(strings.TrimPrefix(c.Candidate, "candidate:"))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadCandidate, err)
	}
	ip := net.ParseIP(cand.Address())
	switch {
	case ip == nil:
		return fmt.Errorf("%w: address %q is not an IP", ErrBadCandidate, cand.Address())
	case ip.IsUnspecified(), ip.IsMulticast(), ip.Equal(net.IPv4bcast):
		return fmt.Errorf("%w: address %s", ErrBadCandidate, ip)
	case ip.IsLoopback() && !allowLoopback:
		return fmt.Errorf("%w: loopback address %s", ErrBadCandidate, ip)
	case cand.Port() == 0 && cand.TCPType() != ice.TCPTypeActive:
		return fmt.Errorf("%w: port 0", ErrBadCandidate)
	}
	return nil
}
