package appliance

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"callbox/appliance/certs"
)

// Defaults of the TLS listeners.
const (
	DefaultHTTPSAddr    = ":443"
	DefaultRedirectAddr = ":80"
	// RedirectOff as TLSConfig.RedirectAddr serves no plain-HTTP port.
	RedirectOff = "off"
	// hstsMaxAge is two years, Mozilla's recommendation.
	hstsMaxAge = "max-age=63072000"
)

// TLSConfig says where the HTTPS certificate comes from (at most one of
// Domain, CertFile+KeyFile, SelfSigned) and where the web listens then.
type TLSConfig struct {
	// Domain gets a certificate for this name from ACME (autocert), cached
	// in <data>/certs and renewed automatically; HSTS is sent.
	Domain    string
	ACMEEmail string
	// ACMECA is the ACME directory URL (default Let's Encrypt's).
	ACMECA string
	// ACMEHTTPClient talks to the CA (tests: one that trusts a local CA).
	ACMEHTTPClient *http.Client
	// ACMERenewBefore is how long before expiry to renew (default 30 days).
	ACMERenewBefore time.Duration
	// CertFile and KeyFile are the operator's own PEM certificate chain and
	// key, reloaded when they change.
	CertFile, KeyFile string
	// SelfSigned makes a certificate kept in <data>/certs and prints its
	// fingerprint.
	SelfSigned bool

	// HTTPSAddr is the HTTPS listen address (default DefaultHTTPSAddr);
	// Config.HTTPListener, when set, is used instead, wrapped in TLS.
	HTTPSAddr string
	// RedirectAddr is the plain-HTTP port that redirects to HTTPS and
	// answers ACME HTTP-01: default DefaultRedirectAddr with Domain, else
	// none; RedirectOff for none.
	RedirectAddr string
	// RedirectListener, when set, is used instead of RedirectAddr (tests).
	RedirectListener net.Listener
}

// On reports whether TLS is configured.
func (t TLSConfig) On() bool {
	return t.Domain != "" || t.CertFile != "" || t.KeyFile != "" || t.SelfSigned
}

func (t TLSConfig) withDefaults() TLSConfig {
	if !t.On() {
		return t
	}
	if t.HTTPSAddr == "" {
		t.HTTPSAddr = DefaultHTTPSAddr
	}
	if t.RedirectAddr == "" && t.Domain != "" {
		t.RedirectAddr = DefaultRedirectAddr
	}
	if t.RedirectAddr == RedirectOff {
		t.RedirectAddr = ""
	}
	return t
}

// newCerts loads or prepares the certificate (nil without TLS).
func (a *Appliance) newCerts() (*certs.Source, error) {
	cfg := a.cfg
	hosts := append([]string{}, cfg.PublicIPs...)
	hosts = append(hosts, cfg.AllowedHosts...)
	if cfg.TURNHost != "" {
		hosts = append(hosts, cfg.TURNHost)
	}
	if h, _, err := net.SplitHostPort(cfg.TLS.HTTPSAddr); err == nil && h != "" {
		hosts = append(hosts, h)
	}
	return certs.New(certs.Config{
		DataDir:        cfg.DataDir,
		Domain:         cfg.TLS.Domain,
		ACMEEmail:      cfg.TLS.ACMEEmail,
		ACMECA:         cfg.TLS.ACMECA,
		ACMEHTTPClient: cfg.TLS.ACMEHTTPClient,
		RenewBefore:    cfg.TLS.ACMERenewBefore,
		CertFile:       cfg.TLS.CertFile,
		KeyFile:        cfg.TLS.KeyFile,
		SelfSigned:     cfg.TLS.SelfSigned,
		Hosts:          hosts,
		Logger:         a.log,
		Now:            cfg.Now,
	})
}

// webTLS is the HTTPS listener's TLS config. Only HTTP/1.1 is offered:
// the WebSocket library upgrades HTTP/1.1 connections, and a browser that
// got h2 would try WebSocket over HTTP/2 (RFC 8441).
func (a *Appliance) webTLS() *tls.Config { return a.certs.TLSConfig("http/1.1") }

