package sfu

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// binding is what pion tells a downTrack in Bind: where and how to write.
type binding struct {
	ssrc uint32
	pt   uint8
	twcc uint8 // transport-wide-cc extension id, 0 = not negotiated
	ws   webrtc.TrackLocalWriter
}

// epoch is one stretch of the sequence numbers a subscriber sees: from
// outSeq on, packets come from layer with the given offsets, or, for pad,
// are padding the SFU made up. A NACK is served from the epoch its number
// belongs to, across layer switches and probes.
type epoch struct {
	from          uint16
	seqOff        uint16
	tsOff         uint32
	layer         int32
	pad, occupied bool
	pidOff        uint16 // VP8 picture id: out = in - pidOff
	tl0Off        uint8  // VP8 TL0PICIDX: out = in - tl0Off
}

// epochCount bounds the history of epochs kept for NACKs.
const epochCount = 32

// downTrack is one published track as sent to one subscriber. It is our
// own webrtc.TrackLocal (perf-notes rule 3): the publisher's reader sets
// SSRC, payload type, sequence number and timestamp in its shared header
// and calls write, which seals and sends it (fastsend.go).
type downTrack struct {
	peer     *Peer // the subscriber
	t        *pubTrack
	streamID string
	sender   *webrtc.RTPSender

	bind   atomic.Pointer[binding]
	target atomic.Int32 // layer wanted; the switch happens on its next keyframe
	starve atomic.Bool  // the current layer is over budget: send none of it until the switch (selectLayer)
	maxW   atomic.Int32 // size the subscriber renders, 0 = unknown
	maxH   atomic.Int32

	// wmu keeps a simulcast track's writes in the order mu gave out their
	// sequence numbers: at a switch the old layer's reader may still be
	// writing its last packet when the new layer's keyframe is numbered
	// (TestSimulcastLayerSwitch saw them swapped), and probes put padding
	// between frames. It is taken before mu is let go, so only writers
	// wait for it, never the layers that drop. It guards fwdExt of a
	// simulcast track; a single layer has one reader goroutine, and no
	// probes.
	wmu    sync.Mutex
	fwdExt [2]byte // transport-wide sequence number being written by forward or sendPadding
	resExt [2]byte // the same for resend (the RTCP goroutine)

	mu       sync.Mutex // guards the rest; uncontended except during a layer switch
	cur      int32      // layer being forwarded, -1 = none yet
	started  bool
	seqOff   uint16 // out = in - off
	tsOff    uint32
	lastSeq  uint16 // highest sequence number sent
	lastTS   uint32
	lastNS   int64 // arrival time of the packet that set lastTS
	atFrame  bool  // the last packet sent ended a frame (marker): padding may follow
	epochs   [epochCount]epoch
	nEpoch   int
	packets  uint64
	octets   uint64
	resent   uint64
	missed   uint64 // NACKed packets no longer (or never) in the ring
	changes  uint64 // layer switches after the first (switchTo), for Stats
	switchAt uint16 // out sequence number of the last switch's keyframe, if changes > 0

	// A VP8 simulcast track's picture ids and TL0PICIDX are rewritten to
	// run on across layer switches, as its sequence numbers are: each
	// layer counts its own, and a receiver whose next frames seem older
	// than the ones it decoded drops them (Chromium's reference finder
	// did, for seconds after a switch; TestSDKStepDownUp).
	haveVP8 bool
	pidOff  uint16
	tl0Off  uint8
	lastPid uint16 // out picture id of the packet that set lastSeq
	lastTl0 uint8
}

func newDownTrack(p *Peer, t *pubTrack) *downTrack {
	d := &downTrack{peer: p, t: t, streamID: t.peer.streamID, cur: -1}
	if !t.simulcast {
		d.cur = 0
	} else {
		d.target.Store(int32(len(t.layers) - 1))
	}
	return d
}

