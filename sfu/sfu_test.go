package sfu_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"callbox/sfu"
	"callbox/sfu/sfuclient"

	"github.com/pion/webrtc/v4"
)

func TestOneToOne(t *testing.T) {
	e := newEnv(t)
	a := e.join("r1", "alice", sfuclient.Config{})
	b := e.join("r1", "bob", sfuclient.Config{})
	wg := e.callAV([]*client{a, b}, a, b)

	atB := e.waitRemotes(b, "alice/audio", "alice/video")
	atA := e.waitRemotes(a, "bob/audio", "bob/video")
	streams := map[string]*sfuclient.StreamCheck{
		"bob<-alice audio": e.readRemote(b, atB["alice/audio"], wg), "bob<-alice video": e.readRemote(b, atB["alice/video"], wg),
		"alice<-bob audio": e.readRemote(a, atA["bob/audio"], wg), "alice<-bob video": e.readRemote(a, atA["bob/video"], wg),
	}
	for what, chk := range streams {
		e.waitStream(chk, 200, what)
	}
	// The tracks message maps every transceiver's mid to its publisher.
	checked := 0
	for c, rs := range map[*client]map[string]*sfuclient.Remote{a: atA, b: atB} {
		for _, r := range rs {
			for _, tr := range c.Sub.GetTransceivers() {
				if tr.Receiver() != nil && tr.Receiver().Track() == r.Track {
					checked++
					if who := c.ParticipantByMid(tr.Mid()); who != r.Participant {
						t.Errorf("%s: mid %s maps to %q, want %q", c.name, tr.Mid(), who, r.Participant)
					}
				}
			}
		}
	}
	if checked != 4 {
		t.Errorf("checked %d mids, want 4", checked)
	}
	st := e.s.Stats()
	if st.Rooms != 1 || st.Peers != 2 || st.Tracks != 4 || st.ForwardedPackets < 400 {
		t.Errorf("stats = %+v", st)
	}
	// Once bound, the publishers' media takes the receive fast path
	// (fastpath.go): a few packets per stream go through pion first.
	if st.FastPathPackets < 400 || st.FastPathFallbacks != 0 || st.FastPathAuthFails != 0 {
		t.Errorf("fast path: %d packets, %d fallbacks, %d auth failures; want >= 400, 0, 0", st.FastPathPackets, st.FastPathFallbacks, st.FastPathAuthFails)
	}
}

func TestFourParty(t *testing.T) {
	e := newEnv(t)
	names := []string{"p1", "p2", "p3", "p4"}
	cs := map[string]*client{}
	ctx, stop := context.WithCancel(e.ctx)
	var wg sync.WaitGroup
	defer func() {
		stop()
		for _, c := range cs {
			c.Close()
		}
		wg.Wait()
	}()
	for _, n := range names {
		cs[n] = e.join("room4", n, sfuclient.Config{})
		a, v := e.publishAV(cs[n])
		pump(ctx, &wg, n, map[string]*sfuclient.Track{"audio": a, "video": v})
	}
	streams := map[string]*sfuclient.StreamCheck{}
	for _, n := range names {
		var want []string
		for _, o := range names {
			if o != n {
				want = append(want, o+"/audio", o+"/video")
			}
		}
		for k, r := range e.waitRemotes(cs[n], want...) {
			streams[n+"<-"+k] = e.readRemote(cs[n], r, &wg)
		}
	}
	for what, chk := range streams {
		e.waitStream(chk, 100, what)
	}
	if st := e.s.Stats(); st.Peers != 4 || st.Tracks != 8 {
		t.Errorf("stats = %+v", st)
	}
}

