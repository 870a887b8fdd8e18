package fastpath

import (
	"encoding/binary"
	"net/netip"

	"github.com/pion/stun/v3"
)

// What the UDP packet path (plane_linux.go) reads of pion's control traffic
// to keep its copy of the channel bindings: ChannelBind requests (RFC 5766
// §11.1) and pion's responses to them, and the ChannelData framing (§11.4).

const (
	stunHeaderSize         = 20
	typeChannelBindRequest = 0x0009
	typeChannelBindSuccess = 0x0109
	typeChannelBindError   = 0x0119
	// Channel numbers pion accepts in ChannelData (RFC 5766 §11).
	minChannel, maxChannel = 0x4000, 0x7fff
	channelHeaderSize      = 4
)

// channelBind is a ChannelBind request on its way to pion.
type channelBind struct {
	tx     [stun.TransactionIDSize]byte
	client netip.AddrPort
	number uint16
	peer   netip.AddrPort
}

// parseChannelBind returns the ChannelBind request in b, sent by client, if
// b is a well-formed one with an IPv4 peer (relay sockets are udp4).
func parseChannelBind(b []byte, client netip.AddrPort) (channelBind, bool) {
	if len(b) < stunHeaderSize || binary.BigEndian.Uint16(b) != typeChannelBindRequest || !stun.IsMessage(b) {
		return channelBind{}, false
	}
	m := &stun.Message{Raw: append([]byte(nil), b...)}
	if err := m.Decode(); err != nil {
		return channelBind{}, false
	}
	v, err := m.Get(stun.AttrChannelNumber)
	if err != nil || len(v) != 4 {
		return channelBind{}, false
	}
	num := binary.BigEndian.Uint16(v)
	if num < minChannel || num > maxChannel {
		return channelBind{}, false
	}
	var pa stun.XORMappedAddress
	if err := pa.GetFromAs(m, stun.AttrXORPeerAddress); err != nil {
		return channelBind{}, false
	}
	ip, ok := netip.AddrFromSlice(pa.IP)
	if ip = ip.Unmap(); !ok || !ip.Is4() || pa.Port <= 0 || pa.Port > 0xffff {
		return channelBind{}, false
	}
	return channelBind{tx: m.TransactionID, client: client, number: num,
		peer: netip.AddrPortFrom(ip, uint16(pa.Port))}, true
}

// channelBindResponse reports whether b is a ChannelBind response, its
// transaction ID, and whether it is a success.
func channelBindResponse(b []byte) (tx [stun.TransactionIDSize]byte, success, ok bool) {
	if len(b) < stunHeaderSize || !stun.IsMessage(b) {
		return tx, false, false
	}
	switch binary.BigEndian.Uint16(b) {
	case typeChannelBindSuccess:
		success = true
	case typeChannelBindError:
	default:
		return tx, false, false
	}
	copy(tx[:], b[8:stunHeaderSize])
	return tx, success, true
}

// channelData returns the channel number and the data of b if b is a
// ChannelData message as pion accepts it (proto.IsChannelData and Decode):
// a valid number and a length that fits; trailing padding is ignored.
func channelData(b []byte) (num uint16, data []byte, ok bool) {
	if len(b) < channelHeaderSize {
		return 0, nil, false
	}
	num = binary.BigEndian.Uint16(b)
	l := int(binary.BigEndian.Uint16(b[2:]))
	if num < minChannel || num > maxChannel || l > len(b)-channelHeaderSize {
		return 0, nil, false
	}
	return num, b[channelHeaderSize : channelHeaderSize+l], true
}
