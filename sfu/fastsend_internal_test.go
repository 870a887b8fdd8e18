package sfu

import (
	"bytes"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// TestFastSenderSeals: what the send fast path writes is SRTP the other
// end's context decrypts to the very packet, header extension and padding
// included, across a sequence number rollover, into the batch (UDP) or the
// endpoint (ICE-TCP), allocating nothing once warm.
func TestFastSenderSeals(t *testing.T) {
	key, salt := bytes.Repeat([]byte{7}, 16), bytes.Repeat([]byte{9}, 12)
	profile := srtp.ProtectionProfileAeadAes128Gcm
	seal, err := srtp.CreateContext(key, salt, profile)
	if err != nil {
		t.Fatal(err)
	}
	open, err := srtp.CreateContext(key, salt, profile)
	if err != nil {
		t.Fatal(err)
	}
	b, rx := loopbackBatch(t), loopbackUDP(t)
	_ = rx.SetReadBuffer(socketBuffer)
	var ep bytes.Buffer // the endpoint of an ICE-TCP pair
	var sent atomic.Uint64
	fs := &fastSender{ctx: seal, buf: make([]byte, sendBufSize), batch: b, endpoint: &ep, sent: &sent}
	fs.to = rx.LocalAddr().(*net.UDPAddr).AddrPort()

	h := rtp.Header{Version: 2, PayloadType: 96, SSRC: 0x1234, SequenceNumber: 65530, Timestamp: 1}
	ext := [2]byte{}
	payload := bytes.Repeat([]byte{0xab}, 1100)
	buf, plain := make([]byte, 2048), make([]byte, 2048)
	next := func(t testing.TB, padding bool) []byte {
		h.SequenceNumber++
		h.Timestamp += 3000
		h.Extension = false
		setTWCC(&h, 3, &ext, h.SequenceNumber)
		h.Padding, h.PaddingSize = padding, 0
		p := payload
		if padding {
			h.PaddingSize, p = 200, nil
		}
		fs.write(&h, p)
		return p
	}
	check := func(t *testing.T, got []byte, p []byte) {
		t.Helper()
		var hd rtp.Header
		dec, err := open.DecryptRTP(plain, got, &hd)
		if err != nil {
			t.Fatalf("seq %d: %v", h.SequenceNumber, err)
		}
		var pkt rtp.Packet
		if err := pkt.Unmarshal(dec); err != nil {
			t.Fatal(err)
		}
		if pkt.SequenceNumber != h.SequenceNumber || !bytes.Equal(pkt.Payload, p) || pkt.PaddingSize != h.PaddingSize ||
			!bytes.Equal(pkt.GetExtension(3), []byte{byte(h.SequenceNumber >> 8), byte(h.SequenceNumber)}) {
			t.Fatalf("got seq %d, %d payload bytes, padding %d, ext %x; want %d, %d, %d", pkt.SequenceNumber, len(pkt.Payload), pkt.PaddingSize, pkt.GetExtension(3), h.SequenceNumber, len(p), h.PaddingSize)
		}
	}
	// Over UDP, in a batch scope as the fast path's reader has one,
	// through the rollover at 65535.
	for i := range 20 {
		b.begin()
		p := next(t, i%7 == 6)
		b.end()
		_ = rx.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := rx.Read(buf)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		check(t, buf[:n], p)
	}
	// An ICE-TCP pair: the endpoint gets the sealed packet.
	fs.setPair(nil)
	p := next(t, false)
	check(t, ep.Bytes(), p)
	if sent.Load() != 21 {
		t.Errorf("counted %d sent, want 21", sent.Load())
	}
	ep.Reset()
	ep.Grow(4096)
	allocs := testing.AllocsPerRun(200, func() { ep.Reset(); next(t, false) })
	if allocs != 0 {
		t.Errorf("sealing allocates %.1f times per packet", allocs)
	}
}
