// Package fastpath is the TURN server's own UDP packet path on Linux, beside
// pion/turn (docs/turn.md, Performance).
//
// It owns the listening UDP socket once New has taken it over, the relay
// sockets handed to Relay, the one goroutine that reads them all (Run), and a
// copy of pion's channel bindings built by watching pion's traffic. With
// them it relays ChannelData both ways itself, and queues everything else to
// pion unchanged. It must not decide what pion decides (authentication,
// permissions, quotas, lifetimes, the peer filter): it relays only on
// bindings pion has granted, to peers Config.Direct accepts. It also offers
// the raw-syscall socket wrapper (UDP) for the sockets pion reads itself.
// Other systems get stubs: New fails with errors.ErrUnsupported.
package fastpath

import (
	"net/netip"
	"sync/atomic"
	"time"
)

// Config configures a Plane.
type Config struct {
	// Counters are the relay totals, which the plane adds to; required.
	Counters *Counters
	// Now is the clock of the binding copies. It must run with pion's
	// binding timers, i.e. real time (default time.Now); tests skew it.
	Now func() time.Time
	// BindTTL is pion's channel binding lifetime (ChannelBindTimeout).
	BindTTL time.Duration
	// Direct reports whether the plane may relay to peer itself, for as
	// long as a binding lasts; a binding to another peer is not copied, so
	// its ChannelData takes pion's path. nil: every peer.
	Direct func(peer netip.AddrPort) bool

	setupErr error // fails setup after the epoll set is made (tests)
}

// Counters are the relay totals in the server's stats, counted by the plane
// and by pion's path alike: one atomic add per packet.
type Counters struct {
	ToPeer, FromPeer           atomic.Uint64 // packets
	ToPeerBytes, FromPeerBytes atomic.Uint64
	// Syscalls counts the packet path's datagram I/O calls (recvmmsg,
	// sendmmsg, sendto), added once per wake-up: the benchmark reports
	// them per relayed packet.
	Syscalls atomic.Uint64
}

// CountToPeer counts a packet for a peer before it is sent, so the count is
// already up when the peer sees it; UncountToPeer takes back a failed send.
func (c *Counters) CountToPeer(n int) {
	c.ToPeer.Add(1)
	c.ToPeerBytes.Add(uint64(n))
}

func (c *Counters) UncountToPeer(n int) {
	c.ToPeer.Add(^uint64(0))
	c.ToPeerBytes.Add(-uint64(n))
}

// CountFromPeer counts a packet received from a peer.
func (c *Counters) CountFromPeer(n int) {
	c.FromPeer.Add(1)
	c.FromPeerBytes.Add(uint64(n))
}

// Stats is a snapshot of a Plane.
type Stats struct {
	ToPeer, ToClient uint64 // packets the plane relayed itself
	Relays           int    // relay sockets it reads
	Unclaimed        int    // of which not yet tied to a client
	Clients          int    // clients whose relay socket it knows
	Bindings         int    // copied channel bindings, lapsed ones included
	LastExpiry       time.Time
}
