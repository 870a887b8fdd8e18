package sfubench

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// relayServer is the baseline (perf-notes §4): read one socket, write each
// datagram to every subscriber with one WriteToUDPAddrPort per packet, no
// batching, no crypto.
type relayServer struct {
	conn      *net.UDPConn
	subs      []netip.AddrPort
	forwarded atomic.Uint64
	syscalls  atomic.Uint64 // reads and writes on conn
	tid       atomic.Int64  // the relay's OS thread
	wg        sync.WaitGroup
}

func listenLoopback(buffer int) (*net.UDPConn, error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err == nil {
		_ = c.SetReadBuffer(buffer)
		_ = c.SetWriteBuffer(buffer)
	}
	return c, err
}

// startRelay starts the relay. lockThread locks its goroutine to an OS
// thread, whose CPU clock then is the relay's exact CPU time (in-process
// runs). An isolated run reads the child's rusage and must not lock: with
// one P, every wake-up of a locked goroutine hands the P between two
// threads (two futex calls, two context switches), a cost a plain relay
// does not have, which made the baseline about a tenth dearer.
func startRelay(ctx context.Context, subs []netip.AddrPort, lockThread bool) (*relayServer, error) {
	c, err := listenLoopback(bufSize)
	if err != nil {
		return nil, err
	}
	r := &relayServer{conn: c, subs: subs}
	r.wg.Add(1)
	pprof.Do(ctx, pprof.Labels(roleKey, roleServer), func(context.Context) {
		go func() {
			defer r.wg.Done()
			if lockThread {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				r.tid.Store(int64(unix.Gettid()))
			}
			buf := make([]byte, 1500)
			for {
				n, err := r.conn.Read(buf)
				if err != nil {
					return
				}
				r.syscalls.Add(uint64(1 + len(r.subs)))
				for _, a := range r.subs {
					if _, err := r.conn.WriteToUDPAddrPort(buf[:n], a); err == nil {
						r.forwarded.Add(1)
					}
				}
			}
		}()
	})
	return r, nil
}

func (r *relayServer) addr() netip.AddrPort { return r.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// cpu reads the relay thread's CPU clock (Linux MAKE_THREAD_CPUCLOCK(tid, SCHED)).
func (r *relayServer) cpu() (time.Duration, bool) {
	tid := r.tid.Load()
	if tid == 0 {
		return 0, false
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(int32(^tid<<3|6), &ts); err != nil {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}

func (r *relayServer) close() {
	_ = r.conn.Close()
	r.wg.Wait()
}

// relayLoad is the baseline's load: publisher sockets and counting
// subscriber sockets.
type relayLoad struct {
	subs     []*net.UDPConn
	pubs     []*net.UDPConn
	received atomic.Uint64
	wg       sync.WaitGroup
}

func newRelayLoad(ctx context.Context, subs int) (*relayLoad, error) {
	l := &relayLoad{}
	for i := 0; i < subs; i++ {
		c, err := listenLoopback(bufSize)
		if err != nil {
			l.close()
			return nil, err
		}
		l.subs = append(l.subs, c)
	}
	pprof.Do(ctx, pprof.Labels(roleKey, roleLoad), func(context.Context) {
		for _, s := range l.subs {
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				buf := make([]byte, 1500)
				for {
					if _, err := s.Read(buf); err != nil {
						return
					}
					l.received.Add(1)
				}
			}()
		}
	})
	return l, nil
}

func (l *relayLoad) subAddrs() []netip.AddrPort {
	var as []netip.AddrPort
	for _, s := range l.subs {
		as = append(as, s.LocalAddr().(*net.UDPAddr).AddrPort())
	}
	return as
}

func (l *relayLoad) dial(pubs int, to netip.AddrPort) error {
	for i := 0; i < pubs; i++ {
		c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(to))
		if err != nil {
			return err
		}
		_ = c.SetWriteBuffer(bufSize)
		l.pubs = append(l.pubs, c)
	}
	return nil
}

func (l *relayLoad) send(pub int, b []byte) error {
	_, err := l.pubs[pub].Write(b)
	if errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

func (l *relayLoad) close() {
	for _, c := range append(append([]*net.UDPConn(nil), l.subs...), l.pubs...) {
		_ = c.Close()
	}
	l.wg.Wait()
}
