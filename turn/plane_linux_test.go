//go:build linux

package turn

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	pionturn "github.com/pion/turn/v4"
)

// fastCounts reads how many packets the plane relayed itself.
func fastCounts(s *Server) (toPeer, toClient uint64) {
	st, _ := planeStats(s)
	return st.ToPeer, st.ToClient
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
	if s.path == nil {
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
	if st, _ := planeStats(s); st.Relays+st.Unclaimed+st.Clients != 0 {
		t.Errorf("plane tables after the allocation ended: %d relays, %d unclaimed, %d clients",
			st.Relays, st.Unclaimed, st.Clients)
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

	skew.Store(int64(channelBindTTL)) // the copy has lapsed, pion's binding (real time) has not
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
	if !dualStack(t) {
		t.Skip("no dual-stack sockets here")
	}
	s, _ := startServer(t, Config{ListenIP: "0.0.0.0", PublicIP: "127.0.0.1", AllowPeers: loopbackAllowed()})
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

// dualStack reports whether Go opens a UDP socket on 0.0.0.0 as AF_INET6,
// as the server's listener then is.
func dualStack(t *testing.T) bool {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4zero})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	six := false
	rc.Control(func(fd uintptr) {
		sa, err := syscall.Getsockname(int(fd))
		_, six = sa.(*syscall.SockaddrInet6)
		six = six && err == nil
	})
	return six
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
	st, _ := planeStats(s)
	if st.Bindings == 0 {
		t.Fatal("no binding in the plane")
	}
	if st.LastExpiry.After(latest) {
		t.Errorf("binding copy expires %v after pion's timer can", st.LastExpiry.Sub(latest))
	}
}

// TestPlaneSetupFallback checks that a server whose packet path cannot be
// set up still relays over UDP through pion's own path (the setup used to
// close the listening socket first, so New failed). That a failed setup
// leaves the socket usable and no descriptor behind is fastpath's
// TestSetupFailureLeavesSocket.
func TestPlaneSetupFallback(t *testing.T) {
	s, logs := startServer(t, Config{AllowPeers: loopbackAllowed(), planeErr: errors.New("no epoll here")})
	if s.path != nil {
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
}

// TestPlaneBurstInOrder sends bursts through the plane both ways: many
// datagrams reach it per wake-up, so they are read with one recvmmsg and
// leave with one sendmmsg per socket; the echoes must come back complete
// (bounded loss, on a loaded machine) and in the order sent.
func TestPlaneBurstInOrder(t *testing.T) {
	s, _ := startServer(t, Config{AllowPeers: loopbackAllowed()})
	peer := echoPeer(t)
	user, pass := creds("burst")
	relay, err := newClient(t, s, user, pass, false).Allocate()
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	defer relay.Close()
	untilFast(t, s, relay, peer)
	p0, c0 := fastCounts(s)
	const bursts, per = 10, 50
	buf := make([]byte, 1500)
	next, got := 0, 0
	for b := 0; b < bursts; b++ {
		for i := 0; i < per; i++ {
			msg := make([]byte, 100)
			binary.BigEndian.PutUint32(msg, uint32(b*per+i))
			if _, err := relay.WriteTo(msg, peer); err != nil {
				t.Fatalf("write: %v", err)
			}
		}
		// Read this burst's echoes until a short quiet spell.
		for {
			relay.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			n, _, err := relay.ReadFrom(buf)
			if err != nil {
				break
			}
			if n != 100 {
				continue // a stray echo of untilFast's probes
			}
			seq := int(binary.BigEndian.Uint32(buf))
			if seq < next {
				t.Fatalf("echo #%d after #%d: reordered or duplicated", seq, next-1)
			}
			next, got = seq+1, got+1
			if next == (b+1)*per {
				break
			}
		}
	}
	if lost := bursts*per - got; lost > bursts*per/100 {
		t.Errorf("%d of %d datagrams lost", lost, bursts*per)
	}
	if p1, c1 := fastCounts(s); p1-p0 < uint64(got) || c1-c0 < uint64(got) {
		t.Errorf("the plane relayed %d/%d of %d round trips itself", p1-p0, c1-c0, got)
	}
}
