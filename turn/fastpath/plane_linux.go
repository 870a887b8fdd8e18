//go:build linux

package fastpath

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// Plane is the UDP listener's packet path on Linux. One goroutine waits in
// epoll_wait on the listening socket and on the relay socket of every
// allocation made through it, and relays ChannelData both ways itself: no
// allocation, no goroutine hand-off and no netpoller wake-up per packet,
// which is how coturn spends its CPU too. Everything else (STUN requests,
// Send and Data indications, ChannelData it cannot place) goes to pion
// unchanged, through planeConn (the listener pion reads) and relayConn (each
// allocation's relay socket).
//
// The channel table is a copy of pion's, built by watching pion's traffic: a
// ChannelBind request pion reads and the success response pion writes back
// install a binding, which lapses bindMargin before pion's own and goes with
// its relay socket when pion closes it (the allocation ended). A packet the
// table does not cover takes pion's path, so the copy can only lag pion's
// state, never allow more than pion does.
type Plane struct {
	c       *Counters
	now     func() time.Time
	bindTTL time.Duration
	direct  func(netip.AddrPort) bool // may the plane relay to this peer itself

	lfd    int // listening socket
	lfam   int // its family, AF_INET or AF_INET6
	laddr  *net.UDPAddr
	epfd   int
	epf    *os.File        // epfd in Go's netpoller, for wait
	epRaw  syscall.RawConn // of epf
	wake   [2]int          // pipe: Close writes to stop Run
	ctl    chan datagram   // packets for pion's read loop
	done   chan struct{}   // closed by Close
	exited chan struct{}   // closed when Run returns
	once   sync.Once
	fast   struct{ toPeer, toClient atomic.Uint64 } // relayed by the plane itself

	mu      sync.RWMutex
	running bool                  // Run has started
	stopped bool                  // Close has started: Run must not
	closed  bool                  // descriptors above closed
	relays  map[int]*relaySock    // by descriptor
	byPort  map[uint16]*relaySock // not yet claimed by an allocation event
	clients map[netip.AddrPort]*relaySock

	bindMu  sync.Mutex
	pending channelBind // the ChannelBind request pion is handling, if any
	hasPend bool

	// run's own
	events [64]syscall.EpollEvent
	bt     batch
}

const (
	planeMTU   = 1600 // pion's inbound MTU and relay buffer; longer datagrams are dropped
	planeBatch = 32   // datagrams read from one socket (one recvmmsg) before turning to the next
	ctlQueue   = 256  // datagrams waiting for pion's read loop
	relayQueue = 64   // datagrams waiting for pion's handler of one allocation
	// bindMargin makes the plane's copy of a binding lapse before pion's,
	// whose timer starts a little before the response the plane sees.
	bindMargin = time.Second
)

// datagram is a packet handed to pion.
type datagram struct {
	b    []byte
	from netip.AddrPort
}

// relaySock is one allocation's relay socket.
type relaySock struct {
	p     *Plane
	fd    int
	port  uint16
	laddr *net.UDPAddr
	in    chan datagram // for pion's packet handler
	done  chan struct{} // closed with the socket

	mu      sync.RWMutex // guards fd's life and the fields below
	closed  bool
	claimed bool
	client  netip.AddrPort
	clientS rawSockaddr // client in the listener's family
	chans   []binding
}

// binding is the plane's copy of one of pion's channel bindings.
type binding struct {
	number  uint16
	peer    netip.AddrPort
	peerS   rawSockaddr
	expires time.Time
}

// New takes over the listening socket udp, closing it once the plane has
// its own descriptor; it starts no goroutine: Run is the packet loop, and
// Close (also through Conn) ends it. On error udp is left open and
// untouched, so the caller can let pion read it instead.
func New(udp *net.UDPConn, cfg Config) (*Plane, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Direct == nil {
		cfg.Direct = func(netip.AddrPort) bool { return true }
	}
	p := &Plane{
		c: cfg.Counters, now: cfg.Now, bindTTL: cfg.BindTTL, direct: cfg.Direct,
		lfd: -1, laddr: udp.LocalAddr().(*net.UDPAddr), epfd: -1, wake: [2]int{-1, -1},
		ctl: make(chan datagram, ctlQueue), done: make(chan struct{}), exited: make(chan struct{}),
		relays: map[int]*relaySock{}, byPort: map[uint16]*relaySock{}, clients: map[netip.AddrPort]*relaySock{},
	}
	if err := p.setup(udp, cfg.setupErr); err != nil {
		p.closeFDs()
		return nil, fmt.Errorf("udp packet path: %w", err)
	}
	udp.Close() // p.lfd keeps the socket open
	return p, nil
}

