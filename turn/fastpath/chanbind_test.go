package fastpath

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/pion/stun/v3"
)

func channelBindRequest(t testing.TB, num uint16, peer netip.AddrPort) *stun.Message {
	t.Helper()
	cn := make([]byte, 4)
	binary.BigEndian.PutUint16(cn, num)
	m, err := stun.Build(stun.TransactionID, stun.NewType(stun.MethodChannelBind, stun.ClassRequest),
		stun.RawAttribute{Type: stun.AttrChannelNumber, Value: cn},
		&xorPeer{stun.XORMappedAddress{IP: net.IP(peer.Addr().AsSlice()), Port: int(peer.Port())}},
		stun.NewUsername("u"), stun.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

type xorPeer struct{ stun.XORMappedAddress }

func (a *xorPeer) AddTo(m *stun.Message) error { return a.AddToAs(m, stun.AttrXORPeerAddress) }

func TestParseChannelBind(t *testing.T) {
	client := netip.MustParseAddrPort("198.51.100.7:5000")
	peer := netip.MustParseAddrPort("203.0.113.9:6000")
	m := channelBindRequest(t, 0x4001, peer)
	cb, ok := parseChannelBind(m.Raw, client)
	if !ok || cb.number != 0x4001 || cb.peer != peer || cb.client != client || cb.tx != m.TransactionID {
		t.Fatalf("parseChannelBind = %+v, %v", cb, ok)
	}
	for name, b := range map[string][]byte{
		"number out of range": channelBindRequest(t, 0x3fff, peer).Raw,
		"ipv6 peer":           channelBindRequest(t, 0x4001, netip.MustParseAddrPort("[2001:db8::1]:9")).Raw,
		"truncated":           m.Raw[:len(m.Raw)-9],
		"short":               m.Raw[:10],
	} {
		if _, ok := parseChannelBind(b, client); ok {
			t.Errorf("%s: accepted", name)
		}
	}

	resp, err := stun.Build(stun.NewTransactionIDSetter(m.TransactionID), stun.NewType(stun.MethodChannelBind, stun.ClassSuccessResponse))
	if err != nil {
		t.Fatal(err)
	}
	if tx, success, ok := channelBindResponse(resp.Raw); !ok || !success || tx != m.TransactionID {
		t.Errorf("channelBindResponse(success) = %x %v %v", tx, success, ok)
	}
	if _, _, ok := channelBindResponse(m.Raw); ok {
		t.Errorf("request taken for a response")
	}
}

func TestChannelData(t *testing.T) {
	for _, c := range []struct {
		in   []byte
		num  uint16
		data []byte
		ok   bool
	}{
		{[]byte{0x40, 0x01, 0, 3, 'a', 'b', 'c', 0}, 0x4001, []byte("abc"), true},
		{[]byte{0x7f, 0xff, 0, 0}, 0x7fff, []byte{}, true},
		{[]byte{0x40, 0x01, 0, 5, 'a', 'b', 'c', 0}, 0, nil, false}, // length beyond the datagram
		{[]byte{0x80, 0x00, 0, 0}, 0, nil, false},                   // not a channel number
		{[]byte{0x00, 0x01, 0, 0}, 0, nil, false},                   // STUN
		{[]byte{0x40}, 0, nil, false},
	} {
		num, data, ok := channelData(c.in)
		if ok != c.ok || num != c.num || !bytes.Equal(data, c.data) {
			t.Errorf("channelData(%x) = %x %q %v", c.in, num, data, ok)
		}
	}
}

// magicCookie is STUN's fixed header word (RFC 5389 §6).
const magicCookie = 0x2112A442

// FuzzChannelMessages checks what the packet path reads of each datagram
// against a decoding by hand from RFC 5389 §6, §15.2 and RFC 5766 §11 (pion
// only walks the STUN attributes): parseChannelBind accepts exactly the
// ChannelBind requests with a channel number pion accepts and an IPv4 peer
// on a port, and returns that number, peer, transaction and client;
// channelBindResponse knows exactly pion's two ChannelBind replies, which
// is which, and their transaction; channelData takes exactly the frames
// with a channel number and a length that fits, returns those bytes, and
// frames them back the same. No datagram is both ChannelData and a
// ChannelBind message.
func FuzzChannelMessages(f *testing.F) {
	f.Add(channelBindRequest(f, 0x4001, netip.MustParseAddrPort("203.0.113.9:6000")).Raw)
	f.Add([]byte{0x40, 0x01, 0, 3, 'a', 'b', 'c', 0})
	refusal, err := stun.Build(stun.TransactionID, stun.NewType(stun.MethodChannelBind, stun.ClassErrorResponse), stun.CodeForbidden)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(refusal.Raw)
	client := netip.MustParseAddrPort("198.51.100.7:5000")
	f.Fuzz(func(t *testing.T, b []byte) {
		cb, ok := parseChannelBind(b, client)
		want, wantOK := channelBindByHand(b)
		if ok != wantOK || ok && (cb.number != want.number || cb.peer != want.peer || cb.tx != want.tx || cb.client != client) {
			t.Errorf("parseChannelBind = %+v, %v; by hand %+v, %v", cb, ok, want, wantOK)
		}

		tx, success, respOK := channelBindResponse(b)
		isSTUN := len(b) >= stunHeaderSize && binary.BigEndian.Uint32(b[4:8]) == magicCookie
		typ := uint16(0)
		if isSTUN {
			typ = binary.BigEndian.Uint16(b)
		}
		wantOK = isSTUN && (typ == 0x0109 || typ == 0x0119)
		if respOK != wantOK || respOK && (success != (typ == 0x0109) || !bytes.Equal(tx[:], b[8:20])) {
			t.Errorf("channelBindResponse = %x %v %v; type %#04x, STUN %v", tx, success, respOK, typ, isSTUN)
		}

		num, data, ok := channelData(b)
		wantOK = len(b) >= 4 && b[0]>>6 == 1 && binary.BigEndian.Uint16(b) <= 0x7fff &&
			int(binary.BigEndian.Uint16(b[2:])) <= len(b)-4
		if ok != wantOK {
			t.Fatalf("channelData(%x) ok = %v, want %v", b, ok, wantOK)
		}
		if !ok {
			return
		}
		if num != binary.BigEndian.Uint16(b) || !bytes.Equal(data, b[4:4+int(binary.BigEndian.Uint16(b[2:]))]) {
			t.Errorf("channelData(%x) = %#04x %x", b, num, data)
		}
		frame := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, num), uint16(len(data)))
		if n2, d2, ok2 := channelData(append(frame, data...)); !ok2 || n2 != num || !bytes.Equal(d2, data) {
			t.Errorf("channelData of its own frame = %#04x %x %v", n2, d2, ok2)
		}
		if respOK || cb != (channelBind{}) {
			t.Errorf("%x is both ChannelData and a ChannelBind message", b)
		}
	})
}

