package sigbench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/sync/errgroup"

	"callbox/signaling/client"
)

// pair is two users who call each other; one worker goroutine drives it.
type pair struct {
	caller, callee *client.Client
	calleeID       string
	kick           chan struct{} // unbuffered: a send succeeds only when idle
}

type samples struct {
	mu     sync.Mutex
	invite []time.Duration
	echo   []time.Duration
	calls  int
	failed int
}

// load drives call setups at CallsPerSec for Duration while sampling the
// echo round trip at the same rate.
func (b *bench) load(ctx context.Context, res Result) (Result, error) {
	pairs := make([]*pair, len(b.clients)/2)
	for i := range pairs {
		pairs[i] = &pair{
			caller:   b.clients[2*i],
			callee:   b.clients[2*i+1],
			calleeID: fmt.Sprintf("u%d", 2*i+1),
			kick:     make(chan struct{}),
		}
	}
	ec, _, err := websocket.Dial(ctx, b.base+"/echo", nil)
	if err != nil {
		return res, fmt.Errorf("dial echo: %w", err)
	}
	defer ec.CloseNow()

	var s samples
	lctx, cancel := context.WithTimeout(ctx, b.cfg.Duration)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	for _, p := range pairs {
		g.Go(func() error {
			for {
				select {
				case <-p.kick:
					s.cycle(gctx, p)
				case <-lctx.Done():
					return nil
				}
			}
		})
	}
	interval := time.Duration(float64(time.Second) / b.cfg.CallsPerSec)
	g.Go(func() error { return s.echoLoop(lctx, ec, interval) })

	b.commits.record(true)
	start := time.Now()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	next := 0
loop:
	for {
		select {
		case <-lctx.Done():
			break loop
		case <-tick.C:
			// Issue what the schedule says is due, so ticks the runtime
			// dropped under load do not lower the offered rate.
			due := int(time.Since(start).Seconds() * b.cfg.CallsPerSec)
			for ; next < due; next++ {
				select {
				case pairs[next%len(pairs)].kick <- struct{}{}:
				default:
					res.Skipped++
				}
			}
		}
	}
	elapsed := time.Since(start)
	if err := g.Wait(); err != nil {
		return res, err
	}
	b.commits.record(false)
	b.commits.mu.Lock()
	res.Commits = len(b.commits.took)
	res.CommitP50, res.CommitP99 = percentile(b.commits.took, 0.50), percentile(b.commits.took, 0.99)
	if res.Commits > 0 {
		res.BatchMean = float64(b.commits.transitions) / float64(res.Commits)
	}
	b.commits.mu.Unlock()
	res.Calls, res.Failed = s.calls, s.failed
	res.SetupsPerSec = float64(s.calls) / elapsed.Seconds()
	res.InviteP50, res.InviteP99 = percentile(s.invite, 0.50), percentile(s.invite, 0.99)
	res.EchoP50, res.EchoP99 = percentile(s.echo, 0.50), percentile(s.echo, 0.99)
	if res.EchoP99 > 0 {
		res.Ratio = float64(res.InviteP99) / float64(res.EchoP99)
	}
	return res, nil
}

// cycle is one call: invite -> accept -> hangup, until both sides have
// seen the end. The invite delivery time is from just before the caller
// sends the request to the moment the callee's client read the event.
func (s *samples) cycle(ctx context.Context, p *pair) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	fail := func() {
		s.mu.Lock()
		s.failed++
		s.mu.Unlock()
	}
	t0 := time.Now()
	call, err := p.caller.Call(ctx, p.calleeID, client.Audio)
	if err != nil {
		fail()
		return
	}
	ev, err := p.callee.WaitFor(ctx, client.Named(client.EvInvited))
	if err != nil {
		fail()
		return
	}
	lat := ev.At.Sub(t0)
	if _, err := p.callee.Accept(ctx, call.CallID); err != nil {
		fail()
		return
	}
	s.mu.Lock()
	s.invite = append(s.invite, lat)
	s.calls++
	s.mu.Unlock()
	if err := p.caller.Hangup(ctx, call.CallID); err != nil {
		fail()
		return
	}
	for _, c := range []*client.Client{p.caller, p.callee} {
		if _, err := c.WaitFor(ctx, client.Named(client.EvCallEnd)); err != nil {
			fail()
			return
		}
	}
}

// echoLoop samples the echo round trip with a payload the size of an
// invitation event.
func (s *samples) echoLoop(ctx context.Context, c *websocket.Conn, interval time.Duration) error {
	payload := make([]byte, 600)
	for i := range payload {
		payload[i] = 'x'
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		t0 := time.Now()
		if err := c.Write(ctx, websocket.MessageText, payload); err != nil {
			return ignoreDone(ctx, fmt.Errorf("echo write: %w", err))
		}
		if _, _, err := c.Read(ctx); err != nil {
			return ignoreDone(ctx, fmt.Errorf("echo read: %w", err))
		}
		d := time.Since(t0)
		s.mu.Lock()
		s.echo = append(s.echo, d)
		s.mu.Unlock()
	}
}

func ignoreDone(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}
