package turn

import (
	"net"
	"net/netip"
)

// Address ranges a relay must not reach unless allow-listed: without this an
// outside client could use the relay to probe the server's own host and LAN,
// or a cloud metadata service (169.254.169.254). The stdlib predicates cover
// loopback, RFC 1918 and fc00::/7 (IsPrivate), link-local, multicast and
// unspecified; these are the rest.
var blockedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),     // "this network" (RFC 791); 0.x reaches the host on Linux
	netip.MustParsePrefix("100.64.0.0/10"), // CGNAT shared space (RFC 6598)
	netip.MustParsePrefix("192.0.0.0/24"),  // IETF protocol assignments (RFC 6890)
	netip.MustParsePrefix("198.18.0.0/15"), // benchmarking (RFC 2544)
	netip.MustParsePrefix("240.0.0.0/4"),   // reserved, includes 255.255.255.255
}

// nat64 is the well-known NAT64 prefix (RFC 6052); the IPv4 address embedded
// in its low 32 bits is filtered like the address itself.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// peerFilter decides which peer addresses a client may relay to.
type peerFilter struct {
	allow  []netip.Prefix // --turn-allow-peer
	always []netip.Addr   // the SFU's own addresses
}

// allowed reports whether relaying to peer is allowed, and when it is not,
// which rule refused it (for the log).
func (f *peerFilter) allowed(peer netip.Addr) (ok bool, reason string) {
	peer = peer.Unmap()
	for _, a := range f.always {
		if a.Unmap() == peer {
			return true, ""
		}
	}
	for _, p := range f.allow {
		if p.Contains(peer) {
			return true, ""
		}
	}
	if peer.Is6() && nat64.Contains(peer) {
		b := peer.As16()
		if ok, why := f.allowed(netip.AddrFrom4([4]byte(b[12:]))); !ok {
			return false, "nat64 " + why
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
