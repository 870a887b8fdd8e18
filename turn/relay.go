package turn

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"callbox/turn/fastpath"
)

// SocketBuffer is the kernel send and receive buffer asked for on the
// listening UDP socket and on every relay socket: media arrives in bursts
// (a keyframe is dozens of packets) and the default ~200 KiB overflows.
const SocketBuffer = 4 << 20

var errNoTCPRelay = errors.New("tcp relay (RFC 6062) not supported")

// relayGen opens one UDP socket per allocation on bindIP and advertises it
// as publicIP (pion's RelayAddressGeneratorStatic, plus socket buffers,
// packet counters, the packet path and the peer port rule).
type relayGen struct {
	bindIP   netip.Addr
	publicIP netip.Addr
	s        *Server
	path     packetPath // the UDP listener's packet path, for its allocations
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
	conn, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(bind, uint16(requestedPort))))
	if err != nil {
		return nil, nil, fmt.Errorf("open relay socket: %w", err)
	}
	setBuffers(conn)
	port := uint16(conn.LocalAddr().(*net.UDPAddr).Port)
	var pc net.PacketConn
	if g.path != nil {
		if pc, err = g.path.Relay(conn); err != nil {
			return nil, nil, fmt.Errorf("open relay socket: %w", err)
		}
	} else {
		pc = &countingConn{PacketConn: fastpath.UDP(conn), c: &g.s.relay}
	}
	return g.s.guard(pc, port), net.UDPAddrFromAddrPort(netip.AddrPortFrom(g.publicIP, port)), nil
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

// countingConn counts what a relay socket pion reads itself exchanges with
// peers (the packet path counts its own).
type countingConn struct {
	net.PacketConn
	c *fastpath.Counters
}

func (c *countingConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := c.PacketConn.ReadFrom(b)
	if err == nil {
		c.c.CountFromPeer(n)
	}
	return n, addr, err
}

// WriteTo counts before sending, so the count is already up when the peer
// sees the packet; a failed send takes it back.
func (c *countingConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	c.c.CountToPeer(len(b))
	n, err := c.PacketConn.WriteTo(b, addr)
	if err != nil {
		c.c.UncountToPeer(len(b))
	}
	return n, err
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
