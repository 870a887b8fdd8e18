// Package appliance is callbox's composition root: it turns one explicit
// Config into a running server and owns its start and stop order.
//
// New opens and migrates the store (closing the calls a previous process
// left live) and builds the SFU, the embedded TURN server (or an external
// one's endpoint) and the signaling server, whose transitions the callstore
// adapter commits. Run binds the HTTP listener and the control socket,
// creates the default app on a first start, owns every goroutine (HTTP,
// control socket, signaling, SFU, TURN, record pruning, liveness marks,
// webhook delivery) and shuts them down in reverse order under one
// deadline, live calls first and their webhooks right after.
// It owns the public HTTP routes and their Host check, the browser origins
// allowed to signaling, the control socket and the Admin interface the CLI
// uses with or without a running server, the admin API that the control
// socket and the admin console share (docs/admin.md) with the console's
// accounts, sessions, setup link and login back-off, the TURN secret and the ICE
// server lists handed out, call record retention, the HTTPS, redirect and
// metrics listeners (web.go, observe.go; the certificate comes from
// appliance/certs, the registry from appliance/metrics) and the detailed
// /healthz.
//
// It wires packages together and must not reach into their internals: call
// rules stay in signaling/call, media in sfu and turn, the schema in store.
package appliance

import (
	"io"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"callbox/signaling"
)

// Defaults applied by Config.withDefaults.
const (
	DefaultDataDir         = "./callbox-data"
	DefaultHTTPAddr        = "127.0.0.1:8080"
	DefaultShutdownTimeout = 10 * time.Second
	DefaultAppName         = "default"
	DefaultRTCUDPPort      = 7882
	DefaultRTCTCPPort      = 7881
	// DefaultRecordRetention is how long an ended call record is kept.
	DefaultRecordRetention = 90 * 24 * time.Hour
	// KeepRecordsForever as Config.RecordRetention turns pruning off.
	KeepRecordsForever time.Duration = -1
	// ControlSocketName is the admin socket inside the data directory; the
	// CLI talks to a running server through it.
	ControlSocketName = "callbox.sock"
)

