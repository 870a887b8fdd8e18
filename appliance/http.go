package appliance

import (
	"encoding/json"
	"net/http"
	"runtime"
	"strings"
	"time"

	"callbox/appliance/webhook"
	"callbox/ui"
)

// routes is the one list of public HTTP mounts.
func (a *Appliance) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", a.handleHealth)
	mux.HandleFunc("GET /config.json", a.handleWebConfig) // the web app's sign-in (webconfig.go)
	mux.Handle("GET /ws", a.sig)
	for _, m := range []string{"POST", "GET", "PUT", "PATCH", "DELETE"} {
		mux.Handle(m+" /v4/", a.rest) // REST; a wrong method too gets the envelope (docs/rest.md)
	}
	mux.Handle("GET /", ui.New())
	a.console.routes(mux, a.adminAPI())
	a.mountMetrics(mux)
	return a.hsts(securityHeaders(a.checkHost(mux)))
}

// handleHealth tells the world only that the server answers; the details
// (version, uptime) are for the owner, on the control socket (GET /health).
func (a *Appliance) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, struct {
		Status string `json:"status"`
	}{"ok"})
}

// Health describes the running server: the control socket's GET /health
// and `callbox status`.
type Health struct {
	Status    string  `json:"status"`
	Version   string  `json:"version"`
	Commit    string  `json:"commit,omitempty"`
	GoVersion string  `json:"goVersion"`
	Uptime    float64 `json:"uptime"` // seconds
	StartedAt string  `json:"startedAt"`
	// PublicURL is where people reach the web app (Config.PublicURL);
	// invite links start with it.
	PublicURL string `json:"publicURL,omitempty"`
	// Webhooks is every app's callback queue: depth, oldest pending
	// event, dead letters, failures (docs/webhooks.md).
	Webhooks []webhook.AppStats `json:"webhooks"`
}

func (a *Appliance) health() Health {
	return Health{
		Status:    "ok",
		Version:   a.cfg.Version,
		Commit:    a.cfg.Commit,
		GoVersion: runtime.Version(),
		Uptime:    a.cfg.Now().Sub(a.started).Round(time.Millisecond).Seconds(),
		StartedAt: a.started.UTC().Format(time.RFC3339),
		PublicURL: a.cfg.publicURL(),
		Webhooks:  a.hooks.health(),
	}
}

// adminCSP is the admin console's policy (docs/admin.md §2): its own
// scripts and styles only, no inline script, never in a frame.
const adminCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "same-origin")
		if r.URL.Path == "/admin" || strings.HasPrefix(r.URL.Path, "/admin/") {
			w.Header().Set("Content-Security-Policy", adminCSP)
			w.Header().Set("X-Frame-Options", "DENY")
		} else {
			w.Header().Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:; media-src 'self' blob:; img-src 'self' data:")
		}
		h.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
