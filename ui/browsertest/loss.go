package browsertest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"

	"callbox/appliance"
)

// Loss drops media datagrams at random between the browsers and the
// server: a UDP proxy on an address of its own (198.18.0.0/15, the
// benchmarking range) that the server advertises as its media address
// (NAT 1:1), forwarding to the real media port. The kernel here has no
// netem, so this is where random loss on the path comes from. Every
// datagram crosses it, both ways: STUN, DTLS, RTP and RTCP, as on a lossy
// link. The rates start at 0; Set changes them.
type Loss struct {
	listen *net.UDPConn
	target netip.AddrPort // the server's media socket
	local  netip.Addr     // where the proxy's flows to the server start

	down, up atomic.Uint32 // drop rates in parts per million: to the browsers, from them
	passed   atomic.Uint64
	dropped  atomic.Uint64

	mu    sync.Mutex
	rng   *rand.Rand
	flows map[netip.AddrPort]*net.UDPConn // by browser address
	done  chan struct{}
	wg    sync.WaitGroup
}

// LossyMedia sets up a Loss in front of the media port of the server
// that cfg configures, and makes the server advertise it; call it from
// the mod function of Start. The media socket moves to loopback and
// ICE-TCP is turned off, so that media can only take the lossy path. It
// is closed when t ends.
func LossyMedia(t *testing.T, cfg *appliance.Config) *Loss {
	t.Helper()
	ns := sharedNetns(t)
	proxyIP, err := ns.proxyIP()
	if err != nil {
		t.Fatalf("browsertest: an address for the lossy proxy: %v", err)
	}
	// The server's media socket is on loopback, out of the browsers'
	// reach: its own connectivity checks would otherwise teach them its
	// real address (a peer-reflexive candidate) and media would go round
	// the proxy. Its port is fixed here so that the proxy can take the
	// same one on its address: NAT 1:1 replaces only the address. TURN
	// keeps the address the browsers reach.
	media := netip.MustParseAddr("127.0.0.1")
	probe, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(media, 0)))
	if err != nil {
		t.Fatalf("browsertest: pick a media port: %v", err)
	}
	port := probe.LocalAddr().(*net.UDPAddr).AddrPort().Port()
	probe.Close()
	listen, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(proxyIP, port)))
	if err != nil {
		t.Fatalf("browsertest: lossy proxy: %v", err)
	}
	if cfg.TURNListenIP == "" {
		cfg.TURNListenIP = cfg.RTCListenIP
	}
	cfg.RTCListenIP = media.String()
	cfg.IncludeLoopback = true
	cfg.RTCUDPPort = int(port)
	cfg.RTCTCPPort = -1
	cfg.PublicIPs = []string{proxyIP.String()}
	l := &Loss{listen: listen, target: netip.AddrPortFrom(media, port), local: media,
		rng: rand.New(rand.NewPCG(11, uint64(port))), flows: make(map[netip.AddrPort]*net.UDPConn), done: make(chan struct{})}
	l.wg.Add(1)
	go l.fromBrowsers()
	t.Cleanup(l.close)
	return l
}

// Set makes the proxy drop the share down (0 to 1) of the datagrams to
// the browsers, and up of those from them. Loss on the host end of the
// veth, as netem there would make it, is Set(p, 0).
func (l *Loss) Set(down, up float64) {
	l.down.Store(uint32(max(0, min(down, 1)) * 1e6))
	l.up.Store(uint32(max(0, min(up, 1)) * 1e6))
}

// Counts reports how many datagrams the proxy passed and dropped.
func (l *Loss) Counts() (passed, dropped uint64) {
	return l.passed.Load(), l.dropped.Load()
}

// drop decides the fate of one datagram with the drop rate ppm.
func (l *Loss) drop(ppm uint32) bool {
	l.mu.Lock()
	lost := ppm > 0 && l.rng.Uint32N(1e6) < ppm
	l.mu.Unlock()
	if lost {
		l.dropped.Add(1)
	} else {
		l.passed.Add(1)
	}
	return lost
}

// fromBrowsers forwards what browsers send, each browser address through
// a socket of its own so that the server's replies find their way back.
func (l *Loss) fromBrowsers() {
	defer l.wg.Done()
	buf := make([]byte, 1<<16)
	for {
		n, from, err := l.listen.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		up, err := l.flow(from)
		if err != nil || l.drop(l.up.Load()) {
			continue
		}
		_, _ = up.Write(buf[:n])
	}
}

// flow returns the socket to the server of one browser address.
func (l *Loss) flow(from netip.AddrPort) (*net.UDPConn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c, ok := l.flows[from]; ok {
		return c, nil
	}
	select {
	case <-l.done:
		return nil, errors.New("closed")
	default:
	}
	c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(l.local, 0)), net.UDPAddrFromAddrPort(l.target))
	if err != nil {
		return nil, fmt.Errorf("lossy proxy: a flow for %s: %w", from, err)
	}
	l.flows[from] = c
	l.wg.Add(1)
	go func() { // the server's replies, back to the browser
		defer l.wg.Done()
		buf := make([]byte, 1<<16)
		for {
			n, err := c.Read(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue // ICMP unreachable while the server starts or stops
			}
			if !l.drop(l.down.Load()) {
				_, _ = l.listen.WriteToUDPAddrPort(buf[:n], from)
			}
		}
	}()
	return c, nil
}

func (l *Loss) close() {
	l.mu.Lock()
	close(l.done)
	for _, c := range l.flows {
		c.Close()
	}
	l.mu.Unlock()
	l.listen.Close()
	l.wg.Wait()
}

// proxyIP gives the host end a second address, 198.18.A.B for a host
// address 10.213.A.B, routed from the namespace, once.
func (n *netns) proxyIP() (netip.Addr, error) {
	n.proxyOnce.Do(func() {
		h := n.hostIP.As4()
		a := netip.AddrFrom4([4]byte{198, 18, h[2], h[3]})
		if err := ip("addr", "add", a.String()+"/32", "dev", n.hostIf); err != nil {
			n.proxyErr = err
			return
		}
		if err := ip("-n", n.name, "route", "add", a.String()+"/32", "dev", n.nsIf); err != nil {
			n.proxyErr = err
			return
		}
		n.proxy = a
	})
	return n.proxy, n.proxyErr
}
