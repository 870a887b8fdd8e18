//go:build !linux

package fastpath

import (
	"errors"
	"net"
)

// Plane is the Linux UDP packet path (plane_linux.go); elsewhere pion reads
// the sockets itself and New always fails.
type Plane struct{}

// New fails with errors.ErrUnsupported off Linux.
func New(*net.UDPConn, Config) (*Plane, error) { return nil, errors.ErrUnsupported }

func (p *Plane) Relay(*net.UDPConn) (net.PacketConn, error) { return nil, errors.ErrUnsupported }
func (p *Plane) Conn() net.PacketConn                       { return nil }
func (p *Plane) Claim(src, relay net.Addr)                  {}
func (p *Plane) Run() error                                 { return nil }
func (p *Plane) Close()                                     {}
func (p *Plane) Stats() Stats                               { return Stats{} }
