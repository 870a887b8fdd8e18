package turn

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// SocketBuffer is the kernel send and receive buffer asked for on the
// listening UDP socket and on every relay socket: media arrives in bursts
// (a keyframe is dozens of packets) and the default ~200 KiB overflows.
const SocketBuffer = 4 << 20

var errNoTCPRelay = errors.New("tcp relay (RFC 6062) not supported")

// relayGen opens one UDP socket per allocation on bindIP and advertises it
// as publicIP (pion's RelayAddressGeneratorStatic, plus socket buffers,
// packet counters and the peer port rule).
type relayGen struct {
	bindIP   netip.Addr
	publicIP netip.Addr
	c        *counters
	plane    *plane // the UDP listener's packet path, when it has one
	guard    func(net.PacketConn, uint16) net.PacketConn
}

// counters are the relay totals in Stats; one atomic add per packet.
type counters struct {
	toPeer, fromPeer           atomic.Uint64 // packets
	toPeerBytes, fromPeerBytes atomic.Uint64
}

func (g *relayGen) Validate() error {
	if !g.bindIP.IsValid() || !g.publicIP.IsValid() {
		return errors.New("relay address unset")
	}
	return nil
}

func (g *relayGen) AllocatePacketConn(network string, requestedPort int) (net.PacketConn, net.Addr, error) {
	bind := g.bindIP
	if network == "udp4" && bind.Is6() && bind.IsUnspecified() {
		bind = netip.IPv4Unspecified()
	}
	laddr := net.UDPAddrFromAddrPort(netip.AddrPortFrom(bind, uint16(requestedPort)))
	if g.plane != nil {
		conn, port, err := g.plane.allocate(network, laddr)
		if err != nil {
			return nil, nil, fmt.Errorf("open relay socket: %w", err)
		}
		return g.guard(conn, port), net.UDPAddrFromAddrPort(netip.AddrPortFrom(g.publicIP, port)), nil
	}
	conn, err := net.ListenUDP(network, laddr)
	if err != nil {
		return nil, nil, fmt.Errorf("open relay socket: %w", err)
	}
	setBuffers(conn)
	port := uint16(conn.LocalAddr().(*net.UDPAddr).Port)
	relayAddr := net.UDPAddrFromAddrPort(netip.AddrPortFrom(g.publicIP, port))
	return g.guard(&countingConn{PacketConn: fastUDP(conn), c: g.c}, port), relayAddr, nil
}

func (g *relayGen) AllocateConn(string, int) (net.Conn, net.Addr, error) {
	return nil, nil, errNoTCPRelay
}

// setBuffers asks for SocketBuffer each way. The kernel caps the request at
// net.core.rmem_max/wmem_max; a smaller grant is not an error.
func setBuffers(c *net.UDPConn) {
	_ = c.SetReadBuffer(SocketBuffer)
	_ = c.SetWriteBuffer(SocketBuffer)
}

// countingConn counts what a relay socket exchanges with peers.
type countingConn struct {
	net.PacketConn
	c *counters
}

func (c *countingConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := c.PacketConn.ReadFrom(b)
	if err == nil {
		c.c.fromPeer.Add(1)
		c.c.fromPeerBytes.Add(uint64(n))
	}
	return n, addr, err
}

// WriteTo counts before sending, so the count is already up when the peer
// sees the packet; a failed send takes it back.
func (c *countingConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	c.c.countToPeer(len(b))
	n, err := c.PacketConn.WriteTo(b, addr)
	if err != nil {
		c.c.uncountToPeer(len(b))
	}
	return n, err
}

// countToPeer counts a packet for a peer before it is sent, so the count is
// already up when the peer sees it; uncountToPeer takes back a failed send.
func (c *counters) countToPeer(n int) {
	c.toPeer.Add(1)
	c.toPeerBytes.Add(uint64(n))
}

func (c *counters) uncountToPeer(n int) {
	c.toPeer.Add(^uint64(0))
	c.toPeerBytes.Add(-uint64(n))
}

// peerGuard is a relay socket as pion sees it. pion's permissions go by
// address only, so every datagram pion sends to a peer (Send indications,
// ChannelData on pion's path) passes the port rule here (peerFilter.reaches).
// A refused datagram is dropped as a firewall would: WriteTo reports success,
// so pion neither logs an error per packet nor tells the client.
type peerGuard struct {
	net.PacketConn
	s      *Server
	port   uint16 // the relay socket's, live in s.peers.relays until Close
	warned atomic.Bool
	once   sync.Once
}

// guard wraps an allocation's relay socket in a peerGuard and counts its
// port as a live relay port.
func (s *Server) guard(c net.PacketConn, port uint16) net.PacketConn {
	s.peers.relays.add(port, 1)
	return &peerGuard{PacketConn: c, s: s, port: port}
}

func (g *peerGuard) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if ok && g.s.peers.reaches(ua.AddrPort()) {
		return g.PacketConn.WriteTo(b, addr)
	}
	g.s.portRefused.Add(1)
	if !g.warned.Swap(true) { // once per allocation, not per packet
		g.s.log.Info("turn peer port refused", "relay_port", g.port, "peer", addrString(addr),
			"reason", "host address, port not the sfu's or a relay's")
	}
	return len(b), nil
}

func (g *peerGuard) Close() error {
	g.once.Do(func() { g.s.peers.relays.add(g.port, -1) })
	return g.PacketConn.Close()
}
