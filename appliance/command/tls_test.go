package command

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"callbox/store"
)

// pemPair makes a PEM certificate for 127.0.0.1 and its PEM key.
func pemPair(t *testing.T, notBefore, notAfter time.Time) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: notBefore, NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}

// TestServeTLSBadInput: bad TLS flags and files stop serve with one line
// that names the problem, before anything is created or overwritten.
func TestServeTLSBadInput(t *testing.T) {
	files := t.TempDir()
	now := time.Now()
	goodCert, goodKey := pemPair(t, now.Add(-time.Hour), now.Add(time.Hour))
	_, otherKey := pemPair(t, now.Add(-time.Hour), now.Add(time.Hour))
	oldCert, oldKey := pemPair(t, now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	write := func(name string, data []byte) string {
		p := filepath.Join(files, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cert, key := write("cert.pem", goodCert), write("key.pem", goodKey)
	other := write("other-key.pem", otherKey)
	expired, expiredKey := write("expired.pem", oldCert), write("expired-key.pem", oldKey)
	der := write("cert.der", []byte("0\x82\x01\x0a binary, not PEM"))

	ports := []string{"--rtc-udp", "0", "--rtc-tcp", "0", "--turn-port", "0", "--https", "127.0.0.1:0"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"mismatched pair", []string{"--tls-cert", cert, "--tls-key", other}, "do not match"},
		{"expired certificate", []string{"--tls-cert", expired, "--tls-key", expiredKey}, "expired on"},
		{"certificate not PEM", []string{"--tls-cert", der, "--tls-key", key}, "is not PEM"},
		{"key not PEM", []string{"--tls-cert", cert, "--tls-key", cert}, "not a PEM private key"},
		{"missing file", []string{"--tls-cert", filepath.Join(files, "nope.pem"), "--tls-key", key}, "no such file"},
		{"cert without key", []string{"--tls-cert", cert}, "--tls-cert and --tls-key go together"},
		{"two sources", []string{"--tls-cert", cert, "--tls-key", key, "--self-signed"}, "choose one of"},
		{"domain is an IP", []string{"--domain", "192.0.2.1"}, "invalid --domain"},
		{"domain without dot", []string{"--domain", "callbox"}, "invalid --domain"},
		{"domain with scheme", []string{"--domain", "https://call.example.com"}, "invalid --domain"},
		{"plain-http CA", []string{"--domain", "call.example.com", "--acme-ca", "http://ca.example.com/dir"}, "invalid --acme-ca"},
		{"bad email", []string{"--domain", "call.example.com", "--acme-email", "ops at example"}, "invalid --acme-email"},
		{"acme flag without domain", []string{"--acme-email", "ops@example.com"}, "need --domain"},
		{"--http with TLS", []string{"--self-signed", "--http", "127.0.0.1:0"}, "use --https"},
		{"bad --https", []string{"--self-signed", "--https", "443"}, "invalid --https"},
		{"bad turn tls port", []string{"--self-signed", "--turn-tls-port", "70000"}, "invalid --turn-tls-port"},
		{"turn listen ip not an IP", []string{"--self-signed", "--turn-listen-ip", "turn.example.com"}, "invalid --turn-listen-ip"},
		{"turn host with a space", []string{"--self-signed", "--turn-host", "turn example.com"}, "invalid --turn-host"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			before := map[string][]byte{}
			for _, p := range []string{cert, key, other, expired, der} {
				before[p], _ = os.ReadFile(p)
			}
			args := append([]string{"serve"}, ports...)
			if tc.name == "bad --https" {
				args = args[:len(args)-2]
			}
			argv := append([]string{"callbox", "--data", dir}, append(args, tc.args...)...)
			err := New(io.Discard, io.Discard, Build{}).Run(argv)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v: want one line with %q", err, tc.want)
			}
			for p, b := range before {
				if now, _ := os.ReadFile(p); string(now) != string(b) {
					t.Errorf("%s changed", p)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, store.FileName)); err == nil {
				st, err := store.Open(filepath.Join(dir, store.FileName), store.Options{ReadOnly: true})
				if err != nil {
					t.Fatal(err)
				}
				defer st.Close()
				st.View(func(tx *store.Tx) error {
					if apps, _ := tx.Apps(); len(apps) != 0 {
						t.Errorf("apps after a failed serve: %+v", apps)
					}
					return nil
				})
			}
		})
	}
}

// TestServeLowPortNeedsCapability: a user without CAP_NET_BIND_SERVICE
// who asks for port 443 is told which capability is missing. It runs the
// binary as nobody (setpriv), so it needs root.
func TestServeLowPortNeedsCapability(t *testing.T) {
	setpriv, err := exec.LookPath("setpriv")
	if os.Geteuid() != 0 || err != nil {
		t.Skip("needs root and setpriv to run as an unprivileged user")
	}
	// Ports below this one need the capability (Linux's default is 1024).
	low := 443
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n <= low {
			if n <= 1 {
				t.Skip("every port is unprivileged here (net.ipv4.ip_unprivileged_port_start)")
			}
			low = n - 1
		}
	}
	base := t.TempDir()
	os.Chmod(filepath.Dir(base), 0o755) // t.TempDir's parent
	os.Chmod(base, 0o777)
	dir := filepath.Join(base, "data")
	cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
		os.Args[0], "callbox", "--data", dir, "serve", "--self-signed", "--https", "127.0.0.1:"+strconv.Itoa(low),
		"--rtc-udp", "0", "--rtc-tcp", "0", "--turn-port", "0", "--turn-tls-port", "-1", "--log-level", "error")
	cmd.Env = append(os.Environ(), "CALLBOX_TEST_MAIN=1")
	out, err := cmd.CombinedOutput()
	msg := strings.TrimSpace(string(out))
	if err == nil || !strings.Contains(msg, "port "+strconv.Itoa(low)+" needs root or the CAP_NET_BIND_SERVICE capability") || strings.Count(msg, "\n") > 0 {
		t.Fatalf("serve on 443 as nobody: err=%v, output %q", err, msg)
	}
}

// TestMetricsFlags: --metrics-addr defaults to loopback and can be off;
// --metrics-token must be long enough to guard a public port.
func TestMetricsFlags(t *testing.T) {
	cfg, err := serveConfigOf(t)
	if err != nil || cfg.MetricsAddr != "127.0.0.1:9464" || cfg.MetricsToken != "" {
		t.Fatalf("defaults: %q %q %v", cfg.MetricsAddr, cfg.MetricsToken, err)
	}
	if cfg, err = serveConfigOf(t, "--metrics-addr", "off", "--metrics-token", "0123456789abcdef"); err != nil || cfg.MetricsAddr != "" || cfg.MetricsToken != "0123456789abcdef" {
		t.Fatalf("off + token: %q %q %v", cfg.MetricsAddr, cfg.MetricsToken, err)
	}
	for _, args := range [][]string{{"--metrics-token", "short"}, {"--metrics-token", "has a space in it ok"}, {"--metrics-addr", "9464"}} {
		if _, err := serveConfigOf(t, args...); err == nil || !strings.Contains(err.Error(), "invalid --metrics-") {
			t.Errorf("%v: %v", args, err)
		}
	}
}