// turnTLS is TURN's TLS config: the same certificate, nil without TLS or
// with TURNTLSPort -1.
func (a *Appliance) turnTLS() *tls.Config {
	if a.certs == nil || a.cfg.TURNTLSPort < 0 {
		return nil
	}
	return a.certs.TLSConfig()
}

// listenWeb binds the web listener (HTTPS when TLS is on), the redirect
// listener (nil when none) and the metrics listener (kept in a.obs).
func (a *Appliance) listenWeb() (web, redirect net.Listener, err error) {
	cfg := a.cfg
	addr, name := cfg.HTTPAddr, "http"
	if a.certs != nil {
		addr, name = cfg.TLS.HTTPSAddr, "https"
	}
	web = cfg.HTTPListener
	if web == nil {
		if web, err = listen(name, addr); err != nil {
			return nil, nil, err
		}
	}
	if a.obs.ln, err = a.listenMetrics(); err != nil {
		web.Close()
		return nil, nil, err
	}
	if a.certs == nil {
		return web, nil, nil
	}
	redirect = cfg.TLS.RedirectListener
	if redirect == nil && cfg.TLS.RedirectAddr != "" {
		if redirect, err = listen("http redirect", cfg.TLS.RedirectAddr); err != nil {
			closeAll(web, a.obs.ln)
			return nil, nil, err
		}
	}
	web = tls.NewListener(web, a.webTLS())
	if a.certs.Mode() == certs.ACME {
		a.early = newEarlyListener(web)
		web = a.early
	}
	return web, redirect, nil
}

// listen binds addr, saying what a refused low port needs.
func listen(name, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		return ln, nil
	}
	if _, p, perr := net.SplitHostPort(addr); perr == nil && errors.Is(err, syscall.EACCES) {
		if n, _ := strconv.Atoi(p); n > 0 && n < 1024 {
			return nil, fmt.Errorf("listen %s %s: port %d needs root or the CAP_NET_BIND_SERVICE capability "+
				"(systemd: AmbientCapabilities=CAP_NET_BIND_SERVICE; or setcap cap_net_bind_service=+ep on the binary)", name, addr, n)
		}
	}
	return nil, fmt.Errorf("listen %s %s: %w", name, addr, err)
}

func closeAll(cs ...io.Closer) {
	for _, c := range cs {
		if c != nil {
			c.Close()
		}
	}
}

// sideServers are the redirect port's and the metrics listener's HTTP
// servers, each in its own goroutine, started before the rest so that ACME
// can reach the redirect port during the first order; Run waits for them
// (wait) or, on a failed start, closes them.
type sideServers []*sideServer

type sideServer struct {
	srv  *http.Server
	done chan error
}

// startRedirect starts the redirect server on ln (when not nil) and the
// metrics server on the listener listenWeb bound (when any).
func (a *Appliance) startRedirect(ln, web net.Listener) sideServers {
	var side sideServers
	start := func(h http.Handler, ln net.Listener) {
		s := &sideServer{
			srv: &http.Server{
				Handler:           h,
				ReadHeaderTimeout: 10 * time.Second,
				IdleTimeout:       30 * time.Second,
				ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
			},
			done: make(chan error, 1),
		}
		go func() { s.done <- serve(s.srv, ln) }()
		side = append(side, s)
	}
	if ln != nil {
		port := 443
		if tcp, ok := web.Addr().(*net.TCPAddr); ok {
			port = tcp.Port
		}
		start(a.certs.RedirectHandler(port), ln)
	}
	if a.obs.ln != nil {
		start(a.metricsRoutes(), a.obs.ln)
	}
	return side
}

func (ss sideServers) wait() error {
	var errs []error
	for _, s := range ss {
		errs = append(errs, <-s.done)
	}
	return errors.Join(errs...)
}