// Bind implements webrtc.TrackLocal: it picks the publisher's codec among
// the negotiated ones. A subscriber that cannot decode it stays unbound and
// gets no media for this track; the error is not returned, since pion would
// fail the whole subscribe answer with it.
func (d *downTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	codecs := ctx.CodecParameters()
	for _, c := range codecs {
		if strings.EqualFold(c.MimeType, d.t.codec.MimeType) && fmtpCompatible(c, d.t.codec) {
			b := &binding{ssrc: uint32(ctx.SSRC()), pt: uint8(c.PayloadType), ws: ctx.WriteStream()}
			for _, e := range ctx.HeaderExtensions() {
				if e.URI == sdp.TransportCCURI && e.ID > 0 && e.ID < 15 {
					b.twcc = uint8(e.ID)
					d.peer.cc.enable()
				}
			}
			d.bind.Store(b)
			// A new subscriber needs a keyframe to start decoding.
			d.t.requestKeyframe(d.target.Load(), d.peer.s.now())
			return c, nil
		}
	}
	d.peer.log.Warn("subscriber lacks the codec", "track", d.t.id, "codec", d.t.codec.MimeType)
	if len(codecs) == 0 {
		// An answer that left this medium no codec at all. An error
		// here would fail the answer only after pion took it (it starts
		// the senders last), which leaves the subscribe PC refusing
		// every later answer; without a codec the track sends nothing,
		// as for any codec the subscriber lacks.
		return webrtc.RTPCodecParameters{}, nil
	}
	return codecs[0], nil
}

// fmtpCompatible keeps H.264 profiles and packetization modes apart.
func fmtpCompatible(a, b webrtc.RTPCodecParameters) bool {
	if !strings.EqualFold(a.MimeType, webrtc.MimeTypeH264) {
		return true
	}
	return a.SDPFmtpLine == b.SDPFmtpLine
}

// Unbind implements webrtc.TrackLocal.
func (d *downTrack) Unbind(webrtc.TrackLocalContext) error {
	d.bind.Store(nil)
	return nil
}

func (d *downTrack) ID() string                { return d.t.id }
func (d *downTrack) RID() string               { return "" }
func (d *downTrack) StreamID() string          { return d.streamID }
func (d *downTrack) Kind() webrtc.RTPCodecType { return d.t.kind }

// forward writes one packet of layer to the subscriber. h is the reader's
// shared header; seq and ts are the publisher's values (h is rewritten for
// each subscriber); ids, for a VP8 simulcast track, where the payload has
// its picture id and TL0PICIDX, which are rewritten too (nil: none).
// Zero allocations.
func (d *downTrack) forward(layer int32, h *rtp.Header, payload []byte, seq uint16, ts uint32, kf bool, ids *vp8IDs, now int64) {
	b := d.bind.Load()
	if b == nil {
		return
	}
	d.mu.Lock()
	if layer != d.cur {
		if layer != d.target.Load() || !kf {
			d.mu.Unlock()
			return
		}
		if ids != nil {
			d.rebaseVP8(ids)
		}
		d.switchTo(layer, seq, ts, now)
	} else if d.starve.Load() {
		d.mu.Unlock()
		return
	}
	outSeq, outTS := seq-d.seqOff, ts-d.tsOff
	if !d.started {
		d.addEpoch(epoch{from: outSeq, seqOff: d.seqOff, tsOff: d.tsOff, layer: d.cur})
	}
	var pid uint16
	var tl0 uint8
	if ids != nil {
		pid, tl0 = (ids.pid-d.pidOff)&ids.mask(), ids.tl0-d.tl0Off
	}
	if !d.started || int16(outSeq-d.lastSeq) > 0 {
		d.lastSeq, d.lastTS, d.lastNS, d.atFrame = outSeq, outTS, now, h.Marker
		d.started = true
		if ids != nil {
			d.lastPid, d.lastTl0, d.haveVP8 = pid, tl0, true
		}
	}
	d.packets++
	d.octets += uint64(len(payload))
	ordered := d.t.simulcast
	if ordered {
		d.wmu.Lock()
	}
	d.mu.Unlock()

	// The payload is the reader's buffer, shared by the subscribers: each
	// one's values go in just before its write copies the packet. The
	// ring has the publisher's copy for resends; nothing reads the
	// buffer after the fan-out.
	if ids != nil {
		ids.write(payload, pid, tl0)
	}
	h.SSRC, h.PayloadType, h.SequenceNumber, h.Timestamp = b.ssrc, b.pt, outSeq, outTS
	d.write(b, h, payload, &d.fwdExt, now)
	if ordered {
		d.wmu.Unlock()
	}
}

