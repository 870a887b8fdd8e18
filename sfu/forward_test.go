package sfu

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"callbox/sfu/sfuclient"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// fakeWriter stands for pion's TrackLocalWriter: it marshals the header
// and copies the payload into its own buffer, as pion does into a pooled
// one before encrypting.
type fakeWriter struct {
	buf     [ringSlot]byte // what forward writes is never longer than what it read
	n       int            // bytes of the last packet in buf
	packets int
	lastSeq uint16
	// sink, if set, sees every packet as written (header and payload).
	sink func(h *rtp.Header, payload []byte)
}

func (f *fakeWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	n, err := h.MarshalTo(f.buf[:])
	if err != nil {
		return 0, err
	}
	n += copy(f.buf[n:], payload)
	f.n = n
	f.packets++
	f.lastSeq = h.SequenceNumber
	if f.sink != nil {
		f.sink(h, payload)
	}
	return n, nil
}

func (f *fakeWriter) Write(b []byte) (int, error) { return len(b), nil }

// benchTrack builds a published video track with subs bound subscribers.
func benchTrack(subs int) (*layer, []*fakeWriter) { return benchTrackCC(subs, 0) }

// benchTrackCC is benchTrack whose subscribers negotiated transport-wide-cc
// with extension id twcc (0 = none), each on a subscribe PC of its own.
func benchTrackCC(subs int, twcc uint8) (*layer, []*fakeWriter) {
	pub := &Peer{streamID: "s1"}
	t := &pubTrack{peer: pub, id: "s1t1", kind: webrtc.RTPCodecTypeVideo,
		codec: webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}}}
	t.layers = []*layer{{t: t, ring: newRing(videoRing)}}
	t.downs.Store(&[]*downTrack{})
	var ws []*fakeWriter
	for i := 0; i < subs; i++ {
		w := &fakeWriter{}
		d := newDownTrack(&Peer{}, t)
		if twcc != 0 {
			d.peer.cc.enable()
		}
		d.bind.Store(&binding{ssrc: uint32(1000 + i), pt: 96, twcc: twcc, ws: w})
		t.addDown(d)
		ws = append(ws, w)
	}
	return t.layers[0], ws
}

// testPacket is a 1,100-byte VP8 payload with two one-byte header
// extensions, as in perf-notes §1.
func testPacket(seq uint16) []byte {
	p := make([]byte, 1100)
	p[0] = 0x10
	p[1] = 0x01 // interframe
	return rtpPacket(seq, p)
}

// rtpPacket is payload under seq, with the header extensions of testPacket.
func rtpPacket(seq uint16, payload []byte) []byte {
	h := rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: uint32(seq) * 3000, SSRC: 42}
	_ = h.SetExtension(1, []byte{0x30})
	_ = h.SetExtension(3, []byte{1, 2, 3})
	b, _ := (&rtp.Packet{Header: h, Payload: payload}).Marshal()
	return b
}

// seqPayload is a VP8 interframe that names its sequence number.
func seqPayload(seq uint16) []byte {
	return fmt.Appendf([]byte{0x10, 0x01}, "seq=%d %s", seq, strings.Repeat("v", int(seq%100)))
}

// TestForwardInOrder sends a stream through forward, which every published
// packet goes through, to three subscribers on a quiet path (no network, no
// other goroutine): each must get every packet once, in order, with its
// payload, across the sequence number wrap. It uses the StreamCheck of the
// pion tests with no loss allowed; they judge the same on loopback, with
// 1 % to spare for the kernel.
func TestForwardInOrder(t *testing.T) {
	l, ws := benchTrack(3)
	var checks []*sfuclient.StreamCheck
	for i, w := range ws {
		chk := sfuclient.NewStreamCheck(fmt.Sprintf("subscriber %d", i), sfuclient.Payloads(seqPayload), nil)
		chk.SetMaxLoss(0)
		w.sink = func(h *rtp.Header, p []byte) { chk.Add(h.SequenceNumber, p) }
		checks = append(checks, chk)
	}
	const n = 1000
	var h rtp.Header
	for i := range n {
		seq := uint16(65000 + i)
		l.forward(rtpPacket(seq, seqPayload(seq)), &h, int64(i))
	}
	// Everything was delivered synchronously: nothing more will come, so
	// a done context makes Wait judge what it has.
	done, cancel := context.WithCancel(t.Context())
	cancel()
	for _, chk := range checks {
		if err := chk.Wait(done, n); err != nil {
			t.Error(err)
		}
	}
}

// TestForwardAudioLevel checks the volume forward notes from each RFC 6464
// level byte (V bit and level): docs/media.md maps level L (-L dBov) to
// (70-L)*100/70 below 70, else 0.
func TestForwardAudioLevel(t *testing.T) {
	for _, tc := range []struct {
		name string
		ext  byte
		want int32
	}{
		{"0 dBov", 0x00, 100},
		{"voice activity bit", 0x80 | 30, 57},
		{"-30 dBov", 30, 57},
		{"-69 dBov", 69, 1},
		{"-70 dBov", 70, 0},
		{"silence", 127, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, _ := benchTrack(1)
			l.t.kind, l.t.levelID = webrtc.RTPCodecTypeAudio, 1
			l.t.peak.Store(-1)
			h := rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: 1, SSRC: 42}
			_ = h.SetExtension(1, []byte{tc.ext})
			pkt, _ := (&rtp.Packet{Header: h, Payload: []byte{0xfc}}).Marshal()
			l.forward(pkt, &rtp.Header{}, 1)
			if got := l.t.peak.Load(); got != tc.want {
				t.Errorf("level byte %#x: volume %d, want %d", tc.ext, got, tc.want)
			}
		})
	}
}

