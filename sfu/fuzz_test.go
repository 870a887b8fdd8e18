package sfu

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// FuzzForward feeds arbitrary datagrams to the forwarding function (the
// publisher controls every byte of them). No panic; forward passes on
// exactly the datagrams whose RTP header parses and that carry a payload
// once the padding is off (RFC 3550 §5.1: the last octet counts the padding,
// itself included; forward takes 0 as none); what reaches the subscriber is
// that payload, byte for byte, under the subscriber's SSRC and payload type,
// with the sequence number and timestamp mapped by the down track's offsets
// (set as after a layer switch, so the mapping wraps), marker and CSRCs
// kept, no extension and no padding; and a NACK for it gets the same packet
// from the ring.
func FuzzForward(f *testing.F) {
	f.Add(testPacket(1))
	f.Add([]byte{0x80, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 42})
	f.Add([]byte{0xa0, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 42, 0xff})                         // padding larger than payload
	f.Add([]byte{0xa0, 0xe0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 42, 0xfc, 'a', 0, 0, 3})           // marker, payload, 3 bytes of padding
	f.Add([]byte{0x82, 0x60, 0, 3, 0, 0, 0, 3, 0, 0, 0, 42, 0, 0, 0, 7, 0, 0, 0, 8, 0xfc}) // two CSRCs
	f.Add([]byte{0x90, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 42, 0xbe, 0xde, 0, 9})             // extension longer than packet
	// One track per codec, reused across inputs (state carries over, as
	// on a real stream).
	type fz struct {
		l  *layer
		d  *downTrack
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
		d := (*l.t.downs.Load())[0]
		d.seqOff, d.tsOff = 0x8003, 0x12345678
		tracks = append(tracks, fz{l, d, ws})
	}
	buf := make([]byte, ringSlot)
	f.Fuzz(func(t *testing.T, pkt []byte) {
		pkt = pkt[:min(len(pkt), ringSlot)] // layer.run reads at most this
		var in rtp.Header
		want, ok := rtpPayload(pkt, &in)
		for _, x := range tracks {
			mime, w := x.l.t.codec.MimeType, x.ws[0]
			before := w.packets
			// A sequence number the ring holds (an earlier input's) is a
			// duplicate, which is not forwarded again.
			dup := ok && x.l.ring.has(in.SequenceNumber)
			var h rtp.Header
			x.l.forward(append([]byte(nil), pkt...), &h, 1)
			if sent := w.packets - before; sent != 0 && sent != 1 || (sent == 1) != (ok && !dup) {
				t.Fatalf("%s: %d packets forwarded; header parses and payload left: %v, duplicate: %v", mime, sent, ok, dup)
			}
			if !ok || dup {
				continue
			}
			out := append([]byte(nil), w.buf[:w.n]...)
			var p rtp.Packet
			if err := p.Unmarshal(out); err != nil {
				t.Fatalf("%s: forwarded packet does not parse: %v", mime, err)
			}
			x.d.mu.Lock()
			seqOff, tsOff := x.d.seqOff, x.d.tsOff
			x.d.mu.Unlock()
			if p.Version != in.Version || p.SSRC != 1000 || p.PayloadType != 96 || p.Marker != in.Marker ||
				p.SequenceNumber != in.SequenceNumber-seqOff || p.Timestamp != in.Timestamp-tsOff ||
				p.Extension || p.Padding || !slices.Equal(p.CSRC, in.CSRC) || !bytes.Equal(p.Payload, want) {
				t.Fatalf("%s: forwarded %+v payload %.32x\nfor %+v payload %.32x (offsets %d, %d)", mime, p.Header, p.Payload, in, want, seqOff, tsOff)
			}
			x.d.resend(p.SequenceNumber, buf, &h, 0)
			if w.packets != before+2 || !bytes.Equal(w.buf[:w.n], out) {
				t.Fatalf("%s: resent %.48x (%d packets), forwarded %.48x", mime, w.buf[:w.n], w.packets-before, out)
			}
		}
	})
}

// rtpPayload is the reference for FuzzForward: the payload of an RTP
// packet with its padding off, and whether the header parses and a payload
// is left; it parses the header into h.
func rtpPayload(pkt []byte, h *rtp.Header) ([]byte, bool) {
	hl, err := h.Unmarshal(pkt)
	if err != nil {
		return nil, false
	}
	payload := pkt[hl:]
	if h.Padding && len(payload) > 0 {
		pad := int(payload[len(payload)-1])
		if pad > len(payload) {
			return nil, false
		}
		payload = payload[:len(payload)-pad]
	}
	return payload, len(payload) > 0
}