// write sends one packet, stamped with the subscribe PC's transport-wide
// sequence number when it negotiated one; ext is the caller's buffer for
// it, which must stay untouched until write returns.
func (d *downTrack) write(b *binding, h *rtp.Header, payload []byte, ext *[2]byte, now int64) {
	h.Extension = false
	if b.twcc != 0 {
		size := 12 + 8 + len(payload) + int(h.PaddingSize)
		setTWCC(h, b.twcc, ext, d.peer.cc.stamp(size, now))
	}
	switch d.peer.sendPath.Load() {
	case sendFast:
		d.peer.fastSend.write(h, payload)
	case sendPion:
		// An error means the subscribe PC is closing; Leave cleans up.
		_, _ = b.ws.WriteRTP(h, payload)
	default: // not connected yet: pion would drop it too (fastsend.go)
	}
}

// rebaseVP8 sets the picture id and TL0PICIDX offsets so that the new
// layer's keyframe (ids) follows the last packet sent. Called locked,
// before switchTo records the epoch.
func (d *downTrack) rebaseVP8(ids *vp8IDs) {
	if !d.haveVP8 {
		return
	}
	if ids.pidAt >= 0 {
		d.pidOff = (ids.pid - (d.lastPid + 1)) & ids.mask()
	}
	if ids.tl0At >= 0 {
		d.tl0Off = ids.tl0 - (d.lastTl0 + 1)
	}
}

// addEpoch starts a new stretch of sequence numbers. Called locked.
func (d *downTrack) addEpoch(e epoch) {
	e.occupied = true
	e.pidOff, e.tl0Off = d.pidOff, d.tl0Off
	d.epochs[d.nEpoch%epochCount] = e
	d.nEpoch++
}

// epochOf finds the stretch outSeq belongs to; ok is false when it is
// older than the history. Called locked.
func (d *downTrack) epochOf(outSeq uint16) (epoch, bool) {
	for k := 1; k <= min(d.nEpoch, epochCount); k++ {
		e := d.epochs[(d.nEpoch-k)%epochCount]
		if e.occupied && int16(outSeq-e.from) >= 0 {
			return e, true
		}
	}
	return epoch{}, false
}

// sendPadding sends up to n padding-only packets between two frames of
// the current layer (a bandwidth probe), and returns how many it sent:
// none before the first packet, inside a frame, during a layer switch,
// for a track that is not simulcast (only those are probed for, and only
// their writes are ordered by wmu), or when the subscriber has no
// transport-cc. They take sequence numbers of their own, so the offset of
// the packets after them moves on by n. h belongs to the caller.
func (d *downTrack) sendPadding(h *rtp.Header, n int, now int64) int {
	b := d.bind.Load()
	if b == nil || b.twcc == 0 || n <= 0 || !d.t.simulcast {
		return 0
	}
	d.mu.Lock()
	if !d.started || !d.atFrame || d.cur != d.target.Load() {
		d.mu.Unlock()
		return 0
	}
	first := d.lastSeq + 1
	d.lastSeq += uint16(n)
	d.seqOff -= uint16(n)
	d.addEpoch(epoch{from: first, pad: true})
	d.addEpoch(epoch{from: first + uint16(n), seqOff: d.seqOff, tsOff: d.tsOff, layer: d.cur})
	ts := d.lastTS
	d.packets += uint64(n)
	d.wmu.Lock()
	d.mu.Unlock()
	defer d.wmu.Unlock()
	for i := range n {
		h.Version, h.Padding, h.PaddingSize, h.Marker = 2, true, padSize, false
		h.SSRC, h.PayloadType, h.SequenceNumber, h.Timestamp = b.ssrc, b.pt, first+uint16(i), ts
		d.write(b, h, nil, &d.fwdExt, now)
	}
	return n
}

