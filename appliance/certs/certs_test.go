package certs_test

import (
	"crypto/tls"
	"net"
	"testing"
	"time"

	"callbox/appliance/certs"
)

// serveTLS serves src's TLS config on loopback, completing handshakes.
func serveTLS(t *testing.T, src *certs.Source) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", src.TLSConfig("http/1.1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				c.(*tls.Conn).Handshake()
			}()
		}
	}()
	return ln.Addr().String()
}

// TestIntermediateProfile: what Mozilla's intermediate profile refuses,
// a real TLS client is refused: TLS 1.1, and TLS 1.2 with CBC or RSA key
// exchange; TLS 1.2 with ECDHE-AES-GCM and TLS 1.3 work.
func TestIntermediateProfile(t *testing.T) {
	src, err := certs.New(certs.Config{DataDir: t.TempDir(), SelfSigned: true})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, src)
	dial := func(cfg *tls.Config) error {
		cfg.InsecureSkipVerify = true
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
		if err == nil {
			c.Close()
		}
		return err
	}
	for _, tc := range []struct {
		name string
		cfg  *tls.Config
		ok   bool
	}{
		{"TLS 1.3", &tls.Config{MinVersion: tls.VersionTLS13}, true},
		{"TLS 1.2 ECDHE-ECDSA-AES128-GCM", &tls.Config{MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}}, true},
		{"TLS 1.2 ECDHE-ECDSA-CHACHA20", &tls.Config{MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}}, true},
		{"TLS 1.2 CBC", &tls.Config{MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}}, false},
		{"TLS 1.2 RSA key exchange", &tls.Config{MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256}}, false},
		{"TLS 1.1", &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}, false},
	} {
		if err := dial(tc.cfg); (err == nil) != tc.ok {
			t.Errorf("%s: handshake error %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

// TestFingerprint: colon-separated upper-case hex of SHA-256, as browsers
// show it.
func TestFingerprint(t *testing.T) {
	if got := certs.Fingerprint([]byte("abc")); got[:8] != "BA:78:16" || len(got) != 32*3-1 {
		t.Fatalf("Fingerprint = %q", got)
	}
}
