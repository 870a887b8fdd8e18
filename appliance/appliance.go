package appliance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"

	"callbox/appliance/callstore"
	"callbox/appliance/certs"
	"callbox/appliance/userdir"
	"callbox/sfu"
	"callbox/signaling"
	"callbox/signaling/call"
	"callbox/signaling/call/record"
	"callbox/store"
	"callbox/turn"
)

// Appliance is a configured callbox, ready to Run.
type Appliance struct {
	cfg   Config
	log   *slog.Logger
	store *store.Store
	sfu   *sfu.Server
	turn  *turn.Server   // nil when off or external
	ice   *turn.Endpoint // nil when TURN is off
	sig   *signaling.Server
	calls *signaling.Calls // the call service over sig's engine
	// callStore commits the engine's transitions and keeps the liveness
	// mark; each commit that queued webhooks wakes hooks.
	callStore *callstore.CallStore
	hooks     *webhooks
	robots    *robots        // the REST API's robot calls
	rest      http.Handler   // /v4/ (appliance/restapi)
	certs     *certs.Source  // nil without TLS
	early     *earlyListener // the HTTPS listener under ACME (web.go)
	obs       *observability // metrics and the detailed health
	console   *console       // the admin console's sessions and logins
	started   time.Time
	// ready is closed once Run has bound every listener and, on a first
	// start, created the default app.
	ready chan struct{}
}

// The SFU is the signaling server's media side.
var _ signaling.Rooms = sfuRooms{}

