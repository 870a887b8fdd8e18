package appliance_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"

	"callbox/appliance"
	"callbox/appliance/certs"
)

// pebbleCA is Let's Encrypt's test ACME server run in-process: its web
// front end over HTTPS on loopback, its validation authority resolving
// every name to 127.0.0.1 through a DNS server of the test's own.
type pebbleCA struct {
	url    string
	client *http.Client   // trusts the ACME server's own certificate
	roots  *x509.CertPool // pebble's issuing root, for the server's clients
	orders atomic.Int32   // new-order requests
	store  *db.MemoryStore
	logs   *acmeLogBuffer
}

type acmeLogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *acmeLogBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *acmeLogBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startPebble runs pebble issuing certificates valid for validity. Its VA
// checks HTTP-01 on httpPort and TLS-ALPN-01 on tlsPort.
func startPebble(t *testing.T, validity time.Duration, httpPort, tlsPort int) *pebbleCA {
	t.Helper()
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")      // no random validation delays
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0") // no random badNonce errors
	p := &pebbleCA{logs: &acmeLogBuffer{}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pebble log:\n%s", p.logs.String())
		}
	})
	dnsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dnsSrv := &dns.Server{Listener: dnsLn, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		for _, q := range r.Question {
			if q.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(127, 0, 0, 1)})
			}
		}
		w.WriteMsg(m)
	})}
	go dnsSrv.ActivateAndServe()
	t.Cleanup(func() { dnsSrv.Shutdown() })

	logger := log.New(p.logs, "pebble ", log.Lmicroseconds)
	p.store = db.NewMemoryStore()
	authority := ca.New(logger, p.store, "", "ecdsa", 0, 1,
		map[string]ca.Profile{"default": {Description: "test", ValidityPeriod: uint64(validity / time.Second)}})
	validator := va.New(logger, httpPort, tlsPort, false, dnsLn.Addr().String(), p.store)
	front := wfe.New(logger, p.store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 1, 1)
	handler := front.Handler()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/order-plz" {
			p.orders.Add(1)
		}
		handler.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.url = srv.URL + wfe.DirectoryPath
	p.client = srv.Client()
	p.roots = x509.NewCertPool()
	p.roots.AddCert(authority.GetRootCert(0).Cert)
	return p
}

// freePort returns a loopback port that was free a moment ago (pebble's
// VA takes ports, not listeners).
func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

const testDomain = "call.callbox.test"

// acmeServer starts an appliance with --domain on loopback listeners.
type acmeServer struct {
	a               *appliance.Appliance
	https, redirect string // addresses
	stop            func()
	out             *acmeLogBuffer
}

func acmeConfig(t *testing.T, dir string, p *pebbleCA, web, redirect net.Listener) appliance.Config {
	cfg := testConfig(t, dir, nil)
	cfg.HTTPListener.Close()
	cfg.HTTPListener = web
	cfg.TURNDisabled = true
	cfg.TLS = appliance.TLSConfig{
		Domain: testDomain, ACMEEmail: "ops@callbox.test", ACMECA: p.url, ACMEHTTPClient: p.client,
		RedirectListener: redirect,
	}
	return cfg
}

func listenAt(t *testing.T, port int) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// servedCert dials the HTTPS listener as a browser would, trusting only
// pebble's root, and returns the leaf it got.
func servedCert(t *testing.T, addr string, roots *x509.CertPool) *x509.Certificate {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{ServerName: testDomain, RootCAs: roots})
	if err != nil {
		t.Fatalf("TLS dial %s: %v", addr, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0]
}

