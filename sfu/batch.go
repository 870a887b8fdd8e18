package sfu

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
)

const (
	// batchSize is the most datagrams one sendmmsg carries.
	batchSize = 256
	// rxRounds is how many more reads a batch scope may take of what
	// arrived while it was handled.
	rxRounds = 4
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

	// read side: the mux's reader goroutine only
	rx     *recvBatch
	rxN    int    // datagrams in the current batch
	rxNext int    // next one to look at
	rxSlow []bool // datagram i is pion's
	fast   atomic.Pointer[fastHandler]

	mu     sync.Mutex
	scopes int
	bufs   [][]byte         // queue slots, ringSlot bytes each
	queue  [][]byte         // queued datagram i, in bufs[i]
	to     []netip.AddrPort // and where it goes
	n      int
	errs   uint64 // datagrams lost to send errors
	tx     *sendBatch
	// UDP GSO (flush): runs of equal-sized datagrams to one address leave
	// as one message the kernel segments. noGSO once the kernel refused.
	// Both are atomic for Stats, which reads them without mu.
	taken   []bool
	noGSO   atomic.Bool
	gsoRuns atomic.Uint64 // messages sent with UDP_SEGMENT

	readCalls, writeCalls atomic.Uint64 // socket syscalls, for Stats
}

func newBatchConn(c *net.UDPConn) (*batchConn, error) {
	rx, err := newRecvBatch(c)
	if err != nil {
		return nil, err
	}
	tx, err := newSendBatch(c)
	if err != nil {
		return nil, err
	}
	b := &batchConn{UDPConn: c, rx: rx, rxSlow: make([]bool, rxBatch), tx: tx,
		bufs: make([][]byte, batchSize), queue: make([][]byte, batchSize), to: make([]netip.AddrPort, batchSize), taken: make([]bool, batchSize)}
	b.noGSO.Store(!gsoSupported)
	for i := range b.bufs {
		b.bufs[i] = make([]byte, ringSlot)
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
		for round := 0; ; round++ {
			slow := false
			for i := 0; i < n; i++ {
				l := b.rx.len(i)
				b.rxSlow[i] = l >= 0 && !(*h).handle(b.rx.bufs[i][:l], b.rx.from(i))
				slow = slow || b.rxSlow[i]
			}
			// Datagrams that arrived while this batch was handled join
			// its flush: a frame's packets then leave as one run per
			// subscriber (GSO) rather than a few. Not while pion has yet
			// to read some of this batch's buffers.
			if slow || round == rxRounds {
				break
			}
			m, err := b.rx.more()
			if err != nil || m == 0 { // an error comes back from the next recv
				break
			}
			b.readCalls.Add(1)
			b.rxN, b.rxNext, n = m, 0, m
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
		return b.tx.sendOne(p, addr)
	}
	i := b.n
	n := copy(b.bufs[i], p)
	b.queue[i], b.to[i] = b.bufs[i][:n], addr
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
	if b.n == 0 {
		return
	}
	b.buildLocked()
	for sent, msgs := 0, b.tx.n; sent < msgs; {
		b.writeCalls.Add(1)
		k, err := b.tx.send(sent)
		if err == nil && k == 0 {
			err = io.ErrShortWrite // never from the kernel; do not spin on it
		}
		if err != nil {
			if m := sent + k; b.tx.count(m) > 1 {
				// Send the run one datagram at a time. If the kernel
				// refused segmentation itself (EIO: a device without
				// checksum offload; EINVAL, ENOPROTOOPT: no UDP_SEGMENT),
				// never group again; another error (a full buffer, an
				// unreachable address) is this run's alone.
				if gsoRefused(err) {
					b.noGSO.Store(true)
				}
				b.writeCalls.Add(uint64(b.tx.count(m)))
				b.errs += uint64(b.tx.sendEach(m))
			} else {
				// Drop the datagram at fault and go on (a bad address,
				// ICMP-reported errors): one receiver must not stall all.
				b.errs++
			}
			k++
		}
		sent += k
	}
	b.n = 0
}

func gsoRefused(err error) bool {
	return errors.Is(err, syscall.EIO) || errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOPROTOOPT) || errors.Is(err, syscall.EOPNOTSUPP)
}

// Limits of one segmented message: the kernel's UDP_MAX_SEGMENTS (64 on
// older kernels) and an IP datagram's 64 KiB.
const (
	gsoMaxSegments = 64
	gsoMaxBytes    = 60000
)

// buildLocked turns the queue into the flush's messages. With UDP GSO
// (issue 18 item 3) it regroups: a destination's consecutive datagrams of
// one size (the last of a run may be shorter) become one message the
// kernel cuts at that size, as a received batch holding several packets of
// a video frame gives every subscriber. Each destination's datagrams keep
// their order; messages go out in the order of their first datagram. It
// allocates nothing.
func (b *batchConn) buildLocked() {
	b.tx.reset()
	group := !b.noGSO.Load()
	for i := 0; i < b.n; i++ {
		b.taken[i] = false
	}
	for i := 0; i < b.n; i++ {
		if b.taken[i] {
			continue
		}
		b.taken[i] = true
		to, first := b.to[i], b.queue[i]
		if !b.tx.add(to) {
			b.errs++
			continue
		}
		b.tx.seg(first)
		size, total, segs := len(first), len(first), 1
		for j := i + 1; group && j < b.n && segs < gsoMaxSegments; j++ {
			if b.taken[j] || b.to[j] != to {
				continue
			}
			p := b.queue[j]
			if len(p) > size || total+len(p) > gsoMaxBytes {
				break // starts the destination's next message
			}
			b.taken[j] = true
			b.tx.seg(p)
			total += len(p)
			segs++
			if len(p) < size {
				break // a shorter one ends a run
			}
		}
		if segs > 1 {
			b.tx.cut(size)
			b.gsoRuns.Add(1)
		}
	}
}
