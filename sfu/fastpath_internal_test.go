package sfu

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"
)

// TestSRTPKeysPinned pins what remoteSRTPContext reads of pion by
// reflection (srtpkeys.go). If pion renames or retypes these fields the
// fast path turns itself off (every session goes through pion); this test
// says so loudly, so that the reflection is fixed rather than the fast
// path silently lost.
func TestSRTPKeysPinned(t *testing.T) {
	dt := reflect.TypeFor[webrtc.DTLSTransport]()
	for name, want := range map[string]reflect.Type{
		"conn":              reflect.TypeFor[*dtls.Conn](),
		"lock":              reflect.TypeFor[sync.RWMutex](),
		"remoteCryptexMode": reflect.TypeFor[srtp.CryptexMode](),
		"localCryptexMode":  reflect.TypeFor[srtp.CryptexMode](),
	} {
		f, ok := dt.FieldByName(name)
		if !ok || f.Type != want {
			t.Errorf("webrtc.DTLSTransport.%s: %v (present %v), want %v: the SRTP fast path is off", name, f.Type, ok, want)
		}
	}
	// The send path writes to pion's SRTP endpoint for ICE-TCP pairs.
	if f, ok := dt.FieldByName("srtpEndpoint"); !ok || f.Type.Kind() != reflect.Pointer || !f.Type.Implements(reflect.TypeFor[io.Writer]()) {
		t.Errorf("webrtc.DTLSTransport.srtpEndpoint: %v (present %v), want a pointer that is an io.Writer: the SRTP send fast path is off", f.Type, ok)
	}
	if f, ok := reflect.TypeFor[dtls.State]().FieldByName("isClient"); !ok || f.Type.Kind() != reflect.Bool {
		t.Errorf("dtls.State.isClient missing or not a bool: the SRTP fast path is off")
	}
	// A transport that never connected has no keys: an error, no panic.
	tr, err := webrtc.NewAPI().NewDTLSTransport(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := remoteSRTPContext(tr, srtpReplayWindow); err == nil {
		t.Error("keys from an unconnected DTLS transport")
	}
	if _, err := remoteSRTPContext(nil, srtpReplayWindow); err == nil {
		t.Error("keys from no DTLS transport")
	}
	if _, _, err := localSRTPContext(tr); err == nil {
		t.Error("send keys from an unconnected DTLS transport")
	}
}

// orderSession is one simulated publisher for the demultiplexer tests:
// its own socket and SRTP keys, and streams bound to layers.
type orderSession struct {
	conn    *net.UDPConn
	enc     *srtp.Context
	pionCtx *srtp.Context // pion's copy of the session, for what pion gets
	fp      *fastPeer
	streams []*orderStream
}

type orderStream struct {
	ssrc    uint32
	l       *layer
	fs      *fastStream // the sender's
	armed   atomic.Pointer[fastStream]
	next    uint16 // next sequence number to send
	armAt   int    // armed after this many packets were sent
	pionQ   chan []byte
	mu      sync.Mutex
	got     []uint16 // as the subscriber saw them
	viaPion atomic.Int64
}

var (
	testKey  = []byte("0123456789abcdef")
	testSalt = []byte("0123456789ab")
)

// arrivals counts what subscribers got.
type arrivals struct {
	n    atomic.Int64
	tick chan struct{} // a nudge after each arrival
}

func (a *arrivals) add() {
	a.n.Add(1)
	select {
	case a.tick <- struct{}{}:
	default:
	}
}

// wait waits until n packets have arrived, or fails t after a generous
// deadline.
func (a *arrivals) wait(t *testing.T, n int64) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for a.n.Load() < n {
		select {
		case <-a.tick:
		case <-timeout:
			t.Fatalf("%d of %d packets arrived", a.n.Load(), n)
		}
	}
}

