//go:build linux

package turn

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	pionturn "github.com/pion/turn/v4"
)

// fastCounts reads how many packets the plane relayed itself.
func fastCounts(s *Server) (toPeer, toClient uint64) {
	return s.plane.fast.toPeer.Load(), s.plane.fast.toClient.Load()
}

// fastToPeer is how many packets the plane relayed to peers itself; 0
// without a plane.
func fastToPeer(s *Server) uint64 {
	if s.plane == nil {
		return 0
	}
	n, _ := fastCounts(s)
	return n
}

// untilFast round-trips through relay until the plane has relayed both
// ways itself: pion's client binds the channel in the background after the
// first Send indications.
func untilFast(t *testing.T, s *Server, relay net.PacketConn, peer net.Addr) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		p0, c0 := fastCounts(s)
		roundTrip(t, relay, peer, "fast?")
		if p1, c1 := fastCounts(s); p1 > p0 && c1 > c0 {
			return
		}
	}
	t.Fatalf("plane never relayed both ways; counts %v", s.Stats())
}

func TestPlaneRelaysChannelData(t *testing.T) {
	s, _ := startServer(t, Config{AllowPeers: loopbackAllowed()})
	if s.plane == nil {
		t.Fatal("no packet path on Linux")
	}
	peer := echoPeer(t)
	user, pass := creds("alice")
	relay, err := newClient(t, s, user, pass, false).Allocate()
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	untilFast(t, s, relay, peer)
	st0 := s.Stats()
	p0, c0 := fastCounts(s)
	for i := 0; i < 20; i++ {
		roundTrip(t, relay, peer, "x")
	}
	st1 := s.Stats()
	p1, c1 := fastCounts(s)
	// Every packet is relayed; all but a stray one in flight when the plane
	// took the socket over (pion's reader may still hold a read) go the
	// fast path.
	if p1-p0 < 18 || c1-c0 < 18 || st1.ToPeerPackets-st0.ToPeerPackets < 20 || st1.FromPeerPackets-st0.FromPeerPackets < 20 {
		t.Errorf("20 round trips: plane %d/%d, stats %+v -> %+v", p1-p0, c1-c0, st0, st1)
	}

	relay.Close()
	waitAllocs(t, s, 0)
	s.plane.mu.RLock()
	defer s.plane.mu.RUnlock()
	if len(s.plane.relays)+len(s.plane.byPort)+len(s.plane.clients) != 0 {
		t.Errorf("plane tables after the allocation ended: %d relays, %d unclaimed, %d clients",
			len(s.plane.relays), len(s.plane.byPort), len(s.plane.clients))
	}
}

// TestPlaneBindingLapses checks that the plane stops using its copy of a
// binding when it lapses and leaves the packets to pion, which still relays
// them on its own (longer-lived) binding.
func TestPlaneBindingLapses(t *testing.T) {
	var skew atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	s, _ := startServer(t, Config{AllowPeers: loopbackAllowed(), bindClock: now})
	peer := echoPeer(t)
	user, pass := creds("bob")
	relay, err := newClient(t, s, user, pass, false).Allocate()
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	untilFast(t, s, relay, peer)

	skew.Store(int64(channelBindTTL - bindMargin))
	p0, c0 := fastCounts(s)
	st0 := s.Stats()
	for i := 0; i < 5; i++ {
		roundTrip(t, relay, peer, "slow")
	}
	p1, c1 := fastCounts(s)
	if p1 != p0 || c1 != c0 {
		t.Errorf("plane relayed %d/%d packets on a lapsed binding", p1-p0, c1-c0)
	}
	if st := s.Stats(); st.ToPeerPackets-st0.ToPeerPackets < 5 || st.FromPeerPackets-st0.FromPeerPackets < 5 {
		t.Errorf("pion did not relay: %+v -> %+v", st0, st)
	}
}

