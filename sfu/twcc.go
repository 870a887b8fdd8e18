package sfu

import (
	"encoding/binary"
	"strings"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Transport-wide feedback must cover every packet the publisher sent with a
// transport-wide sequence number, not only the media that reaches a layer:
// Chromium probes the path with padding-only packets on its RTX streams,
// and pion's repair reader drops those ("BWE probe packet, ignore") before
// any TrackRemote.Read returns. A probe left out of the feedback counts as
// lost, and the sender's estimate never leaves its start (issue 11). So the
// publish PC gets one interceptor whose only job is to note the sequence
// number of every RTP packet as pion reads it from SRTP, for every bound
// stream: media, RTX, and streams still being identified by rid.
//
// It allocates nothing per packet (perf-notes rule 5: pion's own TWCC
// interceptor allocates), and it is the publish PC's only interceptor.

// twccFactory builds the interceptor of one publish PC; the registry is the
// peer's own, so the recorder is known when pion calls it.
type twccFactory struct {
	state *twccState
	now   func() time.Time
}

func (f twccFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &twccInterceptor{state: f.state, now: f.now}, nil
}

type twccInterceptor struct {
	interceptor.NoOp
	state *twccState
	now   func() time.Time
}

// BindRemoteStream wraps the reader of a stream that negotiated the
// transport-wide-cc extension.
func (i *twccInterceptor) BindRemoteStream(info *interceptor.StreamInfo, reader interceptor.RTPReader) interceptor.RTPReader {
	var id uint8
	for _, e := range info.RTPHeaderExtensions {
		if e.URI == sdp.TransportCCURI {
			id = uint8(e.ID)
		}
	}
	if id == 0 {
		return reader
	}
	// Feedback names a media SSRC; pion clients deliver RTCP for an RTX
	// SSRC to no reader, so repair streams report under a media one.
	ssrc, repair := info.SSRC, strings.EqualFold(info.MimeType, webrtc.MimeTypeRTX)
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, a, err := reader.Read(b, a)
		if err == nil && n <= len(b) {
			if seq, ok := transportSeq(b[:n], id); ok {
				i.state.record(ssrc, repair, seq, i.now().UnixNano())
			}
		}
		return n, a, err
	})
}

// transportSeq finds the transport-wide sequence number (extension id) in a
// raw RTP packet (RFC 3550 §5.3.1; one- and two-byte headers, RFC 8285 §4).
func transportSeq(b []byte, id uint8) (uint16, bool) {
	if len(b) < 12 || b[0]>>6 != 2 || b[0]&0x10 == 0 {
		return 0, false
	}
	off := 12 + 4*int(b[0]&0x0f)
	if len(b) < off+4 {
		return 0, false
	}
	profile := binary.BigEndian.Uint16(b[off:])
	end := off + 4 + 4*int(binary.BigEndian.Uint16(b[off+2:]))
	if end > len(b) {
		return 0, false
	}
	ext := b[off+4 : end]
	switch {
	case profile == 0xbede: // one-byte headers
		for k := 0; k < len(ext); {
			if ext[k] == 0 { // padding
				k++
				continue
			}
			eid, l := ext[k]>>4, int(ext[k]&0x0f)+1
			if eid == 15 {
				break
			}
			if eid == id && l >= 2 && k+1+l <= len(ext) {
				return binary.BigEndian.Uint16(ext[k+1:]), true
			}
			k += 1 + l
		}
	case profile&0xfff0 == 0x1000: // two-byte headers
		for k := 0; k+1 < len(ext); {
			if ext[k] == 0 {
				k++
				continue
			}
			eid, l := ext[k], int(ext[k+1])
			if eid == id && l >= 2 && k+2+l <= len(ext) {
				return binary.BigEndian.Uint16(ext[k+2:]), true
			}
			k += 2 + l
		}
	}
	return 0, false
}
