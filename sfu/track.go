package sfu

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Ring sizes per stream: about one second of video at 1-2 Mbit/s, and a few
// seconds of 20 ms audio (LiveKit: 500 / 200).
const (
	videoRing = 512
	audioRing = 128
	// pliInterval rate-limits keyframe requests to a publisher per layer.
	pliInterval = 500 * time.Millisecond
)

// pubTrack is one published track: one transceiver of a publish PC. A
// simulcast track has up to three layers (one TrackRemote per rid), each
// read by its own goroutine; the subscribers are shared.
type pubTrack struct {
	peer      *Peer
	id        string // msid track id towards subscribers
	kind      webrtc.RTPCodecType
	codec     webrtc.RTPCodecParameters
	receiver  *webrtc.RTPReceiver
	simulcast bool
	// rewriteVP8: a VP8 simulcast track, whose picture ids and TL0PICIDX
	// each subscriber gets rewritten to run on across switches (down.go)
	rewriteVP8 bool
	levelID    uint8      // RFC 6464 extension id, 0 = none
	batch      *batchConn // nil: write each datagram at once (tests)

	// downs is the fan-out set, rebuilt copy-on-write under mu and read
	// with one atomic load per packet (perf-notes rule 2).
	downs atomic.Pointer[[]*downTrack]
	// peak is the loudest volume (0-100) seen since the last volume tick.
	peak atomic.Int32

	// The encodings the publisher was last told to send (layersMsg):
	// layers 0..sentTop. Run only.
	mid        string // of the publish transceiver
	sentTop    int32
	lowerSince time.Time // when fewer layers became wanted than were sent

	mu      sync.Mutex
	layers  []*layer // fixed length; a slot is nil until its rid shows up
	running int
	closed  bool
}

// layer is one RTP stream of a pubTrack. Its reader goroutine is the only
// writer of the fields above the ticker-only ones.
type layer struct {
	t    *pubTrack
	idx  int32
	rid  string
	ssrc uint32
	ring *ring
	recv recvStats // for NACKs and receiver reports (feedback.go)
	// fwdMu makes forward one caller at a time: the reader below, and
	// the mux's reader once the stream is on the fast path (fastpath.go).
	fwdMu sync.Mutex
	fast  *fastStream // set before run starts; nil = pion's path only

	lastPLI     atomic.Int64 // unix nanos
	packets     atomic.Uint64
	bytes       atomic.Uint64
	lost        atomic.Uint64 // gaps in sequence numbers (before NACK repair)
	lastArrival atomic.Int64
	width       atomic.Int32 // from VP8 keyframes, 0 = unknown
	height      atomic.Int32
	bitrate     atomic.Uint64 // bits/s, set by the layer tick

	// reader-only
	maxSeq  uint16
	haveSeq bool
	rates   rateWindow // tick-only
}

func newPubTrack(p *Peer, id string, remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) *pubTrack {
	t := &pubTrack{peer: p, id: id, kind: remote.Kind(), codec: remote.Codec(), receiver: recv, batch: p.s.batch}
	var rids []string
	for _, tr := range recv.Tracks() {
		if tr.RID() != "" {
			rids = append(rids, tr.RID())
		}
	}
	rids = orderRIDs(rids)
	if len(rids) > 1 {
		t.simulcast = true
		t.rewriteVP8 = strings.EqualFold(t.codec.MimeType, webrtc.MimeTypeVP8)
		t.layers = make([]*layer, len(rids))
		for i, rid := range rids {
			t.layers[i] = &layer{t: t, idx: int32(i), rid: rid}
		}
	} else {
		t.layers = []*layer{{t: t, idx: 0, rid: remote.RID()}}
	}
	for _, ext := range recv.GetParameters().HeaderExtensions {
		switch {
		case ext.URI == audioLevelURI && t.kind == webrtc.RTPCodecTypeAudio:
			t.levelID = uint8(ext.ID)
		}
	}
	t.downs.Store(&[]*downTrack{})
	t.peak.Store(-1)
	t.sentTop = int32(len(t.layers) - 1) // publishers start with every encoding on
	return t
}

