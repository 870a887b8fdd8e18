package sfu

import (
	"io"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"
)

// The send fast path: what a subscriber gets is sealed with our own
// srtp.Context (the session's local keys, srtpkeys.go) and queued straight
// into the mux socket's batch, instead of passing through pion's SRTP
// session, interceptor wrapper, ICE conn and UDP mux, which at a fan-out
// of 10 cost a sixth of the SFU's CPU only to hand the sealed packet down
// to the same batch (docs/performance.md). pion keeps ICE, DTLS and RTCP.
//
// A session's RTP takes one path for its whole life, decided when its
// subscribe PC first connects: ours, or pion's when the keys cannot be
// read or Config.NoFastPath is set. Never both, because each SRTP context
// counts its own rollovers of every stream's sequence numbers, and a
// stream moved from one to the other after a rollover would no longer
// decrypt. Until the decision, packets are dropped, as pion drops them
// before its SRTP session starts; the keyframes asked for at the
// connection (requestKeyframes) come after it.

// Send paths of a subscribe session (Peer.sendPath). The zero value is
// pion's, for peers the tests make without newPeer.
const (
	sendPion    int32 = iota // the binding's pion writer
	sendPending              // not connected yet: drop
	sendFast                 // Peer.fastSend
)

// fastSender seals and sends one subscribe session's RTP.
type fastSender struct {
	mu  sync.Mutex
	ctx *srtp.Context
	pkt rtp.Packet // the packet being marshalled
	hdr rtp.Header // EncryptRTP's scratch
	buf []byte
	// to is the selected ICE pair's remote address when its local end is
	// the UDP mux (batch); otherwise (ICE-TCP) packets go to endpoint,
	// where pion's SRTP session would have written them.
	to       netip.AddrPort
	batch    *batchConn
	endpoint io.Writer
	sent     *atomic.Uint64 // Server.fastSent
	followMu sync.Mutex     // one follow at a time
}

// sendBufSize holds the largest RTP packet a layer's ring keeps, with a
// header extension added and the SRTP tag, so sealing never allocates.
const sendBufSize = 2 * ringSlot

// initSend is newPeer's: the fast path is off, or pending until the
// subscribe PC connects.
func (p *Peer) initSend() {
	if !p.s.cfg.NoFastPath && p.s.batch != nil {
		p.sendPath.Store(sendPending)
	}
}

// startSend decides p's send path once its subscribe PC has connected
// (the first time: later connections, after an ICE restart, keep it).
func (p *Peer) startSend() {
	p.sendOnce.Do(func() {
		if p.sendPath.Load() != sendPending {
			return
		}
		dt := p.sub.SCTP().Transport()
		ctx, ep, err := localSRTPContext(dt)
		if err != nil {
			p.log.Warn("srtp send fast path off for this session", "err", err)
			p.sendPath.Store(sendPion)
			return
		}
		fs := &fastSender{ctx: ctx, buf: make([]byte, sendBufSize), batch: p.s.batch, endpoint: ep, sent: &p.s.fastSent}
		// Whatever changes the pair pion sends on changes ours: a new
		// nomination, an ICE restart (pion has none until it picks one),
		// a failure (consent lost: pion sends nothing any more, RFC 7675).
		ice := dt.ICETransport()
		ice.OnSelectedCandidatePairChange(func(*webrtc.ICECandidatePair) { fs.follow(ice) })
		ice.OnConnectionStateChange(func(webrtc.ICETransportState) { fs.follow(ice) })
		fs.follow(ice)
		p.fastSend = fs
		p.sendPath.Store(sendFast) // publishes fastSend to the writers
	})
}

// follow reads the pair ICE now sends on. Calls are serialized and read
// the live state, so whichever callback runs last leaves the current pair,
// in whatever order pion delivers them.
func (fs *fastSender) follow(ice *webrtc.ICETransport) {
	fs.followMu.Lock()
	defer fs.followMu.Unlock()
	pair, err := ice.GetSelectedCandidatePair()
	if err != nil {
		pair = nil
	}
	fs.setPair(pair)
}

// setPair sends to pair's remote address from the mux when its local end
// is UDP; otherwise (ICE-TCP, or no pair) through pion's endpoint, which
// sends on the pair or drops.
func (fs *fastSender) setPair(pair *webrtc.ICECandidatePair) {
	var to netip.AddrPort
	if pair != nil && pair.Local != nil && pair.Remote != nil && pair.Local.Protocol == webrtc.ICEProtocolUDP {
		if a, err := netip.ParseAddr(pair.Remote.Address); err == nil {
			to = netip.AddrPortFrom(a, pair.Remote.Port)
		}
	}
	fs.mu.Lock()
	fs.to = to
	fs.mu.Unlock()
}

// write seals h and payload and sends them. Errors are dropped packets,
// as pion's writer's are (a closing session, a full socket buffer).
func (fs *fastSender) write(h *rtp.Header, payload []byte) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.pkt.Header, fs.pkt.Payload = *h, payload
	size := fs.pkt.MarshalSize()
	if size+srtpMaxTag > len(fs.buf) { // bigger than any ring slot: rare, keep the room
		fs.buf = make([]byte, size+srtpMaxTag)
	}
	_, err := fs.pkt.MarshalTo(fs.buf)
	fs.pkt.Payload = nil
	if err != nil {
		return
	}
	sealed, err := fs.ctx.EncryptRTP(fs.buf, fs.buf[:size], &fs.hdr)
	if err != nil {
		return
	}
	var n int
	if fs.to.IsValid() {
		n, err = fs.batch.WriteToAddrPort(sealed, fs.to)
	} else {
		n, err = fs.endpoint.Write(sealed) // 0, nil: pion has no pair (a restart, a failure) and drops it
	}
	if err == nil && n > 0 {
		fs.sent.Add(1)
	}
}

// srtpMaxTag is the longest SRTP authentication tag (AES-GCM's 16 bytes;
// HMAC-SHA1-80's is 10).
const srtpMaxTag = 16
