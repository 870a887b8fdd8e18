package appliance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"

	"callbox/store"
)

// Appliance is a configured callbox, ready to Run.
type Appliance struct {
	cfg     Config
	log     *slog.Logger
	store   *store.Store
	started time.Time
}

// New prepares the data directory and the store: it creates the directory
// (0700), opens and migrates callbox.db, closes calls left live by a
// previous process, and on an empty store creates the default app and
// prints its credentials once to cfg.Out. Nothing listens until Run.
func New(cfg Config) (*Appliance, error) {
	cfg = cfg.withDefaults()
	st, err := OpenStore(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	a := &Appliance{cfg: cfg, log: cfg.Logger, store: st}
	if err := a.bootstrap(); err != nil {
		st.Close()
		return nil, err
	}
	return a, nil
}

// OpenStore creates dataDir if needed and opens its database.
func OpenStore(dataDir string) (*store.Store, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	return store.Open(filepath.Join(dataDir, store.FileName), store.Options{})
}

// bootstrap does the first-start work in one transaction each.
func (a *Appliance) bootstrap() error {
	now := a.cfg.Now()
	var interrupted []store.CallRecord
	var created *store.App
	err := a.store.Update(func(tx *store.Tx) error {
		var err error
		if interrupted, err = tx.InterruptLiveCalls(now); err != nil {
			return err
		}
		apps, err := tx.Apps()
		if err != nil || len(apps) > 0 {
			return err
		}
		app, err := tx.CreateApp(DefaultAppName, now)
		created = &app
		return err
	})
	if err != nil {
		return fmt.Errorf("bootstrap store: %w", err)
	}
	for _, rec := range interrupted {
		a.log.Warn("call interrupted by restart", "app_id", rec.SDKAppID, "call_id", rec.CallID)
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

// Store is the appliance's open store (for in-process tests and tools).
func (a *Appliance) Store() *store.Store { return a.store }

// Run serves until ctx ends, then shuts down gracefully: it stops
// accepting, lets in-flight requests finish within ShutdownTimeout, and
// closes the store. It always closes the store, even on a start error.
func (a *Appliance) Run(ctx context.Context) (err error) {
	defer func() {
		if cerr := a.store.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	a.started = a.cfg.Now()

	ln := a.cfg.HTTPListener
	if ln == nil {
		if ln, err = net.Listen("tcp", a.cfg.HTTPAddr); err != nil {
			return fmt.Errorf("listen http %s: %w", a.cfg.HTTPAddr, err)
		}
	}
	ctl, err := listenControl(filepath.Join(a.cfg.DataDir, ControlSocketName))
	if err != nil {
		ln.Close()
		return err
	}

	baseCtx, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()
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
	g.Go(func() error {
		<-gctx.Done()
		a.log.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
		defer cancel()
		// Stop accepting and let in-flight requests finish, then cancel
		// the long-lived ones (WebSocket sessions) through BaseContext.
		err := errors.Join(httpSrv.Shutdown(sctx), ctlSrv.Shutdown(sctx))
		cancelBase()
		return err
	})
	a.log.Info("callbox serving", "http", ln.Addr().String(), "data", a.cfg.DataDir, "version", a.cfg.Version)
	return g.Wait()
}

// serve runs srv on ln; a graceful close counts as success.
func serve(srv *http.Server, ln net.Listener) error {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	}
	return nil
}
