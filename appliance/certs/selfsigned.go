package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Self-signed certificate files inside DataDir/certs.
const (
	SelfSignedCertName = "self-signed.crt"
	SelfSignedKeyName  = "self-signed.key"
)

// selfSignedValidity is how long a made certificate lasts; a new one (with
// a new fingerprint) is made only when the old has expired.
const selfSignedValidity = 5 * 365 * 24 * time.Hour

// selfSigned loads the certificate kept in dir or, when there is none (or
// it has expired), makes one for localhost, the host name and hosts. The
// pair never changes while the server runs, so it is not watched.
func selfSigned(dir string, hosts []string, now func() time.Time, log *slog.Logger) (*fileSource, error) {
	certPath, keyPath := filepath.Join(dir, SelfSignedCertName), filepath.Join(dir, SelfSignedKeyName)
	f := &fileSource{certPath: certPath, keyPath: keyPath, static: true, now: now, log: log}
	_, certErr := os.Stat(certPath)
	_, keyErr := os.Stat(keyPath)
	if certErr == nil && keyErr == nil {
		cert, err := loadPair(certPath, keyPath, now())
		if err == nil {
			f.cert = cert
			return f, nil
		}
		if !expired(certPath, now()) {
			return nil, fmt.Errorf("%w (delete %s and %s to make a new one)", err, certPath, keyPath)
		}
		log.Warn("self-signed certificate expired; making a new one", "file", certPath)
	} else if !errors.Is(certErr, os.ErrNotExist) || !errors.Is(keyErr, os.ErrNotExist) {
		if certErr == nil || keyErr == nil {
			return nil, fmt.Errorf("tls: %s or %s is missing: delete the other to make a new pair", certPath, keyPath)
		}
		return nil, fmt.Errorf("tls: self-signed certificate: %w", errors.Join(certErr, keyErr))
	}
	if err := makeSelfSigned(dir, certPath, keyPath, hosts, now()); err != nil {
		return nil, err
	}
	cert, err := loadPair(certPath, keyPath, now())
	if err != nil {
		return nil, err
	}
	f.cert = cert
	log.Info("self-signed certificate made", "file", certPath, "sha256", Fingerprint(cert.Leaf.Raw))
	return f, nil
}

// expired tells whether the PEM certificate at path has expired at now
// (false when it cannot be read: that is another error).
func expired(path string, now time.Time) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	b, _ := pem.Decode(data)
	if b == nil {
		return false
	}
	c, err := x509.ParseCertificate(b.Bytes)
	return err == nil && now.After(c.NotAfter)
}

// makeSelfSigned writes a new ECDSA P-256 pair, the key 0600; each file is
// written beside its place and renamed, so a crash leaves no half file.
func makeSelfSigned(dir, certPath, keyPath string, hosts []string, now time.Time) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("tls: create %s: %w", dir, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("tls: generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return fmt.Errorf("tls: serial: %w", err)
	}
	name, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "callbox " + name, Organization: []string{"callbox self-signed"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(selfSignedValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // so it can be imported as a trusted root on the LAN's devices
	}
	seen := map[string]bool{}
	for _, h := range append([]string{"localhost", "127.0.0.1", "::1", name}, hosts...) {
		if h == "" || seen[h] {
			continue
		}
		seen[h] = true
		if ip := net.ParseIP(h); ip != nil {
			if !ip.IsUnspecified() {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			}
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("tls: create certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("tls: encode key: %w", err)
	}
	if err := writeAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return writeAtomic(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

func writeAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("tls: write %s: %w", path, err)
	}
	tmp := f.Name()
	err = errors.Join(f.Chmod(mode), func() error { _, err := f.Write(data); return err }(), f.Sync(), f.Close())
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("tls: write %s: %w", path, err)
	}
	return nil
}
