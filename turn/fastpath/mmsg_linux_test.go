//go:build linux

package fastpath

import (
	"encoding/binary"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// FuzzBatchOrder: whatever the interleaving of datagrams from several
// sockets to several destinations in one wake-up's batch, flush sends
// them all, and each (socket, destination) stream arrives in the order it
// was queued. data picks, datagram by datagram, the sending socket and
// the destination.
func FuzzBatchOrder(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 0, 1, 2, 3})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{5, 4, 3, 2, 1, 0, 7, 7, 7, 6, 1, 1})
	const nsrc, ndst = 3, 3
	var srcs [nsrc]int
	var srcConns [nsrc]*net.UDPConn
	var dsts [ndst]*net.UDPConn
	var dstSA [ndst]rawSockaddr
	for i := range srcs {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			f.Fatal(err)
		}
		f.Cleanup(func() { c.Close() })
		srcConns[i] = c
		if srcs[i], err = dupFD(c); err != nil {
			f.Fatal(err)
		}
	}
	for i := range dsts {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			f.Fatal(err)
		}
		f.Cleanup(func() { c.Close() })
		dsts[i] = c
		dstSA[i], _ = sockaddrFor(syscall.AF_INET, c.LocalAddr().(*net.UDPAddr).AddrPort())
	}
	bt := new(batch)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > planeSlots {
			data = data[:planeSlots]
		}
		type key struct{ src, dst int }
		next := map[key]uint32{}
		for _, d := range data {
			k := key{int(d) % nsrc, int(d/nsrc) % ndst}
			s := &bt.buf[bt.used]
			bt.used++
			binary.BigEndian.PutUint32(s[0:], uint32(k.src))
			binary.BigEndian.PutUint32(s[4:], next[k])
			next[k]++
			bt.queue(srcs[k.src], nil, s[:8], &dstSA[k.dst], k.dst%2 == 0)
		}
		var failed int
		queued := bt.nsend
		bt.flush(func(*send) { failed++ })
		if failed != 0 || queued != len(data) {
			t.Fatalf("%d datagrams: %d queued, %d failed", len(data), queued, failed)
		}
		if bt.used != 0 || bt.nsend != 0 {
			t.Fatalf("flush left %d slots and %d sends", bt.used, bt.nsend)
		}
		buf := make([]byte, 64)
		for di, c := range dsts {
			want := map[int]uint32{}
			for si := range srcs {
				want[si] = 0
			}
			total := 0
			for k, n := range next {
				if k.dst == di {
					total += int(n)
				}
			}
			for got := 0; got < total; got++ {
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, from, err := c.ReadFromUDPAddrPort(buf)
				if err != nil || n != 8 {
					t.Fatalf("destination %d: datagram %d of %d: %d bytes, %v", di, got, total, n, err)
				}
				src, seq := int(binary.BigEndian.Uint32(buf)), binary.BigEndian.Uint32(buf[4:])
				if srcConns[src].LocalAddr().(*net.UDPAddr).AddrPort() != netip.AddrPortFrom(from.Addr().Unmap(), from.Port()) {
					t.Fatalf("destination %d: datagram of source %d came from %v", di, src, from)
				}
				if seq != want[src] {
					t.Fatalf("destination %d, source %d: got #%d, want #%d (reordered or lost)", di, src, seq, want[src])
				}
				want[src]++
			}
		}
	})
}
