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

func FuzzChannelMessages(f *testing.F) {
	f.Add(channelBindRequest(f, 0x4001, netip.MustParseAddrPort("203.0.113.9:6000")).Raw)
	f.Add([]byte{0x40, 0x01, 0, 3, 'a', 'b', 'c', 0})
	client := netip.MustParseAddrPort("198.51.100.7:5000")
	f.Fuzz(func(t *testing.T, b []byte) {
		if cb, ok := parseChannelBind(b, client); ok && (cb.number < minChannel || !cb.peer.Addr().Is4()) {
			t.Errorf("accepted %+v", cb)
		}
		channelBindResponse(b)
		if _, data, ok := channelData(b); ok && len(data) > len(b)-channelHeaderSize {
			t.Errorf("data longer than the datagram")
		}
	})
}
