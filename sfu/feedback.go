package sfu

import (
	"sync"
	"time"

	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
)

// Publisher feedback, written here rather than with pion's interceptors,
// which allocate about three times per incoming packet (perf-notes rule 5):
// NACKs for gaps (RFC 4585), receiver reports (RFC 3550 §6.4.2), and
// transport-wide congestion control feedback (draft-holmer-rmcat-transport-
// wide-cc-extensions). The reader records each packet under the stream's
// feedback lock; Run's feedback tick builds and sends the RTCP.

const (
	feedbackInterval = 100 * time.Millisecond // TWCC
	nackWindow       = 512                    // sequence numbers tracked for NACK
	nackMaxTries     = 10
	nackMinAge       = 20 * time.Millisecond // let reordered packets arrive first
	// nackInterval is how often gaps are looked for. A loss upstream
	// delays every subscriber's frame until the repair is in, and
	// Chromium counts a frame later than about 180 ms (at 30 fps) as a
	// freeze: on a 100 ms grid, 2 % loss froze the picture twice in 20 s
	// (TestSDKRandomLoss).
	nackInterval = 20 * time.Millisecond
	// A sequence number is NACKed again after 1.5 round trips, within
	// these bounds (nackRetryUnknown while the round trip is unknown).
	nackRetryMin     = 20 * time.Millisecond
	nackRetryMax     = 300 * time.Millisecond
	nackRetryUnknown = 100 * time.Millisecond
)

// recvStats is one incoming stream's reception state (RFC 3550 A.1, A.3, A.8).
type recvStats struct {
	mu        sync.Mutex
	started   bool
	baseSeq   uint16
	maxSeq    uint16
	cycles    uint32
	received  uint32
	expPrior  uint32 // at the last report
	recvPrior uint32
	jitter    float64
	transit   int64
	lastSRMid uint32 // middle 32 bits of the last SR's NTP time
	lastSRAt  time.Time
	// NACK: bit i of have says whether maxSeq-i arrived; tries and first
	// time missing per slot.
	have  [nackWindow / 64]uint64
	tries [nackWindow]uint8
	since [nackWindow]int64 // when it went missing
	asked [nackWindow]int64 // when it was last NACKed
	quiet bool              // nothing is worth a NACK until the next gap
}

// record notes one packet; now is unix nanos, clock the RTP clock rate.
func (r *recvStats) record(seq uint16, ts uint32, now int64, clock uint32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.started {
		r.started, r.baseSeq, r.maxSeq = true, seq, seq
		r.setHave(seq, now)
		r.received++
		return
	}
	r.received++
	if d := seq - r.maxSeq; d != 0 && d < 0x8000 {
		if seq < r.maxSeq {
			r.cycles++
		}
		from := r.maxSeq + 1
		if d > nackWindow {
			from = seq - nackWindow + 1
		}
		for s := from; s != seq; s++ {
			r.clearHave(s, now) // a gap: missing until proven otherwise
			r.quiet = false
		}
		r.maxSeq = seq
	}
	r.setHave(seq, now)
	if clock > 0 {
		arrival := now * int64(clock) / 1e9
		transit := arrival - int64(ts)
		if r.transit != 0 {
			d := transit - r.transit
			if d < 0 {
				d = -d
			}
			r.jitter += (float64(d) - r.jitter) / 16
		}
		r.transit = transit
	}
}

func (r *recvStats) setHave(seq uint16, now int64) {
	i := int(seq) % nackWindow
	r.have[i/64] |= 1 << (i % 64)
	r.tries[i] = 0
}

func (r *recvStats) clearHave(seq uint16, now int64) {
	i := int(seq) % nackWindow
	r.have[i/64] &^= 1 << (i % 64)
	r.tries[i] = 0
	r.since[i] = now
	r.asked[i] = 0
}

// missing appends the sequence numbers worth a NACK now: missing for
// nackMinAge, not NACKed within retry (nanoseconds), not given up on.
func (r *recvStats) missing(dst []uint16, now, retry int64) []uint16 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.started || r.quiet {
		return dst
	}
	waiting := false
	for k := 1; k < nackWindow; k++ {
		s := r.maxSeq - uint16(k)
		if int16(s-r.baseSeq) < 0 {
			break
		}
		i := int(s) % nackWindow
		if r.have[i/64]&(1<<(i%64)) != 0 || r.tries[i] >= nackMaxTries {
			continue
		}
		waiting = true
		if now-r.since[i] < int64(nackMinAge) || r.asked[i] != 0 && now-r.asked[i] < retry {
			continue
		}
		r.tries[i]++
		r.asked[i] = now
		dst = append(dst, s)
	}
	r.quiet = !waiting
	return dst
}

// isQuiet says nothing is worth a NACK until the next gap (missing found
// none at its last look).
func (r *recvStats) isQuiet() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.started || r.quiet
}

// noteSR records a sender report from the publisher, for LSR/DLSR.
func (r *recvStats) noteSR(ntp uint64, at time.Time) {
	r.mu.Lock()
	r.lastSRMid, r.lastSRAt = uint32(ntp>>16), at
	r.mu.Unlock()
}