// switchTo makes layer current so that its keyframe (seq, ts) follows the
// last packet sent without a gap in sequence numbers and with the
// timestamp advanced by the wall-clock time elapsed. Called locked.
func (d *downTrack) switchTo(layer int32, seq uint16, ts uint32, now int64) {
	if d.started {
		d.changes++
		d.seqOff = seq - (d.lastSeq + 1)
		elapsed := uint32(1)
		if ns := now - d.lastNS; ns > 0 {
			elapsed = max(1, uint32(uint64(ns)*uint64(d.t.codec.ClockRate)/1e9))
		}
		d.tsOff = ts - (d.lastTS + elapsed)
	}
	d.cur = layer
	d.starve.Store(false)
	d.switchAt = seq - d.seqOff
	d.addEpoch(epoch{from: seq - d.seqOff, seqOff: d.seqOff, tsOff: d.tsOff, layer: layer})
}

// resend serves one NACKed sequence number (as the subscriber knows it)
// from the publisher's ring. buf and h belong to the caller's RTCP loop.
func (d *downTrack) resend(outSeq uint16, buf []byte, h *rtp.Header, now int64) {
	b := d.bind.Load()
	if b == nil {
		return
	}
	d.mu.Lock()
	layer, seqOff, tsOff, pidOff, tl0Off := d.cur, d.seqOff, d.tsOff, d.pidOff, d.tl0Off
	if e, ok := d.epochOf(outSeq); ok {
		if e.pad {
			d.mu.Unlock()
			return // made-up padding: nothing to resend
		}
		layer, seqOff, tsOff, pidOff, tl0Off = e.layer, e.seqOff, e.tsOff, e.pidOff, e.tl0Off
	}
	// Repairs would add to a congestion for nothing: of the layer being
	// dropped for it, or from before the last switch, whose keyframe the
	// receiver decodes from (Chromium NACKed the old layer's losses
	// after a step down, and their resends crowded out the new layer).
	if layer == d.cur && d.starve.Load() || d.changes > 0 && int16(outSeq-d.switchAt) < 0 {
		d.mu.Unlock()
		return
	}
	d.mu.Unlock()
	l := d.t.layer(layer)
	if l == nil {
		return
	}
	n := l.ring.get(outSeq+seqOff, buf)
	if n == 0 {
		d.mu.Lock()
		d.missed++
		d.mu.Unlock()
		return
	}
	hl, err := h.Unmarshal(buf[:n])
	if err != nil {
		return
	}
	payload := buf[hl:n]
	if h.Padding && len(payload) > 0 {
		payload = payload[:len(payload)-min(len(payload), int(payload[len(payload)-1]))]
	}
	if d.t.rewriteVP8 {
		if ids := readVP8IDs(payload); ids.present() {
			ids.write(payload, (ids.pid-pidOff)&ids.mask(), ids.tl0-tl0Off)
		}
	}
	h.Extension, h.Padding, h.PaddingSize = false, false, 0
	h.SSRC, h.PayloadType, h.SequenceNumber, h.Timestamp = b.ssrc, b.pt, outSeq, h.Timestamp-tsOff
	d.mu.Lock()
	d.resent++
	d.packets++
	d.octets += uint64(len(payload))
	d.mu.Unlock()
	d.write(b, h, payload, &d.resExt, now)
}

