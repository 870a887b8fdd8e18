package sfu

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"
)

// The receive fast path (issue 18). pion's way from the socket to a
// layer's reader is five goroutine hand-offs per packet (mux reader ->
// muxed ICE conn -> webrtc mux -> SRTP session -> stream buffer -> our
// reader), about 5 µs of the 1:1 call's cost. For a publisher's media
// stream that the SFU has bound to a layer, the mux's reader goroutine now
// does the work itself, on the batch it read with recvmmsg (batch.go):
// decrypt with our own srtp.Context (srtpkeys.go), record transport-cc as
// the publish PC's interceptor would (twcc.go), and call the layer's
// forward, the function its reader calls, so there is one code path.
// pion keeps ICE, DTLS, RTCP, ICE-TCP, every packet of a stream until the
// SFU has bound it, and the RTX streams of streams still on its path; our
// feedback (NACK, receiver reports, TWCC) is written from our own
// per-packet records either way (feedback.go). The price: every fast
// stream is forwarded on the mux's one reader goroutine, where pion's path
// spread the work over a goroutine per stream (docs/performance.md).
//
// Order. A stream starts on pion's path; once its layer reader runs, the
// stream is armed, and the switch waits until pion has nothing of it in
// flight: each packet still handed to pion is marked in the stream's state
// word (phase and sequence number, one atomic CAS), and the layer's reader
// flips the word to fast only when the packet it just forwarded is the
// marked one, which pion delivers in order after every earlier one. A
// packet the reader hands to pion after that flip finds the word changed
// and goes fast itself instead. So no packet of a stream overtakes an
// earlier one across the switch. (Two corners are left: a repair that pion
// delivers with the marked sequence number while the original is still
// queued, and a draining stream's packet from an address not yet known,
// which pion gets unmarked; either can let one packet be overtaken, and
// NACK and the jitter buffer absorb that.)
//
// Lookups take no lock: copy-on-write maps behind atomic pointers, by
// source address and by SSRC, rebuilt when streams come and go.

// fastPhase is the state of one stream, in the top bits of its state word.
const (
	phaseArmed    = 0 // pion's; the next packet handed to pion is marked
	phaseDraining = 1 // pion's; the low 16 bits are the last packet handed to pion
	phaseFast     = 2 // the fast path's
	phaseOff      = 3 // pion's for good (our keys did not decrypt it)
)

// fastProbation is how many packets after the switch may fail to decrypt
// and hand the stream back to pion: a failure that early means our
// context's keys, rollover counter or options are wrong, not that a packet
// was forged. Later failures are dropped, as pion would.
const fastProbation = 64

// srtpReplayWindow is the SRTP replay window, pion's (media.go) and ours.
const srtpReplayWindow = 512

// maxPeerAddrs bounds the addresses one session is known by (ICE restarts).
const maxPeerAddrs = 8

type fastPath struct {
	now  func() time.Time
	keys func(*webrtc.DTLSTransport, uint) (*srtp.Context, error) // remoteSRTPContext; tests replace it

	byAddr atomic.Pointer[map[netip.AddrPort]*fastPeer]
	bySSRC atomic.Pointer[map[uint32][]*fastPeer]

	// counters (any goroutine)
	packets   atomic.Uint64 // forwarded by the fast path
	fallbacks atomic.Uint64 // streams handed back to pion
	authFails atomic.Uint64 // packets that did not authenticate
	dropped   atomic.Uint64 // packets dropped: no authentication, a replay, a runt

	mu    sync.Mutex // writers of the maps
	peers map[*Peer]*fastPeer

	// the mux reader's own
	dec []byte
	hdr rtp.Header
}

// fastPeer is one publish PC's SRTP session as the fast path sees it.
type fastPeer struct {
	ctx     *srtp.Context // the mux reader's only
	twcc    *twccState
	streams atomic.Pointer[[]*fastStream]
	addrs   []netip.AddrPort // under fastPath.mu
	gone    bool             // removed; under fastPath.mu
}

// fastStream is one media stream bound to a layer, or the RTX stream that
// repairs it (RFC 4588).
type fastStream struct {
	ssrc   uint32
	l      *layer
	remote *webrtc.TrackRemote // pion's track, for its RTX SSRC
	twccID uint8               // transport-wide-cc extension id, 0 = none
	repair *fastStream         // of an RTX stream: the media stream it repairs
	state  atomic.Uint64
	roc    atomic.Uint32 // rollover counter at the switch, from the layer's reader
	// the mux reader's own
	fastSeen uint32 // packets since the switch
	rocSet   bool
}