// FuzzHandle sends arbitrary client messages to one peer: errors, never a
// panic, and the peer stays usable: after each input, a valid publish offer
// (audio and video, as a browser makes it) gets its normal answer, a
// publish-answer for the same media. An offer the input itself got accepted
// is the client's own negotiation, which the valid offer may rightly clash
// with: then the probe goes to a new peer.
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
	offer := browserOffer(f)
	probe := mustJSON(sdpMsg{Type: msgPublishOffer, SDP: offer})
	// The probe itself, and offers pion refuses only after entering
	// have-remote-offer, which it cannot leave (sfu/peer.go checkOffer,
	// tryOffer; more in testdata).
	f.Add([]byte(probe))
	for _, drop := range []string{"a=ice-ufrag:", "a=ice-pwd:", "a=fingerprint:", "a=mid:"} {
		var keep []string
		for _, l := range strings.SplitAfter(offer, "\n") {
			if !strings.HasPrefix(l, drop) {
				keep = append(keep, l)
			}
		}
		f.Add([]byte(mustJSON(sdpMsg{Type: msgPublishOffer, SDP: strings.Join(keep, "")})))
	}
	for _, r := range []*strings.Replacer{
		strings.NewReplacer("a=mid:1", "a=mid:0"), // a repeated mid: Plan B to pion
		strings.NewReplacer("a=mid:0\r\n", "a=mid:0\r\na=candidate:garbage\r\n"),
		strings.NewReplacer("a=mid:0\r\n", "a=mid:0\r\na=candidate:1 1 udp 1 224.0.0.1 9 typ host\r\n"),
	} {
		f.Add([]byte(mustJSON(sdpMsg{Type: msgPublishOffer, SDP: r.Replace(offer)})))
	}
	s, err := New(Config{ListenIP: "127.0.0.1", IncludeLoopback: true, TCPPort: -1})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	answers := make(chan string, 16) // publish-answers; Handle sends its own before it returns
	send := func(m json.RawMessage) {
		var a sdpMsg
		if json.Unmarshal(m, &a) == nil && a.Type == msgPublishAnswer {
			select {
			case answers <- a.SDP:
			default:
			}
		}
	}
	peers := 0
	join := func() *Peer {
		peers++
		p, err := s.Join("fuzz", fmt.Sprintf("f%d", peers), send)
		if err != nil {
			f.Fatal(err)
		}
		return p
	}
	p := join()
	var history []string // the last 50 inputs p was sent since it joined, for a failure
	f.Fuzz(func(t *testing.T, msg []byte) {
		err := p.Handle(msg)
		history = append(history[max(0, len(history)-19):], fmt.Sprintf("%q: %v", msg, err))
		if errors.Is(err, ErrPeerLeft) {
			t.Fatal("peer left on bad input")
		}
		var m inMsg
		if err == nil && json.Unmarshal(msg, &m) == nil && m.Type == msgPublishOffer {
			p.Leave()
			p = join()
			history = nil
		}
		for len(answers) > 0 {
			<-answers
		}
		if perr := p.Handle(probe); perr != nil {
			// A new peer for the next input, or the fuzzer's minimizer
			// would shrink this input against a wedged peer.
			p.Leave()
			p = join()
			full := history
			history = nil
			t.Fatalf("after %q (%v), a valid offer: %v\nthe peer's inputs so far:\n%s", msg, err, perr, strings.Join(full, "\n"))
		}
		select {
		case a := <-answers:
			if err := checkAnswer(offer, a); err != nil {
				t.Fatalf("after %q: %v", msg, err)
			}
		default:
			t.Fatalf("after %q: a valid offer got no publish-answer", msg)
		}
	})
}

// browserOffer is a publish offer of one Opus and one VP8 track from pion.
func browserOffer(tb testing.TB) string {
	tb.Helper()
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		tb.Fatal(err)
	}
	defer pc.Close()
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			tb.Fatal(err)
		}
	}
	o, err := pc.CreateOffer(nil)
	if err != nil {
		tb.Fatal(err)
	}
	return o.SDP
}

// checkAnswer checks that answer accepts every medium of offer, by mid and
// kind, to receive.
func checkAnswer(offer, answer string) error {
	var o, a sdp.SessionDescription
	if err := o.UnmarshalString(offer); err != nil {
		return err
	}
	if err := a.UnmarshalString(answer); err != nil {
		return fmt.Errorf("answer does not parse: %w", err)
	}
	if len(a.MediaDescriptions) != len(o.MediaDescriptions) {
		return fmt.Errorf("answer has %d media, offer %d", len(a.MediaDescriptions), len(o.MediaDescriptions))
	}
	for i, om := range o.MediaDescriptions {
		am := a.MediaDescriptions[i]
		omid, _ := om.Attribute("mid")
		amid, _ := am.Attribute("mid")
		if _, recv := am.Attribute("recvonly"); amid != omid || am.MediaName.Media != om.MediaName.Media || am.MediaName.Port.Value == 0 || !recv {
			return fmt.Errorf("answer medium %d: %s mid %q port %d, want recvonly %s mid %q", i, am.MediaName.Media, amid, am.MediaName.Port.Value, om.MediaName.Media, omid)
		}
	}
	return nil
}

