package appliance

import (
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"callbox/appliance/certs"
	"callbox/appliance/metrics"
	"callbox/signaling"
	"callbox/signaling/call/record"
	"callbox/store"
)

// DefaultMetricsAddr is where the CLI serves /metrics and the detailed
// /healthz unless told otherwise: loopback, so nothing leaks on a public
// port.
const DefaultMetricsAddr = "127.0.0.1:9464"

// certWarnBefore is when /healthz starts to warn about the certificate:
// ACME renews 30 days ahead, so 14 days left means renewal is failing.
const certWarnBefore = 14 * 24 * time.Hour

// observability holds signaling's counters and the Prometheus registry.
type observability struct {
	sig *signaling.Metrics
	reg *metrics.Metrics
	ln  net.Listener // the metrics listener, bound by listenWeb; nil when off
}

// newObservability makes the registry over the parts; it reads them only
// when scraped, so it can be made before they are.
func (a *Appliance) newObservability() *observability {
	o := &observability{sig: &signaling.Metrics{}}
	src := metrics.Sources{
		Signaling:      o.sig.Snapshot,
		ConnectedUsers: func() int { return a.sig.ConnectedUsers() },
		LiveCalls:      func() []record.Call { return a.calls.Live() },
		SFU:            a.sfu.Stats,
		Webhooks:       a.hooks.health,
		WebhookTotals:  a.hooks.d.Totals,
		StoreSize:      a.storeSize,
	}
	if a.turn != nil {
		src.TURN = a.turn.Stats
	}
	if a.certs != nil {
		src.CertNotAfter = a.certs.NotAfter
	}
	o.reg = metrics.New(src)
	return o
}

func (a *Appliance) storeSize() (int64, error) {
	st, err := os.Stat(filepath.Join(a.cfg.DataDir, store.FileName))
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// observeRoutes mounts /metrics and the detailed /healthz.
func (a *Appliance) observeRoutes(mux *http.ServeMux) {
	mux.Handle("GET /metrics", a.obs.reg.Handler())
	mux.HandleFunc("GET /healthz", a.handleComponentHealth)
}

// metricsRoutes is the metrics listener's handler.
func (a *Appliance) metricsRoutes() http.Handler {
	mux := http.NewServeMux()
	a.observeRoutes(mux)
	return mux
}

// mountMetrics puts /metrics on the public mux when a token is set, behind
// Bearer auth.
func (a *Appliance) mountMetrics(mux *http.ServeMux) {
	if a.cfg.MetricsToken == "" {
		return
	}
	mux.Handle("GET /metrics", bearer(a.cfg.MetricsToken, a.obs.reg.Handler()))
}

// bearer lets through requests with "Authorization: Bearer <token>",
// compared in constant time (hashes of equal length, so not even the
// token's length leaks).
func bearer(token string, h http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="callbox metrics"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// listenMetrics binds the metrics listener (nil when off).
func (a *Appliance) listenMetrics() (net.Listener, error) {
	if a.cfg.MetricsListener != nil {
		return a.cfg.MetricsListener, nil
	}
	if a.cfg.MetricsAddr == "" {
		return nil, nil
	}
	return listen("metrics", a.cfg.MetricsAddr)
}

// ComponentHealth is one part's state in the detailed /healthz: Status is
// "ok", "off", "warn" or "fail"; the rest depends on the part.
type ComponentHealth struct {
	Status string `json:"status"`
	Detail any    `json:"detail,omitempty"`
	Error  string `json:"error,omitempty"`
}

// handleComponentHealth reports each component; any "fail" makes it 503.
func (a *Appliance) handleComponentHealth(w http.ResponseWriter, r *http.Request) {
	c := map[string]ComponentHealth{}

	storeH := ComponentHealth{Status: "ok"}
	if err := a.store.View(func(tx *store.Tx) error { _, err := tx.Apps(); return err }); err != nil {
		storeH = ComponentHealth{Status: "fail", Error: err.Error()}
	} else if n, err := a.storeSize(); err == nil {
		storeH.Detail = map[string]int64{"sizeBytes": n}
	}
	c["store"] = storeH

	c["signaling"] = ComponentHealth{Status: "ok", Detail: map[string]int{
		"connectedUsers": a.sig.ConnectedUsers(), "liveCalls": len(a.calls.Live())}}
	st := a.sfu.Stats()
	c["sfu"] = ComponentHealth{Status: "ok", Detail: map[string]int{"rooms": st.Rooms, "peers": st.Peers, "tracks": st.Tracks}}

	switch {
	case a.turn != nil:
		ts := a.turn.Stats()
		c["turn"] = ComponentHealth{Status: "ok", Detail: map[string]any{"allocations": ts.Allocations, "tls": a.turn.TLSAddr().IsValid()}}
	case a.ice != nil:
		c["turn"] = ComponentHealth{Status: "ok", Detail: map[string]string{"external": a.cfg.TURNExternal}}
	default:
		c["turn"] = ComponentHealth{Status: "off"}
	}
	c["tls"] = a.tlsHealth()
	c["webhooks"] = a.webhookHealth()

	status, code := "ok", http.StatusOK
	for _, h := range c {
		if h.Status == "fail" {
			status, code = "fail", http.StatusServiceUnavailable
		}
	}
	writeJSON(w, code, struct {
		Status     string                     `json:"status"`
		Components map[string]ComponentHealth `json:"components"`
	}{status, c})
}

// webhookHealth is every app's callback queue (depth, oldest pending
// event, dead letters, failures; docs/webhooks.md): "warn" while an app
// has dead letters or failing deliveries, never "fail" (a receiver that
// is down is the app's trouble, not the server's).
func (a *Appliance) webhookHealth() ComponentHealth {
	apps := a.hooks.health()
	h := ComponentHealth{Status: "ok", Detail: apps}
	for _, app := range apps {
		if app.Dead > 0 || app.Failures > 0 {
			h.Status = "warn"
		}
	}
	return h
}

func (a *Appliance) tlsHealth() ComponentHealth {
	if a.certs == nil {
		return ComponentHealth{Status: "off"}
	}
	na := a.certs.NotAfter()
	if na.IsZero() {
		return ComponentHealth{Status: "fail", Detail: map[string]string{"mode": a.certs.Mode().String()}, Error: "no certificate"}
	}
	left := na.Sub(a.cfg.Now())
	h := ComponentHealth{Status: "ok", Detail: map[string]any{
		"mode": a.certs.Mode().String(), "notAfter": na.UTC().Format(time.RFC3339), "daysLeft": int(left.Hours() / 24)}}
	switch {
	case left <= 0:
		h.Status, h.Error = "fail", "certificate expired"
	case left < certWarnBefore && a.certs.Mode() != certs.SelfSigned:
		h.Status, h.Error = "warn", "certificate expires soon"
	}
	return h
}
