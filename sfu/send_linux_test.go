package sfu

import (
	"fmt"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestBatchConnGSORefused: when the kernel refuses a segmented send (here
// SO_NO_CHECK, with which udp_send_skb answers EINVAL to UDP_SEGMENT), the
// run goes out datagram by datagram, nothing is lost or reordered, GSO
// stays off for later flushes, and plain sends go on working.
func TestBatchConnGSORefused(t *testing.T) {
	c := loopbackUDP(t)
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_NO_CHECK, 1) }); err != nil || serr != nil {
		t.Skipf("SO_NO_CHECK: %v %v", err, serr)
	}
	b, err := newBatchConn(c)
	if err != nil {
		t.Fatal(err)
	}
	rx := loopbackUDP(t)
	to := rx.LocalAddr().(*net.UDPAddr).AddrPort()
	flush := func(from, n int) {
		b.begin()
		for i := from; i < from+n; i++ {
			if _, err := b.WriteToAddrPort([]byte(fmt.Sprintf("pkt %03d", i)), to); err != nil {
				t.Fatal(err)
			}
		}
		b.end()
	}
	flush(0, 5)
	if !b.noGSO.Load() {
		t.Fatal("GSO still on after the kernel refused a segmented send")
	}
	runs := b.gsoRuns.Load()
	flush(5, 5)
	if b.gsoRuns.Load() != runs {
		t.Error("a flush after the refusal still grouped a run")
	}
	if b.errs != 0 {
		t.Errorf("%d datagrams lost", b.errs)
	}
	buf := make([]byte, 1500)
	for i := 0; i < 10; i++ {
		_ = rx.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := rx.Read(buf)
		if err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		if got, want := string(buf[:n]), fmt.Sprintf("pkt %03d", i); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
}