// setup makes the epoll set and the wake pipe, then duplicates udp's
// descriptor into the set; udp itself is not changed.
func (p *Plane) setup(udp *net.UDPConn, setupErr error) error {
	var err error
	if p.epfd, err = syscall.EpollCreate1(syscall.EPOLL_CLOEXEC); err != nil {
		return fmt.Errorf("epoll_create: %w", err)
	}
	if err = syscall.SetNonblock(p.epfd, true); err != nil {
		return fmt.Errorf("epoll nonblock: %w", err)
	}
	p.epf = os.NewFile(uintptr(p.epfd), "turn-epoll")
	if p.epRaw, err = p.epf.SyscallConn(); err != nil {
		return fmt.Errorf("epoll in netpoller: %w", err)
	}
	if err = syscall.Pipe2(p.wake[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		return fmt.Errorf("pipe: %w", err)
	}
	if err = p.watch(p.wake[0]); err != nil {
		return err
	}
	if setupErr != nil {
		return setupErr
	}
	if p.lfd, err = dupFD(udp); err != nil {
		return err
	}
	if p.lfam, err = sockFamily(p.lfd); err != nil {
		return err
	}
	return p.watch(p.lfd)
}

func (p *Plane) watch(fd int) error {
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(fd)}
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	return nil
}

// Run is the packet loop: it returns nil once Close is called (at once if
// it was), or the error that stopped it. It waits for the epoll descriptor
// in Go's netpoller, so one goroutine wake-up serves every socket that
// became readable meanwhile, and reads each socket until it is empty. (A
// blocking epoll_wait holds the P: sysmon then preempts the goroutine every
// 10 ms and goes back to polling every 20 us, which cost more than it saved.)
func (p *Plane) Run() error {
	p.mu.Lock()
	if p.stopped || p.running {
		p.mu.Unlock()
		return nil
	}
	p.running = true
	p.mu.Unlock()
	defer close(p.exited)
	for {
		n, err := p.wait()
		if err != nil {
			return err
		}
		now := p.now()
		for _, ev := range p.events[:n] {
			switch fd := int(ev.Fd); fd {
			case p.wake[0]:
				p.flush()
				return nil
			case p.lfd:
				p.fromClients(now)
			default:
				p.mu.RLock()
				r := p.relays[fd]
				p.mu.RUnlock()
				if r != nil {
					p.fromPeers(r, now)
				}
			}
		}
		// Everything this wake-up read leaves in one sendmmsg per socket.
		p.flush()
	}
}

// wait waits for events in Go's netpoller, which watches the epoll
// descriptor (readable while it has events), holding no thread meanwhile.
func (p *Plane) wait() (int, error) {
	var (
		n    int
		errn syscall.Errno
	)
	err := p.epRaw.Read(func(uintptr) bool {
		r, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(p.epfd),
			uintptr(unsafe.Pointer(&p.events[0])), uintptr(len(p.events)), 0, 0, 0)
		n, errn = int(r), e
		return n > 0 || (e != 0 && e != syscall.EINTR)
	})
	if err != nil {
		return 0, err
	}
	if errn != 0 {
		return 0, errn
	}
	return n, nil
}

// fromClients reads the listening socket, one batch: ChannelData on a
// binding the plane knows is queued to leave by the relay socket, the rest
// goes to pion. What it leaves in the socket comes back with the next
// wait (epoll is level-triggered).
func (p *Plane) fromClients(now time.Time) {
	p.reserve()
	bt := &p.bt
	off := bt.used
	n := bt.recv(p.lfd, off, 0, planeBatch)
	bt.used += n
	for i := 0; i < n; i++ {
		size := int(bt.rhdr[i].Len)
		if size >= planeMTU { // pion drops these too: possibly cut
			continue
		}
		b, from := bt.buf[off+i][:size], bt.rsa[i].addrPort()
		if num, data, ok := channelData(b); ok && p.toPeer(from, num, data, now) {
			continue
		}
		toPion(p.ctl, b, from)
	}
}

