package sfu

import (
	"fmt"
	"net"
	"testing"
	"time"
)

func TestBatchConn(t *testing.T) {
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	b, err := newBatchConn(udp)
	if err != nil {
		t.Fatal(err)
	}
	var rx []*net.UDPConn
	for i := 0; i < 3; i++ {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		rx = append(rx, c)
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

	// Inside a scope, 70 datagrams (more than one batch) to 3 receivers,
	// with the caller's buffer reused after each write as pion does.
	b.begin()
	p := make([]byte, 32)
	for i := 0; i < 70; i++ {
		n := copy(p, fmt.Sprintf("pkt %d", i))
		if _, err := b.WriteToAddrPort(p[:n], rx[i%3].LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
			t.Fatal(err)
		}
		copy(p, "XXXXXXXX")
	}
	if b.n != 70-batchSize {
		t.Errorf("queued %d, want %d after one full flush", b.n, 70-batchSize)
	}
	b.end()
	if b.n != 0 {
		t.Errorf("%d left queued after end", b.n)
	}
	for i := 0; i < 70; i++ {
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
}
