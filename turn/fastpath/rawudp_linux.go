//go:build linux

package fastpath

import (
	"net"
	"net/netip"
	"syscall"
	"unsafe"
)

// rawUDP does the per-packet recvfrom/sendto of an AF_INET UDP socket with
// RawSyscall, which does not tell the scheduler a syscall is under way.
//
// Why: with syscall.Syscall, a loopback or virtualised sendto often outlasts
// the runtime's 20 µs sysmon tick, so sysmon hands the P to another thread
// (a futex wake and a context switch) and keeps itself on its fastest tick.
// On the relay path that doubled the context switches per packet against
// coturn. Both calls are non-blocking (Go sockets are O_NONBLOCK); EAGAIN on
// read parks the goroutine in the netpoller through RawConn.Read as usual.
type rawUDP struct {
	*net.UDPConn
	rc syscall.RawConn
}

// newRawUDP wraps c when it is an AF_INET socket, else returns nil.
func newRawUDP(c *net.UDPConn) *rawUDP {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil
	}
	family := -1
	rc.Control(func(fd uintptr) {
		if sa, err := syscall.Getsockname(int(fd)); err == nil {
			if _, ok := sa.(*syscall.SockaddrInet4); ok {
				family = syscall.AF_INET
			}
		}
	})
	if family != syscall.AF_INET {
		return nil
	}
	return &rawUDP{UDPConn: c, rc: rc}
}

func (c *rawUDP) ReadFrom(b []byte) (int, net.Addr, error) {
	var (
		n    int
		rsa  syscall.RawSockaddrInet4
		errn syscall.Errno
	)
	err := c.rc.Read(func(fd uintptr) bool {
		var p unsafe.Pointer
		if len(b) > 0 {
			p = unsafe.Pointer(&b[0])
		}
		alen := uint32(syscall.SizeofSockaddrInet4)
		r, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(p), uintptr(len(b)), 0,
			uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&alen)))
		n, errn = int(r), e
		return e != syscall.EAGAIN
	})
	if err != nil {
		return 0, nil, &net.OpError{Op: "read", Net: "udp", Source: c.LocalAddr(), Err: err}
	}
	if errn != 0 {
		return 0, nil, &net.OpError{Op: "read", Net: "udp", Source: c.LocalAddr(), Err: errn}
	}
	port := int(rsa.Port>>8 | rsa.Port<<8)
	return n, &net.UDPAddr{IP: net.IPv4(rsa.Addr[0], rsa.Addr[1], rsa.Addr[2], rsa.Addr[3]), Port: port}, nil
}

func (c *rawUDP) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return c.UDPConn.WriteTo(b, addr)
	}
	ip, ok := netip.AddrFromSlice(ua.IP)
	if ip = ip.Unmap(); !ok || !ip.Is4() {
		return c.UDPConn.WriteTo(b, addr)
	}
	rsa := syscall.RawSockaddrInet4{Family: syscall.AF_INET, Port: uint16(ua.Port)>>8 | uint16(ua.Port)<<8, Addr: ip.As4()}
	var (
		n    int
		errn syscall.Errno
	)
	err := c.rc.Write(func(fd uintptr) bool {
		var p unsafe.Pointer
		if len(b) > 0 {
			p = unsafe.Pointer(&b[0])
		}
		r, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(p), uintptr(len(b)), 0,
			uintptr(unsafe.Pointer(&rsa)), syscall.SizeofSockaddrInet4)
		n, errn = int(r), e
		return e != syscall.EAGAIN
	})
	if err == nil && errn != 0 {
		err = errn
	}
	if err != nil {
		return 0, &net.OpError{Op: "write", Net: "udp", Source: c.LocalAddr(), Addr: addr, Err: err}
	}
	return n, nil
}

// UDP returns c with the raw-syscall packet path when it can have one: for
// the sockets pion reads itself (relay sockets of TCP and TLS clients, and
// the listener when the plane could not be set up).
func UDP(c *net.UDPConn) net.PacketConn {
	if r := newRawUDP(c); r != nil {
		return r
	}
	return c
}