func newFastPath(now func() time.Time) *fastPath {
	f := &fastPath{now: now, keys: remoteSRTPContext, peers: map[*Peer]*fastPeer{}, dec: make([]byte, rxSlot)}
	f.byAddr.Store(&map[netip.AddrPort]*fastPeer{})
	f.bySSRC.Store(&map[uint32][]*fastPeer{})
	return f
}

// handle implements fastHandler; it runs in the mux's reader goroutine.
func (f *fastPath) handle(pkt []byte, from netip.AddrPort) bool {
	// RFC 7983: 128..191 is RTP or RTCP; RTCP packet types 192..223
	// (RFC 5761) sit where RTP has the marker bit and payload type.
	if len(pkt) < 12 || pkt[0] < 128 || pkt[0] > 191 || (pkt[1] >= 192 && pkt[1] <= 223) {
		return false
	}
	ssrc := binary.BigEndian.Uint32(pkt[8:12])
	fp := (*f.byAddr.Load())[from]
	if fp == nil {
		return f.miss(pkt, from, ssrc)
	}
	fs := fp.stream(ssrc)
	if fs == nil {
		// An RTX stream of this session, or a stream of another
		// session that now sends from an address this one had.
		if fs = f.rtxStream(fp, ssrc); fs == nil {
			return f.miss(pkt, from, ssrc)
		}
	}
	seq := binary.BigEndian.Uint16(pkt[2:4])
	for {
		st := fs.state.Load()
		switch st >> 32 {
		case phaseFast:
			return f.forward(fp, fs, pkt)
		case phaseOff:
			return false
		}
		// Armed or draining: pion's, and marked as the last one handed
		// over. The CAS fails if the layer's reader just switched.
		if fs.state.CompareAndSwap(st, phaseDraining<<32|uint64(seq)) {
			return false
		}
	}
}

// miss handles RTP from an address no session is known by, or that the
// session known by it has no stream for: after an ICE restart the
// publisher's media comes from a new address, and a stream already on the
// fast path must stay there (pion's copy of its state is stale). The
// packet is taken if it authenticates with the keys of a session that has
// a fast stream of its SSRC; that proves the sender, and the address is
// learnt (and moves to that session if another had it).
func (f *fastPath) miss(pkt []byte, from netip.AddrPort, ssrc uint32) bool {
	for _, fp := range (*f.bySSRC.Load())[ssrc] {
		fs := fp.stream(ssrc)
		if fs == nil || fs.state.Load()>>32 != phaseFast {
			continue
		}
		dec, err := f.decrypt(fp, fs, pkt)
		if err != nil {
			continue
		}
		f.learn(fp, from)
		if fs.repair != nil {
			f.deliverRepair(fp, fs, dec)
		} else {
			f.deliver(fp, fs, dec)
		}
		return true
	}
	return false
}

func (fp *fastPeer) stream(ssrc uint32) *fastStream {
	for _, fs := range *fp.streams.Load() {
		if fs.ssrc == ssrc {
			return fs
		}
	}
	return nil
}

// rtxStream finds the media stream that ssrc repairs, if that stream is on
// the fast path, and puts the RTX stream on it too. pion hands an RTX
// packet to the layer's reader only from inside a read of the media
// stream (TrackRemote.Read polls the repair queue, then blocks on the
// media), so once the media is ours its repairs must be too. A repair
// pion still holds at the switch is lost; the NACK is sent again. pion
// knows the RTX SSRC from the SDP (ssrc-group FID) or from the first RTX
// packet carrying a repaired-rid, so this runs for a stream's first
// unknown packets only.
func (f *fastPath) rtxStream(fp *fastPeer, ssrc uint32) *fastStream {
	for _, fs := range *fp.streams.Load() {
		if fs.repair != nil || fs.remote == nil || fs.state.Load()>>32 != phaseFast || uint32(fs.remote.RtxSSRC()) != ssrc {
			continue
		}
		rtx := &fastStream{ssrc: ssrc, l: fs.l, twccID: fs.twccID, repair: fs}
		rtx.state.Store(phaseFast << 32)
		// The repair stream's rollover counter is its own; a fresh
		// context state starts at 0 as pion's did.
		rtx.rocSet = true
		f.mu.Lock()
		if !fp.gone {
			f.addStreamLocked(fp, rtx)
		}
		f.mu.Unlock()
		return rtx
	}
	return nil
}

