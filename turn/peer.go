package turn

import (
	"net"
	"net/netip"
	"slices"
	"sync"
)

// Address ranges a relay must not reach unless allow-listed: without this an
// outside client could use the relay to probe the server's own host and LAN,
// or a cloud metadata service (169.254.169.254), or send to addresses that
// are not routed on the internet (IANA special-purpose registries, RFC 6890).
// The stdlib predicates cover loopback, RFC 1918 and fc00::/7 (IsPrivate),
// link-local, multicast and unspecified; these are the rest.
var blockedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network" (RFC 791); 0.x reaches the host on Linux
	netip.MustParsePrefix("100.64.0.0/10"),   // CGNAT shared space (RFC 6598)
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments (RFC 6890)
	netip.MustParsePrefix("192.0.2.0/24"),    // TEST-NET-1 (RFC 5737)
	netip.MustParsePrefix("192.88.99.0/24"),  // 6to4 relay anycast, deprecated (RFC 7526)
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking (RFC 2544)
	netip.MustParsePrefix("198.51.100.0/24"), // TEST-NET-2 (RFC 5737)
	netip.MustParsePrefix("203.0.113.0/24"),  // TEST-NET-3 (RFC 5737)
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, includes 255.255.255.255
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64 (RFC 8215)
	netip.MustParsePrefix("100::/64"),        // discard-only (RFC 6666)
	netip.MustParsePrefix("2001::/23"),       // IETF protocol assignments (RFC 2928), with Teredo and ORCHID
	netip.MustParsePrefix("2001:db8::/32"),   // documentation (RFC 3849)
	netip.MustParsePrefix("3fff::/20"),       // documentation (RFC 9637)
	netip.MustParsePrefix("5f00::/16"),       // SRv6 SIDs (RFC 9602)
	netip.MustParsePrefix("fec0::/10"),       // site-local, deprecated (RFC 3879)
}

// Prefixes that embed an IPv4 address; the embedded address is filtered like
// the address itself.
var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96") // NAT64 well-known prefix (RFC 6052): low 32 bits
	sixToFour = netip.MustParsePrefix("2002::/16")    // 6to4 (RFC 3056): bits 16-47
)

// embeddedIPv4 is the IPv4 address inside a NAT64 or 6to4 address, and
// which of the two it is.
func embeddedIPv4(a netip.Addr) (netip.Addr, string, bool) {
	if !a.Is6() {
		return netip.Addr{}, "", false
	}
	b := a.As16()
	switch {
	case nat64.Contains(a):
		return netip.AddrFrom4([4]byte(b[12:16])), "nat64", true
	case sixToFour.Contains(a):
		return netip.AddrFrom4([4]byte(b[2:6])), "6to4", true
	}
	return netip.Addr{}, "", false
}

// peerFilter decides which peers a client may relay to: by address, for
// pion's permissions (allowed), and by address and port, for each datagram
// (reaches) and for the UDP packet path's copy of a binding (direct).
type peerFilter struct {
	allow     []netip.Prefix // --turn-allow-peer
	self      []netip.Addr   // the host's own addresses, unmapped, no zone
	selfPorts []uint16       // the SFU's ICE ports, reachable on them
	relays    *relayPorts    // this server's live relay sockets, reachable on them too
}

func newPeerFilter(allow []netip.Prefix, self []netip.Addr, selfPorts []uint16) peerFilter {
	f := peerFilter{allow: allow, selfPorts: selfPorts, relays: &relayPorts{ports: map[uint16]int{}}}
	for _, a := range self {
		f.self = append(f.self, a.Unmap().WithZone(""))
	}
	return f
}

// allowed reports whether relaying to peer is allowed (on some port), and
// when it is not, which rule refused it (for the log).
func (f *peerFilter) allowed(peer netip.Addr) (ok bool, reason string) {
	peer = peer.Unmap()
	if f.isSelf(peer) {
		return true, ""
	}
	for _, p := range f.allow {
		if p.Contains(peer) {
			return true, ""
		}
	}
	if v4, kind, ok := embeddedIPv4(peer); ok {
		if ok, why := f.allowed(v4); !ok {
			return false, kind + " " + why
		}
		return true, ""
	}
	switch {
	case !peer.IsValid():
		return false, "invalid"
	case peer.IsUnspecified():
		return false, "unspecified"
	case peer.IsLoopback():
		return false, "loopback"
	case peer.IsPrivate():
		return false, "private"
	case peer.IsLinkLocalUnicast():
		return false, "link-local"
	case peer.IsMulticast(), peer.IsLinkLocalMulticast(), peer.IsInterfaceLocalMulticast():
		return false, "multicast"
	}
	for _, p := range blockedPrefixes {
		if p.Contains(peer) {
			return false, "reserved " + p.String()
		}
	}
	return true, ""
}

// isSelf reports whether a is one of the host's own addresses, also in its
// IPv4-mapped, NAT64 or 6to4 form.
func (f *peerFilter) isSelf(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	if v4, _, ok := embeddedIPv4(a); ok {
		a = v4
	}
	return slices.Contains(f.self, a)
}

// reaches reports whether a datagram may go to peer, whose address a
// permission already allows: the host's own addresses only on the SFU's
// ports and on the ports of this server's live relay sockets (a client
// relaying to another client's relay address). pion checks permissions by
// address only, so this runs on every datagram it sends to a peer.
func (f *peerFilter) reaches(peer netip.AddrPort) bool {
	return f.direct(peer) || f.relays.has(peer.Port())
}

// direct reports whether the UDP packet path may relay to peer on its own
// copy of a channel binding, for the binding's whole life: a port of a
// relay socket may close meanwhile, so only reaches checks those.
func (f *peerFilter) direct(peer netip.AddrPort) bool {
	return !f.isSelf(peer.Addr()) || slices.Contains(f.selfPorts, peer.Port())
}

// relayPorts counts the live relay sockets by port.
type relayPorts struct {
	mu    sync.RWMutex
	ports map[uint16]int
}

func (r *relayPorts) add(port uint16, d int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ports[port] += d; r.ports[port] <= 0 {
		delete(r.ports, port)
	}
}

func (r *relayPorts) has(port uint16) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.ports[port] > 0
}

// permissionHandler adapts the filter to pion's PermissionHandler, which runs
// on every CreatePermission and ChannelBind request.
func (s *Server) permissionHandler(clientAddr net.Addr, peerIP net.IP) bool {
	peer, _ := netip.AddrFromSlice(peerIP)
	ok, reason := s.peers.allowed(peer)
	if !ok {
		s.refusedPeers.Add(1)
		s.log.Info("turn peer refused", "client", clientAddr.String(), "peer", peer.String(), "reason", reason)
	}
	return ok
}
