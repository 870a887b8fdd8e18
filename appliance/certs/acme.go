package certs

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// acmeALPN is the tls-alpn-01 challenge protocol, answered by autocert.
const acmeALPN = acme.ALPNProto

// obtainTimeout bounds the first order at start-up.
const obtainTimeout = 3 * time.Minute

// acmeSource gets and renews the one domain's certificate with autocert,
// which caches the account key and certificates in DataDir/certs (0700)
// and renews in the background from RenewBefore ahead of expiry.
type acmeSource struct {
	domain string
	m      *autocert.Manager
	log    *slog.Logger

	mu   sync.Mutex
	last *tls.Certificate // the last certificate handed out, for Leaf
}

func newACME(cfg Config, log *slog.Logger) (*acmeSource, error) {
	domain := strings.ToLower(strings.TrimSuffix(cfg.Domain, "."))
	if !strings.Contains(domain, ".") {
		return nil, fmt.Errorf("tls: --domain %q: want a public DNS name like call.example.com", cfg.Domain)
	}
	client := &acme.Client{DirectoryURL: cfg.ACMECA, HTTPClient: cfg.ACMEHTTPClient}
	if client.DirectoryURL == "" {
		client.DirectoryURL = autocert.DefaultACMEDirectory
	}
	return &acmeSource{
		domain: domain,
		log:    log,
		m: &autocert.Manager{
			Prompt:      autocert.AcceptTOS,
			Cache:       autocert.DirCache(filepath.Join(cfg.DataDir, DirName)),
			HostPolicy:  autocert.HostWhitelist(domain),
			Email:       cfg.ACMEEmail,
			RenewBefore: cfg.RenewBefore,
			Client:      client,
		},
	}, nil
}

// get answers a handshake. A client that sends no server name (an IP
// literal, some TURN clients) gets the domain's certificate.
func (a *acmeSource) get(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if hello.ServerName == "" {
		h := *hello
		h.ServerName = a.domain
		hello = &h
	}
	c, err := a.m.GetCertificate(hello)
	if err == nil && c.Leaf != nil {
		a.mu.Lock()
		if a.last == nil || !a.last.Leaf.Equal(c.Leaf) {
			if a.last != nil {
				a.log.Info("acme certificate renewed", "domain", a.domain,
					"not_after", c.Leaf.NotAfter.UTC().Format(time.RFC3339))
			}
			a.last = c
		}
		a.mu.Unlock()
	}
	return c, err
}

func (a *acmeSource) current() (*tls.Certificate, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.last == nil {
		return nil, errors.New("tls: no certificate yet")
	}
	return a.last, nil
}

// obtain gets the certificate from the cache or the CA, as a handshake
// would. The error says what the CA answered.
func (a *acmeSource) obtain(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, obtainTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		// GetCertificate takes no context; it has its own 5 min bound.
		_, err := a.get(&tls.ClientHelloInfo{ServerName: a.domain,
			SignatureSchemes: []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256},
			SupportedCurves:  []tls.CurveID{tls.CurveP256},
			CipherSuites:     []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}})
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("tls: acme certificate for %s: %w", a.domain, oneLine(err))
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("tls: acme certificate for %s: %w", a.domain, ctx.Err())
	}
}

// oneLine flattens an error whose text spans lines (ACME problem details
// may), for a one-line start-up error.
func oneLine(err error) error {
	s := strings.Join(strings.Fields(err.Error()), " ")
	if s == err.Error() {
		return err
	}
	return errors.New(s)
}
