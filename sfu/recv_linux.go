//go:build linux

package sfu

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// recvBatch reads the mux socket with recvmmsg: one call takes up to
// rxBatch datagrams, where recvfrom took one (issue 18). It waits in Go's
// netpoller (RawConn.Read) like a plain read, so Close and deadlines work
// as before. Only the mux's reader goroutine uses it.
type recvBatch struct {
	rc   syscall.RawConn
	bufs [][]byte // rxBatch slots of rxSlot bytes
	hdr  [rxBatch]unix.Mmsghdr
	iov  [rxBatch]unix.Iovec
	sa   [rxBatch][syscall.SizeofSockaddrInet6]byte
	n    int   // datagrams read by the last call
	err  error // of the last call
	read func(fd uintptr) bool
	poll func(fd uintptr)
}

func newRecvBatch(c *net.UDPConn) (*recvBatch, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("sfu: mux socket: %w", err)
	}
	r := &recvBatch{rc: rc, bufs: make([][]byte, rxBatch)}
	for i := range r.bufs {
		r.bufs[i] = make([]byte, rxSlot)
	}
	r.read = r.recvmmsg // bound once: a method value per call would allocate
	r.poll = func(fd uintptr) { r.recvmmsg(fd) }
	return r, nil
}

// more reads what the socket holds now, up to rxBatch, without waiting:
// 0 if nothing is there.
func (r *recvBatch) more() (int, error) {
	r.n, r.err = 0, nil
	if err := r.rc.Control(r.poll); err != nil {
		return 0, err
	}
	return r.n, r.err
}

// recv blocks until at least one datagram is there and reads what the
// socket holds, up to rxBatch. Datagram i is r.bufs[i][:r.len(i)].
func (r *recvBatch) recv() (int, error) {
	r.n, r.err = 0, nil
	if err := r.rc.Read(r.read); err != nil {
		return 0, err
	}
	return r.n, r.err
}

func (r *recvBatch) recvmmsg(fd uintptr) bool {
	for i := range r.hdr {
		r.iov[i].Base = &r.bufs[i][0]
		r.iov[i].SetLen(rxSlot)
		h := &r.hdr[i].Hdr
		h.Iov = &r.iov[i]
		h.SetIovlen(1)
		h.Name = &r.sa[i][0]
		h.Namelen = uint32(len(r.sa[i]))
		h.Flags = 0
		r.hdr[i].Len = 0
	}
	// Raw: it never blocks (MSG_DONTWAIT), so the scheduler need not
	// hand this thread's P away for it.
	n, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.hdr[0])), rxBatch, unix.MSG_DONTWAIT, 0, 0)
	switch {
	case e == unix.EAGAIN:
		return false // wait for the netpoller
	case e == unix.EINTR:
		return false
	case e != 0:
		r.err = fmt.Errorf("sfu: recvmmsg: %w", e)
		return true
	}
	r.n = int(n)
	return true
}

// len is datagram i's length, or -1 if it did not fit its slot.
func (r *recvBatch) len(i int) int {
	if r.hdr[i].Hdr.Flags&unix.MSG_TRUNC != 0 {
		return -1
	}
	return int(r.hdr[i].Len)
}

// from is datagram i's source as pion's mux keys it: IPv4-mapped addresses
// unmapped, a zone only on link-local IPv6 (ice's canonicalAddr).
func (r *recvBatch) from(i int) netip.AddrPort {
	return sockaddrAddrPort(r.sa[i][:r.hdr[i].Hdr.Namelen])
}

func sockaddrAddrPort(sa []byte) netip.AddrPort {
	if len(sa) < syscall.SizeofSockaddrInet4 {
		return netip.AddrPort{}
	}
	port := binary.BigEndian.Uint16(sa[2:4])
	switch binary.NativeEndian.Uint16(sa[0:2]) {
	case syscall.AF_INET:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(sa[4:8])), port)
	case syscall.AF_INET6:
		if len(sa) < syscall.SizeofSockaddrInet6 {
			return netip.AddrPort{}
		}
		a := netip.AddrFrom16([16]byte(sa[8:24])).Unmap()
		if scope := binary.NativeEndian.Uint32(sa[24:28]); scope != 0 && a.Is6() && a.IsLinkLocalUnicast() {
			zone := strconv.FormatUint(uint64(scope), 10)
			if ifi, err := net.InterfaceByIndex(int(scope)); err == nil {
				zone = ifi.Name // as Go's own read names it
			}
			a = a.WithZone(zone)
		}
		return netip.AddrPortFrom(a, port)
	}
	return netip.AddrPort{}
}
