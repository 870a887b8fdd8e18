// Package appliance is callbox's composition root: it turns one explicit
// Config into the running parts (store, HTTP server, control socket, and
// later signaling, SFU and TURN), owns their goroutines and shuts them down
// in reverse order. It wires packages together and reaches into none.
package appliance

import (
	"io"
	"log/slog"
	"net"
	"time"
)

// Defaults applied by Config.withDefaults.
const (
	DefaultDataDir         = "./callbox-data"
	DefaultHTTPAddr        = "127.0.0.1:8080"
	DefaultShutdownTimeout = 10 * time.Second
	DefaultAppName         = "default"
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
	// Dev allows sign-in without a UserSig in the web app (never in production).
	Dev bool
	// ShutdownTimeout bounds the graceful shutdown after Run's context ends.
	ShutdownTimeout time.Duration

	// Version, Commit identify the build in /healthz and logs.
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
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = DefaultHTTPAddr
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
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