// loneServer is an SFU on loopback with no TCP port, closed when t ends;
// logger nil discards its log.
func loneServer(t *testing.T, logger *slog.Logger) *Server {
	t.Helper()
	s, err := New(Config{ListenIP: "127.0.0.1", IncludeLoopback: true, TCPPort: -1, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// lonePeer joins s's room "r" as a peer whose messages go nowhere, left
// when t ends.
func lonePeer(t *testing.T, s *Server) *Peer {
	t.Helper()
	p, err := s.Join("r", "p", func(json.RawMessage) {})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Leave)
	return p
}

// TestCheckOffer: what checkOffer lets through to pion. Candidates in an
// offer meet the rules of trickled ones (no multicast, no loopback unless
// allowed), or the SFU would send connectivity checks where it must not.
func TestCheckOffer(t *testing.T) {
	s := loneServer(t, nil)
	offer := browserOffer(t)
	withCandidate := func(c string) string {
		return strings.Replace(offer, "a=mid:0\r\n", "a=mid:0\r\na=candidate:"+c+"\r\n", 1)
	}
	for _, tc := range []struct {
		name     string
		offer    string
		loopback bool
		ok       bool
	}{
		{"browser offer", offer, false, true},
		{"public candidate", withCandidate("1 1 udp 2130706431 198.51.100.7 5000 typ host"), false, true},
		{"multicast candidate", withCandidate("1 1 udp 2130706431 224.0.0.1 5000 typ host"), false, false},
		{"loopback candidate", withCandidate("1 1 udp 2130706431 127.0.0.1 5000 typ host"), false, false},
		{"loopback candidate allowed", withCandidate("1 1 udp 2130706431 127.0.0.1 5000 typ host"), true, true},
		{"garbage candidate", withCandidate("garbage"), false, false},
		// A browser without camera or microphone permission hides its
		// addresses behind mDNS names: skipped, not refused.
		{"mdns candidate", withCandidate("1 1 udp 2130706431 5d2c1f3a-8b7e-4c1d-9a2b-0f1e2d3c4b5a.local 5000 typ host"), false, true},
		{"repeated mid", strings.Replace(offer, "a=mid:1", "a=mid:0", 1), false, false},
		{"two tracks in a medium", strings.Replace(offer, "a=mid:0\r\n", "a=mid:0\r\na=msid:s other\r\n", 1), false, false},
		{"no fingerprint", strings.ReplaceAll(offer, "a=fingerprint:", "a=x-fingerprint:"), false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := checkOffer(tc.offer, tc.loopback); (err == nil) != tc.ok {
				t.Errorf("checkOffer = %v, want ok %v", err, tc.ok)
			}
			if tc.ok {
				if err := s.tryOffer(tc.offer); err != nil {
					t.Errorf("pion refuses what checkOffer lets through: %v", err)
				}
			}
		})
	}
}

// TestHalfwayOfferLogged: an offer that got past tryOffer and that pion
// then took only halfway would leave the publish PC refusing every later
// offer; the peer logs that at Error. (answerLocked is called directly
// here, past tryOffer.)
func TestHalfwayOfferLogged(t *testing.T) {
	h := &levels{got: map[string]slog.Level{}}
	s := loneServer(t, slog.New(h))
	p := lonePeer(t, s)
	bad := strings.Replace(browserOffer(t), "a=group:BUNDLE ", "a=group:BUNDLE 7 ", 1)
	if err := s.tryOffer(bad); err == nil {
		t.Fatal("tryOffer takes an offer whose BUNDLE group names no medium")
	}
	p.mu.Lock()
	err := p.answerLocked(bad)
	p.mu.Unlock()
	h.mu.Lock()
	lvl, ok := h.got["publish offer refused halfway"]
	h.mu.Unlock()
	if err == nil || !ok || lvl != slog.LevelError {
		t.Errorf("answerLocked: %v; logged %v at %v, want an Error", err, ok, lvl)
	}
}

// TestPayloadTypesKept: pion keeps the codecs of every offer a PC took and
// refuses, only after it has taken it halfway, an offer that maps one of
// their payload types to another codec; the SFU refuses it first, and the
// next good offer is answered.
func TestPayloadTypesKept(t *testing.T) {
	s := loneServer(t, nil)
	p := lonePeer(t, s)
	offer := browserOffer(t)
	probe := mustJSON(sdpMsg{Type: msgPublishOffer, SDP: offer})
	if err := p.Handle(probe); err != nil {
		t.Fatal(err)
	}
	remapped := strings.Replace(offer, "a=rtpmap:96 VP8/90000", "a=rtpmap:96 VP9/90000", 1)
	if remapped == offer {
		t.Fatal("the offer has no VP8 at 96")
	}
	if err := p.Handle(mustJSON(sdpMsg{Type: msgPublishOffer, SDP: remapped})); !errors.Is(err, ErrBadMessage) {
		t.Errorf("offer mapping 96 to VP9 after VP8: %v, want ErrBadMessage", err)
	}
	if err := p.Handle(probe); err != nil {
		t.Errorf("the good offer after it: %v", err)
	}
}