// orderRIDs sorts simulcast rids from the smallest layer to the largest.
// Browsers and SDKs use q<h<f, l<m<h or 0<1<2; anything else keeps the
// order of the offer.
func orderRIDs(rids []string) []string {
	rank := func(r string) int { return -1 }
	has := func(s string) bool { return slices.Contains(rids, s) }
	switch {
	case has("f") || has("q"):
		rank = func(r string) int { return strings.Index("qhf", r) }
	case has("l") || has("m"):
		rank = func(r string) int { return strings.Index("lmh", r) }
	case has("0") || has("1"):
		rank = func(r string) int { return strings.Index("012", r) }
	}
	out := slices.Clone(rids)
	slices.SortStableFunc(out, func(a, b string) int { return rank(a) - rank(b) })
	return out
}

// attach binds a TrackRemote to its layer; it returns nil if the track is
// closed or the rid is unknown.
func (t *pubTrack) attach(remote *webrtc.TrackRemote) *layer {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	for _, l := range t.layers {
		if l.rid == remote.RID() || len(t.layers) == 1 {
			n := audioRing
			if t.kind == webrtc.RTPCodecTypeVideo {
				n = videoRing
			}
			l.ssrc = uint32(remote.SSRC())
			l.ring = newRing(n)
			t.running++
			return l
		}
	}
	return nil
}

// detach reports whether the last reader of t has stopped.
func (t *pubTrack) detach() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.running--
	return t.running == 0
}

// addDown adds d to the fan-out set; false if t is closed.
func (t *pubTrack) addDown(d *downTrack) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	old := *t.downs.Load()
	next := make([]*downTrack, 0, len(old)+1)
	next = append(append(next, old...), d)
	t.downs.Store(&next)
	return true
}

func (t *pubTrack) removeDown(d *downTrack) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.downs.Load()
	next := make([]*downTrack, 0, len(old))
	for _, x := range old {
		if x != d {
			next = append(next, x)
		}
	}
	t.downs.Store(&next)
}

// close marks t closed and returns its subscribers.
func (t *pubTrack) close() []*downTrack {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	downs := *t.downs.Load()
	t.downs.Store(&[]*downTrack{})
	return downs
}

func (t *pubTrack) layer(i int32) *layer {
	t.mu.Lock()
	defer t.mu.Unlock()
	if i < 0 || int(i) >= len(t.layers) || t.layers[i].ring == nil {
		return nil
	}
	return t.layers[i]
}

// activeLayers lists the layers that carried media recently.
func (t *pubTrack) activeLayers(now time.Time) []*layer {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*layer
	for _, l := range t.layers {
		if l.ring != nil && now.UnixNano()-l.lastArrival.Load() < int64(2*time.Second) {
			out = append(out, l)
		}
	}
	return out
}

// requestKeyframe sends a PLI for layer i to the publisher, at most once
// per pliInterval per layer.
func (t *pubTrack) requestKeyframe(i int32, now time.Time) {
	if t.kind != webrtc.RTPCodecTypeVideo {
		return
	}
	l := t.layer(i)
	if l == nil {
		return
	}
	last := l.lastPLI.Load()
	if now.UnixNano()-last < int64(pliInterval) || !l.lastPLI.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	t.peer.plis.Add(1)
	// Errors mean the publish PC is closing; its reader will notice.
	_ = t.peer.pub.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: l.ssrc}})
}

// run reads the layer's stream from pion and fans each packet out until
// the receiver stops. One goroutine per stream, no hand-off (perf-notes
// rule 1). Once the stream is on the fast path, pion gives it only the
// repairs of its RTX stream.
func (l *layer) run(remote *webrtc.TrackRemote, now func() time.Time) {
	buf := make([]byte, ringSlot)
	var h rtp.Header
	for {
		n, _, err := remote.Read(buf)
		if err != nil {
			return
		}
		l.fwdMu.Lock()
		l.forward(buf[:n], &h, now().UnixNano())
		l.fwdMu.Unlock()
		if l.fast != nil && n >= 4 {
			l.fast.drained(uint16(buf[2])<<8 | uint16(buf[3]))
		}
	}
}

