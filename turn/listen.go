package turn

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
)

// portTries bounds the search for an ephemeral port free on both UDP and TCP.
const portTries = 20

// listen binds UDP and TCP on one port, and TLS when configured.
func (s *Server) listen(ip netip.Addr) error {
	var err error
	for try := 0; try < portTries; try++ {
		err = s.listenPair(ip, s.cfg.Port)
		if err == nil || s.cfg.Port != 0 {
			break
		}
	}
	if err != nil {
		return err
	}
	if s.cfg.TLSConfig == nil {
		return nil
	}
	ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(s.cfg.TLSPort))))
	if err != nil {
		s.closeSockets()
		return fmt.Errorf("turn: listen tls: %w", err)
	}
	s.tlsLn = newTrackingListener(ln)
	s.tlsAdr = ln.Addr().(*net.TCPAddr).AddrPort()
	return nil
}

// listenPair binds UDP on port (0: ephemeral) and TCP on the port UDP got.
func (s *Server) listenPair(ip netip.Addr, port int) error {
	udp, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port))))
	if err != nil {
		return fmt.Errorf("turn: listen udp: %w", err)
	}
	setBuffers(udp)
	got := udp.LocalAddr().(*net.UDPAddr).Port
	tcp, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(got))))
	if err != nil {
		udp.Close()
		return fmt.Errorf("turn: listen tcp: %w", err)
	}
	s.udp, s.udpAdr, s.tcp = udp, udp.LocalAddr().(*net.UDPAddr).AddrPort(), newTrackingListener(tcp)
	return nil
}

func (s *Server) closeSockets() {
	if s.path != nil {
		s.path.Close()
	}
	if s.udp != nil {
		s.udp.Close()
	}
	if s.tcp != nil {
		s.tcp.Close()
	}
	if s.tlsLn != nil {
		s.tlsLn.Close()
	}
}

// choosePublicIP picks the relay address advertised to clients.
func choosePublicIP(configured string, listen netip.Addr) (netip.Addr, error) {
	if configured != "" {
		ip, err := netip.ParseAddr(configured)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("turn: public ip %q: %w", configured, err)
		}
		return ip.Unmap(), nil
	}
	if !listen.IsUnspecified() {
		return listen.Unmap(), nil
	}
	return outboundIPv4(), nil
}

// outboundIPv4 finds the source address of the default route (connecting a
// UDP socket sends nothing), else the first non-loopback IPv4 address, else
// loopback.
func outboundIPv4() netip.Addr {
	if c, err := net.Dial("udp4", "192.0.2.1:9"); err == nil { // TEST-NET-1, never contacted
		ap := c.LocalAddr().(*net.UDPAddr).AddrPort()
		c.Close()
		if a := ap.Addr().Unmap(); a.Is4() && !a.IsUnspecified() {
			return a
		}
	}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			if ip := p.Addr().Unmap(); ip.Is4() && !ip.IsLoopback() {
				return ip
			}
		}
	}
	return netip.AddrFrom4([4]byte{127, 0, 0, 1})
}

// trackingListener remembers accepted connections so Close can end them:
// pion's per-connection goroutines otherwise outlive the closed listener.
type trackingListener struct {
	net.Listener
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

func newTrackingListener(l net.Listener) *trackingListener {
	return &trackingListener{Listener: l, conns: map[net.Conn]struct{}{}}
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		c.Close()
		return nil, net.ErrClosed
	}
	tc := &trackedConn{Conn: c, l: l}
	l.conns[tc] = struct{}{}
	return tc, nil
}

// closeConns closes every accepted connection still open.
func (l *trackingListener) closeConns() {
	l.mu.Lock()
	l.closed = true
	conns := l.conns
	l.conns = map[net.Conn]struct{}{}
	l.mu.Unlock()
	for c := range conns {
		c.(*trackedConn).Conn.Close()
	}
}

type trackedConn struct {
	net.Conn
	l    *trackingListener
	once sync.Once
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