func newOrderSession(t *testing.T, f *fastPath, key byte, ssrcs int, rng *rand.Rand, total *arrivals) *orderSession {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetWriteBuffer(socketBuffer)
	t.Cleanup(func() { c.Close() })
	k := append([]byte{key}, testKey[1:]...)
	mk := func() *srtp.Context {
		ctx, err := srtp.CreateContext(k, testSalt, srtp.ProtectionProfileAeadAes128Gcm, srtp.SRTPReplayProtection(srtpReplayWindow))
		if err != nil {
			t.Fatal(err)
		}
		return ctx
	}
	s := &orderSession{conn: c, enc: mk(), pionCtx: mk()}
	s.fp = &fastPeer{ctx: mk(), twcc: &twccState{}}
	s.fp.streams.Store(&[]*fastStream{})
	for i := 0; i < ssrcs; i++ {
		l, ws := benchTrack(1)
		st := &orderStream{ssrc: uint32(key)<<8 | uint32(i), l: l, next: 1000, armAt: rng.IntN(40), pionQ: make(chan []byte, 4096)}
		l.ssrc = st.ssrc
		ws[0].sink = func(h *rtp.Header, _ []byte) {
			st.mu.Lock()
			st.got = append(st.got, h.SequenceNumber)
			st.mu.Unlock()
			total.add()
		}
		s.streams = append(s.streams, st)
	}
	f.mu.Lock()
	f.peers[&Peer{}] = s.fp
	f.learnLocked(s.fp, c.LocalAddr().(*net.UDPAddr).AddrPort())
	f.mu.Unlock()
	return s
}

// arm puts st on the fast path, as onTrack does once the layer's reader
// runs.
func (f *fastPath) armForTest(s *orderSession, st *orderStream) {
	st.fs = &fastStream{ssrc: st.ssrc, l: st.l}
	st.armed.Store(st.fs) // layer.run has it in l.fast, set before it starts
	f.mu.Lock()
	f.addStreamLocked(s.fp, st.fs)
	f.mu.Unlock()
}

// TestFastPathOrder is the property test of the batch demultiplexer: for
// random interleavings of several sessions' streams, sent over real
// sockets to a real batchConn, and streams put on the fast path at random
// points while pion (here a reader that decrypts with its own context and
// queues per stream, with random delays, as pion's goroutines do) still
// holds some of their packets, every stream reaches its subscriber
// complete and in order.
func TestFastPathOrder(t *testing.T) {
	seeds := 12
	if testing.Short() {
		seeds = 3
	}
	for seed := range seeds {
		// One failing interleaving says it: the others would each wait
		// out their deadline for the same lost packets.
		if !t.Run(fmt.Sprint(seed), func(t *testing.T) { checkFastPathOrder(t, uint64(seed)) }) {
			break
		}
	}
}

// FuzzFastPathOrder runs the same property over interleavings the fuzzer
// picks.
func FuzzFastPathOrder(f *testing.F) {
	f.Add(uint64(1))
	f.Add(uint64(0xdeadbeef))
	f.Fuzz(func(t *testing.T, seed uint64) { checkFastPathOrder(t, seed) })
}

