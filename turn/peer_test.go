package turn

import (
	"net/netip"
	"testing"
)

func TestPeerFilter(t *testing.T) {
	f := newPeerFilter([]netip.Prefix{netip.MustParsePrefix("10.9.0.0/16"), netip.MustParsePrefix("192.0.2.128/25")},
		[]netip.Addr{netip.MustParseAddr("192.168.1.5")}, nil)
	tests := []struct {
		peer string
		want bool
	}{
		{"8.8.8.8", true},
		{"2001:4860:4860::8888", true},
		{"127.0.0.1", false},
		{"127.8.9.10", false},
		{"::1", false},
		{"::ffff:127.0.0.1", false},
		{"10.0.0.1", false},
		{"172.16.0.1", false},
		{"172.31.255.255", false},
		{"172.32.0.1", true},
		{"192.168.0.1", false},
		{"169.254.169.254", false},
		{"169.254.1.1", false},
		{"100.64.0.1", false},
		{"100.127.255.255", false},
		{"100.128.0.1", true},
		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"::", false},
		{"224.0.0.1", false},
		{"239.1.1.1", false},
		{"255.255.255.255", false},
		{"ff02::1", false},
		{"fe80::1", false},
		{"fc00::1", false},
		{"fd12:3456::1", false},
		{"64:ff9b::a00:1", false},  // NAT64 of 10.0.0.1
		{"64:ff9b::808:808", true}, // NAT64 of 8.8.8.8
		{"10.9.3.4", true},         // AllowPeers
		{"::ffff:10.9.3.4", true},  // AllowPeers, v4-mapped
		{"192.168.1.5", true},      // SelfAddrs (on some ports, see TestPeerPorts)
		{"192.168.1.6", false},
		// IANA special-purpose ranges not routed on the internet.
		{"192.0.2.1", false},    // TEST-NET-1
		{"192.0.2.129", true},   // ... unless allow-listed
		{"198.51.100.7", false}, // TEST-NET-2
		{"203.0.113.9", false},  // TEST-NET-3
		{"198.18.0.1", false},
		{"198.19.255.255", false},
		{"198.20.0.1", true},
		{"192.88.99.1", false}, // 6to4 relay anycast
		{"192.88.98.1", true},
		{"192.0.0.9", false},
		{"240.0.0.1", false},
		{"2001:db8::1", false},        // documentation
		{"3fff::1", false},            // documentation
		{"3fff:fff::1", false},        // last of 3fff::/20
		{"3fff:1000::1", true},        // past it
		{"100::1", false},             // discard-only
		{"100:0:0:1::1", true},        // past 100::/64
		{"2001::1", false},            // Teredo, in 2001::/23
		{"2001:2::1", false},          // benchmarking
		{"2001:1ff::1", false},        // last of 2001::/23
		{"2001:200::1", true},         // past it
		{"5f00::1", false},            // SRv6 SIDs
		{"fec0::1", false},            // site-local
		{"64:ff9b:1::1", false},       // local-use NAT64
		{"2002:0808:0808::1", true},   // 6to4 of 8.8.8.8
		{"2002:7f00:0001::1", false},  // 6to4 of 127.0.0.1
		{"2002:c000:0201::1", false},  // 6to4 of TEST-NET-1
		{"2002:0a09:0304::1", true},   // 6to4 of an allow-listed address
		{"64:ff9b::c000:201", false},  // NAT64 of TEST-NET-1
		{"::ffff:203.0.113.9", false}, // v4-mapped TEST-NET-3
		{"2606:4700:4700::1111", true},
	}
	for _, tt := range tests {
		t.Run(tt.peer, func(t *testing.T) {
			ok, reason := f.allowed(netip.MustParseAddr(tt.peer))
			if ok != tt.want {
				t.Fatalf("allowed(%s) = %v (%s), want %v", tt.peer, ok, reason, tt.want)
			}
			if !ok && reason == "" {
				t.Errorf("refused without a reason")
			}
		})
	}
	if ok, _ := f.allowed(netip.Addr{}); ok {
		t.Errorf("invalid address allowed")
	}
}

// TestPeerPorts checks the per-datagram rule: the host's own addresses, in
// every form, only on the SFU's ports and live relay ports; others on any.
func TestPeerPorts(t *testing.T) {
	f := newPeerFilter(nil, []netip.Addr{netip.MustParseAddr("192.168.1.5"), netip.MustParseAddr("::ffff:127.0.0.1"),
		netip.MustParseAddr("2001:db8::5")}, []uint16{7882, 7881})
	f.relays.add(40000, 1)
	tests := []struct {
		peer           string
		direct, reachs bool
	}{
		{"192.168.1.5:7882", true, true},
		{"192.168.1.5:7881", true, true},
		{"192.168.1.5:22", false, false},
		{"192.168.1.5:40000", false, true}, // a live relay
		{"192.168.1.5:40001", false, false},
		{"127.0.0.1:8080", false, false},
		{"127.0.0.1:7882", true, true},
		{"[::ffff:192.168.1.5]:22", false, false},
		{"[64:ff9b::c0a8:105]:22", false, false}, // NAT64 of 192.168.1.5
		{"[2002:c0a8:0105::1]:22", false, false}, // 6to4 of 192.168.1.5
		{"[2001:db8::5]:22", false, false},
		{"[2001:db8::5%eth0]:22", false, false},
		{"192.168.1.6:22", true, true}, // not the host: the address rule decides
		{"8.8.8.8:53", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.peer, func(t *testing.T) {
			ap := netip.MustParseAddrPort(tt.peer)
			if got := f.direct(ap); got != tt.direct {
				t.Errorf("direct = %v, want %v", got, tt.direct)
			}
			if got := f.reaches(ap); got != tt.reachs {
				t.Errorf("reaches = %v, want %v", got, tt.reachs)
			}
		})
	}
	f.relays.add(40000, -1)
	if f.reaches(netip.MustParseAddrPort("192.168.1.5:40000")) {
		t.Errorf("a closed relay's port is still reachable")
	}
}
