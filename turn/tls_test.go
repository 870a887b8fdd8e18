package turn

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	pionturn "github.com/pion/turn/v4"
)

// selfSigned returns a server config and a client pool for 127.0.0.1.
func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "callbox test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool
}

func TestRelayTLS(t *testing.T) {
	srvTLS, pool := selfSigned(t)
	s, _ := startServer(t, Config{TLSConfig: srvTLS, AllowPeers: loopbackAllowed()})
	addr := s.TLSAddr()
	udp, _ := s.Addr()
	if !addr.IsValid() || addr.Port() == udp.Port() {
		t.Fatalf("TLSAddr = %v (udp %v)", addr, udp)
	}
	if n := len(ICEServers(s.Endpoint("127.0.0.1"), "alice", time.Now(), 0)[1].URLs); n != 3 {
		t.Errorf("ICEServers with TLS: %d turn urls, want 3", n)
	}
	conn, err := tls.Dial("tcp", addr.String(), &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatalf("tls dial: %v", err)
	}
	user, pass := creds("grace")
	c := newClientConn(t, s, pionturn.NewSTUNConn(conn), user, pass)
	relay, err := c.Allocate()
	if err != nil {
		t.Fatalf("Allocate over TLS: %v", err)
	}
	roundTrip(t, relay, echoPeer(t), "over tls")
	// Close must end the TLS session and its allocation.
}