func checkFastPathOrder(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 18))
	srv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	_ = srv.SetReadBuffer(socketBuffer)
	b, err := newBatchConn(srv)
	if err != nil {
		t.Fatal(err)
	}
	f := newFastPath(time.Now)
	b.setFast(f)
	total := &arrivals{tick: make(chan struct{}, 1)}
	var sessions []*orderSession
	for k := 0; k < 2+rng.IntN(3); k++ {
		sessions = append(sessions, newOrderSession(t, f, byte(k+1), 1+rng.IntN(3), rng, total))
	}
	byAddr := map[netip.AddrPort]*orderSession{}
	for _, s := range sessions {
		byAddr[s.conn.LocalAddr().(*net.UDPAddr).AddrPort()] = s
	}
	find := func(s *orderSession, ssrc uint32) *orderStream {
		for _, st := range s.streams {
			if st.ssrc == ssrc {
				return st
			}
		}
		return nil
	}

	// pion: the mux's reader, its SRTP session and a layer reader per
	// stream (layer.run's loop: forward, then drained).
	var wg, readerWG sync.WaitGroup
	// stop ends pion's stand-ins in order (the reader, then the streams'
	// queues): at the end, and when a failed wait ends the test early,
	// so that a lost packet fails the test instead of hanging it.
	stop := sync.OnceFunc(func() {
		srv.Close()
		readerWG.Wait()
		for _, s := range sessions {
			for _, st := range s.streams {
				close(st.pionQ)
			}
		}
		wg.Wait()
	})
	defer stop()
	readerWG.Add(1)
	go func() {
		defer readerWG.Done()
		buf := make([]byte, rxSlot)
		for {
			n, from, err := b.ReadFromAddrPort(buf)
			if err != nil {
				return
			}
			s := byAddr[from]
			var h rtp.Header
			dec, err := s.pionCtx.DecryptRTP(nil, buf[:n], &h)
			if err != nil {
				t.Errorf("pion's decrypt: %v", err)
				continue
			}
			find(s, h.SSRC).pionQ <- dec
		}
	}()
	for _, s := range sessions {
		for _, st := range s.streams {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(seed, uint64(st.ssrc)))
				var h rtp.Header
				for pkt := range st.pionQ {
					for range r.IntN(50) { // pion's hand-offs take their time
						runtime.Gosched()
					}
					st.l.fwdMu.Lock()
					st.l.forward(pkt, &h, time.Now().UnixNano())
					st.l.fwdMu.Unlock()
					st.viaPion.Add(1)
					if fs := st.armed.Load(); fs != nil {
						fs.drained(binary.BigEndian.Uint16(pkt[2:4]))
					}
				}
			}()
		}
	}

	// The senders: a random interleaving of every stream's packets, in
	// bursts, each stream armed after a random count.
	const perStream = 120
	type pick struct {
		s  *orderSession
		st *orderStream
	}
	var order []pick
	for _, s := range sessions {
		for _, st := range s.streams {
			for range perStream {
				order = append(order, pick{s, st})
			}
		}
	}
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	// Pauses (where everything sent so far has arrived) stand for the
	// gaps between a real publisher's packets, in which pion's queues
	// drain and streams switch.
	pauses := map[int]bool{}
	for range 3 + rng.IntN(5) {
		pauses[rng.IntN(len(order))] = true
	}
	sent := map[*orderStream]int{}
	srvAddr := srv.LocalAddr().(*net.UDPAddr)
	payload := make([]byte, 200)
	out := make([]byte, 0, 400)
	armed := 0
	for i, p := range order {
		if sent[p.st] == p.st.armAt && p.st.fs == nil {
			f.armForTest(p.s, p.st)
			if armed++; armed == len(sent) || armed == 1 {
				pauses[i] = true // at least one switch
			}
		}
		h := rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: p.st.next, Timestamp: uint32(p.st.next) * 3000, SSRC: p.st.ssrc}
		payload[0], payload[1] = 0x10, 0x01
		pkt, err := (&rtp.Packet{Header: h, Payload: payload[:20+rng.IntN(180)]}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		enc, err := p.s.enc.EncryptRTP(out[:0], pkt, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.s.conn.WriteToUDP(enc, srvAddr); err != nil {
			t.Fatal(err)
		}
		p.st.next++
		sent[p.st]++
		if pauses[i] {
			total.wait(t, int64(i+1))
		} else if i%(1+rng.IntN(30)) == 0 {
			runtime.Gosched() // let batches of varied sizes form
		}
	}
	total.wait(t, int64(len(order)))
	stop()
	var fast, pion int64
	for _, s := range sessions {
		for _, st := range s.streams {
			st.mu.Lock()
			got := st.got
			st.mu.Unlock()
			if len(got) != perStream {
				t.Errorf("stream %x: %d packets of %d arrived", st.ssrc, len(got), perStream)
			}
			for i := 1; i < len(got); i++ {
				if got[i] != got[i-1]+1 {
					t.Fatalf("stream %x out of order at %d: ... %v ...", st.ssrc, i, got[max(0, i-5):min(len(got), i+5)])
				}
			}
			pion += st.viaPion.Load()
		}
	}
	fast = int64(f.packets.Load())
	if fast == 0 || pion == 0 {
		t.Errorf("fast path %d, pion %d packets: the switch was not exercised", fast, pion)
	}
}

// fastBench is one publisher's video stream on the fast path, fanned out
// to subscribers that stand for pion's writers (forward_test.go).
type fastBench struct {
	f    *fastPath
	enc  *srtp.Context
	pkt  []byte // plaintext; sequence numbers patched in place
	out  []byte
	hdr  rtp.Header
	seq  uint16
	from netip.AddrPort
	ws   []*fakeWriter
}

