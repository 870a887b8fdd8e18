package sfubench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"runtime/pprof"
	"time"

	"callbox/sfu"
	"callbox/sfu/sfuclient"
)

// backend runs the servers under test: in this process, or in a child
// process (Config.Isolate) so that their CPU and allocations are exact.
type backend interface {
	// join adds a client to the SFU's bench room; the client is started
	// with the returned handler.
	join(name string, c *sfuclient.Client) (sfuclient.Handler, error)
	startRelay(subs []netip.AddrPort) (netip.AddrPort, error)
	// exact reports whether snap measures variant's server CPU exactly.
	exact(variant string) bool
	snap(variant string) (backendSnap, error)
	close()
}

type backendSnap struct {
	sfuFwd, relayFwd uint64
	sfuSys, relaySys uint64        // socket I/O calls of each server
	cpu              time.Duration // server CPU, if exact
	softirq          time.Duration // the server CPU's ksoftirqd, if softirqOK
	softirqOK        bool
	mallocs          uint64 // server-only mallocs, if mallocsOK
	mallocsOK        bool
	gcs              uint32
}

// inProcess runs the SFU and the relay in this process. Goroutines they
// start carry pprof label role=server; the relay's thread clock is exact,
// the SFU's CPU comes from a labelled CPU profile.
type inProcess struct {
	ctx     context.Context
	s       *sfu.Server
	cancel  context.CancelFunc
	runDone chan struct{}
	relay   *relayServer
}

func newInProcess(ctx context.Context) (*inProcess, error) {
	b := &inProcess{ctx: ctx, runDone: make(chan struct{})}
	var err error
	pprof.Do(ctx, pprof.Labels(roleKey, roleServer), func(ctx context.Context) {
		b.s, err = sfu.New(sfu.Config{ListenIP: "127.0.0.1", IncludeLoopback: true, TCPPort: -1})
		if err != nil {
			return
		}
		runCtx, cancel := context.WithCancel(ctx)
		b.cancel = cancel
		go func() {
			defer close(b.runDone)
			_ = b.s.Run(runCtx)
		}()
	})
	if err != nil {
		return nil, fmt.Errorf("sfubench: sfu: %w", err)
	}
	return b, nil
}

// labeled runs the SFU's side of every client message under role=server,
// so goroutines the SFU starts from there count as server CPU.
type labeled struct {
	ctx context.Context
	p   *sfu.Peer
}

func (l labeled) Handle(m json.RawMessage) (err error) {
	pprof.Do(l.ctx, pprof.Labels(roleKey, roleServer), func(context.Context) { err = l.p.Handle(m) })
	return err
}

func (b *inProcess) join(name string, c *sfuclient.Client) (sfuclient.Handler, error) {
	var p *sfu.Peer
	var err error
	pprof.Do(b.ctx, pprof.Labels(roleKey, roleServer), func(context.Context) { p, err = b.s.Join("bench", name, c.Deliver) })
	if err != nil {
		return nil, err
	}
	return labeled{ctx: b.ctx, p: p}, nil
}

func (b *inProcess) startRelay(subs []netip.AddrPort) (netip.AddrPort, error) {
	r, err := startRelay(b.ctx, subs, true)
	if err != nil {
		return netip.AddrPort{}, err
	}
	b.relay = r
	return r.addr(), nil
}

func (b *inProcess) exact(variant string) bool { return variant == "relay" }

func (b *inProcess) snap(variant string) (backendSnap, error) {
	ss := b.s.Stats()
	st := backendSnap{sfuFwd: ss.ForwardedPackets, sfuSys: ss.UDPReadCalls + ss.UDPWriteCalls}
	if b.relay != nil {
		st.relayFwd, st.relaySys = b.relay.forwarded.Load(), b.relay.syscalls.Load()
		if variant == "relay" {
			st.cpu, _ = b.relay.cpu()
		}
	}
	return st, nil
}

func (b *inProcess) close() {
	if b.relay != nil {
		b.relay.close()
	}
	b.cancel()
	<-b.runDone
	_ = b.s.Close() // leaves the remaining peers
}
