//go:build !linux

package sfu

import (
	"net"
	"net/netip"
)

// recvBatch reads one datagram per call where recvmmsg is not available.
type recvBatch struct {
	c    *net.UDPConn
	bufs [][]byte
	n    int
	addr netip.AddrPort
}

func newRecvBatch(c *net.UDPConn) (*recvBatch, error) {
	return &recvBatch{c: c, bufs: [][]byte{make([]byte, rxSlot)}}, nil
}

func (r *recvBatch) recv() (int, error) {
	n, a, err := r.c.ReadFromUDPAddrPort(r.bufs[0])
	if err != nil {
		return 0, err
	}
	r.n, r.addr = n, netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
	return 1, nil
}

// more reads nothing here: one datagram per call, always through recv.
func (r *recvBatch) more() (int, error) { return 0, nil }

func (r *recvBatch) len(int) int { return r.n }

func (r *recvBatch) from(int) netip.AddrPort { return r.addr }
