package turn

import (
	"net/netip"
	"testing"
)

func TestPeerFilter(t *testing.T) {
	f := peerFilter{
		allow:  []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16")},
		always: []netip.Addr{netip.MustParseAddr("192.168.1.5")},
	}
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
		{"192.168.1.5", true},      // AlwaysAllow
		{"192.168.1.6", false},
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
