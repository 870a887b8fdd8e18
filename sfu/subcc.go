package sfu

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"callbox/sfu/bwe"

	"github.com/pion/rtp"
)

// Congestion control towards one subscriber (issue 11.2). Every packet the
// SFU sends on a subscribe PC that negotiated transport-wide-cc carries a
// transport-wide sequence number of that PC (stamp), and its send time and
// size go into a preallocated log indexed by that number. The subscriber's
// transport-cc feedback is matched against the log and drives a GCC-style
// estimate (package bwe), which layer selection uses in place of REMB.
// When a subscriber wants a higher layer than the estimate allows, the SFU
// probes: for a short while it sends padding-only packets on the video
// stream between frames, so that the feedback can show whether the path
// carries more.

const (
	sendLogSize = 1 << 12 // seconds of history at video rates; a power of 2
	// ccFresh is how long a feedback-based estimate stays in use; after it
	// the subscriber is taken to have no transport-cc (REMB is the fallback).
	ccFresh       = 2 * time.Second
	probeDuration = 250 * time.Millisecond
	// probeEvery is the least time between probes. A probe that does not
	// lift the estimate doubles it, up to probeEveryMax: a path that is
	// full (TestSDKStepDownUp's 500 kbit/s) loses packets to every probe.
	// None follows a cut of the estimate within probeAfterCut.
	probeEvery    = time.Second
	probeEveryMax = 4 * time.Second
	probeAfterCut = time.Second
	probeTick     = 5 * time.Millisecond
	// padSize is the padding of one probe packet (RTP padding counts in one
	// byte, so 255 at most).
	padSize = 255
)

// sentPacket is one entry of the send log, packed into 64 bits so that
// the forwarding path stores it with one atomic write and no lock: the
// transport-wide sequence number (16 bits, to tell a stale slot), the size
// (11 bits: packets stay under the MTU), the probe cluster (5 bits, 0 =
// none) and the send time in 100 µs since the log was made (32 bits: it
// wraps after about five days, which costs the estimate one glitch).
type sentPacket uint64

const tick100us = 100_000 // ns

func packSent(seq uint16, size int, probe int32, t100 uint32) sentPacket {
	return sentPacket(uint64(seq)<<48 | uint64(min(size, 0x7ff))<<37 | uint64(probe&0x1f)<<32 | uint64(t100))
}

func (s sentPacket) seq() uint16  { return uint16(s >> 48) }
func (s sentPacket) size() int    { return int(s >> 37 & 0x7ff) }
func (s sentPacket) probe() int32 { return int32(s >> 32 & 0x1f) }
func (s sentPacket) t100() uint32 { return uint32(s) }

// sendLog is the log proper, made once by enable.
type sendLog struct {
	base    atomic.Int64 // unix nanos of t100 = 0: a second before the first stamp; 0 = not yet
	entries [sendLogSize]atomic.Uint64
}

// subCC is one subscribe PC's send log and estimate.
type subCC struct {
	next    atomic.Uint32 // next transport-wide sequence number
	cluster atomic.Int32  // probe cluster being sent, 0 = none
	probing atomic.Bool
	log     atomic.Pointer[sendLog] // nil until a track binds with transport-cc

	mu        sync.Mutex // guards the rest (feedback, probes); never taken per packet
	est       *bwe.Estimator
	pkts      []bwe.Packet // feedback scratch
	syms      []uint8
	lastFB    int64
	clusters  int32
	lastProbe time.Time
	probeGap  time.Duration // now between probes: probeEvery, doubled by each that failed
	probeFrom uint64        // the estimate when the last probe started
	lastCut   int64         // unix nanos of the last cut of the estimate
}

// enable makes the send log, once.
func (c *subCC) enable() {
	c.mu.Lock()
	if c.log.Load() == nil {
		c.log.Store(&sendLog{})
	}
	c.mu.Unlock()
}

// stamp takes the next transport-wide sequence number for a packet of size
// bytes sent at now (unix nanos) and logs it: one atomic add and one
// atomic store, no lock, no allocation.
func (c *subCC) stamp(size int, now int64) uint16 {
	seq := uint16(c.next.Add(1) - 1)
	if l := c.log.Load(); l != nil {
		base := l.base.Load()
		if base == 0 {
			// The first stamps race to set it and all use the winner's.
			// A second of margin: another writer's clock reading may be a
			// little older than the first one's.
			l.base.CompareAndSwap(0, now-int64(time.Second))
			base = l.base.Load()
		}
		l.entries[seq%sendLogSize].Store(uint64(packSent(seq, size, c.cluster.Load(), uint32((now-base)/tick100us))))
	}
	return seq
}

