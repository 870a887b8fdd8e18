package appliance_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"callbox/appliance"
	"callbox/sfu/sfuclient"
)

// writeCA writes a CA certificate and a server certificate for 127.0.0.1
// signed by it, as PEM files in dir; it returns their paths.
func writeCA(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "callbox test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	caFile, certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for path, b := range map[string]*pem.Block{
		caFile:   {Type: "CERTIFICATE", Bytes: caDER},
		certFile: {Type: "CERTIFICATE", Bytes: der},
		keyFile:  {Type: "PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return caFile, certFile, keyFile
}

// TestTURNOverTLS: with HTTPS on, the login reply (over wss://) offers
// turns: on the TURN TLS port, which serves the same certificate; two
// pion clients that may use only turns: relay candidates hold a video
// call through it, and coturn's turnutils_uclient relays over TLS (-S).
//
// pion checks a TURN server's certificate against the system roots only,
// so the test runs itself again in a child process whose SSL_CERT_FILE is
// the test CA.
func TestTURNOverTLS(t *testing.T) {
	certFile, keyFile := os.Getenv("CALLBOX_TEST_TLS_CERT"), os.Getenv("CALLBOX_TEST_TLS_KEY")
	if certFile == "" {
		dir := t.TempDir()
		caFile, certFile, keyFile := writeCA(t, dir)
		cmd := exec.Command(os.Args[0], "-test.run=^TestTURNOverTLS$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+caFile, "CALLBOX_TEST_TLS_CERT="+certFile, "CALLBOX_TEST_TLS_KEY="+keyFile)
		out, err := cmd.CombinedOutput()
		if m := regexp.MustCompile(`--- SKIP: TestTURNOverTLS.*\n.*`).Find(out); err == nil && m != nil {
			t.Skip(string(m))
		}
		if err != nil || !strings.Contains(string(out), "--- PASS: TestTURNOverTLS") {
			t.Fatalf("child: %v\n%s", err, out)
		}
		t.Logf("child:\n%s", lastLines(string(out), 6))
		return
	}

	s := startServer(t, func(c *appliance.Config) {
		c.TLS = appliance.TLSConfig{CertFile: certFile, KeyFile: keyFile}
		c.TURNHost = "127.0.0.1"
		// uclient's echo peer: not one of the host's own addresses (to
		// which TURN relays only to the SFU's ports), but allowed.
		c.TURNAllow = []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}
	})
	s.url = strings.Replace(s.url, "ws://", "wss://", 1)
	ctx := s.ctx

	probe := s.login("probe", sfuclient.Config{})
	var servers []webrtc.ICEServer
	if err := json.Unmarshal(probe.login.ICEServers, &servers); err != nil || len(servers) < 2 {
		t.Fatalf("iceServers %s: %v", probe.login.ICEServers, err)
	}
	probe.leave()
	// Keep only the turns: URI: the relay must go over TLS.
	relay := servers[1]
	var turns string
	for _, u := range relay.URLs {
		if strings.HasPrefix(u, "turns:127.0.0.1:") {
			turns = u
		}
	}
	if turns == "" {
		t.Fatalf("no turns: URI with TLS on: %v", relay.URLs)
	}
	relay.URLs = []string{turns}
	tlsPort := strings.TrimSuffix(strings.TrimPrefix(turns, "turns:127.0.0.1:"), "?transport=tcp")

	alice := s.login("alice", sfuclient.Config{ICEServers: []webrtc.ICEServer{relay}, RelayOnly: true})
	bob := s.login("bob", sfuclient.Config{ICEServers: []webrtc.ICEServer{relay}, RelayOnly: true})
	videoCall(t, ctx, alice, bob)
	checkPairs(t, "a relay candidate", func(p *webrtc.ICECandidatePair) bool { return p.Local.Typ == webrtc.ICECandidateTypeRelay }, alice, bob)

	uclient, err := exec.LookPath("turnutils_uclient")
	if err != nil {
		t.Skip("turnutils_uclient not installed (apt-get install coturn)")
	}
	peer := udpEcho(t)
	user, pass := relay.Username, relay.Credential.(string)
	uctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(uctx, uclient, "-t", "-S", "-p", tlsPort, "-e", "127.0.0.2", "-r", strconv.Itoa(peer),
		"-n", "20", "-m", "2", "-c", "-z", "5", "-l", "101", "-u", user, "-w", pass, "127.0.0.1").CombinedOutput()
	totals := regexp.MustCompile(`tot_send_msgs=(\d+), tot_recv_msgs=(\d+)`).FindAllStringSubmatch(string(out), -1)
	if err != nil || len(totals) == 0 || totals[len(totals)-1][1] != "40" || totals[len(totals)-1][2] != "40" {
		t.Fatalf("turnutils_uclient -S: %v, totals %v\n%s", err, totals, lastLines(string(out), 20))
	}
}

// udpEcho runs a UDP echo server on 127.0.0.2 until the test ends.
func udpEcho(t *testing.T) int {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:n], from)
		}
	}()
	return pc.LocalAddr().(*net.UDPAddr).Port
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
