package fastpath

import (
	"net/netip"
	"syscall"
	"testing"
)

func TestSockaddr(t *testing.T) {
	for _, c := range []struct {
		family int
		in     string
		ok     bool
	}{
		{syscall.AF_INET, "192.0.2.1:3478", true},
		{syscall.AF_INET, "[2001:db8::1]:3478", false},
		{syscall.AF_INET6, "192.0.2.1:3478", true},
		{syscall.AF_INET6, "[2001:db8::1]:9", true},
		{syscall.AF_INET6, "[fe80::1%7]:9", true},
	} {
		ap := netip.MustParseAddrPort(c.in)
		sa, ok := sockaddrFor(c.family, ap)
		if ok != c.ok {
			t.Errorf("sockaddrFor(%d, %v) ok = %v", c.family, ap, ok)
			continue
		}
		if ok && sa.addrPort() != ap {
			t.Errorf("sockaddr round trip of %v = %v", ap, sa.addrPort())
		}
	}
}
