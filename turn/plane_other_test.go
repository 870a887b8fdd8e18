//go:build !linux

package turn

// fastToPeer is 0: only Linux has the packet path.
func fastToPeer(*Server) uint64 { return 0 }
