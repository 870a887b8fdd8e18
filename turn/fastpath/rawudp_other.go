//go:build !linux

package fastpath

import "net"

// UDP is c itself off Linux (see rawudp_linux.go).
func UDP(c *net.UDPConn) net.PacketConn { return c }
