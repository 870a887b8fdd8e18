package command

import (
	"fmt"
	"net"
	"strings"

	"github.com/urfave/cli/v2"

	"callbox/appliance"
)

// minMetricsToken is the shortest --metrics-token accepted: it guards a
// public port.
const minMetricsToken = 16

// metricsFlags are serve's /metrics flags.
func metricsFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "metrics-addr", Value: appliance.DefaultMetricsAddr, EnvVars: []string{"CALLBOX_METRICS_ADDR"},
			Usage: "listen address of /metrics (Prometheus) and the detailed /healthz (off = none); keep it private"},
		&cli.StringFlag{Name: "metrics-token", EnvVars: []string{"CALLBOX_METRICS_TOKEN"},
			Usage: "also serve /metrics on the public listener to requests with \"Authorization: Bearer TOKEN\" (at least 16 characters)"},
	}
}

// metricsConfig reads the metrics flags into cfg.
func metricsConfig(c *cli.Context, cfg *appliance.Config) error {
	addr := c.String("metrics-addr")
	switch {
	case addr == "off" || addr == "":
	default:
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("invalid --metrics-addr %q: want HOST:PORT, like 127.0.0.1:9464, or off", addr)
		}
		cfg.MetricsAddr = addr
	}
	tok := c.String("metrics-token")
	if tok == "" {
		return nil
	}
	if len(tok) < minMetricsToken || len(tok) > 256 || strings.IndexFunc(tok, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0 {
		return fmt.Errorf("invalid --metrics-token: want %d to 256 printable ASCII characters without spaces", minMetricsToken)
	}
	cfg.MetricsToken = tok
	return nil
}