func httpsClient(addr string, roots *x509.CertPool) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// TestACMEWithPebble: --domain gets a certificate from the ACME server
// (HTTP-01 on the redirect port: pebble's TLS-ALPN-01 port is closed), the
// HTTPS listener serves it with HSTS, the redirect port sends browsers to
// HTTPS, and a restart uses the cached certificate without a new order.
func TestACMEWithPebble(t *testing.T) {
	httpsPort, redirectPort := freePort(t), freePort(t)
	p := startPebble(t, 90*24*time.Hour, redirectPort, freePort(t))
	dir := filepath.Join(t.TempDir(), "data")
	web, redirect := listenAt(t, httpsPort), listenAt(t, redirectPort)
	a, err := appliance.New(acmeConfig(t, dir, p, web, redirect))
	if err != nil {
		t.Fatal(err)
	}
	stop := runInBackground(t, a)
	httpsAddr := web.Addr().String()

	leaf := servedCert(t, httpsAddr, p.roots)
	if err := leaf.VerifyHostname(testDomain); err != nil {
		t.Fatal(err)
	}
	if n := p.orders.Load(); n < 1 {
		t.Fatalf("%d orders", n)
	}
	if !strings.Contains(p.logs.String(), "validate w/ HTTP") {
		t.Errorf("pebble did not validate over HTTP-01")
	}

	c := httpsClient(httpsAddr, p.roots)
	resp, err := c.Get("https://" + testDomain + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Strict-Transport-Security"), "max-age=") {
		t.Fatalf("GET /healthz over HTTPS: %d, HSTS %q", resp.StatusCode, resp.Header.Get("Strict-Transport-Security"))
	}

	// The redirect port: browsers go to HTTPS, same host and path.
	req, _ := http.NewRequest("GET", "http://"+redirect.Addr().String()+"/join?x=1", nil)
	req.Host = testDomain
	resp, err = (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := "https://" + testDomain + ":" + strconv.Itoa(httpsPort) + "/join?x=1"
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != want {
		t.Fatalf("redirect: %d to %q, want 301 to %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	stop()

	// A restart serves the cached certificate: no new order.
	if _, err := os.Stat(filepath.Join(dir, certs.DirName, testDomain)); err != nil {
		t.Fatalf("certificate not cached: %v", err)
	}
	orders := p.orders.Load()
	web, redirect = listenAt(t, httpsPort), listenAt(t, redirectPort)
	a, err = appliance.New(acmeConfig(t, dir, p, web, redirect))
	if err != nil {
		t.Fatal(err)
	}
	runInBackground(t, a)
	if again := servedCert(t, httpsAddr, p.roots); !again.Equal(leaf) {
		t.Fatalf("after restart a new certificate (serial %v, was %v)", again.SerialNumber, leaf.SerialNumber)
	}
	if n := p.orders.Load(); n != orders {
		t.Fatalf("restart made %d new orders", n-orders)
	}
}

// TestACMERenewsShortLivedCertificate: a certificate that expires sooner
// than the renewal margin is replaced in the background while the server
// runs, and HTTPS serves the new one.
func TestACMERenewsShortLivedCertificate(t *testing.T) {
	httpsPort, redirectPort := freePort(t), freePort(t)
	p := startPebble(t, 2*time.Hour, redirectPort, freePort(t))
	web, redirect := listenAt(t, httpsPort), listenAt(t, redirectPort)
	cfg := acmeConfig(t, filepath.Join(t.TempDir(), "data"), p, web, redirect)
	cfg.TLS.ACMERenewBefore = 24 * time.Hour // > the 2 h validity: due at once
	a, err := appliance.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	runInBackground(t, a)
	first := servedCert(t, web.Addr().String(), p.roots)
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := servedCert(t, web.Addr().String(), p.roots)
		if !got.Equal(first) {
			if got.NotAfter.Before(first.NotAfter) {
				t.Fatalf("renewed certificate expires earlier: %v < %v", got.NotAfter, first.NotAfter)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("certificate (serial %v) not renewed within 60 s; %d orders", first.SerialNumber, p.orders.Load())
		}
		time.Sleep(50 * time.Millisecond) // polling the served certificate: no event to wait on
	}
}

// TestACMERefusedDomain: a domain the CA refuses stops the start with one
// line naming the domain and the CA's reason, and leaves nothing behind
// (no default app, no certificate).
func TestACMERefusedDomain(t *testing.T) {
	redirectPort := freePort(t)
	p := startPebble(t, 90*24*time.Hour, redirectPort, freePort(t))
	if err := p.store.AddBlockedDomain(testDomain); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "data")
	web, redirect := listenAt(t, 0), listenAt(t, redirectPort)
	a, err := appliance.New(acmeConfig(t, dir, p, web, redirect))
	if err != nil {
		t.Fatal(err)
	}
	err = a.Run(context.Background())
	if err == nil {
		t.Fatal("Run succeeded for a refused domain")
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") || !strings.Contains(msg, testDomain) || !strings.Contains(msg, "rejectedIdentifier") {
		t.Fatalf("error %q: want one line naming the domain and the CA's reason", msg)
	}
	st, err := appliance.OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if n := countApps(t, st); n != 0 {
		t.Fatalf("%d apps after a failed start", n)
	}
	if _, err := os.Stat(filepath.Join(dir, certs.DirName, testDomain)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("certificate file after a refused order: %v", err)
	}
}

var _ = io.Discard

// TestACMETLSALPN: with no plain-HTTP port (--http-redirect off) the
// certificate comes through TLS-ALPN-01 on the HTTPS port, which answers
// the CA's handshakes while the first order runs, before HTTP is served
// there: one order, no failed validation.
func TestACMETLSALPN(t *testing.T) {
	httpsPort := freePort(t)
	p := startPebble(t, 90*24*time.Hour, freePort(t), httpsPort) // nothing listens on the HTTP-01 port
	web := listenAt(t, httpsPort)
	cfg := acmeConfig(t, filepath.Join(t.TempDir(), "data"), p, web, nil)
	cfg.TLS.RedirectAddr = appliance.RedirectOff
	a, err := appliance.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	runInBackground(t, a)
	if err := servedCert(t, web.Addr().String(), p.roots).VerifyHostname(testDomain); err != nil {
		t.Fatal(err)
	}
	if n := p.orders.Load(); n != 1 {
		t.Fatalf("%d orders, want 1 (the TLS-ALPN-01 check failed first)", n)
	}
}
