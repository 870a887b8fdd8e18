//go:build linux

package fastpath

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Batched datagram I/O for the plane: one recvmmsg reads what a socket
// holds (up to a batch), and the sends a wake-up produces leave in one
// sendmmsg per socket. At a few packets per wake-up this is most of the
// saving: a read loop with recvfrom ends with a read that finds nothing,
// and each packet costs its own send.

// planeSlots is how many datagrams one wake-up of the packet loop holds
// at most: read buffers, and the sends waiting for the flush.
const planeSlots = 64

// slot is one datagram buffer. A ChannelData header fits in front of a
// datagram read from a relay socket, and its padding behind.
type slot [channelHeaderSize + planeMTU + 4]byte

// batch is the packet loop's I/O state for one wake-up, preallocated in
// the Plane: read buffers, the recvmmsg vectors pointing at them, and the
// sends queued for flush, which point into the same buffers (a buffer is
// not read into again before the flush).
type batch struct {
	buf  [planeSlots]slot
	used int // slots holding a datagram still to send

	rhdr [planeSlots]unix.Mmsghdr
	riov [planeSlots]unix.Iovec
	rsa  [planeSlots]rawSockaddr

	sends  [planeSlots]send
	nsend  int
	shdr   [planeSlots]unix.Mmsghdr
	siov   [planeSlots]unix.Iovec
	picked [planeSlots]bool
	failed [planeSlots]bool // by position in the group being sent

	syscalls uint64 // I/O calls since the last flush, for Counters.Syscalls
}

// send is one queued datagram: b (in a slot) to sa over fd, which is r's
// relay socket, or the listening socket when r is nil.
type send struct {
	fd int
	r  *relaySock
	b  []byte
	sa rawSockaddr // a copy: the binding it came from may change meanwhile
	// toPeer: a client's datagram out of a relay socket (else a peer's
	// ChannelData to its client), for the counts.
	toPeer bool
}

// recv reads up to n datagrams from fd into the free slots from off on:
// datagram i lands at buf[off+i][at:], its length in rhdr[i].Len (the full
// length: more than the room means it was cut) and its source in rsa[i].
// It returns how many it read; 0 when none waited or on error.
func (bt *batch) recv(fd, off, at, n int) int {
	if n > planeSlots-off {
		n = planeSlots - off
	}
	if n <= 0 {
		return 0
	}
	for i := 0; i < n; i++ {
		s := &bt.buf[off+i]
		bt.riov[i].Base = &s[at]
		bt.riov[i].SetLen(channelHeaderSize + planeMTU - at)
		h := &bt.rhdr[i].Hdr
		h.Iov = &bt.riov[i]
		h.SetIovlen(1)
		h.Name = &bt.rsa[i].b[0]
		h.Namelen = uint32(len(bt.rsa[i].b))
		bt.rhdr[i].Len = 0
	}
	bt.syscalls++
	r, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&bt.rhdr[0])),
		uintptr(n), unix.MSG_TRUNC|unix.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		return 0
	}
	for i := 0; i < int(r); i++ {
		bt.rsa[i].n = bt.rhdr[i].Hdr.Namelen
	}
	return int(r)
}

// queue adds a send of b (inside a slot) to sa over fd (r's, if r is not
// nil).
func (bt *batch) queue(fd int, r *relaySock, b []byte, sa *rawSockaddr, toPeer bool) {
	bt.sends[bt.nsend] = send{fd: fd, r: r, b: b, sa: *sa, toPeer: toPeer}
	bt.nsend++
}

// reserve makes room for a read of a whole batch: it flushes when fewer
// than planeBatch slots are free.
func (p *Plane) reserve() {
	if p.bt.used > planeSlots-planeBatch {
		p.flush()
	}
}

// flush sends the queued datagrams and counts them. They are counted
// before they leave and uncounted if the kernel refuses them, as the
// packet counters are: a client that has its datagram finds it counted
// (counted after the send, a test reading the counts once its echo was
// back could miss the last flush).
func (p *Plane) flush() {
	var toPeer, toClient uint64
	for i := range p.bt.nsend {
		if p.bt.sends[i].toPeer {
			toPeer++
		} else {
			toClient++
		}
	}
	p.fast.toPeer.Add(toPeer)
	p.fast.toClient.Add(toClient)
	p.bt.flush(func(s *send) {
		if s.toPeer {
			p.c.UncountToPeer(len(s.b))
			p.fast.toPeer.Add(^uint64(0))
		} else {
			p.fast.toClient.Add(^uint64(0))
		}
	})
	if p.bt.syscalls != 0 {
		p.c.Syscalls.Add(p.bt.syscalls)
		p.bt.syscalls = 0
	}
}

// flush sends what is queued: per socket, in the order queued, one
// sendmmsg (sendto for a single datagram). It calls fail for each one
// the kernel refused (a full socket buffer: dropped, as a send that would
// block). The slots are free again afterwards.
func (bt *batch) flush(fail func(s *send)) {
	for i := 0; i < bt.nsend; i++ {
		bt.picked[i] = false
	}
	for i := 0; i < bt.nsend; i++ {
		if bt.picked[i] {
			continue
		}
		fd := bt.sends[i].fd
		var group [planeSlots]int8 // indexes into sends, as int8: planeSlots <= 127
		n := 0
		for j := i; j < bt.nsend; j++ {
			if !bt.picked[j] && bt.sends[j].fd == fd {
				bt.picked[j] = true
				group[n] = int8(j)
				n++
			}
		}
		// A relay socket is closed only under its lock: hold it so that
		// fd cannot be closed and reused by another socket meanwhile.
		if r := bt.sends[i].r; r != nil {
			r.mu.RLock()
			if r.closed {
				for k := 0; k < n; k++ {
					bt.failed[k] = true
				}
			} else {
				bt.sendGroup(fd, group[:n])
			}
			r.mu.RUnlock()
		} else {
			bt.sendGroup(fd, group[:n])
		}
		for k := 0; k < n; k++ {
			if bt.failed[k] {
				fail(&bt.sends[group[k]])
			}
		}
	}
	bt.nsend, bt.used = 0, 0
}

// sendGroup sends the datagrams of group over fd and marks in failed, by
// position in group, those the kernel refused. A refused datagram is
// skipped, not retried: the plane never waits for a socket.
func (bt *batch) sendGroup(fd int, group []int8) {
	for k := range group {
		bt.failed[k] = false
	}
	if len(group) == 1 {
		bt.syscalls++
		s := &bt.sends[group[0]]
		bt.failed[0] = sendto(fd, s.b, &s.sa) != nil
		return
	}
	for k, j := range group {
		s := &bt.sends[j]
		bt.siov[k].Base = unsafe.SliceData(s.b)
		bt.siov[k].SetLen(len(s.b))
		h := &bt.shdr[k].Hdr
		h.Iov = &bt.siov[k]
		h.SetIovlen(1)
		h.Name = &s.sa.b[0]
		h.Namelen = s.sa.n
	}
	for done := 0; done < len(group); {
		bt.syscalls++
		r, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&bt.shdr[done])),
			uintptr(len(group)-done), unix.MSG_DONTWAIT, 0, 0)
		if e != 0 || r == 0 {
			bt.failed[done] = true // the first one the kernel would not take
			done++
			continue
		}
		done += int(r)
	}
}
