package turn

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/stun/v3"
	pionturn "github.com/pion/turn/v4"
)

// session drives a client's allocation message by message: pion's relay
// conn picks Send indications or ChannelData by itself, these tests pick.
type session struct {
	t          *testing.T
	c          *pionturn.Client
	relay      net.PacketConn // pion's, for reading what the relay receives
	server     net.Addr
	user, pass string
	nonce      stun.Nonce
}

func newSession(t *testing.T, s *Server, user string, tcp bool) *session {
	t.Helper()
	u, p := creds(user)
	c := newClient(t, s, u, p, tcp)
	relay, err := c.Allocate()
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	return &session{t: t, c: c, relay: relay, server: c.TURNServerAddr(), user: u, pass: p}
}

// request performs an authenticated request; a 401 or 438 answer gives
// the nonce for one retry.
func (s *session) request(method stun.Method, attrs ...stun.Setter) *stun.Message {
	s.t.Helper()
	for try := 0; try < 2; try++ {
		setters := append([]stun.Setter{stun.TransactionID, stun.NewType(method, stun.ClassRequest)}, attrs...)
		if s.nonce != nil {
			setters = append(setters, stun.NewUsername(s.user), stun.NewRealm(DefaultRealm), s.nonce,
				stun.NewLongTermIntegrity(s.user, DefaultRealm, s.pass))
		}
		m, err := stun.Build(append(setters, stun.Fingerprint)...)
		if err != nil {
			s.t.Fatal(err)
		}
		res, err := s.c.PerformTransaction(m, s.server, false)
		if err != nil {
			s.t.Fatalf("%v: %v", method, err)
		}
		var code stun.ErrorCodeAttribute
		if res.Msg.Type.Class == stun.ClassErrorResponse && code.GetFrom(res.Msg) == nil &&
			(code.Code == stun.CodeUnauthorized || code.Code == stun.CodeStaleNonce) && try == 0 {
			var nonce stun.Nonce
			if err := nonce.GetFrom(res.Msg); err != nil {
				s.t.Fatalf("%v: %v without nonce", method, code.Code)
			}
			s.nonce = nonce
			continue
		}
		return res.Msg
	}
	panic("unreachable")
}

// xorPeer is an XOR-PEER-ADDRESS attribute (RFC 5766 §14.3).
type xorPeer struct{ stun.XORMappedAddress }

func (a *xorPeer) AddTo(m *stun.Message) error { return a.AddToAs(m, stun.AttrXORPeerAddress) }

func peerAttr(peer netip.AddrPort) stun.Setter {
	return &xorPeer{stun.XORMappedAddress{IP: net.IP(peer.Addr().AsSlice()), Port: int(peer.Port())}}
}

func (s *session) permit(peer netip.AddrPort) {
	s.t.Helper()
	if m := s.request(stun.MethodCreatePermission, peerAttr(peer)); m.Type.Class != stun.ClassSuccessResponse {
		s.t.Fatalf("CreatePermission %v: %v", peer, m.Type)
	}
}

// bind binds num to peer; pion grants it whenever the address is allowed.
func (s *session) bind(num uint16, peer netip.AddrPort) {
	s.t.Helper()
	cn := binary.BigEndian.AppendUint16(nil, num)
	m := s.request(stun.MethodChannelBind, stun.RawAttribute{Type: stun.AttrChannelNumber, Value: append(cn, 0, 0)}, peerAttr(peer))
	if m.Type.Class != stun.ClassSuccessResponse {
		s.t.Fatalf("ChannelBind %v: %v", peer, m.Type)
	}
}

func (s *session) send(peer netip.AddrPort, data string) {
	s.t.Helper()
	m, err := stun.Build(stun.TransactionID, stun.NewType(stun.MethodSend, stun.ClassIndication),
		stun.RawAttribute{Type: stun.AttrData, Value: []byte(data)}, peerAttr(peer), stun.Fingerprint)
	if err != nil {
		s.t.Fatal(err)
	}
	s.write(m.Raw)
}

func (s *session) channelData(num uint16, data string) {
	s.t.Helper()
	b := binary.BigEndian.AppendUint16(nil, num)
	b = binary.BigEndian.AppendUint16(b, uint16(len(data)))
	b = append(b, data...)
	s.write(append(b, make([]byte, (4-len(b)%4)%4)...))
}

func (s *session) write(b []byte) {
	s.t.Helper()
	if _, err := s.c.WriteTo(b, s.server); err != nil {
		s.t.Fatalf("write to server: %v", err)
	}
}

// barrier returns once the server has handled everything this client sent
// before: it handles a client's datagrams (or TCP stream) in order, and the
// packet path queues what it leaves to pion in order.
func (s *session) barrier() {
	s.t.Helper()
	if _, err := s.c.SendBindingRequest(); err != nil {
		s.t.Fatalf("binding request: %v", err)
	}
}

