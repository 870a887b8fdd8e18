package turn

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	pionturn "github.com/pion/turn/v4"
)

func TestAuthHandler(t *testing.T) {
	now := time.Unix(1700000000, 0)
	s, logs := startServer(t, Config{Now: func() time.Time { return now }})
	src := &net.UDPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 4000}
	good, goodPass := Credentials(testSecret, "alice", now.Add(time.Hour))
	tests := []struct {
		name, username, realm, reason string
	}{
		{"good", good, DefaultRealm, ""},
		{"expired", "1699999999:alice", DefaultRealm, "credential expired"},
		{"malformed", "alice", DefaultRealm, "malformed username"},
		{"no user", "1700003600:", DefaultRealm, "malformed username"},
		{"wrong realm", good, "other", "wrong realm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, ok := s.authHandler(tt.username, tt.realm, src)
			if ok != (tt.reason == "") {
				t.Fatalf("ok = %v, want %v", ok, tt.reason == "")
			}
			if ok {
				if want := pionturn.GenerateAuthKey(good, DefaultRealm, goodPass); !bytes.Equal(key, want) {
					t.Errorf("key = %x, want %x", key, want)
				}
				return
			}
			wantLog(t, logs, "turn auth refused", "reason=\""+tt.reason)
		})
	}
	if bytes.Contains([]byte(logs.String()), []byte(goodPass)) {
		t.Errorf("password in the log")
	}
}

// Clients with bad credentials get no allocation, and the log says why.
func TestBadCredentialsRefused(t *testing.T) {
	s, logs := startServer(t, Config{AllowPeers: loopbackAllowed()})
	good, goodPass := creds("alice")
	expired, expiredPass := Credentials(testSecret, "alice", time.Now().Add(-time.Minute))
	tests := []struct {
		name, user, pass, reason string
	}{
		{"bad password", good, "d3Jvbmc=", "bad password for Allocate"},
		{"other secret", good, password64("south", good), "bad password for Allocate"},
		{"expired", expired, expiredPass, "credential expired"},
		{"malformed", "alice", "x", "malformed username"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := newClient(t, s, tt.user, tt.pass, false).Allocate(); err == nil {
				t.Fatalf("Allocate succeeded")
			}
			wantLog(t, logs, "turn auth refused", tt.reason)
		})
	}
	if st := s.Stats(); st.Allocations != 0 || st.AuthRefused < uint64(len(tests)) {
		t.Errorf("stats = %+v", st)
	}
	if bytes.Contains([]byte(logs.String()), []byte(goodPass)) {
		t.Errorf("password in the log")
	}
	// The server still serves good clients.
	relay, err := newClient(t, s, good, goodPass, false).Allocate()
	if err != nil {
		t.Fatalf("good Allocate: %v", err)
	}
	roundTrip(t, relay, echoPeer(t), "still fine")
	relay.Close()
	waitAllocs(t, s, 0)
}

// garbage returns datagrams that get past the first checks of a STUN or
// ChannelData parser: random bytes, STUN headers with lying lengths and
// random attributes, ChannelData for unbound channels, oversize datagrams.
func garbage() [][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	var out [][]byte
	randBytes := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	out = append(out, nil, []byte{0}, randBytes(19), randBytes(3000))
	for i := 0; i < 300; i++ {
		b := randBytes(20 + r.IntN(200))
		switch i % 3 {
		case 0: // STUN: type, length, magic cookie, then random attributes
			binary.BigEndian.PutUint16(b[0:], uint16(r.IntN(0x3f00)))
			binary.BigEndian.PutUint16(b[2:], uint16(r.IntN(1<<16))&^3)
			binary.BigEndian.PutUint32(b[4:], 0x2112A442)
		case 1: // ChannelData with a random channel and length
			binary.BigEndian.PutUint16(b[0:], 0x4000+uint16(r.IntN(0x4000)))
			binary.BigEndian.PutUint16(b[2:], uint16(r.IntN(1<<16)))
		}
		out = append(out, b)
	}
	return out
}

func TestGarbageIn(t *testing.T) {
	s, _ := startServer(t, Config{AllowPeers: loopbackAllowed()})
	udp, tcp := s.Addr()

	uc, err := net.Dial("udp", udp.String())
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	for _, b := range garbage() {
		uc.Write(b)
	}

	for _, b := range garbage()[:50] {
		tc, err := net.Dial("tcp", tcp.String())
		if err != nil {
			t.Fatal(err)
		}
		tc.Write(b)
		tc.Close()
	}

	// UDP requests are handled in order, so once this Allocate is answered
	// every datagram above has been through the server.
	for _, tcpClient := range []bool{false, true} {
		user, pass := creds("alice")
		c := newClient(t, s, user, pass, tcpClient)
		relay, err := c.Allocate()
		if err != nil {
			t.Fatalf("Allocate after garbage (tcp=%v): %v", tcpClient, err)
		}
		peer := echoPeer(t)
		for _, msg := range []string{"okay.", "okay..", "okay...", "okay...."} { // every padding length
			roundTrip(t, relay, peer, msg)
		}
		relay.Close()
	}
	waitAllocs(t, s, 0)
}
