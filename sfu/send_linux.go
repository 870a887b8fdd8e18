//go:build linux

package sfu

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sendBatch builds a flush's messages for sendmmsg and sends them with
// RawSyscall. Go's syscall.Syscall, which x/net's WriteBatch uses, tells
// the scheduler a syscall is under way: that wakes sysmon (a futex and a
// context switch) whenever it sleeps, which at a burst every few
// milliseconds is every flush, and sysmon then spins on its 20 µs tick
// for a while (a profile of the 1 × 1 bench put a tenth of the SFU's CPU
// there). The socket is non-blocking, so the call never blocks; a full
// send buffer (EAGAIN) waits in the netpoller through RawConn.Write, as
// before. The TURN plane does the same (turn/fastpath/rawudp_linux.go).
//
// The flush uses it under batchConn.mu; sendOne, from any goroutine, only
// reads rc and family.
type sendBatch struct {
	rc     syscall.RawConn
	family int // the socket's: AF_INET, or AF_INET6 (IPv4 goes mapped)

	hdr  [batchSize]unix.Mmsghdr
	iov  [batchSize]unix.Iovec // every message's segments, in order
	sa   [batchSize][syscall.SizeofSockaddrInet6]byte
	oob  [batchSize][gsoSpace]byte
	segs [batchSize]int // message i's datagrams
	n    int            // messages built
	nseg int            // iov entries used

	// the sendmmsg in flight (bound once: a closure per call would allocate)
	from, sent int
	errno      syscall.Errno
	write      func(fd uintptr) bool

	ones sync.Pool // *oneSend, for sendto
}

// gsoSupported: Linux has UDP_SEGMENT (4.18 and later; an older kernel
// refuses the first segmented send and batchConn stops trying).
const gsoSupported = true

// gsoSpace is a UDP_SEGMENT control message's room (CMSG_SPACE of a u16).
const gsoSpace = 24

func newSendBatch(c *net.UDPConn) (*sendBatch, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("sfu: mux socket: %w", err)
	}
	s := &sendBatch{rc: rc, family: syscall.AF_INET6}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		var sa syscall.Sockaddr
		if sa, serr = syscall.Getsockname(int(fd)); serr == nil {
			if _, ok := sa.(*syscall.SockaddrInet4); ok {
				s.family = syscall.AF_INET
			}
		}
	}); err != nil || serr != nil {
		return nil, fmt.Errorf("sfu: mux socket: %w", errors.Join(err, serr))
	}
	s.write = s.sendmmsg
	return s, nil
}

func (s *sendBatch) reset() { s.n, s.nseg = 0, 0 }

// add starts a message to `to`; its datagrams follow with seg. It reports
// false, adding nothing, when the socket cannot address `to` (IPv6 on an
// IPv4 socket, an unknown zone): the caller counts it lost.
func (s *sendBatch) add(to netip.AddrPort) bool {
	i := s.n
	nl, ok := encodeSockaddr(&s.sa[i], s.family, to)
	if !ok {
		return false
	}
	h := &s.hdr[i].Hdr
	*h = unix.Msghdr{}
	h.Name = &s.sa[i][0]
	h.Namelen = nl
	h.Iov = &s.iov[s.nseg]
	s.hdr[i].Len = 0
	s.segs[i] = 0
	s.n++
	return true
}

// seg appends datagram p to the last message added.
func (s *sendBatch) seg(p []byte) {
	v := &s.iov[s.nseg]
	v.Base = unsafe.SliceData(p)
	v.SetLen(len(p))
	s.nseg++
	i := s.n - 1
	s.segs[i]++
	s.hdr[i].Hdr.SetIovlen(s.segs[i])
}

// cut has the kernel cut the last message into datagrams of size bytes
// (UDP_SEGMENT): its datagrams are that size, the last one maybe shorter.
func (s *sendBatch) cut(size int) {
	i := s.n - 1
	b := s.oob[i][:]
	clear(b)
	c := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	c.Level, c.Type = unix.SOL_UDP, unix.UDP_SEGMENT
	c.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(b[unix.CmsgLen(0):], uint16(size))
	h := &s.hdr[i].Hdr
	h.Control = &b[0]
	h.SetControllen(unix.CmsgSpace(2))
}

// count is message i's datagrams.
func (s *sendBatch) count(i int) int { return s.segs[i] }

// send sends messages from on with one sendmmsg and returns how many the
// kernel took; when that is none, err is message from's error.
func (s *sendBatch) send(from int) (int, error) {
	s.from, s.sent, s.errno = from, 0, 0
	if err := s.rc.Write(s.write); err != nil {
		return 0, err
	}
	if s.errno != 0 {
		return 0, s.errno
	}
	return s.sent, nil
}

