package sfu_test

import (
	"testing"

	"callbox/sfu"
	"callbox/sfu/sfuclient"
)

// TestSendPaths: what subscribers get is sealed and sent by the send fast
// path (fastsend.go) over UDP, through pion's ICE conn for an ICE-TCP
// subscriber, and by pion itself with Config.NoFastPath; in each case the
// media arrives whole and in order (waitStream checks).
func TestSendPaths(t *testing.T) {
	for _, tt := range []struct {
		name    string
		cfg     sfu.Config
		tcp     bool
		wantOwn bool
	}{
		{name: "udp", cfg: sfu.Config{ListenIP: "127.0.0.1", IncludeLoopback: true}, wantOwn: true},
		{name: "ice-tcp subscriber", cfg: sfu.Config{ListenIP: "127.0.0.1", IncludeLoopback: true}, tcp: true, wantOwn: true},
		{name: "no fast path", cfg: sfu.Config{ListenIP: "127.0.0.1", IncludeLoopback: true, NoFastPath: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnvConfig(t, tt.cfg)
			a := e.join("r", "alice", sfuclient.Config{})
			b := e.join("r", "bob", sfuclient.Config{TCPOnly: tt.tcp})
			wg := e.callAV([]*client{a, b}, a)
			rs := e.waitRemotes(b, "alice/audio", "alice/video")
			video, audio := e.readRemote(b, rs["alice/video"], wg), e.readRemote(b, rs["alice/audio"], wg)
			e.waitStream(video, 300, "bob<-alice video")
			e.waitStream(audio, 50, "bob<-alice audio")
			st := e.s.Stats()
			if !tt.wantOwn {
				if st.FastSendPackets != 0 {
					t.Errorf("%d packets sent by the fast path, want 0", st.FastSendPackets)
				}
				return
			}
			// A few packets before the subscribe PC connects are dropped
			// (pion would drop them too); everything after is ours.
			if st.FastSendPackets < 350 || st.FastSendPackets > st.ForwardedPackets {
				t.Errorf("%d of %d forwarded packets sent by the fast path, want >= 350", st.FastSendPackets, st.ForwardedPackets)
			}
		})
	}
}