// sent reads the log entry of seq: its send time (unix nanos), size and
// probe cluster; ok is false if the slot holds another packet or none.
func (l *sendLog) sent(seq uint16) (ns int64, size int, probe int32, ok bool) {
	s := sentPacket(l.entries[seq%sendLogSize].Load())
	if s == 0 || s.seq() != seq {
		return 0, 0, 0, false
	}
	// Within one wrap of the 32-bit clock the send time follows base.
	return l.base.Load() + int64(s.t100())*tick100us, s.size(), s.probe(), true
}

// arrivalBase keeps feedback arrival times away from 0, which bwe reads
// as "lost".
const arrivalBase = int64(1) << 50

// feedback matches one transport-cc feedback (the RTCP packet body after
// the common header, RFC draft-holmer-rmcat-transport-wide-cc-extensions-01
// §3.1) against the log and updates the estimate. It parses the bytes
// itself: pion's rtcp package allocates once per reported packet. It
// reports whether the estimate fell by more than a tenth (a reason to
// step layers down before the next tick).
func (c *subCC) feedback(body []byte, now int64) (cut bool) {
	if len(body) < 16 {
		return false
	}
	base := binary.BigEndian.Uint16(body[8:])
	count := int(binary.BigEndian.Uint16(body[10:]))
	ref := int64(body[12])<<16 | int64(body[13])<<8 | int64(body[14])
	c.mu.Lock()
	defer c.mu.Unlock()
	log := c.log.Load()
	if log == nil {
		return
	}
	if c.est == nil {
		c.est = bwe.New(bwe.Config{})
		c.pkts = make([]bwe.Packet, 0, 256)
		c.syms = make([]uint8, 0, 256)
	}
	// Status chunks first (two bytes each), then one delta per received
	// packet: one byte (small) or two (large, signed), in 250 µs.
	syms := c.syms[:0]
	k := 16
	for len(syms) < count {
		if k+2 > len(body) {
			return
		}
		ch := binary.BigEndian.Uint16(body[k:])
		k += 2
		switch {
		case ch&0x8000 == 0: // run length
			sym, run := uint8(ch>>13&3), int(ch&0x1fff)
			for i := 0; i < run && len(syms) < count; i++ {
				syms = append(syms, sym)
			}
		case ch&0x4000 == 0: // status vector, 14 one-bit symbols
			for i := 13; i >= 0 && len(syms) < count; i-- {
				syms = append(syms, uint8(ch>>i&1))
			}
		default: // status vector, 7 two-bit symbols
			for i := 6; i >= 0 && len(syms) < count; i-- {
				syms = append(syms, uint8(ch>>(2*i)&3))
			}
		}
	}
	c.syms = syms
	c.pkts = c.pkts[:0]
	arrival := arrivalBase + ref*64e6
	for i, sym := range syms {
		at := int64(0)
		switch sym {
		case 1:
			if k+1 > len(body) {
				return
			}
			arrival += int64(body[k]) * 250e3
			k++
			at = arrival
		case 2:
			if k+2 > len(body) {
				return
			}
			arrival += int64(int16(binary.BigEndian.Uint16(body[k:]))) * 250e3
			k += 2
			at = arrival
		}
		seq := base + uint16(i)
		if ns, size, probe, ok := log.sent(seq); ok {
			c.pkts = append(c.pkts, bwe.Packet{SendNS: ns, ArrivalNS: at, Size: size, Probe: int(probe)})
		}
	}
	if len(c.pkts) == 0 {
		return false
	}
	before := c.est.Estimate()
	c.est.Update(now, c.pkts)
	c.lastFB = now
	after := c.est.Estimate()
	if after > 0 && after < before-before/10 {
		c.lastCut = now
		return true
	}
	return false
}

// splitTWCC hands every transport-cc feedback in a compound RTCP packet to
// fn (its body after the 4-byte header) and reports whether the compound
// holds anything else.
func splitTWCC(b []byte, fn func(body []byte)) (other bool) {
	for len(b) >= 4 {
		n := 4 * (int(binary.BigEndian.Uint16(b[2:])) + 1)
		if b[0]>>6 != 2 || n > len(b) {
			return true // let the full parser judge it
		}
		if b[1] == 205 && b[0]&0x1f == 15 { // RTPFB, FMT 15: transport-cc
			fn(b[4:n])
		} else {
			other = true
		}
		b = b[n:]
	}
	return other
}

