package sfu

import (
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// vp8Packet is an RTP packet of layer-stream ssrc whose VP8 payload
// descriptor carries a 15-bit picture id and TL0PICIDX.
func vp8Packet(seq uint16, pid uint16, tl0 uint8, key bool) []byte {
	p := []byte{0x90, 0xc0, 0x80 | byte(pid>>8), byte(pid), tl0}
	if key {
		p = append(p, 0x00, 0, 0, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xb4, 0x00)
	} else {
		p = append(p, 0x01, 0, 0)
	}
	p = append(p, make([]byte, 100)...)
	h := rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: uint32(seq) * 3000, SSRC: 42}
	b, _ := (&rtp.Packet{Header: h, Payload: p}).Marshal()
	return b
}

type vp8Out struct {
	seq uint16
	pid uint16
	tl0 uint8
}

// A subscriber switched between simulcast layers sees one run of VP8
// picture ids and TL0PICIDX, as it sees one run of sequence numbers: each
// layer counts its own, and Chromium dropped the frames after a switch
// whose ids looked older than those it had decoded (a stall of seconds).
// A subscriber that stays on a layer sees the publisher's values, and
// so does the ring; a NACKed packet is resent with the ids it first went
// out with.
func TestVP8PictureIDsRunOnAcrossSwitches(t *testing.T) {
	pub := &Peer{streamID: "s1"}
	tr := &pubTrack{peer: pub, id: "s1t1", kind: webrtc.RTPCodecTypeVideo, simulcast: true, rewriteVP8: true,
		codec: webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}}}
	tr.layers = []*layer{{t: tr, idx: 0, ring: newRing(videoRing)}, {t: tr, idx: 1, ring: newRing(videoRing)}}
	tr.downs.Store(&[]*downTrack{})
	outs := make([][]vp8Out, 2)
	downs := make([]*downTrack, 2)
	// Subscriber 0, which switches, is last in the fan-out: the reader's
	// buffer ends up with its rewritten ids.
	for _, i := range []int{1, 0} {
		w := &fakeWriter{sink: func(h *rtp.Header, payload []byte) {
			ids := readVP8IDs(payload)
			if ids.pidAt < 0 || !ids.wide || ids.tl0At < 0 {
				t.Fatalf("subscriber %d got a descriptor without its fields: %x", i, payload[:6])
			}
			outs[i] = append(outs[i], vp8Out{h.SequenceNumber, ids.pid, ids.tl0})
		}}
		d := newDownTrack(&Peer{}, tr)
		d.target.Store(0)
		d.bind.Store(&binding{ssrc: uint32(1000 + i), pt: 96, ws: w})
		tr.addDown(d)
		downs[i] = d
	}
	q, hl := tr.layers[0], tr.layers[1]
	var h rtp.Header
	// q's ids wrap (32767 -> 0, 255 -> 0) while h's are far behind them.
	qSeq, qPid, qTl0 := uint16(1000), uint16(32762), uint8(252)
	sendQ := func(key bool) {
		pkt := vp8Packet(qSeq, qPid, qTl0, key)
		q.forward(pkt, &h, 1)
		// Resends start from the ring's copy: it holds the publisher's ids.
		ring := make([]byte, ringSlot)
		n := q.ring.get(qSeq, ring)
		if ids := readVP8IDs(ring[12:n]); n == 0 || ids.pid != qPid || ids.tl0 != qTl0 {
			t.Fatalf("the ring holds pid %d tl0 %d, want the publisher's %d, %d", ids.pid, ids.tl0, qPid, qTl0)
		}
		qSeq, qPid, qTl0 = qSeq+1, (qPid+1)&0x7fff, qTl0+1
	}
	hSeq, hPid, hTl0 := uint16(5000), uint16(100), uint8(7)
	sendH := func(key bool) {
		h.Extension = false
		hl.forward(vp8Packet(hSeq, hPid, hTl0, key), &h, 1)
		hSeq, hPid, hTl0 = hSeq+1, hPid+1, hTl0+1
	}
	sendQ(true)
	for range 8 {
		sendQ(false)
	}
	downs[0].target.Store(1) // subscriber 0 steps up; 1 stays on q
	sendH(false)             // not a keyframe: no switch yet
	sendQ(false)
	sendH(true)
	for range 5 {
		sendQ(false)
		sendH(false)
	}
	// A NACK for h's keyframe, as subscriber 0 knows it, brings it back
	// with the ids it had.
	kf := outs[0][10]
	downs[0].resend(kf.seq, make([]byte, ringSlot), &rtp.Header{}, 2)
	if got := outs[0][len(outs[0])-1]; got != kf {
		t.Errorf("resent %v, want %v", got, kf)
	}
	outs[0] = outs[0][:len(outs[0])-1]
	downs[0].target.Store(0) // and back down, onto q's next keyframe
	sendH(false)
	sendQ(true)
	sendQ(false)

	runsOn := func(i int) {
		o := outs[i]
		for k := 1; k < len(o); k++ {
			if o[k].seq != o[k-1].seq+1 || o[k].pid != (o[k-1].pid+1)&0x7fff || o[k].tl0 != o[k-1].tl0+1 {
				t.Errorf("subscriber %d, packet %d: seq/pid/tl0 %v after %v, want each one on", i, k, o[k], o[k-1])
			}
		}
	}
	runsOn(0)
	runsOn(1)
	if len(outs[0]) != 9+1+1+5+1+2 || len(outs[1]) != 9+1+5+2 {
		t.Errorf("subscribers got %d and %d packets, want 19 and 17", len(outs[0]), len(outs[1]))
	}
	if o := outs[1]; o[0].pid != 32762 || o[0].tl0 != 252 {
		t.Errorf("subscriber 1 got q's first packet as pid %d tl0 %d, want the publisher's 32762, 252", o[0].pid, o[0].tl0)
	}
	// Packets from before the last switch are not resent: the receiver
	// decodes from its keyframe on.
	n := len(outs[0])
	downs[0].resend(outs[0][12].seq, make([]byte, ringSlot), &rtp.Header{}, 2)
	if len(outs[0]) != n {
		t.Errorf("a packet from before the last switch was resent: %v", outs[0][n])
	}
	// The rewriting allocates nothing.
	for _, d := range downs {
		d.bind.Load().ws.(*fakeWriter).sink = nil
	}
	pkt := vp8Packet(qSeq, qPid, qTl0, false)
	allocs := testing.AllocsPerRun(200, func() {
		qSeq++
		pkt[2], pkt[3] = byte(qSeq>>8), byte(qSeq)
		q.forward(pkt, &h, 3)
	})
	if allocs != 0 {
		t.Errorf("forward allocates %.1f times per packet with VP8 ids rewritten", allocs)
	}
}
