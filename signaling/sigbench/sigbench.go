// Package sigbench measures the signaling server (`callbox bench
// signaling`): it starts an in-process server on 127.0.0.1 with a
// temporary store, logs in N clients, drives 1:1 call setups (invite ->
// accept -> hangup) at a fixed rate and reports invite-delivery latency,
// setup throughput and heap per idle connection. Because these machines are
// noisy, it also measures a plain WebSocket echo round trip in the same
// run, under the same load, and reports the ratio of the two p99s.
//
// It owns no production code path; it only uses signaling's public API
// and the protocol client.
package sigbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/sync/errgroup"

	"callbox/appliance/callstore"
	"callbox/signaling"
	"callbox/signaling/client"
	"callbox/signaling/usersig"
	"callbox/store"
)

// Defaults for zero Config fields.
const (
	DefaultUsers       = 1000
	DefaultCallsPerSec = 200
	DefaultDuration    = 10 * time.Second
)

// Config configures a run. Zero fields get the defaults.
type Config struct {
	Users       int
	CallsPerSec float64
	Duration    time.Duration // length of the load phase
	Out         io.Writer     // progress and the report; nil = io.Discard
	// Dir is where the temporary store goes; "" = os.TempDir(). Every
	// invitation waits for a store commit (two fdatasyncs with bbolt), so
	// the disk under Dir sets the floor of invite delivery: a tmpfs such as
	// /dev/shm measures signaling alone, a real disk measures the deployment.
	Dir    string
	Logger *slog.Logger // the server's; nil = discard
}

// Result is what a run measured.
type Result struct {
	Users          int
	Calls          int     // setups completed (accept replied ok)
	Skipped        int     // ticks that found their pair still busy
	Failed         int     // setups that failed
	SetupsPerSec   float64 // Calls / load duration
	InviteP50      time.Duration
	InviteP99      time.Duration
	EchoP50        time.Duration
	EchoP99        time.Duration
	Ratio          float64       // InviteP99 / EchoP99
	HeapPerConn    float64       // bytes of live heap per idle logged-in connection (server and client side)
	CommitP50      time.Duration // store time of a batch of transitions (the fsyncs every invite waits for)
	CommitP99      time.Duration
	Commits        int     // batches committed during the load
	BatchMean      float64 // transitions per batch
	ConnectSeconds float64 // time to connect and log in all users
}