// toPeer queues data from client on channel num for its peer, if the
// plane has that binding; false leaves the packet to pion.
func (p *Plane) toPeer(client netip.AddrPort, num uint16, data []byte, now time.Time) bool {
	p.mu.RLock()
	r := p.clients[client]
	p.mu.RUnlock()
	if r == nil {
		return false
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return false
	}
	for i := range r.chans {
		b := &r.chans[i]
		if b.number != num || !now.Before(b.expires) {
			continue
		}
		p.c.CountToPeer(len(data))
		p.bt.queue(r.fd, r, data, &b.peerS, true)
		return true
	}
	return false
}

// fromPeers reads a relay socket, one batch: data from a peer with a
// channel is queued for the client as ChannelData (padded to 4 bytes, as
// pion does), the rest goes to pion's handler for the allocation (Data
// indications, or a drop).
func (p *Plane) fromPeers(r *relaySock, now time.Time) {
	p.reserve()
	bt := &p.bt
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return
	}
	off := bt.used
	n := bt.recv(r.fd, off, channelHeaderSize, planeBatch)
	bt.used += n
	for i := 0; i < n; i++ {
		size := int(bt.rhdr[i].Len)
		if size > planeMTU {
			continue
		}
		p.c.CountFromPeer(size)
		buf, from := &bt.buf[off+i], bt.rsa[i].addrPort()
		if num, ok := r.channelOf(from, now); ok {
			binary.BigEndian.PutUint16(buf[0:], num)
			binary.BigEndian.PutUint16(buf[2:], uint16(size))
			end := channelHeaderSize + (size+3)&^3
			clear(buf[channelHeaderSize+size : end])
			bt.queue(p.lfd, nil, buf[:end], &r.clientS, false)
			continue
		}
		toPion(r.in, buf[channelHeaderSize:channelHeaderSize+size], from)
	}
}

// channelOf is the live channel bound to peer; called with r.mu held.
func (r *relaySock) channelOf(peer netip.AddrPort, now time.Time) (uint16, bool) {
	if !r.claimed {
		return 0, false
	}
	for i := range r.chans {
		if b := &r.chans[i]; b.peer == peer && now.Before(b.expires) {
			return b.number, true
		}
	}
	return 0, false
}

// toPion queues a copy of b for pion, or drops it when pion is that far
// behind, as a full socket buffer would.
func toPion(q chan<- datagram, b []byte, from netip.AddrPort) {
	select {
	case q <- datagram{b: append([]byte(nil), b...), from: from}:
	default:
	}
}

// sawRequest notes a ChannelBind request pion is about to handle. pion's
// UDP read loop handles one datagram at a time and answers it before it
// reads the next, so one pending request is enough.
func (p *Plane) sawRequest(d datagram) {
	cb, ok := parseChannelBind(d.b, d.from)
	p.bindMu.Lock()
	p.pending, p.hasPend = cb, ok
	p.bindMu.Unlock()
}

// sawResponse installs the pending binding when b is pion's success
// response to it, sent to its client.
func (p *Plane) sawResponse(b []byte, to netip.AddrPort) {
	tx, success, ok := channelBindResponse(b)
	if !ok {
		return
	}
	p.bindMu.Lock()
	cb, match := p.pending, p.hasPend && p.pending.tx == tx && p.pending.client == to
	if match {
		p.hasPend = false
	}
	p.bindMu.Unlock()
	if match && success {
		p.install(cb, p.now())
	}
}

// install copies a binding pion has just made or refreshed. pion refuses a
// number bound to another peer and a peer bound to another number, so a
// success replaces any entry with either. A peer the plane may not relay to
// itself gets no copy: its ChannelData takes pion's path, where each
// datagram is checked.
func (p *Plane) install(cb channelBind, now time.Time) {
	peerS, ok := sockaddrFor(syscall.AF_INET, cb.peer)
	if !ok {
		return
	}
	p.mu.RLock()
	r := p.clients[cb.client]
	p.mu.RUnlock()
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	kept := r.chans[:0]
	for _, b := range r.chans {
		if b.number != cb.number && b.peer != cb.peer && now.Before(b.expires) {
			kept = append(kept, b)
		}
	}
	r.chans = kept
	if p.direct(cb.peer) {
		r.chans = append(r.chans, binding{number: cb.number, peer: cb.peer, peerS: peerS, expires: now.Add(p.bindTTL - bindMargin)})
	}
}

