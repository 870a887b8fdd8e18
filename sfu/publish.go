package sfu

import (
	"fmt"
	"strconv"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// onTrack runs in pion's goroutine for each incoming stream (one per rid
// for simulcast). It registers the stream with the peer's WaitGroup and
// becomes that stream's reader until the receiver stops.
func (p *Peer) onTrack(remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	t := p.tracks[recv]
	isNew := t == nil
	if isNew {
		p.nextTrack++
		t = newPubTrack(p, p.streamID+"t"+strconv.Itoa(p.nextTrack), remote, recv)
		for _, tr := range p.pub.GetTransceivers() {
			if tr.Receiver() == recv {
				t.mid = tr.Mid()
			}
		}
		p.tracks[recv] = t
	}
	l := t.attach(remote)
	if l == nil {
		p.mu.Unlock()
		p.log.Warn("stream ignored", "rid", remote.RID(), "ssrc", uint32(remote.SSRC()))
		return
	}
	// The publisher's RTCP for this stream: sender reports give our
	// receiver reports their LSR/DLSR.
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		buf := make([]byte, 1500)
		rid := remote.RID()
		for {
			var n int
			var err error
			if rid != "" {
				n, _, err = recv.ReadSimulcast(buf, rid)
			} else {
				n, _, err = recv.Read(buf)
			}
			if err != nil {
				return
			}
			pkts, err := rtcp.Unmarshal(buf[:n])
			if err != nil {
				continue
			}
			for _, pk := range pkts {
				if sr, ok := pk.(*rtcp.SenderReport); ok && sr.SSRC == l.ssrc {
					l.recv.noteSR(sr.NTPTime, p.s.now())
				}
			}
		}
	}()
	p.mu.Unlock()
	defer p.wg.Done()

	p.log.Info("track published", "track", t.id, "kind", t.kind.String(), "codec", t.codec.MimeType, "rid", remote.RID(), "layer", l.idx, "layers", len(t.layers))
	if isNew {
		p.room.published(t)
	}
	// The mux's reader takes the stream over from pion once pion has
	// drained it (fastpath.go); without the session's keys pion keeps it.
	if p.s.fast != nil {
		fs, err := p.s.fast.add(p, l, remote, recv)
		if err != nil {
			p.log.Warn("srtp fast path off", "rid", remote.RID(), "ssrc", l.ssrc, "err", err)
		} else {
			l.fast = fs
			defer p.s.fast.remove(p, fs)
		}
	}
	l.run(remote, p.s.now)
	if t.detach() {
		p.unpublish(t)
	}
}

// unpublish removes t from the peer and from every subscriber.
func (p *Peer) unpublish(t *pubTrack) {
	p.mu.Lock()
	if p.tracks[t.receiver] != t {
		p.mu.Unlock()
		return // already done (Leave, then the reader's exit)
	}
	delete(p.tracks, t.receiver)
	p.mu.Unlock()
	for _, d := range t.close() {
		d.peer.unsubscribe(t)
	}
	p.room.announce(p, t.kind)
	p.log.Info("track unpublished", "track", t.id)
}

// hasKind reports whether p publishes a track of kind.
func (p *Peer) hasKind(kind webrtc.RTPCodecType) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range p.tracks {
		if t.kind == kind {
			return true
		}
	}
	return false
}

// available is the isAudioAvailable / isVideoAvailable value of p.
func (p *Peer) available(kind webrtc.RTPCodecType) bool {
	if kind == webrtc.RTPCodecTypeAudio && p.audioMuted.Load() ||
		kind == webrtc.RTPCodecTypeVideo && p.videoMuted.Load() {
		return false
	}
	return p.hasKind(kind)
}

func (p *Peer) mute(kind string, muted bool) error {
	var k webrtc.RTPCodecType
	switch kind {
	case "audio":
		k = webrtc.RTPCodecTypeAudio
		p.audioMuted.Store(muted)
	case "video":
		k = webrtc.RTPCodecTypeVideo
		p.videoMuted.Store(muted)
	default:
		return fmt.Errorf("%w: mute kind %q", ErrBadMessage, kind)
	}
	p.room.announce(p, k)
	if !muted && k == webrtc.RTPCodecTypeVideo {
		// Subscribers' decoders need a fresh keyframe after a camera unmute.
		p.mu.Lock()
		var ts []*pubTrack
		for _, t := range p.tracks {
			ts = append(ts, t)
		}
		p.mu.Unlock()
		now := p.s.now()
		for _, t := range ts {
			for i := range t.layers {
				t.requestKeyframe(int32(i), now)
			}
		}
	}
	return nil
}

// setLayer records the size at which the subscriber renders track.
func (p *Peer) setLayer(track string, w, h int) error {
	if w < 0 || h < 0 || w > 1<<14 || h > 1<<14 {
		return fmt.Errorf("%w: layer size %dx%d", ErrBadMessage, w, h)
	}
	p.mu.Lock()
	var d *downTrack
	for t, x := range p.downs {
		if t.id == track {
			d = x
		}
	}
	p.mu.Unlock()
	if d == nil {
		return fmt.Errorf("%w: %q", ErrUnknownTrack, track)
	}
	d.maxW.Store(int32(w))
	d.maxH.Store(int32(h))
	// Either way at once: a smaller view steps down, a larger one steps
	// up if the budget has held for it.
	now := p.s.now()
	p.selMu.Lock()
	defer p.selMu.Unlock()
	d.selectLayer(now, p.budget(now), p.budgets.held(now), downSlack)
	return nil
}
