package sfu_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"callbox/sfu/sfuclient"
)

// TestQuietCall: a call that sets up, carries media and ends cleanly logs
// no warning from pion (issue 11, item 5). Closing a call used to log about
// twenty ("read/write on closed pipe", "Failed to ping without candidate
// pairs", "Failed to accept RTP stream is already closed"); they are
// pion's expected start and close noise and go to Debug.
func TestQuietCall(t *testing.T) {
	var e *env
	// Registered first, so it runs last: after the clients left and the
	// server closed, so teardown's lines are in the log.
	t.Cleanup(func() {
		var warns []string
		for _, line := range strings.Split(e.log.String(), "\n") {
			if strings.Contains(line, "level=WARN") && strings.Contains(line, " pion=") {
				warns = append(warns, line)
			}
		}
		if len(warns) > 0 {
			t.Errorf("%d pion warnings over a clean call:\n%s", len(warns), strings.Join(warns, "\n"))
		}
	})
	e = newEnv(t)
	a := e.join("r", "alice", sfuclient.Config{})
	b := e.join("r", "bob", sfuclient.Config{})
	aa, av := e.publishAV(a)
	ba, bv := e.publishAV(b)
	ctx, stop := context.WithCancel(e.ctx)
	var wg sync.WaitGroup
	pump(ctx, &wg, "alice", map[string]*sfuclient.Track{"audio": aa, "video": av})
	pump(ctx, &wg, "bob", map[string]*sfuclient.Track{"audio": ba, "video": bv})
	atB := e.waitRemotes(b, "alice/video")
	atA := e.waitRemotes(a, "bob/video")
	e.waitStream(e.readRemote(b, atB["alice/video"], &wg), 50, "bob<-alice video")
	e.waitStream(e.readRemote(a, atA["bob/video"], &wg), 50, "alice<-bob video")
	// Hang up as the signaling layer does: leave, then the client goes.
	stop()
	a.peer.Leave()
	a.Close()
	b.peer.Leave()
	b.Close()
	wg.Wait()
}
