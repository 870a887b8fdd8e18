//go:build linux

package fastpath

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"time"
	"unsafe"
)

// rawSockaddr is a sockaddr_in or sockaddr_in6 as the kernel reads and
// writes it, so that the packet path converts addresses without allocating.
type rawSockaddr struct {
	b [syscall.SizeofSockaddrInet6]byte
	n uint32
}

// addrPort decodes sa; IPv4-mapped IPv6 addresses come out as IPv4, and a
// non-zero IPv6 scope as a numeric zone.
func (sa *rawSockaddr) addrPort() netip.AddrPort {
	port := binary.BigEndian.Uint16(sa.b[2:4])
	switch binary.NativeEndian.Uint16(sa.b[0:2]) {
	case syscall.AF_INET:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(sa.b[4:8])), port)
	case syscall.AF_INET6:
		a := netip.AddrFrom16([16]byte(sa.b[8:24])).Unmap()
		if scope := binary.NativeEndian.Uint32(sa.b[24:28]); scope != 0 && a.Is6() {
			a = a.WithZone(strconv.FormatUint(uint64(scope), 10))
		}
		return netip.AddrPortFrom(a, port)
	}
	return netip.AddrPort{}
}

// sockaddrFor encodes ap for a socket of family; IPv4 goes IPv4-mapped on
// an AF_INET6 socket. It fails for IPv6 on an AF_INET socket.
func sockaddrFor(family int, ap netip.AddrPort) (rawSockaddr, bool) {
	var sa rawSockaddr
	a := ap.Addr().Unmap()
	binary.BigEndian.PutUint16(sa.b[2:4], ap.Port())
	switch {
	case family == syscall.AF_INET && a.Is4():
		binary.NativeEndian.PutUint16(sa.b[0:2], syscall.AF_INET)
		a4 := a.As4()
		copy(sa.b[4:8], a4[:])
		sa.n = syscall.SizeofSockaddrInet4
	case family == syscall.AF_INET6 && a.IsValid():
		binary.NativeEndian.PutUint16(sa.b[0:2], syscall.AF_INET6)
		a16 := a.As16()
		copy(sa.b[8:24], a16[:])
		if z := a.Zone(); z != "" {
			scope, err := strconv.ParseUint(z, 10, 32)
			if err != nil {
				ifi, ierr := net.InterfaceByName(z)
				if ierr != nil {
					return sa, false
				}
				scope = uint64(ifi.Index)
			}
			binary.NativeEndian.PutUint32(sa.b[24:28], uint32(scope))
		}
		sa.n = syscall.SizeofSockaddrInet6
	default:
		return sa, false
	}
	return sa, true
}

// udpAddrPort is a's address, IPv4 unmapped, if a is a *net.UDPAddr.
func udpAddrPort(a net.Addr) (netip.AddrPort, bool) {
	ua, ok := a.(*net.UDPAddr)
	if !ok {
		return netip.AddrPort{}, false
	}
	ap := ua.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), ap.IsValid()
}

// sendto sends one datagram without blocking: RawSyscall, so the scheduler
// never hands this thread's P away for it (see rawudp_linux.go).
func sendto(fd int, b []byte, sa *rawSockaddr) error {
	_, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))),
		uintptr(len(b)), syscall.MSG_DONTWAIT, uintptr(unsafe.Pointer(&sa.b[0])), uintptr(sa.n))
	if e != 0 {
		return e
	}
	return nil
}

// writeWait bounds how long a send for pion waits for a full socket buffer
// to drain; the plane's own sends never wait.
const writeWait = 100 * time.Millisecond

// sendtoWait is sendto that waits (ppoll, up to writeWait) while the
// socket's send buffer is full. Called for pion's writes only.
func sendtoWait(fd int, b []byte, sa *rawSockaddr) error {
	err := sendto(fd, b, sa)
	if !errors.Is(err, syscall.EAGAIN) {
		return err
	}
	pfd := struct {
		fd             int32
		events, revent int16
	}{fd: int32(fd), events: 0x4} // POLLOUT
	ts := syscall.NsecToTimespec(int64(writeWait))
	syscall.Syscall6(syscall.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd)), 1, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
	return sendto(fd, b, sa)
}

// detach takes c's socket out of Go's netpoller and returns it as a bare,
// non-blocking, close-on-exec descriptor; c is closed either way. A socket
// left in the netpoller would also wake Go's own epoll_wait (an idle M, a
// context switch) for every datagram the plane reads itself. Go deletes the
// descriptor from its epoll set when c closes; the duplicate keeps the socket
// open.
func detach(c *net.UDPConn) (int, error) {
	defer c.Close()
	return dupFD(c)
}

// dupFD duplicates c's descriptor (close-on-exec; non-blocking, as the
// flag belongs to the shared open file). c stays as it was.
func dupFD(c *net.UDPConn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("detach udp socket: %w", err)
	}
	nfd := -1
	var derr error
	err = rc.Control(func(fd uintptr) {
		r, _, e := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_DUPFD_CLOEXEC, 0)
		if e != 0 {
			derr = e
			return
		}
		nfd = int(r)
	})
	if err = errors.Join(err, derr); err != nil {
		return -1, fmt.Errorf("detach udp socket: %w", err)
	}
	return nfd, nil
}

// sockFamily is the address family fd was opened with.
func sockFamily(fd int) (int, error) {
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		return 0, fmt.Errorf("getsockname: %w", err)
	}
	switch sa.(type) {
	case *syscall.SockaddrInet4:
		return syscall.AF_INET, nil
	case *syscall.SockaddrInet6:
		return syscall.AF_INET6, nil
	}
	return 0, fmt.Errorf("unexpected socket family %T", sa)
}