func (s *sendBatch) sendmmsg(fd uintptr) bool {
	for {
		r, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&s.hdr[s.from])), uintptr(s.n-s.from), 0, 0, 0)
		switch e {
		case 0:
			s.sent = int(r)
		case unix.EAGAIN:
			return false // the send buffer is full: wait in the netpoller
		case unix.EINTR:
			continue
		default:
			s.errno = e
		}
		return true
	}
}

// sendEach sends message i's datagrams one by one, unsegmented, and
// returns how many failed.
func (s *sendBatch) sendEach(i int) (failed int) {
	h := &s.hdr[i].Hdr
	for _, v := range unsafe.Slice(h.Iov, s.segs[i]) {
		if s.sendto(unsafe.Slice(v.Base, v.Len), &s.sa[i], h.Namelen) != nil {
			failed++
		}
	}
	return failed
}

// sendOne sends p to `to` now, outside any batch: pion's STUN, DTLS and
// RTCP, from any goroutine. RawSyscall for the same reason as the flush:
// these few sends a second kept waking sysmon.
func (s *sendBatch) sendOne(p []byte, to netip.AddrPort) (int, error) {
	var sa [syscall.SizeofSockaddrInet6]byte
	salen, ok := encodeSockaddr(&sa, s.family, to)
	err := errUnreachableFamily
	if ok {
		err = s.sendto(p, &sa, salen)
	}
	if err != nil {
		return 0, &net.OpError{Op: "write", Net: "udp", Addr: net.UDPAddrFromAddrPort(to), Err: err}
	}
	return len(p), nil
}

var errUnreachableFamily = errors.New("address not reachable from this socket's family")

// oneSend is one datagram sendto is sending: pooled, with its RawConn
// callback bound once, so that a send allocates nothing.
type oneSend struct {
	p     []byte
	sa    [syscall.SizeofSockaddrInet6]byte
	salen uint32
	errno syscall.Errno
	write func(fd uintptr) bool
}

// sendto sends one datagram to sa with a raw sendto, waiting in the
// netpoller while the send buffer is full.
func (s *sendBatch) sendto(p []byte, sa *[syscall.SizeofSockaddrInet6]byte, salen uint32) error {
	o, _ := s.ones.Get().(*oneSend)
	if o == nil {
		o = &oneSend{}
		o.write = o.sendto
	}
	o.p, o.sa, o.salen, o.errno = p, *sa, salen, 0
	err := s.rc.Write(o.write)
	if err == nil && o.errno != 0 {
		err = o.errno
	}
	o.p = nil
	s.ones.Put(o)
	return err
}

func (o *oneSend) sendto(fd uintptr) bool {
	for {
		_, _, e := unix.RawSyscall6(unix.SYS_SENDTO, fd, uintptr(unsafe.Pointer(unsafe.SliceData(o.p))), uintptr(len(o.p)), 0,
			uintptr(unsafe.Pointer(&o.sa[0])), uintptr(o.salen))
		switch e {
		case unix.EAGAIN:
			return false
		case unix.EINTR:
			continue
		}
		o.errno = e
		return true
	}
}

// encodeSockaddr writes `to` as a sockaddr for a socket of family: IPv4
// mapped into IPv6 on an AF_INET6 socket, a zone as its interface index.
// It fails for IPv6 on an AF_INET socket and for an unknown zone.
func encodeSockaddr(b *[syscall.SizeofSockaddrInet6]byte, family int, to netip.AddrPort) (uint32, bool) {
	a := to.Addr()
	clear(b[:])
	binary.BigEndian.PutUint16(b[2:4], to.Port())
	if family == syscall.AF_INET {
		a = a.Unmap()
		if !a.Is4() {
			return 0, false
		}
		binary.NativeEndian.PutUint16(b[0:2], syscall.AF_INET)
		a4 := a.As4()
		copy(b[4:8], a4[:])
		return syscall.SizeofSockaddrInet4, true
	}
	if !a.IsValid() {
		return 0, false
	}
	binary.NativeEndian.PutUint16(b[0:2], syscall.AF_INET6)
	a16 := a.As16()
	copy(b[8:24], a16[:])
	if z := a.Zone(); z != "" {
		scope, err := strconv.ParseUint(z, 10, 32)
		if err != nil {
			ifi, err := net.InterfaceByName(z)
			if err != nil {
				return 0, false
			}
			scope = uint64(ifi.Index)
		}
		binary.NativeEndian.PutUint32(b[24:28], uint32(scope))
	}
	return syscall.SizeofSockaddrInet6, true
}