// Run performs one benchmark run.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Users <= 0 {
		cfg.Users = DefaultUsers
	}
	if cfg.Users%2 == 1 {
		cfg.Users++
	}
	if cfg.CallsPerSec <= 0 {
		cfg.CallsPerSec = DefaultCallsPerSec
	}
	if cfg.Duration <= 0 {
		cfg.Duration = DefaultDuration
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	dir, err := os.MkdirTemp(cfg.Dir, "sigbench-")
	if err != nil {
		return Result{}, fmt.Errorf("temp dir: %w", err)
	}
	defer os.RemoveAll(dir)
	st, err := store.Open(filepath.Join(dir, "callbox.db"), store.Options{})
	if err != nil {
		return Result{}, fmt.Errorf("open store: %w", err)
	}
	defer st.Close()
	app, err := st.CreateApp("bench", time.Now())
	if err != nil {
		return Result{}, fmt.Errorf("create app: %w", err)
	}
	cs := &commitStats{}
	calls := callstore.New(st, callstore.Options{})
	srv, err := signaling.New(signaling.Config{
		Committer: calls, Keys: calls.AppKey, Logger: cfg.Logger, SendQueue: 256, OnCommit: cs.add,
		// The load comes from one address at a rate no person makes:
		// measure the server, not its abuse limits.
		MaxPendingPerIP: -1, LoginRate: noLimit, UserLoginRate: noLimit, CallRate: noLimit,
	})
	if err != nil {
		return Result{}, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Result{}, fmt.Errorf("listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", srv)
	mux.HandleFunc("/echo", echo)
	hs := &http.Server{Handler: mux}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	g, gctx := errgroup.WithContext(runCtx)
	g.Go(func() error { return srv.Run(gctx) })
	g.Go(func() error {
		if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	fmt.Fprintf(cfg.Out, "store in %s\n", dir)
	b := &bench{cfg: cfg, app: app, base: "ws://" + ln.Addr().String(), commits: cs}
	res, berr := b.run(gctx)
	// Stop in reverse: clients, sessions, HTTP, timers.
	b.closeClients()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	serr := srv.Shutdown(sctx)
	herr := hs.Shutdown(sctx)
	stop()
	gerr := g.Wait()
	if err := errors.Join(berr, serr, herr, gerr); err != nil {
		return res, err
	}
	report(cfg.Out, res)
	return res, nil
}

type bench struct {
	cfg     Config
	app     store.App
	base    string
	clients []*client.Client
	commits *commitStats
}

// commitStats records the server's commit batches (Config.OnCommit).
type commitStats struct {
	mu          sync.Mutex
	on          bool
	took        []time.Duration
	transitions int
}

func (c *commitStats) add(n int, took time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.on {
		c.took = append(c.took, took)
		c.transitions += n
	}
}

func (c *commitStats) record(on bool) {
	c.mu.Lock()
	c.on = on
	c.mu.Unlock()
}

// echo is the baseline: a plain WebSocket that sends back what it reads.
func echo(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	ctx := r.Context()
	for {
		typ, b, err := c.Read(ctx)
		if err != nil {
			return
		}
		if err := c.Write(ctx, typ, b); err != nil {
			return
		}
	}
}

func (b *bench) run(ctx context.Context) (Result, error) {
	res := Result{Users: b.cfg.Users}
	before := liveHeap()
	t0 := time.Now()
	if err := b.connect(ctx); err != nil {
		return res, err
	}
	res.ConnectSeconds = time.Since(t0).Seconds()
	after := liveHeap()
	res.HeapPerConn = float64(int64(after)-int64(before)) / float64(b.cfg.Users)
	fmt.Fprintf(b.cfg.Out, "connected %d users in %.1fs, %.1f KiB heap per idle connection\n",
		b.cfg.Users, res.ConnectSeconds, res.HeapPerConn/1024)
	return b.load(ctx, res)
}

// liveHeap returns the live heap after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// connect logs every user in, a few at a time.
func (b *bench) connect(ctx context.Context) error {
	b.clients = make([]*client.Client, b.cfg.Users)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	now := time.Now()
	for i := range b.clients {
		g.Go(func() error {
			user := fmt.Sprintf("u%d", i)
			sig, err := usersig.Issue(b.app.SDKAppID, b.app.Key, user, 24*time.Hour, now)
			if err != nil {
				return err
			}
			c, _, err := client.Dial(gctx, b.base+"/ws", b.app.SDKAppID, user, sig, &client.Options{EventBuffer: 16})
			if err != nil {
				return fmt.Errorf("login %s: %w", user, err)
			}
			b.clients[i] = c
			return nil
		})
	}
	return g.Wait()
}

func (b *bench) closeClients() {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for _, c := range b.clients {
		if c == nil {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() { defer wg.Done(); c.CloseNow(); <-sem }()
	}
	wg.Wait()
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	i := int(float64(len(d)-1) * p)
	return d[i]
}

func report(w io.Writer, r Result) {
	fmt.Fprintf(w, "signaling bench: %d users, %d call setups (%.1f/s), %d failed, %d skipped\n",
		r.Users, r.Calls, r.SetupsPerSec, r.Failed, r.Skipped)
	fmt.Fprintf(w, "invite delivery  p50 %v  p99 %v\n", r.InviteP50, r.InviteP99)
	fmt.Fprintf(w, "echo round trip  p50 %v  p99 %v   (plain WebSocket, same run, same load)\n", r.EchoP50, r.EchoP99)
	fmt.Fprintf(w, "ratio p99 invite / p99 echo: %.2f\n", r.Ratio)
	fmt.Fprintf(w, "store commits    p50 %v  p99 %v   (%d batches, %.2f transitions each; every invite waits for one)\n",
		r.CommitP50, r.CommitP99, r.Commits, r.BatchMean)
	fmt.Fprintf(w, "heap per idle connection: %.1f KiB (server and client side, one process)\n", r.HeapPerConn/1024)
}

var noLimit = signaling.Rate{Burst: -1}
