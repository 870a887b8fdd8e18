package sfu_test

import (
	"context"
	"sync"
	"testing"

	"callbox/sfu/sfuclient"
)

func TestOneToOne(t *testing.T) {
	e := newEnv(t)
	a := e.join("r1", "alice", sfuclient.Config{})
	b := e.join("r1", "bob", sfuclient.Config{})
	aa, av := e.publishAV(a)
	ba, bv := e.publishAV(b)

	ctx, stop := context.WithCancel(e.ctx)
	var wg sync.WaitGroup
	defer func() { stop(); a.Close(); b.Close(); wg.Wait() }()
	pump(ctx, &wg, "alice", map[string]*sfuclient.Track{"audio": aa, "video": av})
	pump(ctx, &wg, "bob", map[string]*sfuclient.Track{"audio": ba, "video": bv})

	atB := e.waitRemotes(b, "alice/audio", "alice/video")
	atA := e.waitRemotes(a, "bob/audio", "bob/video")
	for what, r := range map[string]*sfuclient.Remote{
		"bob<-alice audio": atB["alice/audio"], "bob<-alice video": atB["alice/video"],
		"alice<-bob audio": atA["bob/audio"], "alice<-bob video": atA["bob/video"],
	} {
		e.waitCount(e.readRemote(r, &wg), 100, what)
	}
	st := e.s.Stats()
	if st.Rooms != 1 || st.Peers != 2 || st.Tracks != 4 || st.ForwardedPackets < 400 {
		t.Errorf("stats = %+v", st)
	}
}
