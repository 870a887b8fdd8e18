// Package certs is where callbox's TLS certificate comes from: ACME
// (golang.org/x/crypto/acme/autocert) for --domain, the operator's own
// files for --tls-cert/--tls-key (reloaded when they change), or a
// self-signed one kept in the data directory for --self-signed.
//
// It owns the TLS settings too (Mozilla's "intermediate" profile), shared by
// the HTTPS listener and TURN over TLS, and the plain-HTTP handler of the
// redirect port (ACME HTTP-01 challenges, then a redirect to HTTPS). It
// knows nothing of the listeners themselves: the appliance binds them.
package certs

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"
)

// DirName is the directory inside the data directory that holds the ACME
// cache (account key, certificates) and the self-signed certificate.
const DirName = "certs"

// Mode says where the certificate comes from.
type Mode int

const (
	Off        Mode = iota // plain HTTP
	ACME                   // Config.Domain
	Files                  // Config.CertFile, Config.KeyFile
	SelfSigned             // Config.SelfSigned
)

func (m Mode) String() string {
	return [...]string{"off", "acme", "files", "self-signed"}[m]
}

// Config selects at most one source of certificates.
type Config struct {
	// DataDir is the data directory; certificates live in DataDir/certs.
	DataDir string
	// Domain turns ACME on: a certificate for this one name.
	Domain string
	// ACMEEmail is the account's contact address (optional).
	ACMEEmail string
	// ACMECA is the ACME directory URL; default Let's Encrypt's.
	ACMECA string
	// ACMEHTTPClient talks to the CA (tests: a client that trusts a local
	// CA's own certificate); default http.DefaultClient.
	ACMEHTTPClient *http.Client
	// RenewBefore is how long before expiry ACME certificates are renewed;
	// default autocert's, 30 days.
	RenewBefore time.Duration
	// CertFile and KeyFile are PEM files of the operator's own certificate
	// (the chain, leaf first) and key; reloaded when they change.
	CertFile, KeyFile string
	// SelfSigned makes a self-signed certificate on first use and keeps it.
	SelfSigned bool
	// Hosts are the names and addresses a self-signed certificate covers
	// besides localhost, 127.0.0.1, ::1 and the host name.
	Hosts []string
	// Logger receives reloads and renewals; default discards.
	Logger *slog.Logger
	// Now is the clock for expiry checks; default time.Now.
	Now func() time.Time
}

// Mode is the source Config selects.
func (c Config) Mode() Mode {
	switch {
	case c.Domain != "":
		return ACME
	case c.CertFile != "" || c.KeyFile != "":
		return Files
	case c.SelfSigned:
		return SelfSigned
	}
	return Off
}

// Source hands out the current certificate.
type Source struct {
	cfg  Config
	log  *slog.Logger
	acme *acmeSource // ACME
	file *fileSource // Files, and SelfSigned (a file that never changes)
}

