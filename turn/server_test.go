package turn

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	pionturn "github.com/pion/turn/v4"
)

func TestRelayUDP(t *testing.T) {
	s, _ := startServer(t, Config{AllowPeers: loopbackAllowed()})
	peer := echoPeer(t)
	user, pass := creds("alice")
	c := newClient(t, s, user, pass, false)
	relay, err := c.Allocate()
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	if ra := relay.LocalAddr().(*net.UDPAddr); !ra.IP.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Errorf("relay address %v, want 127.0.0.1", ra)
	}
	waitAllocs(t, s, 1)
	if got := s.Stats().PerUser["alice"]; got != 1 {
		t.Errorf("PerUser[alice] = %d, want 1", got)
	}
	roundTrip(t, relay, peer, "hello")
	st := s.Stats()
	if st.ToPeerPackets == 0 || st.FromPeerPackets == 0 || st.ToPeerBytes < 5 {
		t.Errorf("relay counters not moving: %+v", st)
	}
	relay.Close()
	waitAllocs(t, s, 0)
	if len(s.Stats().PerUser) != 0 {
		t.Errorf("PerUser after close = %v", s.Stats().PerUser)
	}
}

func TestRelayTCP(t *testing.T) {
	s, _ := startServer(t, Config{AllowPeers: loopbackAllowed()})
	peer := echoPeer(t)
	user, pass := creds("bob")
	_, tcpAddr := s.Addr()
	raw, err := net.Dial("tcp", tcpAddr.String())
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordConn{Conn: raw}
	c := newClientConn(t, s, pionturn.NewSTUNConn(rec), user, pass)
	relay, err := c.Allocate()
	if err != nil {
		t.Fatalf("Allocate over TCP: %v", err)
	}
	waitAllocs(t, s, 1)
	for i := 0; i < 3; i++ { // the later rounds go over the bound channel
		// Every padding length. (pion's STUNConn holds back frames shorter
		// than 9 bytes until more data arrives, so no payload under 5 bytes.)
		for _, msg := range []string{"abcde", "abcdef", "abcdefg", "abcdefgh"} {
			roundTrip(t, relay, peer, msg)
		}
	}
	checkTCPFraming(t, rec.received())
	// Ending the TCP session deletes the allocation (no leak).
	raw.Close()
	waitAllocs(t, s, 0)
}

// checkTCPFraming walks what the server sent as RFC 5766 §11.5 frames: STUN
// messages, and ChannelData padded to four bytes (pion pads; libwebrtc and
// coturn frame on the padded length, so unpadded data would desynchronise
// them on the first odd-sized packet).
func checkTCPFraming(t *testing.T, b []byte) {
	t.Helper()
	odd := 0
	for len(b) > 0 {
		if len(b) < 4 {
			t.Fatalf("trailing %d bytes", len(b))
		}
		length := int(binary.BigEndian.Uint16(b[2:4]))
		var size int
		switch {
		case b[0] < 0x40 && len(b) >= 20 && binary.BigEndian.Uint32(b[4:8]) == 0x2112A442:
			size = 20 + length
		case b[0] >= 0x40 && b[0] <= 0x7f:
			size = 4 + (length+3)&^3
			if length%4 != 0 {
				odd++
			}
		default:
			t.Fatalf("frame boundary lost at % x", b[:min(len(b), 16)])
		}
		if size > len(b) {
			t.Fatalf("frame of %d bytes, %d left", size, len(b))
		}
		b = b[size:]
	}
	if odd == 0 {
		t.Fatalf("no ChannelData with a length needing padding was relayed")
	}
}

// recordConn keeps a copy of everything read from the server.
type recordConn struct {
	net.Conn
	mu  sync.Mutex
	buf []byte
}

func (c *recordConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.mu.Lock()
	c.buf = append(c.buf, b[:n]...)
	c.mu.Unlock()
	return n, err
}

func (c *recordConn) received() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.buf...)
}

func TestPeerRefusedByDefault(t *testing.T) {
	s, logs := startServer(t, Config{})
	user, pass := creds("mallory")
	for _, peer := range []string{"127.0.0.1", "10.0.0.1", "169.254.169.254"} {
		t.Run(peer, func(t *testing.T) {
			c := newClient(t, s, user, pass, false)
			relay, err := c.Allocate()
			if err != nil {
				t.Fatalf("Allocate: %v", err)
			}
			defer relay.Close()
			err = c.CreatePermission(&net.UDPAddr{IP: net.ParseIP(peer), Port: 9})
			if err == nil {
				t.Fatalf("CreatePermission to %s succeeded, want refusal", peer)
			}
			wantLog(t, logs, "turn peer refused", "peer="+peer)
		})
	}
	if s.Stats().PeersRefused < 3 {
		t.Errorf("PeersRefused = %d", s.Stats().PeersRefused)
	}
}

func TestPeerAllowListed(t *testing.T) {
	s, _ := startServer(t, Config{
		AllowPeers: loopbackAllowed(),
	})
	peer := echoPeer(t)
	user, pass := creds("carol")
	c := newClient(t, s, user, pass, false)
	relay, err := c.Allocate()
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	defer relay.Close()
	if err := c.CreatePermission(peer); err != nil {
		t.Fatalf("CreatePermission to allow-listed %v: %v", peer, err)
	}
	if err := c.CreatePermission(&net.UDPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 9}); err == nil {
		t.Errorf("10.0.0.1 allowed though only 127.0.0.1/32 is listed")
	}
	roundTrip(t, relay, peer, "allowed")
}

