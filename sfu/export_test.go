package sfu

import (
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"
)

// BreakFastPathKeys makes the receive fast path's keys unavailable, or,
// with wrong, keys that decrypt nothing (fastpath.go must then hand the
// streams back to pion).
func BreakFastPathKeys(s *Server, wrong bool) {
	s.fast.mu.Lock()
	defer s.fast.mu.Unlock()
	s.fast.keys = func(*webrtc.DTLSTransport, uint) (*srtp.Context, error) {
		if !wrong {
			return nil, errNoKeys
		}
		return srtp.CreateContext(make([]byte, 16), make([]byte, 12), srtp.ProtectionProfileAeadAes128Gcm, srtp.Cryptex(srtp.CryptexModeEnabled))
	}
}