// estimate is the feedback-based estimate in bits/s, 0 if the subscriber
// sends no transport-cc feedback (or none lately).
func (c *subCC) estimate(now time.Time) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.est == nil || now.UnixNano()-c.lastFB > int64(ccFresh) {
		return 0
	}
	return c.est.Estimate()
}

// sendRate is what was sent over the last half second, bits/s.
func (c *subCC) sendRate(now time.Time) uint64 {
	const window = int64(500 * time.Millisecond)
	n := uint16(c.next.Load())
	log := c.log.Load()
	var bytes uint64
	for k := uint16(1); log != nil && k < sendLogSize; k++ {
		ns, size, _, ok := log.sent(n - k)
		if !ok || now.UnixNano()-ns > window {
			break
		}
		bytes += uint64(size)
	}
	return bytes * 8 * uint64(time.Second) / uint64(window)
}

// startProbe claims the right to probe now: one probe at a time, at most
// one per probeEvery. It returns the new cluster's id, 0 if not now.
func (c *subCC) startProbe(now time.Time) int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.probing.Load() || c.est == nil || now.UnixNano()-c.lastCut < int64(probeAfterCut) {
		return 0
	}
	if !c.lastProbe.IsZero() {
		// Judge the last probe: did what it measured lift the estimate?
		est := c.est.Estimate()
		gap := max(c.probeGap, probeEvery)
		if est < c.probeFrom+c.probeFrom/10 || c.est.LastProbe() < c.probeFrom {
			gap = min(2*gap, probeEveryMax)
		} else {
			gap = probeEvery
		}
		if now.Sub(c.lastProbe) < gap {
			return 0
		}
		c.probeGap = gap
	}
	c.probing.Store(true)
	c.lastProbe = now
	c.probeFrom = c.est.Estimate()
	c.clusters = c.clusters%31 + 1 // 1..31: the log keeps 5 bits of it
	return c.clusters
}

// maybeProbe starts a probe towards the rate want (bits/s, in total) on d
// when the estimate is below it. Padding fills the gap between what is
// sent and want, but never more than twice the estimate: with what is sent
// a probe stays under three times the estimate (libwebrtc's first probes
// go to 3 and 6 times its start).
func (p *Peer) maybeProbe(d *downTrack, want uint64, now time.Time) {
	est := p.cc.estimate(now)
	if est == 0 || est >= want {
		return
	}
	// Aim above the wanted rate: a probe measures at most what it sends.
	want += want / 2
	sent := p.cc.sendRate(now)
	pad := min(want-min(want, sent), 2*est)
	if pad < 50_000 {
		return
	}
	id := p.cc.startProbe(now)
	if id == 0 {
		return
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.cc.probing.Store(false)
		return
	}
	p.wg.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.wg.Done()
		defer p.cc.probing.Store(false)
		p.probe(d, id, pad)
	}()
}

// probe sends padding at rate bits/s on d for probeDuration, tagging
// everything sent meanwhile with cluster id. It stops early when the peer
// leaves.
func (p *Peer) probe(d *downTrack, id int32, rate uint64) {
	p.cc.cluster.Store(id)
	defer p.cc.cluster.Store(0)
	tick := time.NewTicker(probeTick)
	defer tick.Stop()
	var h rtp.Header
	h.Extensions = make([]rtp.Extension, 0, 1)
	start := time.Now()
	sent := uint64(0)
	for {
		select {
		case <-p.done:
			return
		case <-tick.C:
		}
		el := time.Since(start)
		if el > probeDuration {
			return
		}
		due := rate*uint64(el)/uint64(time.Second)/8 - min(sent, rate*uint64(el)/uint64(time.Second)/8)
		if k := int(due / (padSize + 20)); k > 0 {
			sent += uint64(d.sendPadding(&h, min(k, 32), p.s.now().UnixNano()) * (padSize + 20))
		}
	}
}

// setTWCC puts the transport-wide sequence number into h (one-byte
// extension id), reusing h's extension slice and ext as its payload.
func setTWCC(h *rtp.Header, id uint8, ext *[2]byte, seq uint16) {
	binary.BigEndian.PutUint16(ext[:], seq)
	h.Extension = false
	h.Extensions = h.Extensions[:0]
	_ = h.SetExtension(id, ext[:])
}