// sink is a UDP listener on 127.0.0.1 standing for a service of the host.
type sink struct {
	t    *testing.T
	conn *net.UDPConn
	addr netip.AddrPort
}

func newSink(t *testing.T) *sink {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &sink{t: t, conn: c, addr: c.LocalAddr().(*net.UDPAddr).AddrPort()}
}

// next returns the next datagram, failing after a deadline.
func (k *sink) next() string {
	k.t.Helper()
	buf := make([]byte, 1500)
	k.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := k.conn.ReadFrom(buf)
	if err != nil {
		k.t.Fatalf("sink %v: %v", k.addr, err)
	}
	return string(buf[:n])
}

// empty checks that nothing reached k: it sends k a marker itself and
// expects it to be the first datagram (call after a barrier, so what the
// relay sent is already queued).
func (k *sink) empty() {
	k.t.Helper()
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(k.addr))
	if err != nil {
		k.t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("marker"))
	if got := k.next(); got != "marker" {
		k.t.Fatalf("%v received %q through the relay", k.addr, got)
	}
}

// TestSelfPorts checks the rule for the host's own addresses (here
// 127.0.0.1): relayed to on the SFU's port, never on another one, by Send
// indications and by ChannelData, over UDP on the packet path, over UDP on
// pion's path and over TCP.
func TestSelfPorts(t *testing.T) {
	for _, tt := range []struct {
		name     string
		tcp      bool
		planeErr error
	}{
		{name: "udp"},
		{name: "udp pion path", planeErr: errors.New("off")},
		{name: "tcp", tcp: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sfu, service := newSink(t), newSink(t)
			s, logs := startServer(t, Config{
				SelfAddrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")},
				SelfPorts: []uint16{sfu.addr.Port()}, planeErr: tt.planeErr,
			})
			fastPath := s.path != nil && !tt.tcp
			c := newSession(t, s, "mallory", tt.tcp)

			refusedBy := func(what string, send func()) {
				t.Helper()
				before, fast := s.Stats().PortRefused, fastToPeer(s)
				send()
				c.barrier()
				service.empty()
				if got := s.Stats().PortRefused - before; got != 1 {
					t.Errorf("%s: PortRefused went up by %d, want 1", what, got)
				}
				if fastToPeer(s) != fast {
					t.Errorf("%s: the packet path relayed it", what)
				}
			}

			c.permit(service.addr) // by address: the SFU's port is on it
			c.send(sfu.addr, "send to sfu")
			if got := sfu.next(); got != "send to sfu" {
				t.Fatalf("sfu got %q", got)
			}
			refusedBy("send indication", func() { c.send(service.addr, "send to service") })

			c.bind(0x4000, sfu.addr)
			fast := fastToPeer(s)
			c.channelData(0x4000, "channel to sfu")
			if got := sfu.next(); got != "channel to sfu" {
				t.Fatalf("sfu got %q", got)
			}
			if fastPath && fastToPeer(s) == fast {
				t.Errorf("ChannelData to the sfu did not take the packet path")
			}

			c.bind(0x4001, service.addr)
			refusedBy("channel data", func() { c.channelData(0x4001, "channel to service") })
			wantLog(t, logs, "turn peer port refused", "peer="+service.addr.String())
		})
	}
}

// TestSelfRelayPorts checks that a client can relay to another client's
// relay address on the host (both relays are ours) while that allocation
// lives, by Send indication and by ChannelData, and not once it has ended.
func TestSelfRelayPorts(t *testing.T) {
	s, _ := startServer(t, Config{SelfAddrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}})
	a, b := newSession(t, s, "alice", false), newSession(t, s, "bob", false)
	relayA := a.relay.LocalAddr().(*net.UDPAddr).AddrPort()
	a.permit(b.relay.LocalAddr().(*net.UDPAddr).AddrPort())
	b.permit(relayA)
	receive := func(want string) {
		t.Helper()
		buf := make([]byte, 1500)
		a.relay.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := a.relay.ReadFrom(buf)
		if err != nil || string(buf[:n]) != want {
			t.Fatalf("alice's relay read %q, %v; want %q", buf[:n], err, want)
		}
	}
	b.send(relayA, "indication")
	receive("indication")
	b.bind(0x4000, relayA)
	b.channelData(0x4000, "channel")
	receive("channel")

	a.relay.Close()
	waitAllocs(t, s, 1)
	before := s.Stats().PortRefused
	b.send(relayA, "indication, too late")
	b.channelData(0x4000, "channel, too late")
	b.barrier()
	if got := s.Stats().PortRefused - before; got != 2 {
		t.Errorf("to an ended relay's port: PortRefused went up by %d, want 2", got)
	}
}
