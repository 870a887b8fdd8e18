//go:build !linux

package turn

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"time"
)

// plane is the Linux UDP packet path (plane_linux.go); elsewhere pion reads
// the sockets itself.
type plane struct{}

func newPlane(*net.UDPConn, *counters, func() time.Time, time.Duration, func(netip.AddrPort) bool, *slog.Logger, error) (*plane, error) {
	return nil, nil
}

func (p *plane) allocate(string, *net.UDPAddr) (net.PacketConn, uint16, error) {
	return nil, 0, errors.New("no udp packet path")
}

func (p *plane) conn() net.PacketConn      { return nil }
func (p *plane) claim(src, relay net.Addr) {}
func (p *plane) close()                    {}