// New prepares the data directory and the store: it creates the directory
// (0700), opens and migrates callbox.db, closes calls left live by a
// previous process and binds the media sockets. The HTTP listener and the
// control socket are bound by Run, which then creates the default app on
// an empty store (so a server that never ran leaves none behind).
func New(cfg Config) (*Appliance, error) {
	cfg = cfg.withDefaults()
	st, err := OpenStore(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	a := &Appliance{cfg: cfg, log: cfg.Logger, store: st, ready: make(chan struct{})}
	a.checkDataDirMode()
	if err := a.bootstrap(); err != nil {
		st.Close()
		return nil, err
	}
	if err := a.build(); err != nil {
		a.closeParts()
		return nil, err
	}
	return a, nil
}

// build makes the parts in dependency order: media sockets first, so a
// port in use is reported before anything runs, then signaling over them.
func (a *Appliance) build() error {
	cfg := a.cfg
	origins, err := originPatterns(cfg.AllowedOrigins)
	if err != nil {
		return err
	}
	// The certificate first: a bad one stops the start before any socket.
	if a.certs, err = a.newCerts(); err != nil {
		return err
	}
	a.sfu, err = sfu.New(sfu.Config{
		UDPPort:         cfg.RTCUDPPort,
		TCPPort:         cfg.RTCTCPPort,
		ListenIP:        cfg.RTCListenIP,
		PublicIPs:       cfg.PublicIPs,
		IncludeLoopback: cfg.IncludeLoopback,
		NoFastPath:      cfg.NoMediaFastPath,
		Logger:          a.log,
		Now:             cfg.Now,
	})
	if err != nil {
		return fmt.Errorf("start sfu: %w", err)
	}
	if cfg.NoMediaFastPath {
		// Said at every start, so a kill switch left on after the upgrade
		// that needed it does not go unnoticed.
		a.log.Warn("media fast path off (--no-media-fastpath): all media takes pion's receive and send paths")
	}
	a.turn, a.ice, err = a.startTURN(sfuAddrs(cfg))
	if err != nil {
		return err
	}
	var iceServers func(string, time.Time) any
	if a.ice != nil {
		iceServers = func(user string, now time.Time) any { return a.iceServers(user, now, 0) }
	}
	a.hooks = a.newWebhooks()
	cs := callstore.New(a.store, callstore.Options{Now: cfg.Now, Notify: a.hooks.d.Notify})
	a.callStore = cs
	a.obs = a.newObservability()
	a.sig, err = signaling.New(signaling.Config{
		Committer:      cs,
		Metrics:        a.obs.sig,
		OnCommit:       a.obs.reg.ObserveCommit,
		Keys:           cs.AppKey,
		Directory:      userdir.New(a.store),
		Rooms:          sfuRooms{a.sfu},
		ICEServers:     iceServers,
		Now:            cfg.Now,
		Logger:         a.log,
		DevLogin:       cfg.Dev,
		OriginPatterns: origins,
		LoginRate:      cfg.LoginRate,
		CallRate:       cfg.CallRate,
	})
	if err != nil {
		return fmt.Errorf("start signaling: %w", err)
	}
	a.calls = a.sig.Calls()
	a.robots = a.newRobots()
	a.rest = a.newREST()
	a.console = newConsole(a.store, cfg.Now, a.log)
	return nil
}

// closeParts closes what build made, in reverse order, and the store.
func (a *Appliance) closeParts() error {
	var errs []error
	if a.turn != nil {
		errs = append(errs, a.turn.Close())
	}
	if a.sfu != nil {
		errs = append(errs, a.sfu.Close())
	}
	errs = append(errs, a.store.Close())
	return errors.Join(errs...)
}

// sfuRooms adapts *sfu.Server to signaling.Rooms (Go has no covariant
// return types, so Join's *sfu.Peer needs wrapping as a RoomPeer).
type sfuRooms struct{ s *sfu.Server }

func (r sfuRooms) Join(room, userID string, send func(json.RawMessage)) (signaling.RoomPeer, error) {
	p, err := r.s.Join(room, userID, send)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// OpenStore creates dataDir if needed and opens its database.
func OpenStore(dataDir string) (*store.Store, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	return store.Open(filepath.Join(dataDir, store.FileName), store.Options{})
}

// bootstrap closes the calls left live by the previous process: they end
// as interrupt, with their webhooks, in one transaction.
func (a *Appliance) bootstrap() error {
	now := a.cfg.Now()
	var interrupted []record.Call
	err := a.store.Update(func(tx *store.Tx) error {
		live, err := tx.LiveCalls()
		if err != nil {
			return err
		}
		alive, _ := callstore.LastAlive(tx)
		for _, rec := range live {
			// The previous process was last known alive at its last
			// liveness mark: its calls end there, not at this restart.
			tr := call.Interrupt(rec, callstore.InterruptAt(rec, alive, now))
			if err := callstore.CommitTx(tx, tr, now); err != nil {
				return err
			}
			interrupted = append(interrupted, tr.Call)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("bootstrap store: %w", err)
	}
	for _, rec := range interrupted {
		a.log.Warn("call interrupted by restart", "app_id", rec.SDKAppID, "call_id", rec.CallID)
	}
	return nil
}

// createDefaultApp makes the default app on an empty store and prints its
// credentials once to cfg.Out. Run calls it after binding its listeners:
// a start that fails on a port in use must not leave an app, or print a
// key, for a server that never ran.
func (a *Appliance) createDefaultApp() error {
	var created *store.App
	err := a.store.Update(func(tx *store.Tx) error {
		apps, err := tx.Apps()
		if err != nil || len(apps) > 0 {
			return err
		}
		app, err := tx.CreateApp(DefaultAppName, a.cfg.Now())
		created = &app
		return err
	})
	if err != nil {
		return fmt.Errorf("create default app: %w", err)
	}
	if created != nil {
		a.log.Info("default app created", "app_id", created.SDKAppID)
		fmt.Fprintf(a.cfg.Out, "\ncallbox: first start, created the default app.\n"+
			"  SDKAppID: %d\n  Key:      %s\n"+
			"Keep the key secret: it signs UserSigs. `callbox app list` shows it again.\n\n",
			created.SDKAppID, created.Key)
	}
	return nil
}

// DataDir is the data directory in use.
func (a *Appliance) DataDir() string { return a.cfg.DataDir }

// Store is the appliance's open store (for in-process tests and tools).
func (a *Appliance) Store() *store.Store { return a.store }

// Ready is closed once Run has bound the HTTP listener and the control
// socket and, on a first start, created the default app: from then on
// requests are answered. It is never closed when Run fails before that.
func (a *Appliance) Ready() <-chan struct{} { return a.ready }

// Run serves until ctx ends, then shuts down gracefully: it stops
// accepting, lets in-flight requests finish within ShutdownTimeout, and
// closes the store. It always closes the store, even on a start error.
func (a *Appliance) Run(ctx context.Context) (err error) {
	defer func() {
		if cerr := a.closeParts(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	a.started = a.cfg.Now()

	ln, rln, err := a.listenWeb()
	if err != nil {
		return err
	}
	ctl, err := listenControl(filepath.Join(a.cfg.DataDir, ControlSocketName))
	if err != nil {
		closeAll(ln, rln, a.obs.ln)
		return err
	}
	// The redirect port answers ACME challenges before the first order.
	redirect := a.startRedirect(rln, ln)
	if err := a.obtainCert(ctx); err != nil {
		redirect.close()
		closeAll(ln, ctl)
		return err
	}
	if err := a.createFirstAccounts(ln.Addr()); err != nil {
		redirect.close()
		closeAll(ln, ctl)
		return err
	}

	baseCtx, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()
	// Webhooks outlive gctx: the calls ended at shutdown queue theirs.
	a.hooks.listening(ln.Addr())
	hooksCtx, stopHooks := context.WithCancel(context.Background())
	defer stopHooks()
	httpSrv := &http.Server{
		Handler:           a.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
	}
	ctlSrv := &http.Server{Handler: a.controlRoutes(), ReadHeaderTimeout: 10 * time.Second}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return serve(httpSrv, ln) })
	g.Go(func() error { return serve(ctlSrv, ctl) })
	g.Go(redirect.wait)
	g.Go(func() error { return a.sig.Run(gctx) })
	g.Go(func() error { return a.robots.run(gctx) })
	g.Go(func() error { return a.sfu.Run(gctx) })
	if a.turn != nil {
		g.Go(func() error { return a.turn.Run(gctx) })
	}
	g.Go(func() error { return a.newPruner().run(gctx) })
	g.Go(func() error { return a.callStore.RunAlive(gctx, a.log) })
	g.Go(func() error { return a.hooks.run(hooksCtx) })
	g.Go(func() error {
		<-gctx.Done()
		a.log.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
		defer cancel()
		// Live calls end for their participants, who hear it, and their
		// records close now rather than as interrupted at the next start.
		if n, err := a.calls.EndAll(sctx); err != nil {
			a.log.Error("ending live calls at shutdown", "err", err, "ended", n)
		} else if n > 0 {
			a.log.Info("live calls ended at shutdown", "count", n)
		}
		// WebSocket sessions are hijacked, so http.Server.Shutdown does
		// not track them: signaling closes them first, then the HTTP
		// server stops accepting and lets in-flight requests finish.
		sigErr := a.sig.Shutdown(sctx)
		a.hooks.drain(sctx, a.log)
		stopHooks()
		err := errors.Join(sigErr, httpSrv.Shutdown(sctx), ctlSrv.Shutdown(sctx), redirect.shutdown(sctx))
		cancelBase()
		return err
	})
	a.log.Info("callbox serving", a.servingAttrs(ln, rln)...)
	a.printTLS()
	close(a.ready)
	return g.Wait()
}

// serve runs srv on ln; a graceful close counts as success.
func serve(srv *http.Server, ln net.Listener) error {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	}
	return nil
}