// forward decrypts and delivers one packet of a fast stream. It returns
// false only to hand a stream whose first packets do not decrypt back to
// pion: any error that early (keys, rollover counter, a cryptex mode we
// did not mirror) is ours, and costs nothing but the fast path. Later, a
// packet that does not authenticate, a replay or a runt is dropped, as
// pion would.
func (f *fastPath) forward(fp *fastPeer, fs *fastStream, pkt []byte) bool {
	dec, err := f.decrypt(fp, fs, pkt)
	if err != nil {
		if errors.Is(err, srtp.ErrFailedToVerifyAuthTag) {
			f.authFails.Add(1)
		}
		if fs.fastSeen < fastProbation {
			fs.state.Store(phaseOff << 32)
			f.fallbacks.Add(1)
			return false
		}
		f.dropped.Add(1)
		return true
	}
	fs.fastSeen++
	if fs.repair != nil {
		f.deliverRepair(fp, fs, dec)
		return true
	}
	f.deliver(fp, fs, dec)
	return true
}

// deliverRepair turns an RTX packet back into the packet it repairs, as
// pion's repair reader does (rtpreceiver.go): the original sequence number
// from the payload's first two bytes, the media SSRC and payload type.
// Padding-only packets are the publisher's bandwidth probes: transport-cc
// counts them, nothing else does.
func (f *fastPath) deliverRepair(fp *fastPeer, fs *fastStream, b []byte) {
	now := f.now().UnixNano()
	if fs.twccID != 0 {
		if seq, ok := transportSeq(b, fs.twccID); ok {
			fp.twcc.record(fs.ssrc, true, seq, now)
		}
	}
	hl := 12 + 4*int(b[0]&0x0f)
	if b[0]&0x10 != 0 {
		if len(b) < hl+4 {
			return
		}
		hl += 4 * (1 + int(binary.BigEndian.Uint16(b[hl+2:hl+4])))
	}
	pad := 0
	if b[0]&0x20 != 0 {
		pad = int(b[len(b)-1])
	}
	if len(b)-hl-pad < 2 {
		return
	}
	media := fs.repair
	b[1] = b[1]&0x80 | uint8(media.l.t.codec.PayloadType)
	b[2], b[3] = b[hl], b[hl+1]
	binary.BigEndian.PutUint32(b[8:12], media.ssrc)
	copy(b[hl:], b[hl+2:])
	b = b[:len(b)-2]
	f.packets.Add(1)
	l := media.l
	l.fwdMu.Lock()
	l.forward(b, &f.hdr, now)
	l.fwdMu.Unlock()
}

func (f *fastPath) decrypt(fp *fastPeer, fs *fastStream, pkt []byte) ([]byte, error) {
	if !fs.rocSet {
		// pion's context may have seen the sequence wrap before the
		// switch; ours starts where the layer's reader counted.
		fp.ctx.SetROC(fs.ssrc, fs.roc.Load())
		fs.rocSet = true
	}
	return fp.ctx.DecryptRTP(f.dec[:0], pkt, &f.hdr)
}

// deliver does for a decrypted packet what pion's path does: the publish
// PC's interceptor records its transport-wide sequence number (twcc.go),
// and the layer forwards it.
func (f *fastPath) deliver(fp *fastPeer, fs *fastStream, pkt []byte) {
	now := f.now().UnixNano()
	if fs.twccID != 0 {
		if seq, ok := transportSeq(pkt, fs.twccID); ok {
			fp.twcc.record(fs.ssrc, false, seq, now)
		}
	}
	f.packets.Add(1)
	fs.l.fwdMu.Lock()
	fs.l.forward(pkt, &f.hdr, now)
	fs.l.fwdMu.Unlock()
}

// drained is called by the layer's reader after each packet it forwarded
// from pion: if that packet was the last one the mux handed pion, nothing
// of the stream is left in pion's queues, and the fast path takes over.
func (fs *fastStream) drained(seq uint16) {
	st := fs.state.Load()
	if st>>32 != phaseDraining || uint16(st) != seq {
		return
	}
	fs.l.recv.mu.Lock()
	roc := fs.l.recv.cycles
	fs.l.recv.mu.Unlock()
	fs.roc.Store(roc)
	fs.state.CompareAndSwap(st, phaseFast<<32)
}