// forward handles one packet read from the publisher: it stores it in the
// ring, updates counters, and writes it to every subscriber. It parses into
// the caller's reused header and allocates nothing (BenchmarkForward).
func (l *layer) forward(pkt []byte, h *rtp.Header, now int64) {
	hl, err := h.Unmarshal(pkt)
	if err != nil {
		return
	}
	t := l.t
	l.recv.record(h.SequenceNumber, h.Timestamp, now, t.codec.ClockRate)
	payload := pkt[hl:]
	if h.Padding {
		if len(payload) == 0 || int(payload[len(payload)-1]) > len(payload) {
			return
		}
		payload = payload[:len(payload)-int(payload[len(payload)-1])]
	}
	// A packet the ring already holds is a duplicate: Chromium pads with
	// retransmissions of sent packets on RTX ("payload padding"), and pion
	// hands repairs to the layer's reader. Forwarded again, a subscriber's
	// SRTP replay protection drops it before its transport-cc feedback
	// sees it, so it reads as lost (it was half of the packets), and the
	// layer's bitrate would count the publisher's probes. A repair of a
	// packet the SFU never got is not in the ring and goes through.
	if l.ring.has(h.SequenceNumber) {
		l.packets.Add(1)
		l.lastArrival.Store(now)
		return
	}
	l.ring.put(h.SequenceNumber, pkt)
	l.countSeq(h.SequenceNumber)
	l.packets.Add(1)
	l.lastArrival.Store(now)
	if len(payload) == 0 { // padding-only bandwidth probe
		return
	}
	// The layer's bitrate (for layer selection) counts media only: the
	// publisher's own probes would make a small layer look large.
	l.bytes.Add(uint64(len(pkt)))
	kf := false
	if t.kind == webrtc.RTPCodecTypeAudio {
		if t.levelID != 0 {
			if ext := h.GetExtension(t.levelID); len(ext) > 0 {
				t.notePeak(audioVolume(ext[0] & 0x7f))
			}
		}
	} else {
		kf = isKeyframe(t.codec.MimeType, payload)
		if kf && strings.EqualFold(t.codec.MimeType, webrtc.MimeTypeVP8) {
			if _, w, ht := vp8Keyframe(payload); w > 0 {
				l.width.Store(int32(w))
				l.height.Store(int32(ht))
			}
		}
	}
	// Subscribe PCs negotiate one header extension, transport-wide-cc,
	// which each downTrack sets (write); padding is gone.
	h.Extension = false
	h.Padding = false
	h.PaddingSize = 0
	seq, ts := h.SequenceNumber, h.Timestamp
	downs := *t.downs.Load()
	// One sendmmsg per fan-out. A single subscriber's packet gains
	// nothing from a scope of its own; on the fast path it is inside the
	// batch's scope anyway, and leaves with the batch's other sends.
	if batch := t.batch; batch != nil && len(downs) > 1 {
		batch.begin()
		defer batch.end()
	}
	var ids *vp8IDs
	if t.rewriteVP8 {
		if v := readVP8IDs(payload); v.present() {
			ids = &v
		}
	}
	for _, d := range downs {
		d.forward(l.idx, h, payload, seq, ts, kf, ids, now)
	}
}

// countSeq counts gaps in the sequence (for the publisher's network quality).
func (l *layer) countSeq(seq uint16) {
	if !l.haveSeq {
		l.maxSeq, l.haveSeq = seq, true
		return
	}
	diff := seq - l.maxSeq
	if diff == 0 || diff > 0x8000 { // duplicate or late (maybe a repair)
		return
	}
	if diff > 1 && diff < 1000 {
		l.lost.Add(uint64(diff - 1))
	}
	l.maxSeq = seq
}

// audioVolume maps an RFC 6464 level (0 = 0 dBov, 127 = -127 dBov) to
// 0-100: -70 dBov and quieter is 0, 0 dBov is 100; speech sits around 50-70.
func audioVolume(level uint8) int32 {
	if level >= 70 {
		return 0
	}
	return int32(70-level) * 100 / 70
}

func (t *pubTrack) notePeak(v int32) {
	for {
		old := t.peak.Load()
		if v <= old || t.peak.CompareAndSwap(old, v) {
			return
		}
	}
}