// channelBindByHand decodes a ChannelBind request as pion's server reads
// it: a STUN message (pion walks the attributes) of type 0x0009 whose
// CHANNEL-NUMBER (0x000C) is 4 bytes with a number in 0x4000-0x7FFF, and
// whose XOR-PEER-ADDRESS (0x0012) holds an IPv4 address (family 1, or an
// IPv4-mapped one of family 2) and a port other than 0, each XORed with
// the magic cookie and transaction (RFC 5389 §15.2). Unlike the RFC, pion
// reads the family as 16 bits (the reserved byte must be 0) and fills a
// short address with zeros; the packet path must bind what pion binds.
func channelBindByHand(b []byte) (channelBind, bool) {
	m := &stun.Message{Raw: append([]byte(nil), b...)}
	if len(b) < stunHeaderSize || binary.BigEndian.Uint16(b) != 0x0009 || m.Decode() != nil {
		return channelBind{}, false
	}
	cn, err := m.Get(stun.AttrChannelNumber)
	if err != nil || len(cn) != 4 {
		return channelBind{}, false
	}
	num := binary.BigEndian.Uint16(cn)
	pa, err := m.Get(stun.AttrXORPeerAddress)
	if err != nil || num < 0x4000 || num > 0x7fff || len(pa) <= 4 {
		return channelBind{}, false
	}
	ipLen := map[uint16]int{1: 4, 2: 16}[binary.BigEndian.Uint16(pa)]
	if ipLen == 0 || len(pa)-4 > ipLen {
		return channelBind{}, false
	}
	port := binary.BigEndian.Uint16(pa[2:]) ^ uint16(magicCookie>>16)
	xor := append(binary.BigEndian.AppendUint32(nil, magicCookie), b[8:20]...) // cookie, then transaction
	raw := make([]byte, ipLen)
	for i, c := range pa[4:] {
		raw[i] = c ^ xor[i]
	}
	ip, _ := netip.AddrFromSlice(raw)
	if ip = ip.Unmap(); !ip.Is4() || port == 0 {
		return channelBind{}, false
	}
	var cb channelBind
	copy(cb.tx[:], b[8:20])
	cb.number, cb.peer = num, netip.AddrPortFrom(ip, port)
	return cb, true
}