func newFastBench(tb testing.TB, subs int) *fastBench {
	enc, err := srtp.CreateContext(testKey, testSalt, srtp.ProtectionProfileAeadAes128Gcm)
	if err != nil {
		tb.Fatal(err)
	}
	dec, err := srtp.CreateContext(testKey, testSalt, srtp.ProtectionProfileAeadAes128Gcm, srtp.SRTPReplayProtection(srtpReplayWindow))
	if err != nil {
		tb.Fatal(err)
	}
	l, ws := benchTrack(subs)
	l.ssrc = 42
	fb := &fastBench{f: newFastPath(time.Now), enc: enc, pkt: testPacket(0), out: make([]byte, 0, 1500),
		from: netip.MustParseAddrPort("192.0.2.1:5000"), ws: ws}
	if seq, ok := transportSeq(fb.pkt, 3); !ok || seq != 0x0102 {
		tb.Fatalf("transport seq at the wrong place: %x %v", seq, ok)
	}
	fp := &fastPeer{ctx: dec, twcc: &twccState{}}
	fp.streams.Store(&[]*fastStream{})
	fs := &fastStream{ssrc: 42, l: l, twccID: 3}
	fs.state.Store(phaseFast << 32)
	fb.f.mu.Lock()
	fb.f.peers[&Peer{}] = fp
	fb.f.learnLocked(fp, fb.from)
	fb.f.addStreamLocked(fp, fs)
	fb.f.mu.Unlock()
	return fb
}

// encrypt makes the next packet as the publisher would send it.
func (fb *fastBench) encrypt() []byte {
	fb.seq++
	binary.BigEndian.PutUint16(fb.pkt[2:4], fb.seq)
	binary.BigEndian.PutUint16(fb.pkt[19:21], fb.seq) // transport-wide sequence number
	out, err := fb.enc.EncryptRTP(fb.out[:0], fb.pkt, &fb.hdr)
	if err != nil {
		panic(err)
	}
	return out
}

// next sends the next packet through the fast path's handler.
func (fb *fastBench) next() {
	if !fb.f.handle(fb.encrypt(), fb.from) {
		panic("fast path refused its own stream")
	}
}

// TestFastPathAllocatesNothing: a packet taken by the fast path (decrypt,
// transport-cc record, forward to three subscribers) allocates nothing,
// and every subscriber gets it.
func TestFastPathAllocatesNothing(t *testing.T) {
	fb := newFastBench(t, 3)
	for range 2000 { // let the SRTP state and the TWCC recorder settle
		fb.next()
	}
	for _, fp := range *fb.f.byAddr.Load() {
		_ = fp.twcc.build()
	}
	allocs := testing.AllocsPerRun(1000, fb.next)
	if allocs != 0 {
		t.Errorf("the fast path allocates %.2f times per packet", allocs)
	}
	for i, w := range fb.ws {
		if w.packets != 3001 || w.lastSeq != fb.seq {
			t.Errorf("subscriber %d: %d packets, last %d; want 3001, %d", i, w.packets, w.lastSeq, fb.seq)
		}
	}
}

// BenchmarkFastPath is the fast path's cost per received packet for a
// fan-out of subs: decrypt, transport-cc, forward (to pion-like writers
// that marshal and copy, but neither encrypt nor send). Each op also
// encrypts the packet as the publisher would ("encrypt" alone, to
// subtract).
func BenchmarkFastPath(b *testing.B) {
	for _, subs := range []int{1, 10} {
		b.Run(fmt.Sprintf("subs=%d", subs), func(b *testing.B) {
			fb := newFastBench(b, subs)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				fb.next()
				if i%100 == 99 { // the feedback tick, every 100 ms at 1,000 packets/s
					for _, fp := range *fb.f.byAddr.Load() {
						_ = fp.twcc.build()
					}
				}
			}
		})
	}
	b.Run("encrypt", func(b *testing.B) {
		fb := newFastBench(b, 1)
		b.ReportAllocs()
		for b.Loop() {
			fb.encrypt()
		}
	})
}