// TestPlaneDualStack relays through a listener on 0.0.0.0, which Go opens
// as an AF_INET6 socket, so clients arrive as IPv4-mapped addresses.
func TestPlaneDualStack(t *testing.T) {
	s, _ := startServer(t, Config{ListenIP: "0.0.0.0", PublicIP: "127.0.0.1", AllowPeers: loopbackAllowed()})
	if s.plane.lfam != syscall.AF_INET6 {
		t.Skip("listener is not dual-stack here")
	}
	peer := echoPeer(t)
	udp, _ := s.Addr()
	server := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), udp.Port()).String()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	user, pass := creds("carol")
	c, err := pionturn.NewClient(&pionturn.ClientConfig{STUNServerAddr: server, TURNServerAddr: server,
		Username: user, Password: pass, Realm: DefaultRealm, Conn: conn, RTO: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		conn.Close()
	})
	relay, err := c.Allocate()
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	untilFast(t, s, relay, peer)
	relay.Close()
	waitAllocs(t, s, 0)
}

func TestSockaddr(t *testing.T) {
	for _, c := range []struct {
		family int
		in     string
		ok     bool
	}{
		{syscall.AF_INET, "192.0.2.1:3478", true},
		{syscall.AF_INET, "[2001:db8::1]:3478", false},
		{syscall.AF_INET6, "192.0.2.1:3478", true},
		{syscall.AF_INET6, "[2001:db8::1]:9", true},
		{syscall.AF_INET6, "[fe80::1%7]:9", true},
	} {
		ap := netip.MustParseAddrPort(c.in)
		sa, ok := sockaddrFor(c.family, ap)
		if ok != c.ok {
			t.Errorf("sockaddrFor(%d, %v) ok = %v", c.family, ap, ok)
			continue
		}
		if ok && sa.addrPort() != ap {
			t.Errorf("sockaddr round trip of %v = %v", ap, sa.addrPort())
		}
	}
}

// bindingExpiries returns the expiry of every binding the plane holds.
func bindingExpiries(s *Server) []time.Time {
	s.plane.mu.RLock()
	defer s.plane.mu.RUnlock()
	var ex []time.Time
	for _, r := range s.plane.relays {
		r.mu.RLock()
		for _, b := range r.chans {
			ex = append(ex, b.expires)
		}
		r.mu.RUnlock()
	}
	return ex
}

// TestPlaneBindingClockIsReal checks that the plane's copy of a binding
// lapses by real time, the clock of pion's binding timers, even when
// Config.Now (the credential clock) runs ahead: with Config.Now an hour
// ahead the copy used to outlive pion's binding by that hour, relaying to
// a peer pion no longer had a channel for.
func TestPlaneBindingClockIsReal(t *testing.T) {
	ahead := func() time.Time { return time.Now().Add(time.Hour) }
	s, _ := startServer(t, Config{AllowPeers: loopbackAllowed(), Now: ahead})
	peer := echoPeer(t)
	user, pass := Credentials(testSecret, "dora", time.Now().Add(3*time.Hour))
	relay, err := newClient(t, s, user, pass, false).Allocate()
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	untilFast(t, s, relay, peer)
	latest := time.Now().Add(channelBindTTL)
	ex := bindingExpiries(s)
	if len(ex) == 0 {
		t.Fatal("no binding in the plane")
	}
	for _, e := range ex {
		if e.After(latest) {
			t.Errorf("binding copy expires %v after pion's timer can", e.Sub(latest))
		}
	}
}

// openFDs counts the process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	return len(ents)
}

// TestPlaneSetupFallback checks that a server whose packet path cannot be
// set up still relays over UDP through pion's own path (the setup used to
// close the listening socket first, so New failed), and that the failed
// setup leaves no descriptor behind.
func TestPlaneSetupFallback(t *testing.T) {
	fds := openFDs(t)
	s, logs := startServer(t, Config{AllowPeers: loopbackAllowed(), planeErr: errors.New("no epoll here")})
	if s.plane != nil {
		t.Fatal("packet path set up despite the injected failure")
	}
	wantLog(t, logs, "turn udp packet path unavailable", "no epoll here")
	peer := echoPeer(t)
	user, pass := creds("erin")
	c := newClient(t, s, user, pass, false)
	relay, err := c.Allocate()
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	roundTrip(t, relay, peer, "via pion")
	relay.Close()
	waitAllocs(t, s, 0)
	c.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := openFDs(t); n > fds+2 { // the echo peer and the client's socket close in Cleanup
		t.Errorf("open descriptors %d -> %d after Close", fds, n)
	}
}
