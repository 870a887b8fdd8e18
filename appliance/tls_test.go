package appliance_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"callbox/appliance"
	"callbox/appliance/certs"
)

// writePair writes a self-signed PEM certificate for 127.0.0.1 and its key
// to certPath and keyPath, valid from notBefore to notAfter.
func writePair(t *testing.T, certPath, keyPath, cn string, notBefore, notAfter time.Time) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

// peerCert makes a TLS handshake with addr and returns the server's leaf.
// It checks the certificate chain only against pool (nil: not at all, as
// a user who accepted a self-signed certificate would).
func peerCert(t *testing.T, addr string, pool *x509.CertPool) *x509.Certificate {
	t.Helper()
	cfg := &tls.Config{RootCAs: pool, InsecureSkipVerify: pool == nil}
	conn, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatalf("TLS dial %s: %v", addr, err)
	}
	defer conn.Close()
	st := conn.ConnectionState()
	if st.Version < tls.VersionTLS12 {
		t.Fatalf("TLS version %x", st.Version)
	}
	return st.PeerCertificates[0]
}

func poolOf(c *x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c)
	return p
}

// TestTLSCertReload: with --tls-cert/--tls-key the server serves the
// files' certificate over HTTPS, and the next handshake after the files
// change gets the new one; a pair that does not load (a key written
// before its certificate) leaves the last good certificate in service.
func TestTLSCertReload(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	now := time.Now()
	first := writePair(t, certPath, keyPath, "first", now.Add(-time.Hour), now.Add(24*time.Hour))
	cfg := testConfig(t, filepath.Join(dir, "data"), nil)
	cfg.TURNDisabled = true
	cfg.TLS = appliance.TLSConfig{CertFile: certPath, KeyFile: keyPath}
	a, err := appliance.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	runInBackground(t, a)
	addr := cfg.HTTPListener.Addr().String()

	got := peerCert(t, addr, poolOf(first))
	if !got.Equal(first) {
		t.Fatalf("served %q, want the file's certificate", got.Subject.CommonName)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: poolOf(first)}}}
	resp, err := client.Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if h["status"] != "ok" || resp.Header.Get("Strict-Transport-Security") != "" {
		t.Fatalf("healthz over HTTPS: %v, HSTS %q (only ACME sends it)", h, resp.Header.Get("Strict-Transport-Security"))
	}
	// Plain HTTP on the TLS port gets nothing useful.
	if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP answered on the HTTPS port")
		}
	}

	second := writePair(t, certPath, keyPath, "second", now.Add(-time.Hour), now.Add(48*time.Hour))
	if got := peerCert(t, addr, poolOf(second)); !got.Equal(second) {
		t.Fatalf("after the files changed: served %q, want second", got.Subject.CommonName)
	}

	// Half a rotation: a new key whose certificate has not come yet.
	otherKey := filepath.Join(dir, "other-key.pem")
	writePair(t, filepath.Join(dir, "other.pem"), otherKey, "third", now.Add(-time.Hour), now.Add(time.Hour))
	keyPEM, _ := os.ReadFile(otherKey)
	if err := os.WriteFile(keyPath, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := peerCert(t, addr, poolOf(second)); !got.Equal(second) {
		t.Fatalf("with a mismatched pair on disk: served %q, want the last good one", got.Subject.CommonName)
	}
}

// TestSelfSignedSurvivesRestart: --self-signed makes one certificate,
// kept in <data>/certs, prints its fingerprint, and a restart serves the
// same certificate (same fingerprint).
func TestSelfSignedSurvivesRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	start := func() (fingerprint, printed string) {
		var out bytes.Buffer
		cfg := testConfig(t, dir, nil)
		cfg.TURNDisabled = true
		cfg.Out = &out
		cfg.TLS = appliance.TLSConfig{SelfSigned: true}
		a, err := appliance.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		stop := runInBackground(t, a)
		defer stop()
		leaf := peerCert(t, cfg.HTTPListener.Addr().String(), nil)
		if err := leaf.VerifyHostname("127.0.0.1"); err != nil {
			t.Errorf("self-signed certificate: %v", err)
		}
		return certs.Fingerprint(leaf.Raw), out.String()
	}
	fp1, out1 := start()
	if !strings.Contains(out1, "SHA-256 fingerprint: "+fp1) {
		t.Fatalf("first start printed %q, want the fingerprint %s", out1, fp1)
	}
	key := filepath.Join(dir, certs.DirName, certs.SelfSignedKeyName)
	if st, err := os.Stat(key); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st.Mode(), err)
	}
	fp2, out2 := start()
	if fp2 != fp1 || !strings.Contains(out2, fp1) {
		t.Fatalf("after restart: fingerprint %s, was %s", fp2, fp1)
	}
}
