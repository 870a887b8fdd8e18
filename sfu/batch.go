package sfu

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"golang.org/x/net/ipv4"
)

const (
	// batchSize is the most datagrams one sendmmsg carries.
	batchSize = 64
	// rxBatch is the most datagrams one recvmmsg reads; rxSlot the room
	// for each, pion's own read size (ice receiveMTU), so nothing pion
	// would have read whole is cut.
	rxBatch = 64
	rxSlot  = 8192
)

// fastHandler takes the datagrams it can forward itself out of the mux's
// reads (fastpath.go). handle runs in the mux's reader goroutine inside a
// batch scope; it returns false for a datagram pion must have.
type fastHandler interface {
	handle(pkt []byte, from netip.AddrPort) bool
}

// batchConn wraps the ICE mux socket so that a fan-out's datagrams leave in
// one sendmmsg instead of one sendto each (perf-notes rule 7; sendto was
// two thirds of the forwarding CPU). It implements ice.AddrPortReaderWriter,
// so the mux keeps its allocation-free paths.
//
// A fan-out opens a batch scope (begin) and closes it (end). While any scope
// is open, every datagram written to the socket (by any goroutine) is
// queued; the end of the last open scope, or a full queue, flushes.
// Outside scopes writes go straight out, so STUN, DTLS and RTCP never wait
// for a timer.
//
// Reads take up to rxBatch datagrams per recvmmsg (issue 18). The fast
// path (fastpath.go) forwards the SRTP media it knows inside one scope per
// batch, so everything a batch produces leaves in one sendmmsg across
// sessions, and the rest goes to pion one datagram per ReadFromAddrPort,
// in arrival order, after that scope has closed.
type batchConn struct {
	*net.UDPConn
	pc *ipv4.PacketConn

	// read side: the mux's reader goroutine only
	rx     *recvBatch
	rxN    int    // datagrams in the current batch
	rxNext int    // next one to look at
	rxSlow []bool // datagram i is pion's
	fast   atomic.Pointer[fastHandler]

	mu     sync.Mutex
	scopes int
	msgs   []ipv4.Message
	addrs  []net.UDPAddr
	bufs   [][]byte
	n      int
	errs   uint64 // datagrams lost to send errors

	readCalls, writeCalls atomic.Uint64 // socket syscalls, for Stats
}

func newBatchConn(c *net.UDPConn) (*batchConn, error) {
	rx, err := newRecvBatch(c)
	if err != nil {
		return nil, err
	}
	b := &batchConn{UDPConn: c, pc: ipv4.NewPacketConn(c), rx: rx, rxSlow: make([]bool, rxBatch),
		msgs: make([]ipv4.Message, batchSize), addrs: make([]net.UDPAddr, batchSize), bufs: make([][]byte, batchSize)}
	for i := range b.msgs {
		b.bufs[i] = make([]byte, ringSlot)
		b.addrs[i].IP = make(net.IP, 16)
		b.msgs[i].Buffers = [][]byte{nil}
		b.msgs[i].Addr = &b.addrs[i]
	}
	return b, nil
}

// setFast installs the fast path; nil leaves every datagram to pion.
func (b *batchConn) setFast(h fastHandler) {
	if h == nil {
		b.fast.Store(nil)
		return
	}
	b.fast.Store(&h)
}

// ReadFromAddrPort implements ice.AddrPortReaderWriter for pion's mux: it
// returns the next datagram of the current batch that the fast path did
// not take, and reads the next batch when none is left. A datagram longer
// than pion's read size is dropped, as pion would have cut it.
func (b *batchConn) ReadFromAddrPort(p []byte) (int, netip.AddrPort, error) {
	for {
		for b.rxNext < b.rxN {
			i := b.rxNext
			b.rxNext++
			if !b.rxSlow[i] {
				continue
			}
			n := b.rx.len(i)
			if n < 0 {
				continue
			}
			return copy(p, b.rx.bufs[i][:n]), b.rx.from(i), nil
		}
		n, err := b.rx.recv()
		if err != nil {
			return 0, netip.AddrPort{}, err
		}
		b.readCalls.Add(1)
		b.rxN, b.rxNext = n, 0
		h := b.fast.Load()
		if h == nil {
			for i := 0; i < n; i++ {
				b.rxSlow[i] = true
			}
			continue
		}
		// One scope for the whole batch: every send it causes, to any
		// subscriber of any session, leaves in one sendmmsg at end.
		b.begin()
		for i := 0; i < n; i++ {
			l := b.rx.len(i)
			b.rxSlow[i] = l >= 0 && !(*h).handle(b.rx.bufs[i][:l], b.rx.from(i))
		}
		b.end()
	}
}

// WriteToAddrPort implements ice.AddrPortReaderWriter: queued inside a
// scope, direct otherwise. p belongs to the caller (pion reuses it), so a
// queued datagram is copied.
func (b *batchConn) WriteToAddrPort(p []byte, addr netip.AddrPort) (int, error) {
	b.mu.Lock()
	if b.scopes == 0 || len(p) > ringSlot {
		b.mu.Unlock()
		b.writeCalls.Add(1)
		return b.UDPConn.WriteToUDPAddrPort(p, addr)
	}
	i := b.n
	n := copy(b.bufs[i], p)
	b.msgs[i].Buffers[0] = b.bufs[i][:n]
	a := &b.addrs[i]
	if ip := addr.Addr(); ip.Is4() {
		v4 := ip.As4()
		a.IP = a.IP[:4]
		copy(a.IP, v4[:])
	} else {
		v6 := ip.As16()
		a.IP = a.IP[:16]
		copy(a.IP, v6[:])
	}
	a.Port = int(addr.Port())
	b.n++
	if b.n == batchSize {
		b.flushLocked()
	}
	b.mu.Unlock()
	return len(p), nil
}

func (b *batchConn) begin() {
	b.mu.Lock()
	b.scopes++
	b.mu.Unlock()
}

// end closes a scope; the last one open flushes. Scopes nest: the fast
// path's batch scope holds a fan-out's, so a batch's sends to every session
// leave together.
func (b *batchConn) end() {
	b.mu.Lock()
	b.scopes--
	if b.scopes == 0 {
		b.flushLocked()
	}
	b.mu.Unlock()
}

// flushLocked sends the queue. Called locked; the send blocks only if the
// socket buffer (4 MiB) is full.
func (b *batchConn) flushLocked() {
	for sent := 0; sent < b.n; {
		b.writeCalls.Add(1)
		k, err := b.pc.WriteBatch(b.msgs[sent:b.n], 0)
		if err != nil {
			// Drop the datagram at fault and go on (a bad address,
			// ICMP-reported errors): one receiver must not stall all.
			b.errs++
			k++
		}
		sent += k
	}
	b.n = 0
}
