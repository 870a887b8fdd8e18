package sfu

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"golang.org/x/net/ipv4"
)

// batchSize is the most datagrams one sendmmsg carries.
const batchSize = 64

// batchConn wraps the ICE mux socket so that a fan-out's datagrams leave in
// one sendmmsg instead of one sendto each (perf-notes rule 7; sendto was
// two thirds of the forwarding CPU). It implements ice.AddrPortReaderWriter,
// so the mux keeps its allocation-free paths.
//
// A fan-out opens a batch scope (begin) and closes it (end). While any scope
// is open, every datagram written to the socket (by any goroutine) is
// queued; the end of each scope, or a full queue, flushes. Outside scopes
// writes go straight out, so STUN, DTLS and RTCP never wait for a timer.
type batchConn struct {
	*net.UDPConn
	pc *ipv4.PacketConn

	mu     sync.Mutex
	scopes int
	msgs   []ipv4.Message
	addrs  []net.UDPAddr
	bufs   [][]byte
	n      int
	errs   uint64 // datagrams lost to send errors

	readCalls, writeCalls atomic.Uint64 // socket syscalls, for Stats
}

func newBatchConn(c *net.UDPConn) *batchConn {
	b := &batchConn{UDPConn: c, pc: ipv4.NewPacketConn(c),
		msgs: make([]ipv4.Message, batchSize), addrs: make([]net.UDPAddr, batchSize), bufs: make([][]byte, batchSize)}
	for i := range b.msgs {
		b.bufs[i] = make([]byte, ringSlot)
		b.addrs[i].IP = make(net.IP, 16)
		b.msgs[i].Buffers = [][]byte{nil}
		b.msgs[i].Addr = &b.addrs[i]
	}
	return b
}

// ReadFromAddrPort implements ice.AddrPortReaderWriter.
func (b *batchConn) ReadFromAddrPort(p []byte) (int, netip.AddrPort, error) {
	b.readCalls.Add(1)
	return b.UDPConn.ReadFromUDPAddrPort(p)
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

func (b *batchConn) end() {
	b.mu.Lock()
	b.scopes--
	b.flushLocked()
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