// TestFastPathNewAddress: after an ICE restart a fast stream's packets
// come from a new address. They stay on the fast path (pion's copy of the
// stream's SRTP state is stale by then) if they authenticate with the
// session's keys, and the address is learnt; a packet that does not
// authenticate is pion's, and teaches nothing.
func TestFastPathNewAddress(t *testing.T) {
	fb := newFastBench(t, 1)
	for range 10 {
		fb.next()
	}
	moved := netip.MustParseAddrPort("[2001:db8::1]:6000")
	if !fb.f.handle(fb.encrypt(), moved) {
		t.Fatal("a fast stream's packet from a new address went to pion")
	}
	if (*fb.f.byAddr.Load())[moved] == nil {
		t.Error("new address not learnt")
	}
	if fb.ws[0].packets != 11 || fb.ws[0].lastSeq != fb.seq {
		t.Errorf("subscriber got %d packets, last %d; want 11, %d", fb.ws[0].packets, fb.ws[0].lastSeq, fb.seq)
	}
	forged := fb.encrypt()
	forged[len(forged)-1] ^= 1 // breaks the auth tag
	stranger := netip.MustParseAddrPort("198.51.100.7:7000")
	if fb.f.handle(forged, stranger) {
		t.Error("an unauthenticated packet from an unknown address was taken")
	}
	if (*fb.f.byAddr.Load())[stranger] != nil {
		t.Error("an unauthenticated packet taught an address")
	}
	// From the known address, after the switch's probation, a forged
	// packet is dropped (as pion would), not handed to pion.
	for range fastProbation {
		fb.next()
	}
	forged = fb.encrypt()
	forged[len(forged)-1] ^= 1
	if !fb.f.handle(forged, fb.from) || fb.f.fallbacks.Load() != 0 {
		t.Error("a forged packet late in a fast stream went back to pion")
	}
	fb.next()
	if fb.ws[0].lastSeq != fb.seq {
		t.Error("the stream stopped after a forged packet")
	}
}

// TestFastPathAddressChangesHands: an address one session sent from now
// carries another session's fast stream (a NAT reused the port after an
// ICE restart). Its packets must reach their own stream, not pion, and the
// address follows whoever authenticates.
func TestFastPathAddressChangesHands(t *testing.T) {
	fb := newFastBench(t, 1)
	fb.next()
	key2 := []byte("fedcba9876543210")
	enc2, err := srtp.CreateContext(key2, testSalt, srtp.ProtectionProfileAeadAes128Gcm)
	if err != nil {
		t.Fatal(err)
	}
	dec2, err := srtp.CreateContext(key2, testSalt, srtp.ProtectionProfileAeadAes128Gcm, srtp.SRTPReplayProtection(srtpReplayWindow))
	if err != nil {
		t.Fatal(err)
	}
	l2, ws2 := benchTrack(1)
	l2.ssrc = 43
	fp2 := &fastPeer{ctx: dec2, twcc: &twccState{}}
	fp2.streams.Store(&[]*fastStream{})
	fs2 := &fastStream{ssrc: 43, l: l2}
	fs2.state.Store(phaseFast << 32)
	fb.f.mu.Lock()
	fb.f.peers[&Peer{}] = fp2
	fb.f.learnLocked(fp2, netip.MustParseAddrPort("192.0.2.2:5000"))
	fb.f.addStreamLocked(fp2, fs2)
	fb.f.mu.Unlock()

	pkt := testPacket(7)
	binary.BigEndian.PutUint32(pkt[8:12], 43)
	var h rtp.Header
	enc, err := enc2.EncryptRTP(nil, pkt, &h)
	if err != nil {
		t.Fatal(err)
	}
	if !fb.f.handle(enc, fb.from) {
		t.Fatal("the second session's packet from the first one's address went to pion")
	}
	if ws2[0].packets != 1 || (*fb.f.byAddr.Load())[fb.from] != fp2 {
		t.Errorf("second session: %d packets, address moved %v", ws2[0].packets, (*fb.f.byAddr.Load())[fb.from] == fp2)
	}
	fb.next() // and back
	if fb.ws[0].packets != 2 || (*fb.f.byAddr.Load())[fb.from] == fp2 {
		t.Errorf("first session: %d packets, address moved back %v", fb.ws[0].packets, (*fb.f.byAddr.Load())[fb.from] != fp2)
	}
}
