package command

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"callbox/appliance"
	"callbox/signaling"
	"callbox/turn"
)

func serveCommand(b Build) *cli.Command {
	return usageErrors(&cli.Command{
		Name:  "serve",
		Usage: "run the callbox server",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "http", Value: appliance.DefaultHTTPAddr, EnvVars: []string{"CALLBOX_HTTP"}, Usage: "HTTP listen address"},
			&cli.BoolFlag{Name: "dev", Usage: "development mode: sign in to the web app without a UserSig"},
			&cli.StringFlag{Name: "public-url", EnvVars: []string{"CALLBOX_PUBLIC_URL"},
				Usage: "base URL people reach the web app at, for invite links (default http://HTTP-ADDRESS)"},
			&cli.StringSliceFlag{Name: "allowed-origin", EnvVars: []string{"CALLBOX_ALLOWED_ORIGIN"},
				Usage: "origin of a web app besides this server's own whose pages may open /ws, like https://app.example.com (https://*.example.com: its subdomains); repeatable"},
			&cli.StringSliceFlag{Name: "allowed-host", EnvVars: []string{"CALLBOX_ALLOWED_HOST"},
				Usage: "host name clients reach this server by (IP addresses and localhost always work; any other Host gets 421); repeatable"},
			// The rate defaults are signaling's, per minute: 60 and 20.
			&cli.IntFlag{Name: "login-rate", Value: int(time.Minute / signaling.DefaultLoginRate.Every), EnvVars: []string{"CALLBOX_LOGIN_RATE"},
				Usage: "login attempts per minute from one IP address, as many at once (0 = no limit)"},
			&cli.IntFlag{Name: "call-rate", Value: int(time.Minute / signaling.DefaultCallRate.Every), EnvVars: []string{"CALLBOX_CALL_RATE"},
				Usage: "call setups per minute by one user, half as many at once (0 = no limit)"},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log format: text or json"},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "log level: debug, info, warn or error"},
			&cli.IntFlag{Name: "rtc-udp", Value: appliance.DefaultRTCUDPPort, Usage: "UDP port of all WebRTC media (ICE UDP mux)"},
			&cli.IntFlag{Name: "rtc-tcp", Value: appliance.DefaultRTCTCPPort, Usage: "ICE-TCP port for WebRTC media (-1 = off)"},
			&cli.StringSliceFlag{Name: "public-ip", EnvVars: []string{"CALLBOX_PUBLIC_IP"}, Usage: "public IP of this host behind NAT (1:1), advertised in media candidates and TURN URIs; repeatable"},
			&cli.BoolFlag{Name: "no-media-fastpath", EnvVars: []string{"CALLBOX_NO_MEDIA_FASTPATH"},
				Usage: "send and receive all media through pion's SRTP paths instead of the SFU's fast paths (a way out should they fail after an upgrade)"},
			&cli.BoolFlag{Name: "turn", Value: true, Usage: "run the embedded TURN server (--turn=false turns it off)"},
			&cli.IntFlag{Name: "turn-port", Value: turn.DefaultPort, Usage: "TURN port (UDP and TCP)"},
			&cli.StringFlag{Name: "turn-host", Usage: "the host name or IP put in the TURN URIs clients get (default: --domain, else the first --public-ip, else the --http host, else this host's outbound address)"},
			&cli.StringFlag{Name: "turn-listen-ip", Usage: "the address TURN binds (UDP, TCP, TLS; default all): a second address lets --turn-tls-port 443 sit beside HTTPS on 443"},
			&cli.StringSliceFlag{Name: "turn-allow-peer", Usage: "CIDR that TURN may relay to although it is private or loopback; repeatable"},
			&cli.IntFlag{Name: "turn-quota", Value: turn.DefaultUserQuota, Usage: "TURN allocations per user"},
			&cli.StringFlag{Name: "turn-external", Usage: "send clients to this external TURN server (turn:HOST:PORT) instead of the embedded one"},
			&cli.StringFlag{Name: "turn-secret", EnvVars: []string{"CALLBOX_TURN_SECRET"}, Usage: "TURN REST secret (default: generated and kept in the data directory); needed with --turn-external"},
			&cli.StringFlag{Name: "record-retention", Value: fmt.Sprintf("%dd", appliance.DefaultRecordRetention/(24*time.Hour)), EnvVars: []string{"CALLBOX_RECORD_RETENTION"},
				Usage: "keep call records this long after the call ended: days (90d) or a Go duration (36h); 0 = forever"},
		}, append(tlsFlags(), metricsFlags()...)...),
		Action: func(c *cli.Context) error {
			cfg, err := serveConfig(c, b)
			if err != nil {
				return err
			}
			app, err := appliance.New(cfg)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			return app.Run(ctx)
		},
	})
}

// serveConfig turns serve's flags into the appliance's Config.
func serveConfig(c *cli.Context, b Build) (appliance.Config, error) {
	if err := noArgs(c); err != nil {
		return appliance.Config{}, err
	}
	logger, err := newLogger(c.App.ErrWriter, c.String("log-format"), c.String("log-level"))
	if err != nil {
		return appliance.Config{}, err
	}
	cfg := appliance.Config{
		DataDir:      c.String("data"),
		HTTPAddr:     c.String("http"),
		Dev:          c.Bool("dev"),
		RTCUDPPort:   c.Int("rtc-udp"),
		RTCTCPPort:   c.Int("rtc-tcp"),
		TURNDisabled: !c.Bool("turn"),
		TURNPort:     c.Int("turn-port"),
		TURNQuota:    c.Int("turn-quota"),
		TURNExternal: c.String("turn-external"),
		TURNSecret:   c.String("turn-secret"),
		Version:      b.Version,
		Commit:       b.Commit,
		Logger:       logger,
		Out:          c.App.Writer,
	}
	cfg.NoMediaFastPath = c.Bool("no-media-fastpath")
	return cfg, serveFlags(c, &cfg)
}

