package sfu_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"callbox/sfu"
	"callbox/sfu/sfuclient"
)

// badOffers turn a client's publish offer into ones pion refuses only after
// it has entered have-remote-offer, which pion v4 cannot roll back: the ICE
// password only in the media while the ufrag is at session level (pion
// reads the password from where it found the ufrag), a BUNDLE group whose
// first mid names no medium (pion reads ICE credentials and fingerprint
// there), a payload type without rtpmap, one out of range, and a header
// extension id that does not parse.
var badOffers = map[string]func(string) string{
	"session ufrag, media pwd": func(o string) string {
		_, rest, _ := strings.Cut(o, "a=ice-ufrag:")
		ufrag, _, _ := strings.Cut(rest, "\r\n")
		o = strings.ReplaceAll(o, "a=ice-ufrag:"+ufrag+"\r\n", "")
		return strings.Replace(o, "t=0 0\r\n", "t=0 0\r\na=ice-ufrag:"+ufrag+"\r\n", 1)
	},
	"bundle names no medium": func(o string) string {
		return strings.Replace(o, "a=group:BUNDLE ", "a=group:BUNDLE 7 ", 1)
	},
	"payload type without rtpmap": func(o string) string { return firstFormat(o, "55") },
	"payload type out of range":   func(o string) string { return firstFormat(o, "300") },
	"bad extmap": func(o string) string {
		return strings.Replace(o, "a=mid:0\r\n", "a=mid:0\r\na=extmap:x y\r\n", 1)
	},
}

// firstFormat puts payload type pt first in the first medium's formats.
func firstFormat(sdp, pt string) string {
	i := strings.Index(sdp, "\r\nm=")
	if i < 0 {
		return sdp
	}
	head, line, ok := strings.Cut(sdp[i+2:], "\r\n")
	if f := strings.Fields(head); ok && len(f) > 3 {
		return sdp[:i+2] + strings.Join(slices.Insert(f, 3, pt), " ") + "\r\n" + line
	}
	return sdp
}

// TestBadOfferRecovery: each bad publish offer gets ErrBadMessage and
// changes nothing, before the first good offer and in a call: the next good
// offer of the same client is answered and media flows on.
func TestBadOfferRecovery(t *testing.T) {
	e := newEnv(t)
	a := e.join("r", "alice", sfuclient.Config{})
	b := e.join("r", "bob", sfuclient.Config{})
	ctx, stop := context.WithCancel(e.ctx)
	wg := &sync.WaitGroup{}
	t.Cleanup(func() {
		stop()
		a.Close()
		b.Close()
		wg.Wait()
	})
	audio, err := a.AddAudio()
	if err != nil {
		t.Fatal(err)
	}
	video, err := a.AddVideo()
	if err != nil {
		t.Fatal(err)
	}
	sendBad := func(when string) {
		t.Helper()
		offer, err := a.Pub.CreateOffer(nil)
		if err != nil {
			t.Fatal(err)
		}
		for name, mangle := range badOffers {
			bad := mangle(offer.SDP)
			if bad == offer.SDP {
				t.Fatalf("%s: %s changes nothing in the offer", when, name)
			}
			if err := a.Send(map[string]string{"type": "publish-offer", "sdp": bad}); !errors.Is(err, sfu.ErrBadMessage) {
				t.Errorf("%s: %s: %v, want ErrBadMessage", when, name, err)
			}
		}
	}
	sendBad("before the first offer")
	if err := a.Offer(false); err != nil {
		t.Fatalf("first good offer: %v", err)
	}
	pump(ctx, wg, "alice", map[string]*sfuclient.Track{"audio": audio, "video": video[0]})
	remotes := e.waitRemotes(b, "alice/audio", "alice/video")
	ra, rv := e.readRemote(b, remotes["alice/audio"], wg), e.readRemote(b, remotes["alice/video"], wg)
	e.waitStream(rv, 50, "video after the first good offer")
	e.waitStream(ra, 50, "audio after the first good offer")

	sendBad("in the call")
	e.waitStream(rv, rv.Span()+50, "video after bad renegotiations")
	if err := a.Offer(false); err != nil {
		t.Fatalf("good renegotiation: %v", err)
	}
	e.waitStream(rv, rv.Span()+50, "video after a good renegotiation")
	e.waitStream(ra, ra.Span()+50, "audio after a good renegotiation")
	select {
	case err := <-a.Errors():
		t.Fatalf("alice: %v", err)
	default:
	}
}

// spoilAnswers relays a client's messages to its peer, each
// subscribe-answer preceded by the bad variants of it, which must be
// refused with ErrBadMessage (the BUNDLE one is left out: pion takes that
// in an answer).
type spoilAnswers struct {
	p       *sfu.Peer
	spoiled atomic.Int32
	wrong   chan error
}

func (h *spoilAnswers) Handle(m json.RawMessage) error {
	var a struct{ Type, SDP string }
	if json.Unmarshal(m, &a) == nil && a.Type == "subscribe-answer" {
		for name, mangle := range badOffers {
			if bad := mangle(a.SDP); name != "bundle names no medium" {
				if bad == a.SDP {
					h.wrong <- fmt.Errorf("%s changes nothing in the answer", name)
					continue
				}
				b, _ := json.Marshal(map[string]string{"type": "subscribe-answer", "sdp": bad})
				if err := h.p.Handle(b); !errors.Is(err, sfu.ErrBadMessage) {
					h.wrong <- fmt.Errorf("%s: %v, want ErrBadMessage", name, err)
				}
			}
		}
		h.spoiled.Add(1)
	}
	return h.p.Handle(m)
}

// TestBadAnswerRecovery: each bad subscribe answer gets ErrBadMessage and
// changes nothing: the good answer that follows is taken, media flows, and
// so after the SFU's next offer (a restart's).
func TestBadAnswerRecovery(t *testing.T) {
	e := newEnv(t)
	a := e.join("r", "alice", sfuclient.Config{})
	c, err := sfuclient.New(sfuclient.Config{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.s.Join("r", "bob", c.Deliver)
	if err != nil {
		t.Fatal(err)
	}
	h := &spoilAnswers{p: p, wrong: make(chan error, 16)}
	c.Start(h)
	b := &client{Client: c, name: "bob", peer: p}
	wg := e.callAV([]*client{a, b}, a)
	t.Cleanup(func() { p.Leave() })
	rv := e.readRemote(b, e.waitRemotes(b, "alice/video")["alice/video"], wg)
	e.waitStream(rv, 50, "video after bad answers")

	rv.SetMaxLoss(1) // what is in flight while the pair changes
	if err := b.Send(map[string]string{"type": "restart"}); err != nil {
		t.Fatal(err)
	}
	for h.spoiled.Load() < 2 {
		select {
		case err := <-b.Errors():
			t.Fatalf("bob: %v", err)
		case <-e.ctx.Done():
			t.Fatal("no second subscribe offer")
		case <-time.After(10 * time.Millisecond):
		}
	}
	e.waitStream(rv, rv.Span()+50, "video after the restart's bad answers")
	select {
	case err := <-h.wrong:
		t.Error(err)
	case err := <-b.Errors():
		t.Errorf("bob: %v", err)
	default:
	}
}
