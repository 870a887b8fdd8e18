package sfu

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"
)

// loopbackUDP is a UDP socket on 127.0.0.1, closed when t ends.
func loopbackUDP(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// loopbackBatch is a batchConn on a loopback socket, closed when t ends.
func loopbackBatch(t *testing.T) *batchConn {
	t.Helper()
	b, err := newBatchConn(loopbackUDP(t))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBatchConn(t *testing.T) {
	b := loopbackBatch(t)
	var rx []*net.UDPConn
	for i := 0; i < 3; i++ {
		rx = append(rx, loopbackUDP(t))
	}
	recv := func(c *net.UDPConn) string {
		t.Helper()
		buf := make([]byte, 1500)
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		return string(buf[:n])
	}

	// Inside a scope, more datagrams than one batch to 3 receivers, with
	// the caller's buffer reused after each write as pion does.
	const total = batchSize + 6
	b.begin()
	p := make([]byte, 32)
	for i := 0; i < total; i++ {
		n := copy(p, fmt.Sprintf("pkt %d", i))
		if _, err := b.WriteToAddrPort(p[:n], rx[i%3].LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
			t.Fatal(err)
		}
		copy(p, "XXXXXXXX")
	}
	if b.n != total-batchSize {
		t.Errorf("queued %d, want %d after one full flush", b.n, total-batchSize)
	}
	b.end()
	if b.n != 0 {
		t.Errorf("%d left queued after end", b.n)
	}
	for i := 0; i < total; i++ {
		if got, want := recv(rx[i%3]), fmt.Sprintf("pkt %d", i); got != want {
			t.Fatalf("receiver %d got %q, want %q", i%3, got, want)
		}
	}
	// Outside a scope writes go straight out.
	if _, err := b.WriteToAddrPort([]byte("direct"), rx[0].LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
		t.Fatal(err)
	}
	if b.n != 0 || recv(rx[0]) != "direct" {
		t.Error("direct write queued or lost")
	}
	// pion's direct sends (STUN, DTLS, RTCP) allocate nothing either.
	to := rx[1].LocalAddr().(*net.UDPAddr).AddrPort()
	if n := testing.AllocsPerRun(100, func() { _, _ = b.WriteToAddrPort(p[:8], to) }); n != 0 {
		t.Errorf("a direct write allocates %.1f times", n)
	}
}

// TestBatchConnGSO: runs of equal-sized datagrams to one receiver leave as
// one segmented message (UDP GSO, where the kernel has it), and every
// receiver still gets each datagram whole, once, in its own order, among
// other receivers' datagrams, sizes that end or break runs, and more than
// one batch.
func TestBatchConnGSO(t *testing.T) {
	b := loopbackBatch(t)
	var rx []*net.UDPConn
	for i := 0; i < 3; i++ {
		c := loopbackUDP(t)
		_ = c.SetReadBuffer(socketBuffer)
		rx = append(rx, c)
	}
	// Receiver 0 gets runs of 1,100-byte packets with a shorter one now
	// and then; receiver 1 sizes that grow (no run); receiver 2 equal
	// ones. 150 datagrams: three flushes, one of them at a full queue.
	want := make([][]string, 3)
	b.begin()
	for i := 0; i < 150; i++ {
		r := i % 3
		size := 1100
		switch {
		case r == 0 && i%21 == 0:
			size = 300
		case r == 1:
			size = 100 + i
		}
		p := make([]byte, size)
		for k := range p {
			p[k] = 'a' + byte(i%26)
		}
		copy(p, fmt.Sprintf("pkt %d ", i))
		want[r] = append(want[r], string(p))
		if _, err := b.WriteToAddrPort(p, rx[r].LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
			t.Fatal(err)
		}
		if i == 100 {
			b.end() // a flush in the middle
			b.begin()
		}
	}
	b.end()
	buf := make([]byte, 65536)
	for r, c := range rx {
		for k, w := range want[r] {
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			n, err := c.Read(buf)
			if err != nil {
				t.Fatalf("receiver %d, datagram %d: %v", r, k, err)
			}
			if string(buf[:n]) != w {
				t.Fatalf("receiver %d, datagram %d: got %d bytes %.12q, want %d bytes %.12q", r, k, n, buf[:n], len(w), w)
			}
		}
	}
	if gsoSupported && b.gsoRuns.Load() == 0 && !b.noGSO.Load() {
		t.Error("no run was sent segmented")
	}
	t.Logf("segmented messages: %d, GSO off: %v, send calls: %d for 150 datagrams", b.gsoRuns.Load(), b.noGSO.Load(), b.writeCalls.Load())
}

// TestBatchConnFamilies: the flush addresses every destination the way its
// socket's family needs (IPv4 mapped on a dual-stack socket, as the server's
// socket on the unspecified address is), and a destination the socket
// cannot reach (IPv6 from an IPv4 socket) costs only its own datagrams.
func TestBatchConnFamilies(t *testing.T) {
	v6, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	t.Cleanup(func() { v6.Close() })
	v4 := loopbackUDP(t)
	for _, tc := range []struct {
		name     string
		listen   *net.UDPAddr
		reach6   bool
		wantLost uint64
	}{
		{"dual-stack", &net.UDPAddr{}, true, 0},
		{"ipv4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, false, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.ListenUDP("udp", tc.listen)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			b, err := newBatchConn(c)
			if err != nil {
				t.Fatal(err)
			}
			to4, to6 := v4.LocalAddr().(*net.UDPAddr).AddrPort(), v6.LocalAddr().(*net.UDPAddr).AddrPort()
			b.begin()
			for i := 0; i < 3; i++ {
				for _, to := range []netip.AddrPort{to6, to4} {
					if _, err := b.WriteToAddrPort([]byte(fmt.Sprintf("pkt %d", i)), to); err != nil {
						t.Fatal(err)
					}
				}
			}
			b.end()
			if b.errs != tc.wantLost {
				t.Errorf("%d datagrams lost, want %d", b.errs, tc.wantLost)
			}
			recvs := []*net.UDPConn{v4}
			if tc.reach6 {
				recvs = append(recvs, v6)
			}
			buf := make([]byte, 1500)
			for _, r := range recvs {
				for i := 0; i < 3; i++ {
					_ = r.SetReadDeadline(time.Now().Add(2 * time.Second))
					n, from, err := r.ReadFromUDPAddrPort(buf)
					if err != nil {
						t.Fatalf("%s: datagram %d: %v", r.LocalAddr(), i, err)
					}
					if got, want := string(buf[:n]), fmt.Sprintf("pkt %d", i); got != want {
						t.Errorf("%s got %q, want %q", r.LocalAddr(), got, want)
					}
					if from.Port() != c.LocalAddr().(*net.UDPAddr).AddrPort().Port() {
						t.Errorf("%s: from %s, not the batch's socket", r.LocalAddr(), from)
					}
				}
			}
		})
	}
}
