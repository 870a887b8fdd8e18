package sfu_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"callbox/sfu"
	"callbox/sfu/sfuclient"
)

// logBuf collects the server's log for assertions; safe after the test ends.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type env struct {
	t   *testing.T
	s   *sfu.Server
	log *logBuf
	ctx context.Context
}

// newEnv starts a server on 127.0.0.1 with ephemeral ports and runs it
// until the test ends. The test's deadline bounds every wait.
func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvConfig(t, sfu.Config{ListenIP: "127.0.0.1", IncludeLoopback: true})
}

func newEnvConfig(t *testing.T, cfg sfu.Config) *env {
	t.Helper()
	lb := &logBuf{}
	cfg.Logger = slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s, err := sfu.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		<-done
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		cancel()
		if t.Failed() {
			t.Logf("server log:\n%s", lb.String())
		}
	})
	return &env{t: t, s: s, log: lb, ctx: ctx}
}

type client struct {
	*sfuclient.Client
	name    string
	peer    *sfu.Peer
	backlog []sfuclient.Event // events read but not yet matched
}

func (e *env) join(room, name string, cfg sfuclient.Config) *client {
	e.t.Helper()
	c, err := sfuclient.New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	p, err := e.s.Join(room, name, c.Deliver)
	if err != nil {
		c.Close()
		e.t.Fatal(err)
	}
	c.Start(p)
	cl := &client{Client: c, name: name, peer: p}
	e.t.Cleanup(func() { p.Leave(); c.Close() })
	return cl
}

// publishAV adds an audio and a video track and offers them.
func (e *env) publishAV(c *client) (audio, video *sfuclient.Track) {
	e.t.Helper()
	a, v, err := c.PublishAV()
	if err != nil {
		e.t.Fatal(err)
	}
	return a, v
}

// callAV publishes audio and video from each of pubs and pumps them (pump)
// until the test ends; then the pumps stop, every client of all closes, and
// the readers the test started on the returned WaitGroup are waited for.
func (e *env) callAV(all []*client, pubs ...*client) *sync.WaitGroup {
	e.t.Helper()
	ctx, stop := context.WithCancel(e.ctx)
	wg := &sync.WaitGroup{}
	e.t.Cleanup(func() {
		stop()
		for _, c := range all {
			c.Close()
		}
		wg.Wait()
	})
	for _, c := range pubs {
		audio, video := e.publishAV(c)
		pump(ctx, wg, c.name, map[string]*sfuclient.Track{"audio": audio, "video": video})
	}
	return wg
}

// pumpLevel is the RFC 6464 audio level pump sends with every audio packet.
const pumpLevel = 30

// pump writes packets to the tracks every 5 ms until ctx ends. The payload
// names the sender, track and sequence number so receivers can check it.
func pump(ctx context.Context, wg *sync.WaitGroup, who string, tracks map[string]*sfuclient.Track) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for seq := uint16(1); ; seq++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for kind, t := range tracks {
				_ = t.Write(seq, uint32(seq)*960, payloadFor(who, kind, seq), pumpLevel)
			}
		}
	}()
}

func payloadFor(who, kind string, seq uint16) []byte {
	return []byte(fmt.Sprintf("%s/%s/%d/%s", who, kind, seq, strings.Repeat("x", int(seq%200))))
}

// readRemote reads a remote track of c on its own goroutine (owned by wg)
// into a StreamCheck (sfuclient/check.go) of pump's payloads; set adjusts
// the check before the first packet.
func (e *env) readRemote(c *client, r *sfuclient.Remote, wg *sync.WaitGroup, set ...func(*sfuclient.StreamCheck)) *sfuclient.StreamCheck {
	chk := c.Check(r, sfuclient.Payloads(func(seq uint16) []byte { return payloadFor(r.Participant, r.Kind, seq) }))
	for _, f := range set {
		f(chk)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		// It ends when the PC closes; a failed check stops it and Wait
		// reports it.
		_ = chk.Read(e.ctx, r.Track, 0)
	}()
	return chk
}

// waitStream waits until the first n sequence numbers of the stream are
// settled and fails the test if they are not delivered as sent.
func (e *env) waitStream(chk *sfuclient.StreamCheck, n int, what string) {
	e.t.Helper()
	if err := chk.Wait(e.ctx, n); err != nil {
		e.t.Fatalf("%s: %v", what, err)
	}
}

// waitRemotes collects remote tracks until want (participant/kind) are all there.
func (e *env) waitRemotes(c *client, want ...string) map[string]*sfuclient.Remote {
	e.t.Helper()
	got := map[string]*sfuclient.Remote{}
	have := func() bool {
		for _, w := range want {
			if got[w] == nil {
				return false
			}
		}
		return true
	}
	for !have() {
		select {
		case r := <-c.Remotes():
			got[r.Participant+"/"+r.Kind] = r
		case err := <-c.Errors():
			e.t.Fatalf("%s: client error: %v", c.name, err)
		case <-e.ctx.Done():
			e.t.Fatalf("%s: remotes %v, want %v", c.name, keys(got), want)
		}
	}
	return got
}

func keys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// waitEvent waits for an event named name whose data satisfies match.
func (e *env) waitEvent(c *client, name string, match func(json.RawMessage) bool) json.RawMessage {
	e.t.Helper()
	for i, ev := range c.backlog {
		if ev.Name == name && match(ev.Data) {
			c.backlog = append(c.backlog[:i], c.backlog[i+1:]...)
			return ev.Data
		}
	}
	for {
		select {
		case ev := <-c.Events():
			if ev.Name == name && match(ev.Data) {
				return ev.Data
			}
			if len(c.backlog) < 1000 {
				c.backlog = append(c.backlog, ev)
			}
		case <-e.ctx.Done():
			e.t.Fatalf("%s: no %s event before the deadline", c.name, name)
		}
	}
}

// waitGoroutines waits until the goroutine count is back to base.
func waitGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("goroutines: %d, baseline %d\n%s", runtime.NumGoroutine(), base, buf[:n])
		}
		runtime.Gosched()
		<-time.After(10 * time.Millisecond)
	}
}

func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}
