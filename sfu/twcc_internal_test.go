package sfu

import (
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

func TestTransportSeq(t *testing.T) {
	pkt := func(h rtp.Header, pad byte) []byte {
		h.Version, h.Padding, h.PaddingSize = 2, pad > 0, pad
		b, err := (&rtp.Packet{Header: h}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	one := rtp.Header{}
	_ = one.SetExtension(1, []byte{0x30})
	_ = one.SetExtension(5, []byte{0x12, 0x34})
	two := rtp.Header{Extension: true, ExtensionProfile: 0x1000}
	_ = two.SetExtension(3, []byte{1, 2, 3})
	_ = two.SetExtension(5, []byte{0xab, 0xcd})
	csrc := rtp.Header{CSRC: []uint32{7, 8}}
	_ = csrc.SetExtension(5, []byte{0, 9})
	tests := []struct {
		name string
		b    []byte
		seq  uint16
		ok   bool
	}{
		{"one-byte", pkt(one, 0), 0x1234, true},
		{"one-byte padding-only probe", pkt(one, 200), 0x1234, true},
		{"two-byte", pkt(two, 0), 0xabcd, true},
		{"csrcs", pkt(csrc, 0), 9, true},
		{"no extension", pkt(rtp.Header{}, 0), 0, false},
		{"other id", pkt(func() rtp.Header { h := rtp.Header{}; _ = h.SetExtension(4, []byte{1, 2}); return h }(), 0), 0, false},
		{"truncated", pkt(one, 0)[:17], 0, false},
		{"short", []byte{0x90, 0}, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seq, ok := transportSeq(tc.b, 5)
			if seq != tc.seq || ok != tc.ok {
				t.Errorf("transportSeq = %#x, %v; want %#x, %v", seq, ok, tc.seq, tc.ok)
			}
		})
	}
}

// replay is a pion RTPReader that returns the same packet on every read.
type replay []byte

func (r replay) Read(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
	return copy(b, r), a, nil
}

// twccReader is the publish PC's interceptor around a stream that carries
// transport-cc in extension 5, as pion binds it.
func twccReader(st *twccState, pkt []byte) interceptor.RTPReader {
	ic := &twccInterceptor{state: st, now: time.Now}
	info := &interceptor.StreamInfo{SSRC: 42, MimeType: webrtc.MimeTypeVP8,
		RTPHeaderExtensions: []interceptor.RTPHeaderExtension{{URI: sdp.TransportCCURI, ID: 5}}}
	return ic.BindRemoteStream(info, replay(pkt))
}

// The interceptor sees every packet pion reads, so it must not allocate
// (perf-notes rule 5), feedback builds included.
func TestTWCCRecordAllocs(t *testing.T) {
	st, read := twccStream()
	var seq uint16
	next := func() { seq++; read(seq) }
	for range 2000 { // let the recorder's window grow to its size
		next()
	}
	_ = st.build()
	allocs := testing.AllocsPerRun(1000, next)
	if allocs != 0 {
		t.Errorf("recording allocates %.2f times per packet", allocs)
	}
}

// twccStream returns a stream's TWCC state and a function that reads one
// 1,000-byte packet with transport-wide sequence number seq through the
// interceptor into it.
func twccStream() (*twccState, func(seq uint16)) {
	h := rtp.Header{Version: 2, SSRC: 42}
	_ = h.SetExtension(5, []byte{0, 0})
	pkt, _ := (&rtp.Packet{Header: h, Payload: make([]byte, 1000)}).Marshal()
	st := &twccState{}
	r := twccReader(st, pkt)
	buf := make([]byte, 1500)
	return st, func(seq uint16) {
		pkt[len(pkt)-1000-2], pkt[len(pkt)-1000-1] = byte(seq>>8), byte(seq)
		_, _, _ = r.Read(buf, nil)
	}
}

// BenchmarkForwardTWCC is the per-packet cost the publish PC's interceptor
// adds in front of forward (BenchmarkForward): parse and record.
func BenchmarkForwardTWCC(b *testing.B) {
	st, read := twccStream()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		read(uint16(i))
		if i%500 == 0 { // a feedback tick every 100 ms at 5,000 packets/s
			_ = st.build()
		}
	}
}
