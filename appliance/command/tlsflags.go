package command

import (
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"strings"

	"github.com/urfave/cli/v2"

	"callbox/appliance"
	"callbox/turn"
)

// tlsFlags are serve's HTTPS and TURN-over-TLS flags.
func tlsFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "domain", EnvVars: []string{"CALLBOX_DOMAIN"},
			Usage: "public DNS name of this server: HTTPS on --https with a certificate from ACME (Let's Encrypt), kept in the data directory and renewed; --http-redirect answers the ACME challenge and redirects to HTTPS"},
		&cli.StringFlag{Name: "acme-email", EnvVars: []string{"CALLBOX_ACME_EMAIL"}, Usage: "contact address for the ACME account (expiry warnings)"},
		&cli.StringFlag{Name: "acme-ca", EnvVars: []string{"CALLBOX_ACME_CA"}, Usage: "ACME directory URL (default Let's Encrypt's production directory)"},
		&cli.StringFlag{Name: "tls-cert", EnvVars: []string{"CALLBOX_TLS_CERT"}, Usage: "PEM certificate chain for HTTPS (your own; reloaded when the file changes); with --tls-key"},
		&cli.StringFlag{Name: "tls-key", EnvVars: []string{"CALLBOX_TLS_KEY"}, Usage: "PEM private key of --tls-cert"},
		&cli.BoolFlag{Name: "self-signed", Usage: "HTTPS with a self-signed certificate made once and kept in the data directory (a LAN); its fingerprint is printed"},
		&cli.StringFlag{Name: "https", Value: appliance.DefaultHTTPSAddr, EnvVars: []string{"CALLBOX_HTTPS"}, Usage: "HTTPS listen address, used with --domain, --tls-cert or --self-signed"},
		&cli.StringFlag{Name: "http-redirect", EnvVars: []string{"CALLBOX_HTTP_REDIRECT"},
			Usage: "plain-HTTP address that redirects to HTTPS and answers ACME HTTP-01 (default :80 with --domain, else none; off = none)"},
		&cli.IntFlag{Name: "turn-tls-port", Value: turn.DefaultTLSPort, Usage: "TURN over TLS port (turns:) when HTTPS is on, with the same certificate (-1 = off)"},
	}
}

// tlsConfig reads the TLS flags into cfg.
func tlsConfig(c *cli.Context, cfg *appliance.Config) error {
	t := appliance.TLSConfig{
		Domain:     strings.ToLower(c.String("domain")),
		ACMEEmail:  c.String("acme-email"),
		ACMECA:     c.String("acme-ca"),
		CertFile:   c.String("tls-cert"),
		KeyFile:    c.String("tls-key"),
		SelfSigned: c.Bool("self-signed"),
	}
	n := 0
	for _, on := range []bool{t.Domain != "", t.CertFile != "" || t.KeyFile != "", t.SelfSigned} {
		if on {
			n++
		}
	}
	switch {
	case n > 1:
		return fmt.Errorf("choose one of --domain, --tls-cert/--tls-key and --self-signed")
	case (t.CertFile == "") != (t.KeyFile == ""):
		return fmt.Errorf("--tls-cert and --tls-key go together")
	case t.Domain == "" && (t.ACMEEmail != "" || t.ACMECA != ""):
		return fmt.Errorf("--acme-email and --acme-ca need --domain")
	}
	if t.Domain != "" {
		if _, err := netip.ParseAddr(t.Domain); err == nil || !validHostName(t.Domain) || !strings.Contains(strings.Trim(t.Domain, "."), ".") {
			return fmt.Errorf("invalid --domain %q: want the server's public DNS name, like call.example.com", t.Domain)
		}
		t.Domain = strings.TrimSuffix(t.Domain, ".")
	}
	if t.ACMEEmail != "" {
		if a, err := mail.ParseAddress(t.ACMEEmail); err != nil || a.Address != t.ACMEEmail || len(t.ACMEEmail) > 254 {
			return fmt.Errorf("invalid --acme-email %q: want an address like ops@example.com", t.ACMEEmail)
		}
	}
	if t.ACMECA != "" {
		if err := checkACMECA(t.ACMECA); err != nil {
			return err
		}
	}
	cfg.TURNTLSPort = c.Int("turn-tls-port")
	if p := cfg.TURNTLSPort; (p < 1 || p > 65535) && p != -1 {
		return fmt.Errorf("invalid --turn-tls-port %d: want a port from 1 to 65535 (-1 = off)", p)
	}
	on := t.On()
	if !on {
		if c.IsSet("https") || c.IsSet("http-redirect") {
			return fmt.Errorf("--https and --http-redirect need --domain, --tls-cert or --self-signed")
		}
		cfg.TLS = t
		return nil
	}
	if c.IsSet("http") {
		return fmt.Errorf("--http is the plain-HTTP address, unused with HTTPS: use --https (and --http-redirect)")
	}
	t.HTTPSAddr = c.String("https")
	if _, _, err := net.SplitHostPort(t.HTTPSAddr); err != nil {
		return fmt.Errorf("invalid --https %q: want HOST:PORT, like :443", t.HTTPSAddr)
	}
	t.RedirectAddr = c.String("http-redirect")
	if t.RedirectAddr != "" && t.RedirectAddr != appliance.RedirectOff {
		if _, _, err := net.SplitHostPort(t.RedirectAddr); err != nil {
			return fmt.Errorf("invalid --http-redirect %q: want HOST:PORT, like :80, or off", t.RedirectAddr)
		}
	}
	cfg.TLS = t
	return nil
}

// checkACMECA accepts an https URL, or http on loopback (a local test CA).
func checkACMECA(s string) error {
	u, err := url.Parse(s)
	bad := err != nil || u.Host == "" || u.User != nil
	if !bad && u.Scheme != "https" {
		ip, perr := netip.ParseAddr(u.Hostname())
		bad = u.Scheme != "http" || !(u.Hostname() == "localhost" || perr == nil && ip.IsLoopback())
	}
	if bad {
		return fmt.Errorf("invalid --acme-ca %q: want the https URL of an ACME directory", s)
	}
	return nil
}
