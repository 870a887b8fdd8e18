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
	var ls []*layer
	for _, t := range p.tracks {
		t.mu.Lock()
		for _, l := range t.layers {
			if l.ring != nil {
				ls = append(ls, l)
			}
		}
		t.mu.Unlock()
	}
	var downs []*downTrack
	for _, d := range p.downs {
		if d.t.kind == webrtc.RTPCodecTypeVideo {
			downs = append(downs, d)
		}
	}
	p.mu.Unlock()
	for _, l := range ls {
		b := l.bytes.Load()
		if !l.prevTick.IsZero() {
			if dt := now.Sub(l.prevTick); dt > 0 {
				l.bitrate.Store((b - l.prevBytes) * 8 * uint64(time.Second) / uint64(dt))
			}
		}
		l.prevBytes, l.prevTick = b, now
	}
	budget := p.budget()
	for _, d := range downs {
		d.selectLayer(now, budget)
		if d.waiting() {
			// The keyframe asked for may have been lost (written before
			// DTLS was up, or the PLI itself): ask again, rate-limited.
			d.t.requestKeyframe(d.target.Load(), now)
		}
	}
}

// budget is the bandwidth available to each of p's simulcast
// subscriptions, 0 = unknown (no cap).
func (p *Peer) budget() uint64 {
	bwe := p.q.bwe.Load()
	if r := p.remb.Load(); r > 0 && (bwe == 0 || r < bwe) {
		bwe = r
	}
	if bwe == 0 {
		return 0
	}
	p.mu.Lock()
	n := 0
	for t := range p.downs {
		if t.kind == webrtc.RTPCodecTypeVideo {
			n++
		}
	}
	p.mu.Unlock()
	return bwe / uint64(max(n, 1))
}

// selectLayer picks the smallest active layer that covers the rendered
// size (the largest if none does), then steps down while the layer's
// bitrate exceeds the budget. A change of target asks for a keyframe.
func (d *downTrack) selectLayer(now time.Time, budget uint64) {
	if !d.t.simulcast {
		return
	}
	ls := d.t.activeLayers(now)
	if len(ls) == 0 {
		return
	}
	w, h := d.maxW.Load(), d.maxH.Load()
	pick := len(ls) - 1
	if w > 0 || h > 0 {
		for i, l := range ls {
			lw, lh := l.size(len(d.t.layers))
			if lw >= w && lh >= h {
				pick = i
				break
			}
		}
	}
	for pick > 0 && budget > 0 && ls[pick].bitrate.Load() > budget {
		pick--
	}
	target := ls[pick].idx
	if d.target.Swap(target) != target {
		d.t.requestKeyframe(target, now)
	}
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
