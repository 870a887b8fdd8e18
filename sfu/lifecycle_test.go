package sfu_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"callbox/sfu"
	"callbox/sfu/sfuclient"
)

// TestNoLeaks runs a call, then Leave and Close, and checks that goroutines
// and file descriptors are back to the baseline and the ports are free.
func TestNoLeaks(t *testing.T) {
	runtime.GC()
	baseG, baseFD := runtime.NumGoroutine(), openFDs(t)

	s, err := sfu.New(sfu.Config{ListenIP: "127.0.0.1", IncludeLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	runCtx, stopRun := context.WithCancel(ctx)
	runDone := make(chan error, 1)
	go func() { runDone <- s.Run(runCtx) }()
	udpAddr, tcpAddr := s.UDPAddr(), s.TCPAddr()

	e := &env{t: t, s: s, log: &logBuf{}, ctx: ctx}
	mk := func(name string) *client {
		c, err := sfuclient.New(sfuclient.Config{})
		if err != nil {
			t.Fatal(err)
		}
		p, err := s.Join("leak", name, c.Deliver)
		if err != nil {
			t.Fatal(err)
		}
		c.Start(p)
		return &client{Client: c, name: name, peer: p}
	}
	a, b := mk("alice"), mk("bob")
	aa, av := e.publishAV(a)
	pctx, stopPump := context.WithCancel(ctx)
	var wg sync.WaitGroup
	pump(pctx, &wg, "alice", map[string]*sfuclient.Track{"audio": aa, "video": av})
	r := e.waitRemotes(b, "alice/video")["alice/video"]
	e.waitStream(e.readRemote(b, r, &wg), 50, "bob<-alice video")

	// bob leaves first (subscriber side), then Close takes alice.
	b.peer.Leave()
	b.peer.Leave() // twice is fine
	if st := s.Stats(); st.Peers != 1 || st.ForwardedPackets == 0 {
		t.Errorf("stats after bob left: %+v", st)
	}
	stopPump()
	stopRun()
	if err := <-runDone; err != nil {
		t.Errorf("run: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if _, err := s.Join("leak", "late", func(json.RawMessage) {}); !errors.Is(err, sfu.ErrClosed) {
		t.Errorf("join after close: %v, want ErrClosed", err)
	}
	a.Close()
	b.Close()
	wg.Wait()

	waitGoroutines(t, baseG)
	if fd := openFDs(t); fd > baseFD {
		t.Errorf("file descriptors: %d, baseline %d", fd, baseFD)
	}
	u, err := net.ListenUDP("udp", udpAddr)
	if err != nil {
		t.Errorf("udp port still bound: %v", err)
	} else {
		u.Close()
	}
	l, err := net.Listen("tcp", tcpAddr)
	if err != nil {
		t.Errorf("tcp port still bound: %v", err)
	} else {
		l.Close()
	}
}

func TestBadInput(t *testing.T) {
	e := newEnv(t)
	// A healthy call in another room must be unaffected by all of this.
	a := e.join("good", "alice", sfuclient.Config{})
	b := e.join("good", "bob", sfuclient.Config{})
	wg := e.callAV([]*client{a, b}, a)
	rc := e.readRemote(b, e.waitRemotes(b, "alice/video")["alice/video"], wg)
	e.waitStream(rc, 50, "before")

	m, err := e.s.Join("bad", "mallory", func(json.RawMessage) {})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Leave()
	if _, err := e.s.Join("bad", "mallory", func(json.RawMessage) {}); !errors.Is(err, sfu.ErrDuplicate) {
		t.Errorf("second join: %v, want ErrDuplicate", err)
	}
	cases := []struct {
		name string
		msg  string
		want error
	}{
		{"garbage", `}{`, sfu.ErrBadMessage},
		{"not an object", `[1,2]`, sfu.ErrBadMessage},
		{"unknown type", `{"type":"hello"}`, sfu.ErrBadMessage},
		{"empty sdp", `{"type":"publish-offer"}`, sfu.ErrBadMessage},
		{"malformed sdp", `{"type":"publish-offer","sdp":"v=0\r\nthis is not sdp"}`, sfu.ErrBadMessage},
		{"answer without offer", `{"type":"subscribe-answer","sdp":"v=0\r\n"}`, sfu.ErrNotNegotiating},
		{"candidate missing", `{"type":"candidate","pc":"publish"}`, sfu.ErrBadMessage},
		{"candidate garbage", `{"type":"candidate","pc":"publish","candidate":{"candidate":"candidate:nonsense"}}`, sfu.ErrBadCandidate},
		{"candidate multicast", `{"type":"candidate","pc":"publish","candidate":{"candidate":"candidate:1 1 udp 2130706431 224.0.0.1 5000 typ host"}}`, sfu.ErrBadCandidate},
		{"candidate unspecified", `{"type":"candidate","pc":"subscribe","candidate":{"candidate":"candidate:1 1 udp 2130706431 0.0.0.0 5000 typ host"}}`, sfu.ErrBadCandidate},
		{"candidate broadcast", `{"type":"candidate","pc":"publish","candidate":{"candidate":"candidate:1 1 udp 2130706431 255.255.255.255 5000 typ host"}}`, sfu.ErrBadCandidate},
		{"candidate mdns", `{"type":"candidate","pc":"publish","candidate":{"candidate":"candidate:1 1 udp 2130706431 abc.local 5000 typ host"}}`, sfu.ErrBadCandidate},
		{"candidate port 0", `{"type":"candidate","pc":"publish","candidate":{"candidate":"candidate:1 1 udp 2130706431 10.1.2.3 0 typ host"}}`, sfu.ErrBadCandidate},
		{"candidate unknown pc", `{"type":"candidate","pc":"other","candidate":{"candidate":"candidate:1 1 udp 2130706431 10.1.2.3 5000 typ host"}}`, sfu.ErrBadMessage},
		{"mute without muted", `{"type":"mute","kind":"audio"}`, sfu.ErrBadMessage},
		{"mute bad kind", `{"type":"mute","kind":"smell","muted":true}`, sfu.ErrBadMessage},
		{"layer unknown track", `{"type":"layer","track":"nope","maxWidth":320,"maxHeight":180}`, sfu.ErrUnknownTrack},
		{"layer negative", `{"type":"layer","track":"nope","maxWidth":-1}`, sfu.ErrBadMessage},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := m.Handle(json.RawMessage(tc.msg)); !errors.Is(err, tc.want) {
				t.Errorf("Handle(%s) = %v, want %v", tc.msg, err, tc.want)
			}
		})
	}
	// A candidate for a foreign but valid address queues (no description
	// yet) and harms nothing.
	if err := m.Handle(json.RawMessage(`{"type":"candidate","pc":"publish","candidate":{"candidate":"candidate:1 1 udp 2130706431 192.0.2.1 5000 typ host"}}`)); err != nil {
		t.Errorf("foreign candidate: %v", err)
	}

	// Garbage datagrams at the ICE port: random bytes, a DTLS-looking
	// record, an RTP-looking packet, a STUN request for an unknown ufrag.
	conn, err := net.DialUDP("udp", nil, e.s.UDPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	junk := [][]byte{
		[]byte("hello, sfu"),
		{0x16, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 1, 0, 5, 1, 2, 3, 4, 5},
		append([]byte{0x80, 0x60, 0, 1, 0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef}, make([]byte, 100)...),
		{0, 1, 0, 8, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0, 6, 0, 3, 'x', ':', 'y', 0},
	}
	for i := 0; i < 50; i++ {
		for _, j := range junk {
			if _, err := conn.Write(j); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The same at the ICE-TCP port, which the server always opens here
	// (TCPPort 0: an ephemeral port on 127.0.0.1), so the dial must work;
	// the server must count the connection as junk.
	sendJunkTCP(t, e.s.TCPAddr(), []byte{0, 20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20})
	waitDroppedTCP(e.ctx, t, e.s, 1)
	e.waitStream(rc, rc.Span()+50, "after garbage")
	if !strings.Contains(e.log.String(), "candidate refused") {
		t.Errorf("refused candidates not logged")
	}
	if !strings.Contains(e.log.String(), "udp datagram dropped") || e.s.Stats().DroppedDatagrams == 0 {
		t.Errorf("garbage datagrams neither logged nor counted: %+v", e.s.Stats())
	}
}

// TestRestart resumes a call with ICE restarts on both PCs: the SFU sends a
// new subscribe offer with new credentials and media keeps flowing.
func TestRestart(t *testing.T) {
	e := newEnv(t)
	a := e.join("r", "alice", sfuclient.Config{})
	b := e.join("r", "bob", sfuclient.Config{})
	wg := e.callAV([]*client{a, b}, a, b)
	rc := e.readRemote(b, e.waitRemotes(b, "alice/video")["alice/video"], wg)
	up := e.readRemote(a, e.waitRemotes(a, "bob/video")["bob/video"], wg)
	e.waitStream(rc, 50, "before restart")
	e.waitStream(up, 50, "before restart (bob's upstream)")

	// What is in flight while a pair changes is lost and repaired, as much
	// as the restart takes time (up to 40 packets of 150 under -race): from
	// here on, only gaps left, order and payloads are judged. Bob's publish
	// PC restarts too, so what alice gets from him is repaired by the SFU's
	// NACKs to bob, not by alice's own.
	rc.SetMaxLoss(1)
	up.SetMaxLoss(1)
	up.ExpectUpstreamRepairs()

	ufrag := func(sdp string) string {
		i := strings.Index(sdp, "a=ice-ufrag:")
		if i < 0 {
			return ""
		}
		return strings.Fields(sdp[i+12:])[0]
	}
	before := ufrag(b.Sub.RemoteDescription().SDP)
	if err := b.Send(map[string]string{"type": "restart"}); err != nil {
		t.Fatal(err)
	}
	if err := b.Offer(true); err != nil { // bob's publish PC restarts too
		t.Fatal(err)
	}
	for ufrag(b.Sub.RemoteDescription().SDP) == before {
		select {
		case err := <-b.Errors():
			t.Fatal(err)
		case <-e.ctx.Done():
			t.Fatal("no subscribe offer with new ICE credentials")
		case <-time.After(10 * time.Millisecond):
		}
	}
	e.waitStream(rc, rc.Span()+50, "after restart")
	e.waitStream(up, up.Span()+50, "after restart (bob's upstream)")
}