// rtcpLoop reads the subscriber's RTCP for this track until the sender
// stops: NACKs are served from the ring, PLI/FIR go to the publisher, and
// receiver reports and REMB feed the subscriber's estimates.
func (d *downTrack) rtcpLoop() {
	buf := make([]byte, 1500)
	pkt := make([]byte, ringSlot)
	var h rtp.Header
	for {
		n, _, err := d.sender.Read(buf)
		if err != nil {
			return
		}
		now := d.peer.s.now()
		// Transport-cc feedback is parsed without allocating (subcc.go);
		// most compounds hold nothing else.
		cut := false
		other := splitTWCC(buf[:n], func(body []byte) { cut = d.peer.cc.feedback(body, now.UnixNano()) || cut })
		if cut {
			d.peer.stepDown(now)
		}
		if !other {
			continue
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		for _, p := range pkts {
			switch p := p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				d.t.requestKeyframe(d.curLayer(), now)
			case *rtcp.TransportLayerNack:
				for _, pair := range p.Nacks {
					for _, seq := range pair.PacketList() {
						d.resend(seq, pkt, &h, now.UnixNano())
					}
				}
			case *rtcp.ReceiverReport:
				d.noteReports(p.Reports, now)
			case *rtcp.SenderReport:
				d.noteReports(p.Reports, now)
			case *rtcp.ReceiverEstimatedMaximumBitrate:
				d.peer.remb.Store(uint64(p.Bitrate))
			}
		}
	}
}

// waiting reports whether d waits for a keyframe: nothing sent yet, or a
// layer switch pending.
func (d *downTrack) waiting() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.started || d.cur != d.target.Load()
}

func (d *downTrack) curLayer() int32 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cur < 0 {
		return d.target.Load()
	}
	return d.cur
}

func (d *downTrack) noteReports(rs []rtcp.ReceptionReport, now time.Time) {
	b := d.bind.Load()
	for _, r := range rs {
		if b == nil || r.SSRC != b.ssrc {
			continue
		}
		var rtt uint32
		if r.LastSenderReport != 0 {
			// RFC 3550 §6.4.1: RTT = A - LSR - DLSR, in 1/65536 s.
			a := uint32(ntpTime(now) >> 16)
			if q := a - r.LastSenderReport - r.Delay; int32(q) > 0 {
				rtt = uint32(uint64(q) * 1000 / 65536)
			}
		}
		d.peer.noteReceiverReport(r.FractionLost, rtt, d.rate())
	}
}

// rate is the bitrate of the layer currently forwarded.
func (d *downTrack) rate() uint64 {
	if l := d.t.layer(d.curLayer()); l != nil {
		return l.bitrate.Load()
	}
	return 0
}

// senderReport builds an RTCP SR from our own counters (perf-notes rule 4),
// so receivers can report RTT; nil if nothing was sent yet.
func (d *downTrack) senderReport(now time.Time) rtcp.Packet {
	b := d.bind.Load()
	if b == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.started {
		return nil
	}
	ts := d.lastTS
	if ns := now.UnixNano() - d.lastNS; ns > 0 && ns < int64(time.Minute) {
		ts += uint32(uint64(ns) * uint64(d.t.codec.ClockRate) / 1e9)
	}
	return &rtcp.SenderReport{
		SSRC: b.ssrc, NTPTime: ntpTime(now), RTPTime: ts,
		PacketCount: uint32(d.packets), OctetCount: uint32(d.octets),
	}
}

func (d *downTrack) counters() (packets, octets, resent, missed uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.packets, d.octets, d.resent, d.missed
}

// layerSwitches is how often the forwarded layer changed.
func (d *downTrack) layerSwitches() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.changes
}

// ntpTime is RFC 3550's 64-bit NTP timestamp.
func ntpTime(t time.Time) uint64 {
	const unixToNTP = 2208988800
	sec := uint64(t.Unix()) + unixToNTP
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return sec<<32 | frac
}
