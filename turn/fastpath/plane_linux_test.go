package fastpath

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// openFDs counts the process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	return len(ents)
}

func listen(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSetupFailureLeavesSocket checks that a failed setup (after the epoll
// set and the wake pipe exist) closes what it made and leaves the socket
// open and usable, for pion to read instead.
func TestSetupFailureLeavesSocket(t *testing.T) {
	udp := listen(t)
	defer udp.Close()
	fds := openFDs(t)
	if _, err := New(udp, Config{Counters: &Counters{}, setupErr: errors.New("no epoll here")}); err == nil {
		t.Fatal("New succeeded despite the injected failure")
	}
	if n := openFDs(t); n != fds {
		t.Errorf("open descriptors %d -> %d after the failed setup", fds, n)
	}
	c, err := net.DialUDP("udp4", nil, udp.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("still there"))
	buf := make([]byte, 64)
	udp.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, _, err := udp.ReadFrom(buf); err != nil || string(buf[:n]) != "still there" {
		t.Fatalf("socket after the failed setup: %q, %v", buf[:n], err)
	}
}

// TestCloseWithoutRun checks that New starts nothing to wait for: Close
// without Run returns, releases every descriptor, and Run after it returns
// at once.
func TestCloseWithoutRun(t *testing.T) {
	udp := listen(t)
	fds := openFDs(t)
	p, err := New(udp, Config{Counters: &Counters{}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := p.Relay(listen(t))
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	r.Close() // pion closes relay sockets with their allocations
	// Everything New and Relay made is gone, and the listener with it.
	if n := openFDs(t); n != fds-1 {
		t.Errorf("open descriptors %d -> %d after Close", fds, n)
	}
	waitRun(t, run(p))
	if _, _, err := p.Conn().ReadFrom(make([]byte, 10)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Conn read after Close: %v", err)
	}
}

// TestRunUntilClose checks that Close ends a running loop and waits for it.
func TestRunUntilClose(t *testing.T) {
	p, err := New(listen(t), Config{Counters: &Counters{}})
	if err != nil {
		t.Fatal(err)
	}
	done := run(p)
	p.Close()
	waitRun(t, done)
}

// run runs p's loop; the channel gets what Run returns.
func run(p *Plane) <-chan error {
	done := make(chan error, 1)
	go func() { done <- p.Run() }()
	return done
}

// waitRun waits for Run to return nil, failing after a deadline.
func waitRun(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
}