// New checks Config and loads (or, self-signed, makes) the certificate;
// with ACME it only prepares the manager (Obtain gets the certificate).
// It returns nil, nil when TLS is off. Errors name the flag or file.
func New(cfg Config) (*Source, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	n := 0
	for _, on := range []bool{cfg.Domain != "", cfg.CertFile != "" || cfg.KeyFile != "", cfg.SelfSigned} {
		if on {
			n++
		}
	}
	if n > 1 {
		return nil, errors.New("tls: choose one of --domain, --tls-cert/--tls-key and --self-signed")
	}
	s := &Source{cfg: cfg, log: cfg.Logger.With("component", "tls")}
	var err error
	switch cfg.Mode() {
	case Off:
		return nil, nil
	case ACME:
		s.acme, err = newACME(cfg, s.log)
	case Files:
		if cfg.CertFile == "" || cfg.KeyFile == "" {
			return nil, errors.New("tls: --tls-cert and --tls-key go together")
		}
		s.file, err = newFileSource(cfg.CertFile, cfg.KeyFile, cfg.Now, s.log)
	case SelfSigned:
		s.file, err = selfSigned(filepath.Join(cfg.DataDir, DirName), cfg.Hosts, cfg.Now, s.log)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Mode is where the certificate comes from.
func (s *Source) Mode() Mode { return s.cfg.Mode() }

// Domain is the ACME domain, or "".
func (s *Source) Domain() string { return s.cfg.Domain }

// Obtain makes sure a certificate is there: with ACME it gets one from the
// cache or, failing that, orders it now (the redirect port must already
// answer HTTP-01 challenges), so that a domain the CA refuses stops the
// start with a clear error instead of failing each handshake. Otherwise it
// does nothing.
func (s *Source) Obtain(ctx context.Context) error {
	if s.acme == nil {
		return nil
	}
	return s.acme.obtain(ctx)
}

// GetCertificate is tls.Config.GetCertificate.
func (s *Source) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if s.acme != nil {
		return s.acme.get(hello)
	}
	return s.file.get()
}

// Leaf is the certificate served now (nil with ACME before Obtain).
func (s *Source) Leaf() *x509.Certificate {
	var c *tls.Certificate
	if s.acme != nil {
		c, _ = s.acme.current()
	} else {
		c, _ = s.file.get()
	}
	if c == nil {
		return nil
	}
	return c.Leaf
}

// Fingerprint is the SHA-256 fingerprint of the served certificate,
// colon-separated hex as browsers show it; "" when there is none yet.
func (s *Source) Fingerprint() string {
	if leaf := s.Leaf(); leaf != nil {
		return Fingerprint(leaf.Raw)
	}
	return ""
}

// Fingerprint formats the SHA-256 of a DER certificate as AB:CD:...
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	var b strings.Builder
	for i, c := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", c)
	}
	return b.String()
}

// TLSConfig is Mozilla's "intermediate" server profile (TLS 1.2 and 1.3,
// ECDHE with AES-GCM or ChaCha20-Poly1305, X25519/P-256/P-384) over this
// source. nextProtos are the ALPN protocols offered; with ACME the
// tls-alpn-01 challenge protocol is added.
func (s *Source) TLSConfig(nextProtos ...string) *tls.Config {
	protos := append([]string(nil), nextProtos...)
	if s.acme != nil {
		protos = append(protos, acmeALPN)
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The order is the profile's; Go orders suites itself and ignores
		// it, but keeps this set.
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		CurvePreferences: []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256, tls.CurveP384},
		NextProtos:       protos,
		GetCertificate:   s.GetCertificate,
	}
}

// RedirectHandler serves the plain-HTTP port: ACME HTTP-01 challenges
// (with ACME), and for everything else a redirect to the same host and
// path over HTTPS on httpsPort (omitted when 443).
func (s *Source) RedirectHandler(httpsPort int) http.Handler {
	var h http.Handler = redirect{port: httpsPort}
	if s.acme == nil {
		return h
	}
	challenges := s.acme.m.HTTPHandler(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// autocert checks the Host header against the domain as it is;
		// a CA asks on port 80 and sends none, but a port-forward or a
		// test's port may put one there.
		if host, _, err := net.SplitHostPort(r.Host); err == nil && strings.HasPrefix(r.URL.Path, acmeChallengePath) {
			r = r.Clone(r.Context())
			r.Host = host
		}
		challenges.ServeHTTP(w, r)
	})
}

// acmeChallengePath is where HTTP-01 challenges are asked (RFC 8555 §8.3).
const acmeChallengePath = "/.well-known/acme-challenge/"

type redirect struct{ port int }

func (r redirect) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		http.Error(w, "use HTTPS", http.StatusBadRequest)
		return
	}
	host := req.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "" || strings.ContainsAny(host, "/\\@ ") {
		http.Error(w, "bad Host", http.StatusBadRequest)
		return
	}
	if strings.Contains(host, ":") { // IPv6 literal
		host = "[" + host + "]"
	}
	if r.port != 443 {
		host = fmt.Sprintf("%s:%d", host, r.port)
	}
	http.Redirect(w, req, "https://"+host+req.URL.RequestURI(), http.StatusMovedPermanently)
}

// NotAfter is when the served certificate expires (zero when none yet).
func (s *Source) NotAfter() time.Time {
	if leaf := s.Leaf(); leaf != nil {
		return leaf.NotAfter
	}
	return time.Time{}
}