func TestQuota(t *testing.T) {
	const quota = 3
	s, logs := startServer(t, Config{UserQuota: quota})
	var relays []net.PacketConn
	for i := 0; i < quota; i++ {
		// Different credentials of one user share the quota.
		user, pass := Credentials(testSecret, "erin", time.Now().Add(time.Duration(i+1)*time.Hour))
		relay, err := newClient(t, s, user, pass, i%2 == 1).Allocate()
		if err != nil {
			t.Fatalf("Allocate %d: %v", i, err)
		}
		relays = append(relays, relay)
	}
	user, pass := creds("erin")
	if _, err := newClient(t, s, user, pass, false).Allocate(); err == nil {
		t.Fatalf("allocation %d over quota %d succeeded", quota+1, quota)
	}
	wantLog(t, logs, "turn allocation refused", "user quota reached", "user_id=erin")
	// Another user is not affected.
	ou, op := creds("frank")
	other, err := newClient(t, s, ou, op, false).Allocate()
	if err != nil {
		t.Fatalf("other user: %v", err)
	}
	defer other.Close()

	relays[0].Close()
	waitAllocs(t, s, quota)
	relay, err := newClient(t, s, user, pass, false).Allocate()
	if err != nil {
		t.Fatalf("Allocate after freeing one: %v", err)
	}
	relays[0] = relay
	if got := s.Stats().PerUser["erin"]; got != quota {
		t.Errorf("PerUser[erin] = %d, want %d", got, quota)
	}
	for _, r := range relays {
		r.Close()
	}
	other.Close()
	waitAllocs(t, s, 0)
	if st := s.Stats(); st.QuotaRefused != 1 || len(st.PerUser) != 0 {
		t.Errorf("stats after all closed: %+v", st)
	}
}

func TestServerEndpoint(t *testing.T) {
	s, _ := startServer(t, Config{})
	_, tcp := s.Addr()
	got := s.Endpoint("example.org")
	want := Endpoint{Host: "example.org", Port: int(tcp.Port()), Secret: testSecret}
	if got != want {
		t.Errorf("Endpoint = %+v, want %+v", got, want)
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New(Config{ListenIP: "127.0.0.1"}); err == nil {
		t.Errorf("New without secret succeeded")
	}
	if _, err := New(Config{Secret: "x", ListenIP: "nope"}); err == nil {
		t.Errorf("New with bad listen ip succeeded")
	}
	s, _ := startServer(t, Config{})
	udp, _ := s.Addr()
	if _, err := New(Config{Secret: "x", ListenIP: "127.0.0.1", Port: int(udp.Port())}); err == nil {
		t.Errorf("New on a taken port succeeded")
	}
}

// Close ends live UDP and TCP allocations without the clients' help.
func TestCloseDrains(t *testing.T) {
	s, _ := startServer(t, Config{})
	for _, tcp := range []bool{false, true} {
		user, pass := creds("heidi")
		if _, err := newClient(t, s, user, pass, tcp).Allocate(); err != nil {
			t.Fatalf("Allocate (tcp=%v): %v", tcp, err)
		}
	}
	waitAllocs(t, s, 2)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if live, _ := s.allocChange(); live != 0 || s.Stats().Allocations != 0 {
		t.Fatalf("after Close: live %d, pion %d", live, s.Stats().Allocations)
	}
}

// goroutineIDs returns the IDs of the goroutines whose stack has one of
// frames.
func goroutineIDs(frames ...string) map[string]bool {
	var b bytes.Buffer
	pprof.Lookup("goroutine").WriteTo(&b, 2)
	ids := map[string]bool{}
	for _, g := range strings.Split(b.String(), "\n\n") {
		id, _, _ := strings.Cut(strings.TrimPrefix(g, "goroutine "), " ")
		for _, f := range frames {
			if strings.Contains(g, f) {
				ids[id] = true
			}
		}
	}
	return ids
}

// serverFrames are in the goroutines that run server code: pion's server
// (readers, allocations) and the packet loop.
var serverFrames = []string{"pion/turn/v4.NewServer", "pion/turn/v4.(*Server)", "pion/turn/v4/internal/server",
	"pion/turn/v4/internal/allocation", "callbox/turn/fastpath."}

// TestRunOwnsGoroutines checks that New starts no goroutine, Run serves and
// returns when its context ends, having waited for the packet loop, and
// that the server cannot run again.
func TestRunOwnsGoroutines(t *testing.T) {
	before := goroutineIDs(serverFrames...)
	s, err := New(Config{Secret: testSecret, ListenIP: "127.0.0.1", AllowPeers: loopbackAllowed(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for id := range goroutineIDs(serverFrames...) {
		if !before[id] {
			t.Errorf("New started goroutine %s", id)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- s.Run(ctx) }()
	user, pass := creds("alice")
	relay, err := newClient(t, s, user, pass, false).Allocate()
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	roundTrip(t, relay, echoPeer(t), "running")
	cancel()
	select {
	case err := <-ran:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if n := len(goroutineIDs("turn/fastpath.(*Plane).Run")); n != 0 {
		t.Errorf("%d packet loops left after Run returned", n)
	}
	if n := s.Stats().Allocations; n != 0 {
		t.Errorf("after Run: %d allocations", n)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close after Run: %v", err)
	}
	if err := s.Run(context.Background()); err == nil {
		t.Errorf("Run after Close succeeded")
	}
}

// TestCloseWithoutRun checks that a server that never ran releases its
// ports on Close.
func TestCloseWithoutRun(t *testing.T) {
	cfg := Config{Secret: testSecret, ListenIP: "127.0.0.1", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	udp, _ := s.Addr()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	cfg.Port = int(udp.Port())
	again, err := New(cfg)
	if err != nil {
		t.Fatalf("New on the closed server's port: %v", err)
	}
	again.Close()
}
