package sfu

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// bindsAsDownTrack is a track that binds as downTrack.Bind does: to the
// first codec the answer left it, or, with none left, to none, with no
// error (the subscriber gets no media for it).
type bindsAsDownTrack struct{ kind webrtc.RTPCodecType }

func (b bindsAsDownTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	if cs := ctx.CodecParameters(); len(cs) > 0 {
		return cs[0], nil
	}
	return webrtc.RTPCodecParameters{}, nil
}
func (bindsAsDownTrack) Unbind(webrtc.TrackLocalContext) error { return nil }
func (b bindsAsDownTrack) ID() string                          { return b.kind.String() }
func (bindsAsDownTrack) RID() string                           { return "" }
func (bindsAsDownTrack) StreamID() string                      { return "s" }
func (b bindsAsDownTrack) Kind() webrtc.RTPCodecType           { return b.kind }

// FuzzSubscribeAnswer sends arbitrary subscribe answers to a peer with a
// subscribe offer outstanding: errors, never a panic, and the peer stays
// usable: after an answer it refused, the client's real answer to the same
// offer is taken. An answer the input itself got taken is the client's own,
// which later offers may rightly clash with: then the next input goes to a
// new peer. Each input gets a fresh offer (a restart's).
func FuzzSubscribeAnswer(f *testing.F) {
	s, err := New(Config{ListenIP: "127.0.0.1", IncludeLoopback: true, TCPPort: -1})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	// The client answers with no candidate of its own: no ICE runs.
	var se webrtc.SettingEngine
	se.SetInterfaceFilter(func(string) bool { return false })
	var client *webrtc.PeerConnection
	offers := make(chan string, 16)
	send := func(m json.RawMessage) {
		var o sdpMsg
		if json.Unmarshal(m, &o) == nil && o.Type == msgSubscribeOffer {
			select {
			case offers <- o.SDP:
			default:
			}
		}
	}
	next := func(tb testing.TB) string {
		select {
		case o := <-offers:
			return o
		case <-time.After(10 * time.Second):
			tb.Fatal("no subscribe offer")
			return ""
		}
	}
	peers := 0
	var p *Peer
	var offer string // the outstanding subscribe offer of p
	// join makes a peer with an audio and a video medium to send and its
	// first subscribe offer, and a client PC to answer it.
	join := func(tb testing.TB) {
		peers++
		if p != nil {
			p.Leave()
		}
		for len(offers) > 0 {
			<-offers // the old peer's
		}
		if client != nil {
			_ = client.Close()
		}
		var err error
		if client, err = webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{}); err != nil {
			tb.Fatal(err)
		}
		if p, err = s.Join("fuzz", fmt.Sprintf("a%d", peers), send); err != nil {
			tb.Fatal(err)
		}
		for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
			if _, err := p.sub.AddTrack(bindsAsDownTrack{kind: k}); err != nil {
				tb.Fatal(err)
			}
		}
		p.mu.Lock()
		p.negotiateLocked()
		p.mu.Unlock()
		offer = next(tb)
	}
	// answer is the client's real answer to offer.
	answer := func(tb testing.TB) string {
		if err := client.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
			tb.Fatalf("client: %v", err)
		}
		a, err := client.CreateAnswer(nil)
		if err != nil {
			tb.Fatalf("client: %v", err)
		}
		if err := client.SetLocalDescription(a); err != nil {
			tb.Fatalf("client: %v", err)
		}
		return a.SDP
	}
	join(f)
	good := answer(f)
	for _, a := range []string{
		good,
		strings.Replace(good, "a=ice-pwd:", "a=x-ice-pwd:", -1),
		strings.Replace(good, "a=fingerprint:", "a=x-fingerprint:", -1),
		strings.Replace(good, "a=mid:0\r\n", "a=mid:0\r\na=extmap:x y\r\n", 1),
		strings.Replace(good, "a=mid:0\r\n", "a=mid:0\r\na=candidate:garbage\r\n", 1),
		strings.Replace(good, "a=rtpmap:96 VP8/90000", "a=rtpmap:96 VP9/90000", 1), // not the offer's
		"v=0", "",
	} {
		f.Add(a)
	}
	// The seed answered the first offer: the fuzzing starts on a new peer.
	join(f)
	f.Fuzz(func(t *testing.T, in string) {
		err := p.Handle(mustJSON(sdpMsg{Type: msgSubscribeAnswer, SDP: in}))
		if errors.Is(err, ErrPeerLeft) {
			t.Fatal("peer left on bad input")
		}
		if err == nil {
			join(t) // the input's answer was taken
			return
		}
		if aerr := p.Handle(mustJSON(sdpMsg{Type: msgSubscribeAnswer, SDP: answer(t)})); aerr != nil {
			join(t) // the next input gets a usable peer
			t.Fatalf("after %q (%v), the client's answer: %v", in, err, aerr)
		}
		// A new offer for the next input: the restart's.
		if rerr := p.Handle(json.RawMessage(`{"type":"restart"}`)); rerr != nil {
			join(t)
			t.Fatalf("after %q (%v), restart: %v", in, err, rerr)
		}
		offer = next(t)
	})
	p.Leave()
	_ = client.Close()
}