// TestLeaveUnsubscribes checks that when a peer leaves, the others'
// subscribe PCs are renegotiated without its tracks, and a late joiner
// still gets the remaining tracks.
func TestLeaveUnsubscribes(t *testing.T) {
	e := newEnv(t)
	a := e.join("r", "alice", sfuclient.Config{})
	b := e.join("r", "bob", sfuclient.Config{})
	e.callAV([]*client{a, b}, a)
	e.waitRemotes(b, "alice/audio", "alice/video")
	e.waitEvent(b, "onUserVideoAvailable", func(d json.RawMessage) bool { return string(d) == `{"userID":"alice","isVideoAvailable":true}` })

	c := e.join("r", "carol", sfuclient.Config{})
	defer c.Close()
	e.waitRemotes(c, "alice/audio", "alice/video")
	e.waitEvent(c, "onUserAudioAvailable", func(d json.RawMessage) bool { return string(d) == `{"userID":"alice","isAudioAvailable":true}` })

	a.peer.Leave()
	e.waitEvent(b, "onUserVideoAvailable", func(d json.RawMessage) bool { return string(d) == `{"userID":"alice","isVideoAvailable":false}` })
	if st := e.s.Stats(); st.Peers != 2 || st.Tracks != 0 {
		t.Errorf("stats after leave = %+v", st)
	}
}

// TestAllInterfacesWithPublicIP listens on every interface and announces
// a NAT 1:1 address (here the loopback one, which the clients can reach).
func TestAllInterfacesWithPublicIP(t *testing.T) {
	e := newEnvConfig(t, sfu.Config{ListenIP: "0.0.0.0", PublicIPs: []string{"127.0.0.1"}, IncludeLoopback: true})
	a := e.join("r", "alice", sfuclient.Config{})
	b := e.join("r", "bob", sfuclient.Config{})
	wg := e.callAV([]*client{a, b}, a)
	e.waitStream(e.readRemote(b, e.waitRemotes(b, "alice/video")["alice/video"], wg), 100, "bob<-alice video")
	// On the wildcard address the socket is dual-stack: the fast path
	// reads IPv4-mapped sources and must still find the publisher.
	if st := e.s.Stats(); st.FastPathPackets == 0 || st.FastPathFallbacks != 0 {
		t.Errorf("fast path on 0.0.0.0: %d packets, %d fallbacks", st.FastPathPackets, st.FastPathFallbacks)
	}
	if _, err := sfu.New(sfu.Config{ListenIP: "nonsense"}); err == nil {
		t.Error("bad listen ip accepted")
	}
	if _, err := sfu.New(sfu.Config{ListenIP: "127.0.0.1", PublicIPs: []string{"x"}}); err == nil {
		t.Error("bad public ip accepted")
	}
}

// TestVideoCodecs publishes H.264 and VP9 (which the SFU negotiates when
// the client offers them) and checks each arrives in its own codec.
func TestVideoCodecs(t *testing.T) {
	e := newEnv(t)
	a := e.join("r", "alice", sfuclient.Config{})
	b := e.join("r", "bob", sfuclient.Config{})
	h264, err := a.AddVideoCodec(webrtc.MimeTypeH264)
	if err != nil {
		t.Fatal(err)
	}
	vp9, err := a.AddVideoCodec(webrtc.MimeTypeVP9)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Offer(false); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(e.ctx)
	var wg sync.WaitGroup
	defer func() { stop(); a.Close(); b.Close(); wg.Wait() }()
	pump(ctx, &wg, "alice", map[string]*sfuclient.Track{"video": h264[0]})
	pump(ctx, &wg, "alice", map[string]*sfuclient.Track{"video": vp9[0]})
	got := map[string]*sfuclient.StreamCheck{}
	for len(got) < 2 {
		select {
		case r := <-b.Remotes():
			got[r.Track.Codec().MimeType] = e.readRemote(b, r, &wg)
		case err := <-b.Errors():
			t.Fatal(err)
		case <-e.ctx.Done():
			t.Fatalf("codecs received: %v", keys(got))
		}
	}
	if got[webrtc.MimeTypeH264] == nil || got[webrtc.MimeTypeVP9] == nil {
		t.Fatalf("codecs received: %v", keys(got))
	}
	for mime, chk := range got {
		e.waitStream(chk, 100, "bob<-alice "+mime)
	}
}
