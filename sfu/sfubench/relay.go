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

// relay is the baseline (perf-notes §4): read one socket, write each
// datagram to every subscriber with one WriteToUDPAddrPort per packet, no
// batching, no crypto.
type relay struct {
	conn      *net.UDPConn
	subs      []*net.UDPConn
	subAddrs  []netip.AddrPort
	pubs      []*net.UDPConn
	forwarded atomic.Uint64
	received  atomic.Uint64
	tid       atomic.Int64 // the relay's OS thread
	wg        sync.WaitGroup
}

// cpu is the relay's exact CPU time: its goroutine is locked to one OS
// thread, whose CPU clock we read (Linux: MAKE_THREAD_CPUCLOCK(tid, SCHED)).
func (r *relay) cpu() (time.Duration, bool) {
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

func newRelay(ctx context.Context, pubs, subs, buffer int) (*relay, error) {
	r := &relay{}
	listen := func() (*net.UDPConn, error) {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err == nil {
			_ = c.SetReadBuffer(buffer)
			_ = c.SetWriteBuffer(buffer)
		}
		return c, err
	}
	var err error
	if r.conn, err = listen(); err != nil {
		return nil, err
	}
	for i := 0; i < subs; i++ {
		c, err := listen()
		if err != nil {
			r.close()
			return nil, err
		}
		r.subs = append(r.subs, c)
		r.subAddrs = append(r.subAddrs, c.LocalAddr().(*net.UDPAddr).AddrPort())
	}
	for i := 0; i < pubs; i++ {
		c, err := net.DialUDP("udp4", nil, r.conn.LocalAddr().(*net.UDPAddr))
		if err != nil {
			r.close()
			return nil, err
		}
		_ = c.SetWriteBuffer(buffer)
		r.pubs = append(r.pubs, c)
	}
	r.wg.Add(1)
	pprof.Do(ctx, pprof.Labels(roleKey, roleServer), func(context.Context) {
		go func() {
			defer r.wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			r.tid.Store(int64(unix.Gettid()))
			buf := make([]byte, 1500)
			for {
				n, err := r.conn.Read(buf)
				if err != nil {
					return
				}
				for _, a := range r.subAddrs {
					if _, err := r.conn.WriteToUDPAddrPort(buf[:n], a); err == nil {
						r.forwarded.Add(1)
					}
				}
			}
		}()
	})
	for _, s := range r.subs {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			buf := make([]byte, 1500)
			for {
				if _, err := s.Read(buf); err != nil {
					return
				}
				r.received.Add(1)
			}
		}()
	}
	return r, nil
}

// send is one publisher's datagram (the relay needs no RTP semantics).
func (r *relay) send(pub int, b []byte) error {
	_, err := r.pubs[pub].Write(b)
	if errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

func (r *relay) close() {
	for _, c := range append(append([]*net.UDPConn{r.conn}, r.subs...), r.pubs...) {
		if c != nil {
			_ = c.Close()
		}
	}
	r.wg.Wait()
}
