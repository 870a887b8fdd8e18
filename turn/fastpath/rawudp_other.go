//go:build !linux

package turn

import "net"

// fastUDP is c itself off Linux (see rawudp_linux.go).
func fastUDP(c *net.UDPConn) net.PacketConn { return c }