// Config holds every setting of a callbox process. The zero value of a
// field means its default.
type Config struct {
	// DataDir holds callbox.db and the control socket; created 0700.
	DataDir string
	// HTTPAddr is where the web app, /ws and /healthz are served.
	HTTPAddr string
	// HTTPListener, when set, is used instead of listening on HTTPAddr
	// (tests pass a 127.0.0.1:0 listener).
	HTTPListener net.Listener
	// PublicURL is the base URL people reach the web app at, for invite
	// links (user invite, the console); "" = http://HTTPAddr. See
	// ParsePublicURL.
	PublicURL string
	// Dev allows sign-in without a UserSig in the web app (never in production).
	Dev bool
	// AllowedOrigins are the browser origins besides the server's own
	// whose pages may open /ws, as the Origin header spells them
	// ("https://app.example.com"; a leading "*." in the host allows its
	// subdomains). See ParseOrigin.
	AllowedOrigins []string
	// AllowedHosts are the host names the HTTP server answers to besides
	// IP literals, localhost and *.localhost; a request for any other Host
	// gets 421 Misdirected Request (against DNS rebinding).
	AllowedHosts []string
	// ShutdownTimeout bounds the graceful shutdown after Run's context ends.
	ShutdownTimeout time.Duration

	// TLS (package certs) is on with one of Domain (ACME), TLSCert and
	// TLSKey (own files, reloaded when they change) or SelfSigned. Then
	// the web is served over HTTPS on HTTPSAddr (default ":443"; HTTPAddr
	// is unused) and HTTPRedirectAddr, default ":80" with Domain and off
	// otherwise ("off" turns it off), answers ACME HTTP-01 challenges and
	// redirects to HTTPS. See TLSConfig.
	TLS TLSConfig

	// MetricsAddr serves /metrics (Prometheus) and the detailed /healthz
	// on a listener of their own; "" = none (the CLI's default is
	// DefaultMetricsAddr, loopback). MetricsListener is used instead when
	// set (tests). MetricsToken, when set, also serves /metrics on the
	// public listener to requests with "Authorization: Bearer <token>".
	MetricsAddr     string
	MetricsListener net.Listener
	MetricsToken    string

	// RTCUDPPort is the one UDP port of all WebRTC ICE traffic (UDP mux);
	// RTCTCPPort the ICE-TCP port (-1 = off). Unlike other fields, a zero
	// port means "any free port" (what tests want); the CLI passes the
	// Default* ports explicitly.
	RTCUDPPort int
	RTCTCPPort int
	// RTCListenIP is where the media sockets bind (default 0.0.0.0).
	RTCListenIP string
	// PublicIPs are advertised as NAT 1:1 host candidates and used as the
	// TURN host in ICE server URIs.
	PublicIPs []string
	// IncludeLoopback lets the SFU offer loopback candidates (tests, and a
	// server used only from the same machine).
	IncludeLoopback bool
	// NoMediaFastPath sends all media through pion's receive and send
	// paths instead of the SFU's fast paths (sfu.Config.NoFastPath):
	// the operator's way out should a pion upgrade break the fast path's
	// key extraction (--no-media-fastpath).
	NoMediaFastPath bool

	// TURN: the embedded server runs unless TURNDisabled or TURNExternal.
	TURNDisabled bool
	TURNPort     int // UDP+TCP; 0 = any free port (the CLI default is 3478)
	// TURNTLSPort is TURN over TLS, on when TLS is: 0 = turn's default
	// (5349, or any free port when TURNPort is 0), -1 = off.
	TURNTLSPort int
	// TURNListenIP is where the TURN sockets (UDP, TCP, TLS) bind; default
	// RTCListenIP. With a second address, TURN over TLS can take port 443
	// there while the web app keeps 443 on the first.
	TURNListenIP string
	TURNAllow    []netip.Prefix // peers allowed despite the private-range filter
	TURNQuota    int            // allocations per user, default 10
	// TURNExternal is an external TURN server's URI (turn:host:port) that
	// clients are sent to instead, with credentials from TURNSecret.
	TURNExternal string
	// TURNSecret overrides the secret kept in the store (needed with
	// TURNExternal: it must match the external server's static-auth-secret).
	TURNSecret string
	// TURNHost is the host put in TURN URIs; default the first public IP,
	// else the HTTP listen host when it is specific, else the host's
	// outbound address.
	TURNHost string

	// LoginRate limits login attempts per remote IP, CallRate call setups
	// per app and user (signaling.Config, docs/protocol.md §1). Zero means
	// signaling's default; a negative Burst turns the limit off.
	LoginRate signaling.Rate
	CallRate  signaling.Rate

	// RecordRetention is how long a call record is kept after the call
	// ended; older records are pruned at start and then hourly. Zero means
	// DefaultRecordRetention; KeepRecordsForever (or any negative value)
	// keeps every record.
	RecordRetention time.Duration

	// Version, Commit identify the build in `callbox status` and logs.
	Version string
	Commit  string

	// Logger receives structured logs; default discards.
	Logger *slog.Logger
	// Out receives the one-time first-run banner (the default app's
	// credentials); default discards.
	Out io.Writer
	// Now is the clock; default time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	c.TLS = c.TLS.withDefaults()
	if c.TLS.Domain != "" {
		c.AllowedHosts = append(c.AllowedHosts, c.TLS.Domain)
	}
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = DefaultHTTPAddr
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.RecordRetention == 0 {
		c.RecordRetention = DefaultRecordRetention
	}
	if c.RTCListenIP == "" {
		c.RTCListenIP = "0.0.0.0"
	}
	if c.TURNListenIP == "" {
		c.TURNListenIP = c.RTCListenIP
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Out == nil {
		c.Out = io.Discard
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}