// Claim ties the relay socket at relay's port to its client src, from
// pion's allocation event (raised before pion starts reading the relay
// socket). Allocations of TCP and TLS clients have relay sockets of their
// own and are not the plane's.
func (p *Plane) Claim(src, relay net.Addr) {
	client, ok := udpAddrPort(src)
	ra, rok := relay.(*net.UDPAddr)
	if !ok || !rok {
		return
	}
	clientS, ok := sockaddrFor(p.lfam, client)
	if !ok {
		return
	}
	p.mu.Lock()
	r := p.byPort[uint16(ra.Port)]
	if r != nil {
		delete(p.byPort, r.port)
		p.clients[client] = r
	}
	p.mu.Unlock()
	if r == nil {
		return
	}
	r.mu.Lock()
	r.claimed, r.client, r.clientS = true, client, clientS
	r.mu.Unlock()
}

// Relay takes over an allocation's relay socket c (a udp4 socket: pion v4
// relays over IPv4 only) and returns it as pion's relay PacketConn; c itself
// is closed either way.
func (p *Plane) Relay(c *net.UDPConn) (net.PacketConn, error) {
	bound := c.LocalAddr().(*net.UDPAddr)
	fd, err := detach(c)
	if err != nil {
		return nil, err
	}
	r := &relaySock{p: p, fd: fd, port: uint16(bound.Port), laddr: bound,
		in: make(chan datagram, relayQueue), done: make(chan struct{})}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		syscall.Close(fd)
		return nil, net.ErrClosed
	}
	if err := p.watch(fd); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	p.relays[fd], p.byPort[r.port] = r, r
	return relayConn{r}, nil
}

// Conn is the listening socket as pion's PacketConn; its Close is Close.
func (p *Plane) Conn() net.PacketConn { return planeConn{p} }

// close ends the relay socket: out of the plane's tables, then closed once
// the packet loop is not using it.
func (r *relaySock) close() {
	p := r.p
	p.mu.Lock()
	if p.relays[r.fd] == r {
		delete(p.relays, r.fd)
		if !p.closed {
			syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, r.fd, nil)
		}
	}
	if p.byPort[r.port] == r {
		delete(p.byPort, r.port)
	}
	r.mu.RLock()
	client := r.client
	r.mu.RUnlock()
	if p.clients[client] == r {
		delete(p.clients, client)
	}
	p.mu.Unlock()

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.closed = true
	syscall.Close(r.fd)
	close(r.done)
}

// Close stops the packet loop, waiting for Run to return if it started,
// and closes the listening socket. Relay sockets stay with pion, which
// closes each with its allocation.
func (p *Plane) Close() {
	p.once.Do(func() {
		close(p.done)
		p.mu.Lock()
		p.stopped = true
		running := p.running
		p.mu.Unlock()
		if running {
			syscall.Write(p.wake[1], []byte{0})
			<-p.exited
		}
		p.mu.Lock()
		p.closed = true
		p.closeFDs()
		p.mu.Unlock()
	})
}

// Stats returns the plane's counts and the size of its tables.
func (p *Plane) Stats() Stats {
	st := Stats{ToPeer: p.fast.toPeer.Load(), ToClient: p.fast.toClient.Load()}
	p.mu.RLock()
	defer p.mu.RUnlock()
	st.Relays, st.Unclaimed, st.Clients = len(p.relays), len(p.byPort), len(p.clients)
	for _, r := range p.relays {
		r.mu.RLock()
		st.Bindings += len(r.chans)
		for _, b := range r.chans {
			if b.expires.After(st.LastExpiry) {
				st.LastExpiry = b.expires
			}
		}
		r.mu.RUnlock()
	}
	return st
}

func (p *Plane) closeFDs() {
	if p.epf != nil {
		p.epf.Close() // closes epfd
		p.epf, p.epfd = nil, -1
	}
	for _, fd := range []int{p.lfd, p.epfd, p.wake[0], p.wake[1]} {
		if fd >= 0 {
			syscall.Close(fd)
		}
	}
}
