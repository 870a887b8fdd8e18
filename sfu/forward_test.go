package sfu

import (
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// fakeWriter stands for pion's TrackLocalWriter: it marshals the header
// and copies the payload into its own buffer, as pion does into a pooled
// one before encrypting.
type fakeWriter struct {
	buf     [1500]byte
	packets int
	lastSeq uint16
}

func (f *fakeWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	n, err := h.MarshalTo(f.buf[:])
	if err != nil {
		return 0, err
	}
	n += copy(f.buf[n:], payload)
	f.packets++
	f.lastSeq = h.SequenceNumber
	return n, nil
}

func (f *fakeWriter) Write(b []byte) (int, error) { return len(b), nil }

// benchTrack builds a published video track with subs bound subscribers.
func benchTrack(subs int) (*layer, []*fakeWriter) {
	pub := &Peer{streamID: "s1"}
	t := &pubTrack{peer: pub, id: "s1t1", kind: webrtc.RTPCodecTypeVideo,
		codec: webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}}}
	t.layers = []*layer{{t: t, ring: newRing(videoRing)}}
	t.downs.Store(&[]*downTrack{})
	var ws []*fakeWriter
	for i := 0; i < subs; i++ {
		w := &fakeWriter{}
		d := newDownTrack(&Peer{}, t)
		d.bind.Store(&binding{ssrc: uint32(1000 + i), pt: 96, ws: w})
		t.addDown(d)
		ws = append(ws, w)
	}
	return t.layers[0], ws
}

// testPacket is a 1,100-byte VP8 payload with two one-byte header
// extensions, as in perf-notes §1.
func testPacket(seq uint16) []byte {
	h := rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: uint32(seq) * 3000, SSRC: 42}
	_ = h.SetExtension(1, []byte{0x30})
	_ = h.SetExtension(3, []byte{1, 2, 3})
	p := rtp.Packet{Header: h, Payload: make([]byte, 1100)}
	p.Payload[0] = 0x10
	p.Payload[1] = 0x01 // interframe
	b, _ := p.Marshal()
	return b
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

// BenchmarkForward measures the hot path: parse, ring store, fan-out to
// 1 and 10 subscribers (perf-notes rule 11: 0 allocs/op).
func BenchmarkForward(b *testing.B) {
	for _, subs := range []int{1, 10} {
		b.Run(map[int]string{1: "subs=1", 10: "subs=10"}[subs], func(b *testing.B) {
			l, _ := benchTrack(subs)
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