func (ss sideServers) shutdown(ctx context.Context) error {
	var errs []error
	for _, s := range ss {
		errs = append(errs, s.srv.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

func (ss sideServers) close() {
	for _, s := range ss {
		s.srv.Close()
		<-s.done
	}
}

// obtainCert gets the ACME certificate (from the cache, or ordered now)
// before the server declares itself ready.
func (a *Appliance) obtainCert(ctx context.Context) error {
	if a.certs == nil {
		return nil
	}
	if a.early != nil {
		// The CA may check TLS-ALPN-01 on the HTTPS port: answer its
		// handshakes until HTTP is served there.
		a.early.handshakeOnly(true)
		defer a.early.handshakeOnly(false)
	}
	return a.certs.Obtain(ctx)
}

// earlyListener is the HTTPS listener under ACME. Its own goroutine
// accepts; while handshakeOnly is on (the first order, before Run serves
// HTTP) it completes each connection's TLS handshake, which is all a
// TLS-ALPN-01 check needs, and closes it; afterwards Accept hands the
// connections to the HTTP server.
type earlyListener struct {
	net.Listener
	early atomic.Bool
	conns chan acceptResult
	done  chan struct{} // closed by Close
	once  sync.Once
}

type acceptResult struct {
	c   net.Conn
	err error
}

// earlyHandshakeTimeout bounds one handshake-only connection.
const earlyHandshakeTimeout = 10 * time.Second

func newEarlyListener(ln net.Listener) *earlyListener {
	l := &earlyListener{Listener: ln, conns: make(chan acceptResult), done: make(chan struct{})}
	go l.loop()
	return l
}

// loop accepts until the listener is closed.
func (l *earlyListener) loop() {
	for {
		c, err := l.Listener.Accept()
		if err == nil && l.early.Load() {
			go handshakeAndClose(c)
			continue
		}
		select {
		case l.conns <- acceptResult{c, err}:
		case <-l.done:
			if c != nil {
				c.Close()
			}
			return
		}
		if errors.Is(err, net.ErrClosed) {
			return
		}
		// Other errors (EMFILE) go to the HTTP server, which backs off
		// and accepts again.
	}
}

func handshakeAndClose(c net.Conn) {
	defer c.Close()
	if tc, ok := c.(*tls.Conn); ok {
		ctx, cancel := context.WithTimeout(context.Background(), earlyHandshakeTimeout)
		defer cancel()
		tc.HandshakeContext(ctx)
	}
}

func (l *earlyListener) handshakeOnly(on bool) { l.early.Store(on) }

func (l *earlyListener) Accept() (net.Conn, error) {
	select {
	case r := <-l.conns:
		return r.c, r.err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *earlyListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// hsts adds Strict-Transport-Security under ACME, where the certificate is
// publicly trusted; a self-signed or LAN certificate must not pin browsers
// to HTTPS on a name that may later serve plain HTTP.
func (a *Appliance) hsts(h http.Handler) http.Handler {
	if a.certs == nil || a.certs.Mode() != certs.ACME {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", hstsMaxAge)
		h.ServeHTTP(w, r)
	})
}

func (a *Appliance) servingAttrs(web, redirect net.Listener) []any {
	attrs := []any{"data", a.cfg.DataDir, "version", a.cfg.Version}
	if a.obs.ln != nil {
		attrs = append(attrs, "metrics", a.obs.ln.Addr().String())
	}
	if a.certs == nil {
		return append(attrs, "http", web.Addr().String())
	}
	attrs = append(attrs, "https", web.Addr().String(), "tls", a.certs.Mode().String())
	if redirect != nil {
		attrs = append(attrs, "http_redirect", redirect.Addr().String())
	}
	if na := a.certs.NotAfter(); !na.IsZero() {
		attrs = append(attrs, "cert_not_after", na.UTC().Format(time.RFC3339))
	}
	return attrs
}

// printTLS prints a self-signed certificate's fingerprint, which users
// compare with the one their browser shows before they accept it.
func (a *Appliance) printTLS() {
	if a.certs == nil || a.certs.Mode() != certs.SelfSigned {
		return
	}
	fmt.Fprintf(a.cfg.Out, "callbox: HTTPS with a self-signed certificate (kept in %s/%s).\n"+
		"  SHA-256 fingerprint: %s\n"+
		"Check that your browser shows this fingerprint before you accept the certificate.\n",
		a.cfg.DataDir, certs.DirName, a.certs.Fingerprint())
}
