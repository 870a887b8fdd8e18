package appliance_test

import (
	"crypto/tls"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/pion/stun/v3"

	"callbox/appliance"
)

// TestTURNListenIPBesideHTTPS: with TURN bound to a second address
// (--turn-listen-ip), TURN over TLS takes the very port HTTPS serves on the
// first (the docs' "TLS on 443 only" setup, on loopback addresses and a
// free port), both answer, and the login reply's turns: URI names the TURN
// host given (--turn-host).
func TestTURNListenIPBesideHTTPS(t *testing.T) {
	_, certFile, keyFile := writeCA(t, t.TempDir())
	var port int
	s := startServer(t, func(c *appliance.Config) {
		port = c.HTTPListener.Addr().(*net.TCPAddr).Port
		c.TLS = appliance.TLSConfig{CertFile: certFile, KeyFile: keyFile}
		c.TURNListenIP = "127.0.0.2"
		c.TURNTLSPort = port
		c.TURNHost = "localhost"
	})

	// HTTPS on 127.0.0.1:port (which certificate it shows is
	// TestTURNOverTLS's concern; here only who answers where).
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := hc.Get("https://127.0.0.1:" + strconv.Itoa(port) + "/healthz")
	if err != nil {
		t.Fatalf("HTTPS on 127.0.0.1:%d: %v", port, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTPS /healthz: %d", resp.StatusCode)
	}

	// TURN over TLS on 127.0.0.2:port answers a STUN binding request
	// with the address it saw.
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", "127.0.0.2:"+strconv.Itoa(port), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("TURN over TLS on 127.0.0.2:%d: %v", port, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
	if _, err := conn.Write(req.Raw); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("no STUN answer over TLS: %v", err)
	}
	res := &stun.Message{Raw: buf[:n]}
	var xor stun.XORMappedAddress
	if err := res.Decode(); err != nil || res.Type != stun.BindingSuccess || xor.GetFrom(res) != nil || !xor.IP.Equal(net.IPv4(127, 0, 0, 1)) && !xor.IP.Equal(net.IPv4(127, 0, 0, 2)) {
		t.Fatalf("STUN answer %v (%v), mapped %v", res.Type, err, xor)
	}

	// Clients are sent to turns:localhost:port (the list the login reply
	// carries, from the running server).
	adm, err := appliance.OpenAdmin(s.ctx, s.a.DataDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	servers, err := adm.ICEServers(s.ctx, "probe", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := "turns:localhost:" + strconv.Itoa(port) + "?transport=tcp"
	var found bool
	for _, sv := range servers {
		for _, u := range sv.URLs {
			found = found || u == want
		}
	}
	if !found {
		t.Errorf("iceServers %+v lack %s", servers, want)
	}
}
