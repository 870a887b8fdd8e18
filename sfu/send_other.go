//go:build !linux

package sfu

import (
	"net"
	"net/netip"
)

// gsoSupported: UDP_SEGMENT is Linux's.
const gsoSupported = false

// sendBatch sends a flush's datagrams one WriteToUDPAddrPort each where
// sendmmsg is not available (send_linux.go). Messages are never segmented
// here (gsoSupported), so each holds one datagram.
type sendBatch struct {
	c  *net.UDPConn
	to [batchSize]netip.AddrPort
	p  [batchSize][]byte
	n  int
}

func newSendBatch(c *net.UDPConn) (*sendBatch, error) { return &sendBatch{c: c}, nil }

func (s *sendBatch) reset() { s.n = 0 }

func (s *sendBatch) add(to netip.AddrPort) bool {
	s.to[s.n], s.p[s.n] = to, nil
	s.n++
	return true
}

func (s *sendBatch) seg(p []byte) { s.p[s.n-1] = p }

func (s *sendBatch) cut(int) {}

func (s *sendBatch) count(int) int { return 1 }

func (s *sendBatch) send(from int) (int, error) {
	for i := from; i < s.n; i++ {
		if _, err := s.c.WriteToUDPAddrPort(s.p[i], s.to[i]); err != nil {
			return i - from, err
		}
	}
	return s.n - from, nil
}

func (s *sendBatch) sendEach(i int) int {
	if _, err := s.c.WriteToUDPAddrPort(s.p[i], s.to[i]); err != nil {
		return 1
	}
	return 0
}

func (s *sendBatch) sendOne(p []byte, to netip.AddrPort) (int, error) {
	return s.c.WriteToUDPAddrPort(p, to)
}