// serveFlags validates the flags that need more than a type check.
func serveFlags(c *cli.Context, cfg *appliance.Config) error {
	if _, _, err := net.SplitHostPort(cfg.HTTPAddr); err != nil {
		return fmt.Errorf("invalid --http %q: want HOST:PORT", cfg.HTTPAddr)
	}
	if err := tlsConfig(c, cfg); err != nil {
		return err
	}
	if err := metricsConfig(c, cfg); err != nil {
		return err
	}
	if c.IsSet("turn-host") {
		h := c.String("turn-host")
		if !validHostName(h) {
			return fmt.Errorf("invalid --turn-host %q: want a host name or an IP address", h)
		}
		cfg.TURNHost = h
	}
	if c.IsSet("turn-listen-ip") {
		ip, err := netip.ParseAddr(c.String("turn-listen-ip"))
		if err != nil || ip.Zone() != "" {
			return fmt.Errorf("invalid --turn-listen-ip %q: want an IP address", c.String("turn-listen-ip"))
		}
		cfg.TURNListenIP = ip.String()
	}
	if c.IsSet("public-url") {
		u, err := appliance.ParsePublicURL(c.String("public-url"))
		if err != nil {
			return fmt.Errorf("invalid --public-url: %w", err)
		}
		cfg.PublicURL = u
	}
	for _, p := range []struct {
		name  string
		value int
		off   bool // -1 allowed
	}{{"rtc-udp", cfg.RTCUDPPort, false}, {"rtc-tcp", cfg.RTCTCPPort, true}, {"turn-port", cfg.TURNPort, false}} {
		if (p.value < 0 || p.value > 65535) && !(p.off && p.value == -1) {
			return fmt.Errorf("invalid --%s %d: want a port from 1 to 65535 (0 = any free port)", p.name, p.value)
		}
	}
	for _, r := range []struct {
		name string
		dst  *signaling.Rate
		// burst is how many at once for n per minute.
		burst func(n int) int
	}{
		{"login-rate", &cfg.LoginRate, func(n int) int { return n }},
		{"call-rate", &cfg.CallRate, func(n int) int { return max(n/2, 1) }},
	} {
		n := c.Int(r.name)
		switch {
		case n < 0 || n > 1_000_000:
			return fmt.Errorf("invalid --%s %d: want a number per minute up to 1000000 (0 = no limit)", r.name, n)
		case n == 0:
			*r.dst = signaling.Rate{Burst: -1}
		default:
			*r.dst = signaling.Rate{Burst: r.burst(n), Every: time.Minute / time.Duration(n)}
		}
	}
	retention, err := parseRetention(c.String("record-retention"))
	if err != nil {
		return err
	}
	cfg.RecordRetention = retention
	if cfg.TURNQuota < 1 {
		return fmt.Errorf("invalid --turn-quota %d: want at least 1", cfg.TURNQuota)
	}
	for _, s := range c.StringSlice("public-ip") {
		ip, err := netip.ParseAddr(s)
		if err != nil || ip.IsUnspecified() {
			return fmt.Errorf("invalid --public-ip %q: want an IP address", s)
		}
		cfg.PublicIPs = append(cfg.PublicIPs, ip.String())
	}
	for _, s := range c.StringSlice("allowed-origin") {
		if _, err := appliance.ParseOrigin(s); err != nil {
			return err
		}
		cfg.AllowedOrigins = append(cfg.AllowedOrigins, s)
	}
	for _, s := range c.StringSlice("allowed-host") {
		if !validHostName(s) {
			return fmt.Errorf("invalid --allowed-host %q: want a host name like callbox.example.com, without scheme or port", s)
		}
		cfg.AllowedHosts = append(cfg.AllowedHosts, s)
	}
	for _, s := range c.StringSlice("turn-allow-peer") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			ip, ierr := netip.ParseAddr(s)
			if ierr != nil {
				return fmt.Errorf("invalid --turn-allow-peer %q: want a CIDR like 10.0.0.0/8", s)
			}
			p = netip.PrefixFrom(ip, ip.BitLen())
		}
		cfg.TURNAllow = append(cfg.TURNAllow, p.Masked())
	}
	if cfg.TURNExternal != "" {
		if err := appliance.ParseTURNExternal(cfg.TURNExternal); err != nil {
			return err
		}
		if cfg.TURNSecret == "" {
			return fmt.Errorf("--turn-external needs --turn-secret (the external server's static-auth-secret)")
		}
	}
	return nil
}

// validHostName accepts a DNS name (letters, digits, '-', '_', dots; a
// trailing dot is fine), or an IP address, which needs no flag but does
// no harm.
func validHostName(s string) bool {
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	name := strings.TrimSuffix(s, ".")
	if name == "" || len(name) > 253 {
		return false
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// parseRetention reads --record-retention: whole days ("90d"), a Go
// duration ("36h"), or 0 for forever.
func parseRetention(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n uint64
		if n, err = strconv.ParseUint(days, 10, 16); err == nil {
			d = time.Duration(n) * 24 * time.Hour
		}
	}
	switch {
	case err != nil || d < 0:
		return 0, fmt.Errorf("invalid --record-retention %q: want days like 90d, a duration like 36h, or 0 to keep records forever", s)
	case d == 0:
		return appliance.KeepRecordsForever, nil
	}
	return d, nil
}
