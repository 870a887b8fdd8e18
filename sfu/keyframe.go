package sfu

import "strings"

// isKeyframe reports whether an RTP payload starts a keyframe, for the
// codecs we forward. Simulcast switches only at a keyframe of the new layer.
func isKeyframe(mime string, p []byte) bool {
	switch {
	case strings.EqualFold(mime, "video/VP8"):
		kf, _, _ := vp8Keyframe(p)
		return kf
	case strings.EqualFold(mime, "video/VP9"):
		// RFC 9628 §4.2: I|P|L|F|B|E|V|Z; P=0 and B=1 start a keyframe.
		return len(p) > 0 && p[0]&0x40 == 0 && p[0]&0x08 != 0
	case strings.EqualFold(mime, "video/H264"):
		return h264Keyframe(p)
	}
	return false
}

// vp8Keyframe parses the VP8 payload descriptor (RFC 7741 §4.2) and, on the
// first packet of a keyframe, the frame size from its header (RFC 6386 §9.1).
func vp8Keyframe(p []byte) (kf bool, width, height int) {
	if len(p) < 1 {
		return false, 0, 0
	}
	x, s, pid := p[0]&0x80 != 0, p[0]&0x10 != 0, p[0]&0x07
	i := 1
	if x {
		if len(p) < 2 {
			return false, 0, 0
		}
		ext := p[1]
		i = 2
		if ext&0x80 != 0 { // I: picture id
			if len(p) <= i {
				return false, 0, 0
			}
			if p[i]&0x80 != 0 {
				i += 2
			} else {
				i++
			}
		}
		if ext&0x40 != 0 { // L: TL0PICIDX
			i++
		}
		if ext&0x30 != 0 { // T or K: TID/KEYIDX byte
			i++
		}
	}
	if !s || pid != 0 || len(p) <= i {
		return false, 0, 0
	}
	h := p[i:]
	if h[0]&0x01 != 0 { // P bit: 1 = interframe
		return false, 0, 0
	}
	if len(h) >= 10 && h[3] == 0x9d && h[4] == 0x01 && h[5] == 0x2a {
		width = int(h[6]) | int(h[7]&0x3f)<<8
		height = int(h[8]) | int(h[9]&0x3f)<<8
	}
	return true, width, height
}

// h264Keyframe finds an IDR or SPS NAL unit (RFC 6184 §5.2-5.8).
func h264Keyframe(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	switch t := p[0] & 0x1f; {
	case t == 5 || t == 7:
		return true
	case t == 24: // STAP-A
		for i := 1; i+2 < len(p); {
			n := int(p[i])<<8 | int(p[i+1])
			if nt := p[i+2] & 0x1f; nt == 5 || nt == 7 {
				return true
			}
			i += 2 + n
		}
	case t == 28: // FU-A start fragment
		return len(p) > 1 && p[1]&0x80 != 0 && (p[1]&0x1f == 5 || p[1]&0x1f == 7)
	}
	return false
}

// vp8IDs is where a VP8 payload descriptor (RFC 7741 §4.2) holds its
// picture id and TL0PICIDX, and the publisher's values there. A simulcast
// track's forwarding reads them once per packet (readVP8IDs), and each
// subscriber writes its own into the reader's buffer just before its
// write copies it (write); the ring keeps the publisher's copy.
type vp8IDs struct {
	pidAt, tl0At int  // offsets in the payload, -1 = absent
	wide         bool // a 15-bit picture id (M bit), else 7-bit
	pid          uint16
	tl0          uint8
}

func readVP8IDs(p []byte) vp8IDs {
	v := vp8IDs{pidAt: -1, tl0At: -1}
	if len(p) < 2 || p[0]&0x80 == 0 {
		return v
	}
	ext, i := p[1], 2
	if ext&0x80 != 0 {
		if len(p) <= i {
			return vp8IDs{pidAt: -1, tl0At: -1}
		}
		v.pidAt, v.wide = i, p[i]&0x80 != 0
		if v.wide {
			if len(p) <= i+1 {
				return vp8IDs{pidAt: -1, tl0At: -1}
			}
			v.pid = uint16(p[i]&0x7f)<<8 | uint16(p[i+1])
			i++
		} else {
			v.pid = uint16(p[i] & 0x7f)
		}
		i++
	}
	if ext&0x40 != 0 {
		if len(p) <= i {
			return vp8IDs{pidAt: -1, tl0At: -1}
		}
		v.tl0At, v.tl0 = i, p[i]
	}
	return v
}

func (v *vp8IDs) present() bool { return v.pidAt >= 0 || v.tl0At >= 0 }

// mask is the range of the picture id.
func (v *vp8IDs) mask() uint16 {
	if v.wide {
		return 0x7fff
	}
	return 0x7f
}

// write puts pid and tl0 where the descriptor has them, keeping the M bit.
func (v *vp8IDs) write(p []byte, pid uint16, tl0 uint8) {
	if v.pidAt >= 0 {
		if v.wide {
			p[v.pidAt] = 0x80 | byte(pid>>8)&0x7f
			p[v.pidAt+1] = byte(pid)
		} else {
			p[v.pidAt] = byte(pid) & 0x7f
		}
	}
	if v.tl0At >= 0 {
		p[v.tl0At] = tl0
	}
}