// report builds the reception report block for ssrc.
func (r *recvStats) report(ssrc uint32, now time.Time) (rtcp.ReceptionReport, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.started {
		return rtcp.ReceptionReport{}, false
	}
	ext := r.cycles<<16 | uint32(r.maxSeq)
	expected := ext - uint32(r.baseSeq) + 1
	lost := int64(expected) - int64(r.received)
	lost = max(0, min(lost, 0x7fffff))
	expInt, recvInt := expected-r.expPrior, r.received-r.recvPrior
	r.expPrior, r.recvPrior = expected, r.received
	var fraction uint8
	if expInt > 0 && expInt > recvInt {
		fraction = uint8((expInt - recvInt) << 8 / expInt)
	}
	rr := rtcp.ReceptionReport{
		SSRC: ssrc, FractionLost: fraction, TotalLost: uint32(lost), LastSequenceNumber: ext,
		Jitter: uint32(r.jitter), LastSenderReport: r.lastSRMid,
	}
	if !r.lastSRAt.IsZero() {
		rr.Delay = uint32(now.Sub(r.lastSRAt).Seconds() * 65536)
	}
	return rr, true
}

// rtcpWriter is the one method of the publish PC that feedbackTick uses.
type rtcpWriter interface{ WriteRTCP([]rtcp.Packet) error }

// twccState is the publish PC's transport-wide feedback: one recorder for
// all its streams (the sequence is per transport).
type twccState struct {
	mu    sync.Mutex
	rec   *twcc.Recorder
	start time.Time
	media uint32 // the last media (not RTX) SSRC recorded
}

// record notes transport-wide sequence number seq, received at now (unix
// nanos) on stream ssrc; repair says ssrc is an RTX stream. Called by the
// publish PC's interceptor (twcc.go) for every packet.
func (t *twccState) record(ssrc uint32, repair bool, seq uint16, now int64) {
	t.mu.Lock()
	if t.rec == nil {
		t.rec, t.start = twcc.NewRecorder(0), time.Unix(0, now)
	}
	if !repair {
		t.media = ssrc
	} else if t.media != 0 {
		ssrc = t.media
	}
	t.rec.Record(ssrc, seq, (now-t.start.UnixNano())/1e3)
	t.mu.Unlock()
}

func (t *twccState) build() []rtcp.Packet {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.rec == nil {
		return nil
	}
	return t.rec.BuildFeedbackPacket()
}

// reportClock paces one publisher's receiver reports: one every
// reportInterval on a grid laid at the first feedback tick that saw the
// publisher. It reads only the time, so each publisher keeps its own phase
// and nothing else that wakes Run can shift it (issue 9: counting Run's
// wake-ups did). Run's goroutine is its only user.
type reportClock struct{ next time.Time }

// due says whether a report is due at now, the time of a feedback tick, and
// if so moves on to the next point of the grid ahead of now. A tick up to
// half a feedback interval early counts, since the clock is read only when
// Run gets to the tick and that delay varies; otherwise a report would slip
// a whole tick. After a stall the grid keeps its phase: one report at the
// first tick, not a burst to catch up.
func (c *reportClock) due(now time.Time) bool {
	const slack = feedbackInterval / 2
	if c.next.IsZero() {
		c.next = now.Add(reportInterval)
		return false
	}
	late := now.Sub(c.next.Add(-slack))
	if late < 0 {
		return false
	}
	c.next = c.next.Add((late/reportInterval + 1) * reportInterval)
	return true
}

// eachLayer calls fn on every layer p publishes that has started, under
// p's and its track's locks, until fn returns false.
func (p *Peer) eachLayer(fn func(*layer) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range p.tracks {
		t.mu.Lock()
		for _, l := range t.layers {
			if l.ring != nil && !fn(l) {
				t.mu.Unlock()
				return
			}
		}
		t.mu.Unlock()
	}
}

// layers lists the layers p publishes that have started.
func (p *Peer) layers() []*layer {
	var ls []*layer
	p.eachLayer(func(l *layer) bool { ls = append(ls, l); return true })
	return ls
}

// nackTick sends NACKs for what p's streams miss. Called from Run every
// 20 ms: a peer whose streams miss nothing costs a few locks and no
// allocation.
func (p *Peer) nackTick(now time.Time) {
	if p.quiet() {
		return
	}
	retry := nackRetryUnknown
	p.q.mu.Lock()
	if rtt := time.Duration(p.q.rtt) * time.Millisecond; rtt > 0 {
		retry = min(max(rtt+rtt/2, nackRetryMin), nackRetryMax)
	}
	p.q.mu.Unlock()
	var pkts []rtcp.Packet
	var seqs []uint16
	for _, l := range p.layers() {
		if seqs = l.recv.missing(seqs[:0], now.UnixNano(), int64(retry)); len(seqs) > 0 {
			pkts = append(pkts, &rtcp.TransportLayerNack{MediaSSRC: l.ssrc, Nacks: rtcp.NackPairsFromSequenceNumbers(seqs)})
		}
	}
	if len(pkts) > 0 {
		_ = p.toPub.WriteRTCP(pkts) // fails only while closing
	}
}

// quiet says none of p's streams has a packet worth a NACK.
func (p *Peer) quiet() bool {
	quiet := true
	p.eachLayer(func(l *layer) bool { quiet = l.recv.isQuiet(); return quiet })
	return quiet
}

// feedbackTick sends TWCC feedback for everything p publishes, and
// receiver reports when p's report clock says so. Called from Run.
func (p *Peer) feedbackTick(now time.Time) {
	reports := p.rr.due(now)
	ls := p.layers()
	pkts := p.twcc.build()
	var rrs []rtcp.ReceptionReport
	for _, l := range ls {
		if reports {
			if rr, ok := l.recv.report(l.ssrc, now); ok {
				rrs = append(rrs, rr)
			}
		}
	}
	if len(rrs) > 0 {
		pkts = append(pkts, &rtcp.ReceiverReport{Reports: rrs})
	}
	if len(pkts) > 0 {
		_ = p.toPub.WriteRTCP(pkts) // fails only while closing
	}
}
