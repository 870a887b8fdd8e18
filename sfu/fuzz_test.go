package sfu

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// FuzzForward feeds arbitrary datagrams to the forwarding function (the
// publisher controls every byte of them): no panic, and what reaches a
// subscriber is a well-formed RTP packet.
func FuzzForward(f *testing.F) {
	f.Add(testPacket(1))
	f.Add([]byte{0x80, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 42})
	f.Add([]byte{0xa0, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 42, 0xff})             // padding larger than payload
	f.Add([]byte{0x90, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 42, 0xbe, 0xde, 0, 9}) // extension longer than packet
	// One track per codec, reused across inputs (state carries over, as
	// on a real stream).
	type fz struct {
		l  *layer
		ws []*fakeWriter
	}
	var tracks []fz
	for _, mime := range []string{webrtc.MimeTypeVP8, webrtc.MimeTypeVP9, webrtc.MimeTypeH264, webrtc.MimeTypeOpus} {
		l, ws := benchTrack(1)
		l.t.codec.MimeType = mime
		l.t.simulcast = true // exercise the keyframe gate too
		if mime == webrtc.MimeTypeOpus {
			l.t.kind, l.t.levelID = webrtc.RTPCodecTypeAudio, 1
		}
		tracks = append(tracks, fz{l, ws})
	}
	buf := make([]byte, ringSlot)
	f.Fuzz(func(t *testing.T, pkt []byte) {
		for _, x := range tracks {
			before := x.ws[0].packets
			var h rtp.Header
			x.l.forward(append([]byte(nil), pkt...), &h, 1)
			if x.ws[0].packets > before {
				var p rtp.Packet
				if err := p.Unmarshal(x.ws[0].buf[:h.MarshalSize()]); err != nil {
					t.Fatalf("%s: forwarded header does not parse: %v", x.l.t.codec.MimeType, err)
				}
			}
			(*x.l.t.downs.Load())[0].resend(h.SequenceNumber, buf, &h)
		}
	})
}

// FuzzHandle sends arbitrary client messages to one peer: errors, never
// a panic, and the peer stays usable.
func FuzzHandle(f *testing.F) {
	for _, s := range []string{
		`{"type":"publish-offer","sdp":"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"}`,
		`{"type":"subscribe-answer","sdp":"v=0"}`,
		`{"type":"candidate","pc":"publish","candidate":{"candidate":"candidate:1 1 udp 1 10.0.0.1 9 typ host"}}`,
		`{"type":"mute","kind":"audio","muted":true}`,
		`{"type":"layer","track":"x","maxWidth":1,"maxHeight":1}`,
		`{"type":"restart"}`,
		`{}`, `null`, `"x"`,
	} {
		f.Add([]byte(s))
	}
	s, err := New(Config{ListenIP: "127.0.0.1", IncludeLoopback: true, TCPPort: -1})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	p, err := s.Join("fuzz", "f", func(json.RawMessage) {})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		err := p.Handle(msg)
		if errors.Is(err, ErrPeerLeft) {
			t.Fatal("peer left on bad input")
		}
	})
}