func TestForwardRewritesAndAllocatesNothing(t *testing.T) {
	l, ws := benchTrack(3)
	pkt := testPacket(7)
	var h rtp.Header
	l.forward(pkt, &h, 1)
	for i, w := range ws {
		var got rtp.Packet
		if err := got.Unmarshal(w.buf[:12+1100]); err != nil {
			t.Fatal(err)
		}
		if got.SSRC != uint32(1000+i) || got.SequenceNumber != 7 || got.Timestamp != 21000 || got.Extension || len(got.Payload) != 1100 {
			t.Errorf("subscriber %d got %+v", i, got.Header)
		}
	}
	if n := l.ring.get(7, make([]byte, ringSlot)); n != len(pkt) {
		t.Errorf("ring holds %d bytes, want %d", n, len(pkt))
	}
	seq := uint16(8)
	allocs := testing.AllocsPerRun(200, func() {
		pkt[2], pkt[3] = byte(seq>>8), byte(seq)
		seq++
		l.forward(pkt, &h, 2)
	})
	if allocs != 0 {
		t.Errorf("forward allocates %.1f times per packet", allocs)
	}
}

// Every subscriber that negotiated transport-wide-cc gets its own
// transport-wide sequence number on each packet, logged with its send
// time, and still nothing is allocated.
func TestForwardStampsTransportSeq(t *testing.T) {
	l, ws := benchTrackCC(3, 5)
	var h rtp.Header
	next := make([]uint16, len(ws))
	for seq := uint16(7); seq < 20; seq++ {
		l.forward(testPacket(seq), &h, int64(seq)*1e6)
		for i, w := range ws {
			var got rtp.Packet
			if err := got.Unmarshal(w.buf[:w.n]); err != nil {
				t.Fatal(err)
			}
			ext := got.GetExtension(5)
			if len(ext) != 2 || uint16(ext[0])<<8|uint16(ext[1]) != next[i] || len(got.Extensions) != 1 || len(got.Payload) != 1100 {
				t.Fatalf("subscriber %d, packet %d: extensions %v (want transport seq %d only), payload %d bytes", i, seq, got.Extensions, next[i], len(got.Payload))
			}
			d := (*l.t.downs.Load())[i]
			log := d.peer.cc.log.Load()
			if ns, size, _, ok := log.sent(next[i]); !ok || (ns-int64(seq)*1e6) > tick100us || (int64(seq)*1e6-ns) > tick100us || size < 1100 {
				t.Fatalf("subscriber %d: send log holds %d bytes at %d ns (ok %v) for %d, sent at %d", i, size, ns, ok, next[i], int64(seq)*1e6)
			}
			next[i]++
		}
	}
	seq := uint16(30)
	pkt := testPacket(seq)
	allocs := testing.AllocsPerRun(200, func() {
		pkt[2], pkt[3] = byte(seq>>8), byte(seq)
		seq++
		l.forward(pkt, &h, int64(seq))
	})
	if allocs != 0 {
		t.Errorf("forward with transport-cc allocates %.1f times per packet", allocs)
	}
}

// BenchmarkForward measures the hot path: parse, ring store, fan-out to
// 1 and 10 subscribers (perf-notes rule 11: 0 allocs/op), without and with
// transport-wide-cc towards the subscribers.
func BenchmarkForward(b *testing.B) {
	for _, c := range []struct {
		name string
		subs int
		twcc uint8
	}{{"subs=1", 1, 0}, {"subs=10", 10, 0}, {"subs=1/twcc", 1, 5}, {"subs=10/twcc", 10, 5}} {
		subs := c.subs
		b.Run(c.name, func(b *testing.B) {
			l, _ := benchTrackCC(subs, c.twcc)
			pkt := testPacket(1)
			var h rtp.Header
			b.ReportAllocs()
			b.SetBytes(int64(len(pkt)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				pkt[2], pkt[3] = byte(i>>8), byte(i)
				l.forward(pkt, &h, int64(i))
			}
		})
	}
}

// A packet the SFU already has (Chromium's payload padding: old packets
// again on RTX, which pion hands to the layer's reader) is not forwarded
// twice, nor counted in the layer's bitrate: a subscriber's SRTP replay
// protection would drop it unseen by its transport-cc feedback.
func TestForwardDropsDuplicates(t *testing.T) {
	l, ws := benchTrackCC(1, 5)
	var h rtp.Header
	for seq := uint16(1); seq <= 3; seq++ {
		l.forward(testPacket(seq), &h, int64(seq))
	}
	bytes := l.bytes.Load()
	l.forward(testPacket(2), &h, 4)
	if ws[0].packets != 3 || l.bytes.Load() != bytes {
		t.Errorf("after a duplicate: %d packets forwarded (want 3), layer bytes %d -> %d", ws[0].packets, bytes, l.bytes.Load())
	}
	l.forward(testPacket(4), &h, 5)
	if ws[0].packets != 4 {
		t.Errorf("the packet after the duplicate: %d forwarded, want 4", ws[0].packets)
	}
}
