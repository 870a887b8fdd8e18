package turn

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	pionturn "github.com/pion/turn/v4"

	"callbox/turn/fastpath"
)

const testSecret = "north"

// logBuf collects a test server's log lines.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startServer runs a server on 127.0.0.1 with ephemeral ports; cfg fields
// left zero get test defaults.
func startServer(t *testing.T, cfg Config) (*Server, *logBuf) {
	t.Helper()
	logs := &logBuf{}
	if cfg.Secret == "" {
		cfg.Secret = testSecret
	}
	if cfg.ListenIP == "" {
		cfg.ListenIP = "127.0.0.1"
	}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
		if n := s.Stats().Allocations; n != 0 {
			t.Errorf("after Run: %d allocations", n)
		}
	})
	return s, logs
}

// planeStats is the server's packet path's stats; false without one.
func planeStats(s *Server) (fastpath.Stats, bool) {
	p, ok := s.path.(*fastpath.Plane)
	if !ok {
		return fastpath.Stats{}, false
	}
	return p.Stats(), true
}

// fastToPeer is how many packets the packet path relayed to peers itself.
func fastToPeer(s *Server) uint64 {
	st, _ := planeStats(s)
	return st.ToPeer
}

// waitAllocs waits for the server's live allocation count to reach n.
func waitAllocs(t *testing.T, s *Server, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		live, changed := s.allocChange()
		if live == n && s.Stats().Allocations == n {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("allocations = %d (pion %d), want %d", live, s.Stats().Allocations, n)
		}
	}
}

// creds returns valid spec §5 credentials for user.
func creds(user string) (string, string) {
	return Credentials(testSecret, user, time.Now().Add(time.Hour))
}

// newClient dials the server over UDP, or over TCP when tcp is set, and
// starts the client's read loop; Cleanup closes it.
func newClient(t *testing.T, s *Server, username, password string, tcp bool) *pionturn.Client {
	t.Helper()
	_, tcpAddr := s.Addr()
	var conn net.PacketConn
	var err error
	if tcp {
		var c net.Conn
		c, err = net.Dial("tcp", tcpAddr.String())
		if err == nil {
			conn = pionturn.NewSTUNConn(c)
		}
	} else {
		conn, err = net.ListenPacket("udp4", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatalf("client socket: %v", err)
	}
	return newClientConn(t, s, conn, username, password)
}

// newClientConn runs a pion client over conn; Cleanup closes both.
func newClientConn(t *testing.T, s *Server, conn net.PacketConn, username, password string) *pionturn.Client {
	t.Helper()
	udpAddr, _ := s.Addr()
	c, err := pionturn.NewClient(&pionturn.ClientConfig{
		STUNServerAddr: udpAddr.String(),
		TURNServerAddr: udpAddr.String(), // over TCP the conn decides; the address only keys transactions
		Username:       username,
		Password:       password,
		Realm:          DefaultRealm,
		Conn:           conn,
		RTO:            200 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	if err := c.Listen(); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() {
		c.Close()
		conn.Close()
	})
	return c
}

// echoPeer is a UDP peer on 127.0.0.1 that sends every datagram back.
func echoPeer(t *testing.T) *net.UDPAddr {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("peer: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:n], from)
		}
	}()
	t.Cleanup(func() {
		pc.Close()
		<-done
	})
	return pc.LocalAddr().(*net.UDPAddr)
}

// roundTrip sends msg through relay to peer and waits for its echo.
func roundTrip(t *testing.T, relay net.PacketConn, peer net.Addr, msg string) {
	t.Helper()
	buf := make([]byte, 1500)
	deadline := time.Now().Add(5 * time.Second)
	// pion's client can drop the echo of the first packets: the server may
	// answer on the channel before the client has marked it bound. So resend
	// until an echo comes back, skipping echoes of earlier messages.
	for time.Now().Before(deadline) {
		if _, err := relay.WriteTo([]byte(msg), peer); err != nil {
			t.Fatalf("relay write: %v", err)
		}
		relay.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		for {
			n, from, err := relay.ReadFrom(buf)
			if err != nil {
				break // resend
			}
			if string(buf[:n]) == msg && from.String() == peer.String() {
				return
			}
		}
	}
	t.Fatalf("no echo of %q from %v", msg, peer)
}

func loopbackAllowed() []netip.Prefix {
	return []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
}

func wantLog(t *testing.T, logs *logBuf, parts ...string) {
	t.Helper()
	for _, line := range strings.Split(logs.String(), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return
		}
	}
	t.Errorf("no log line with %q in:\n%s", parts, logs.String())
}