// add arms the fast path for layer l of p's publish PC, reached through
// recv. It returns nil (pion keeps the stream) when the session's keys
// cannot be had.
func (f *fastPath) add(p *Peer, l *layer, remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) (*fastStream, error) {
	fs := &fastStream{ssrc: l.ssrc, l: l, remote: remote}
	for _, e := range recv.GetParameters().HeaderExtensions {
		if e.URI == sdp.TransportCCURI {
			fs.twccID = uint8(e.ID)
		}
	}
	// pion's calls (and their locks) outside ours: the mux's reader takes
	// f.mu too.
	f.mu.Lock()
	fp := f.peers[p]
	f.mu.Unlock()
	var ctx *srtp.Context
	var addr netip.AddrPort
	if fp == nil {
		dt := recv.Transport()
		var err error
		if ctx, err = f.keys(dt, srtpReplayWindow); err != nil {
			return nil, err
		}
		if pair, err := dt.ICETransport().GetSelectedCandidatePair(); err == nil && pair != nil {
			if a, err := netip.ParseAddr(pair.Remote.Address); err == nil {
				addr = netip.AddrPortFrom(a, pair.Remote.Port)
			}
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if fp = f.peers[p]; fp == nil {
		if ctx == nil { // another stream's add made and removed it meanwhile
			return nil, fmt.Errorf("%w: session went away", errNoKeys)
		}
		fp = &fastPeer{ctx: ctx, twcc: &p.twcc}
		fp.streams.Store(&[]*fastStream{})
		f.peers[p] = fp
		if addr.IsValid() {
			f.learnLocked(fp, addr)
		}
	}
	f.addStreamLocked(fp, fs)
	return fs, nil
}

func (f *fastPath) addStreamLocked(fp *fastPeer, fs *fastStream) {
	old := *fp.streams.Load()
	next := make([]*fastStream, 0, len(old)+1)
	for _, x := range old {
		if x.ssrc != fs.ssrc {
			next = append(next, x)
		}
	}
	next = append(next, fs)
	fp.streams.Store(&next)
	f.indexSSRCsLocked()
}

// remove takes fs off the fast path; the last stream of a session takes
// the session with it.
func (f *fastPath) remove(p *Peer, fs *fastStream) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fp := f.peers[p]
	if fp == nil {
		return
	}
	old := *fp.streams.Load()
	next := make([]*fastStream, 0, len(old))
	for _, x := range old {
		if x != fs && x.repair != fs {
			next = append(next, x)
		}
	}
	fp.streams.Store(&next)
	if len(next) == 0 {
		fp.gone = true
		delete(f.peers, p)
		m := *f.byAddr.Load()
		nm := make(map[netip.AddrPort]*fastPeer, len(m))
		for a, x := range m {
			if x != fp {
				nm[a] = x
			}
		}
		f.byAddr.Store(&nm)
	}
	f.indexSSRCsLocked()
}

// learn records that fp's publisher sends from a.
func (f *fastPath) learn(fp *fastPeer, a netip.AddrPort) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !fp.gone {
		f.learnLocked(fp, a)
	}
}

func (f *fastPath) learnLocked(fp *fastPeer, a netip.AddrPort) {
	a = netip.AddrPortFrom(canonicalAddr(a.Addr()), a.Port())
	m := *f.byAddr.Load()
	if m[a] == fp {
		return
	}
	nm := make(map[netip.AddrPort]*fastPeer, len(m)+1)
	for k, v := range m {
		nm[k] = v
	}
	if len(fp.addrs) >= maxPeerAddrs {
		if nm[fp.addrs[0]] == fp {
			delete(nm, fp.addrs[0])
		}
		fp.addrs = fp.addrs[1:]
	}
	fp.addrs = append(fp.addrs, a)
	nm[a] = fp
	f.byAddr.Store(&nm)
}

func (f *fastPath) indexSSRCsLocked() {
	m := map[uint32][]*fastPeer{}
	for _, fp := range f.peers {
		for _, fs := range *fp.streams.Load() {
			m[fs.ssrc] = append(m[fs.ssrc], fp)
		}
	}
	f.bySSRC.Store(&m)
}

// canonicalAddr is the form pion's mux and our reader key addresses by:
// IPv4 unmapped, a zone only on link-local IPv6.
func canonicalAddr(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() && a.IsLinkLocalUnicast() {
		return a
	}
	return a.WithZone("")
}
