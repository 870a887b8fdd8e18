//go:build linux

package fastpath

import (
	"errors"
	"net"
	"syscall"
	"time"
)

// planeConn is the listening socket as pion sees it: it reads what the
// plane leaves to it and writes its replies straight to the socket.
type planeConn struct{ p *Plane }

var errNoDeadline = errors.New("deadlines not supported on the turn packet path")

func (c planeConn) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case d := <-c.p.ctl:
		c.p.sawRequest(d)
		return copy(b, d.b), net.UDPAddrFromAddrPort(d.from), nil
	case <-c.p.done:
		return 0, nil, net.ErrClosed
	}
}

func (c planeConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	p := c.p
	to, ok := udpAddrPort(addr)
	if !ok {
		return 0, &net.OpError{Op: "write", Net: "udp", Source: p.laddr, Addr: addr, Err: syscall.EAFNOSUPPORT}
	}
	sa, ok := sockaddrFor(p.lfam, to)
	if !ok {
		return 0, &net.OpError{Op: "write", Net: "udp", Source: p.laddr, Addr: addr, Err: syscall.EAFNOSUPPORT}
	}
	p.sawResponse(b, to)
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return 0, net.ErrClosed
	}
	if err := sendtoWait(p.lfd, b, &sa); err != nil {
		return 0, &net.OpError{Op: "write", Net: "udp", Source: p.laddr, Addr: addr, Err: err}
	}
	return len(b), nil
}

func (c planeConn) Close() error                     { c.p.Close(); return nil }
func (c planeConn) LocalAddr() net.Addr              { return c.p.laddr }
func (c planeConn) SetDeadline(time.Time) error      { return errNoDeadline }
func (c planeConn) SetReadDeadline(time.Time) error  { return errNoDeadline }
func (c planeConn) SetWriteDeadline(time.Time) error { return errNoDeadline }

// relayConn is an allocation's relay socket as pion sees it: it reads what
// the plane leaves to it, writes to peers (Send indications, and ChannelData
// the plane did not place) and closes the socket with the allocation.
type relayConn struct{ r *relaySock }

func (c relayConn) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case d := <-c.r.in:
		return copy(b, d.b), net.UDPAddrFromAddrPort(d.from), nil
	case <-c.r.done:
		return 0, nil, net.ErrClosed
	}
}

func (c relayConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	r := c.r
	to, ok := udpAddrPort(addr)
	sa, sok := sockaddrFor(syscall.AF_INET, to)
	if !ok || !sok {
		return 0, &net.OpError{Op: "write", Net: "udp", Source: r.laddr, Addr: addr, Err: syscall.EAFNOSUPPORT}
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return 0, net.ErrClosed
	}
	r.p.c.CountToPeer(len(b))
	if err := sendtoWait(r.fd, b, &sa); err != nil {
		r.p.c.UncountToPeer(len(b))
		return 0, &net.OpError{Op: "write", Net: "udp", Source: r.laddr, Addr: addr, Err: err}
	}
	return len(b), nil
}

func (c relayConn) Close() error                     { c.r.close(); return nil }
func (c relayConn) LocalAddr() net.Addr              { return c.r.laddr }
func (c relayConn) SetDeadline(time.Time) error      { return errNoDeadline }
func (c relayConn) SetReadDeadline(time.Time) error  { return errNoDeadline }
func (c relayConn) SetWriteDeadline(time.Time) error { return errNoDeadline }
