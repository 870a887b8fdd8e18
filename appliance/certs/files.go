package certs

import (
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
)

// fileSource serves a certificate from a PEM pair and, unless static,
// loads it again when either file changes: each handshake compares the
// files' size and modification time with those loaded (a stat costs far
// less than the handshake). A pair that fails to load (say, the key
// written before its certificate) leaves the old certificate in service
// and is logged once.
type fileSource struct {
	certPath, keyPath string
	static            bool
	now               func() time.Time
	log               *slog.Logger

	mu     sync.Mutex
	cert   *tls.Certificate
	loaded stamp // of the files cert came from
	failed stamp // of the last pair that did not load, not retried
}

// stamp identifies the contents of the pair cheaply.
type stamp struct {
	certSize, keySize int64
	certMod, keyMod   time.Time
}

func newFileSource(certPath, keyPath string, now func() time.Time, log *slog.Logger) (*fileSource, error) {
	f := &fileSource{certPath: certPath, keyPath: keyPath, now: now, log: log}
	st, err := f.stat()
	if err != nil {
		return nil, err
	}
	cert, err := loadPair(certPath, keyPath, now())
	if err != nil {
		return nil, err
	}
	f.cert, f.loaded = cert, st
	return f, nil
}

func (f *fileSource) stat() (stamp, error) {
	cs, err := os.Stat(f.certPath)
	if err != nil {
		return stamp{}, fmt.Errorf("tls: certificate: %w", err)
	}
	ks, err := os.Stat(f.keyPath)
	if err != nil {
		return stamp{}, fmt.Errorf("tls: key: %w", err)
	}
	return stamp{certSize: cs.Size(), keySize: ks.Size(), certMod: cs.ModTime(), keyMod: ks.ModTime()}, nil
}

// get returns the current certificate, first reloading the pair when the
// files changed since it was loaded.
func (f *fileSource) get() (*tls.Certificate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.static {
		return f.cert, nil
	}
	st, err := f.stat()
	if err != nil || st == f.loaded || st == f.failed {
		return f.cert, nil // a file moved away mid-rotation: keep serving
	}
	cert, err := loadPair(f.certPath, f.keyPath, f.now())
	if err != nil {
		f.failed = st
		f.log.Warn("tls certificate files changed but do not load; still serving the previous certificate", "err", err)
		return f.cert, nil
	}
	f.cert, f.loaded, f.failed = cert, st, stamp{}
	f.log.Info("tls certificate reloaded", "subject", cert.Leaf.Subject.String(),
		"not_after", cert.Leaf.NotAfter.UTC().Format(time.RFC3339), "sha256", Fingerprint(cert.Leaf.Raw))
	return cert, nil
}

// loadPair reads and checks a PEM certificate chain and its key: both
// PEM, matching, and the leaf valid at now.
func loadPair(certPath, keyPath string, now time.Time) (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("tls: read certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("tls: read key: %w", err)
	}
	if !hasBlock(certPEM, func(t string) bool { return t == "CERTIFICATE" }) {
		return nil, fmt.Errorf("tls: certificate file %s is not PEM (want a -----BEGIN CERTIFICATE----- block)", certPath)
	}
	if !hasBlock(keyPEM, func(t string) bool { return strings.HasSuffix(t, "PRIVATE KEY") }) {
		return nil, fmt.Errorf("tls: key file %s is not a PEM private key (want a -----BEGIN PRIVATE KEY----- block)", keyPath)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		if strings.Contains(err.Error(), "does not match") {
			return nil, fmt.Errorf("tls: certificate %s and key %s do not match", certPath, keyPath)
		}
		return nil, fmt.Errorf("tls: certificate %s, key %s: %w", certPath, keyPath, err)
	}
	leaf := cert.Leaf
	switch {
	case now.After(leaf.NotAfter):
		return nil, fmt.Errorf("tls: certificate %s expired on %s", certPath, leaf.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(leaf.NotBefore):
		return nil, fmt.Errorf("tls: certificate %s is not valid before %s", certPath, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	return &cert, nil
}

// hasBlock reports whether data holds a PEM block whose type ok accepts.
func hasBlock(data []byte, ok func(string) bool) bool {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return false
		}
		if ok(b.Type) {
			return true
		}
	}
}
