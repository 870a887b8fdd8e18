// Package bwe estimates the bandwidth towards one receiver from its
// transport-wide congestion control feedback, the sender-side way of GCC
// (draft-ietf-rmcat-gcc-02, as libwebrtc does it): packets are grouped in
// 5 ms bursts, the growth of the one-way delay between groups goes through
// a trendline filter and an overuse detector with an adaptive threshold,
// and an AIMD controller moves the rate (multiplicative increase while far
// from the last congestion point, additive near it, a cut to 85 % of the
// acknowledged rate on overuse, never more than 1.5 times what was
// acknowledged). Loss caps the result (over 10 % cuts by half the loss).
// Probe clusters (padding sent above the media rate) let the estimate jump
// to what the path delivered instead of creeping up 8 % a second.
//
// Time is a parameter (unix nanoseconds): the tests drive synthetic
// bottlenecks without sleeping. An Estimator is not safe for concurrent
// use, and Update allocates nothing.
package bwe

import "math"

// Packet is one packet the feedback reports on, in send order.
type Packet struct {
	SendNS    int64 // when it was sent
	ArrivalNS int64 // when the receiver got it; 0 = reported lost
	Size      int   // bytes on the wire (RTP header and payload)
	Probe     int   // probe cluster it belonged to, 0 = none
}

// Config bounds an Estimator; zero fields take the defaults.
type Config struct {
	Min, Max uint64 // bits/s; defaults 50 kbit/s and 20 Mbit/s
	// Start is the least first estimate (default 300 kbit/s, as
	// libwebrtc): the first feedback sees too little to measure more.
	Start uint64
}

// Signal is the overuse detector's verdict.
type Signal int

const (
	Normal Signal = iota
	Overusing
	Underusing
)

const (
	burstNS          = 5e6 // packets sent within 5 ms form one group
	trendWindow      = 20  // groups in the trendline regression
	trendSmoothing   = 0.9
	trendGain        = 4.0
	overuseTimeMS    = 10.0
	thresholdInit    = 12.5
	thresholdUp      = 0.0087
	thresholdDown    = 0.039
	ackWindowNS      = 500e6
	ackRing          = 2048
	beta             = 0.85
	decreaseEveryNS  = 200e6 // at most one cut per (assumed) round trip
	lossWindowPkts   = 40
	lossWindowNS     = 1e9
	probeMinPackets  = 5
	maxUpdateGapNS   = 1e9
	additivePerSecBp = 1200 * 8 / 0.2 // one MTU packet per 200 ms response time
)

type group struct {
	firstSend, lastSend, firstArrival, lastArrival int64
	size                                           int
}

type ackEntry struct {
	arrival int64
	size    int
}

type cluster struct {
	id                                int
	firstSend, lastSend               int64
	firstArrival, lastArrival         int64
	sentBytes, lastSentSize           int
	recvBytes, firstRecvSize, packets int
	received, lost                    int
}

// Estimator is the send-side estimate towards one receiver.
type Estimator struct {
	cfg Config

	rate     float64 // delay-based rate, bits/s; 0 = not yet known
	lossCap  float64 // loss-based cap, 0 = none
	increase bool    // AIMD state: increase, or hold after a change of signal
	lastNS   int64   // last rate update
	lastCut  int64
	capAvg   float64 // link capacity seen at cuts, bits/s; 0 = unknown
	capVar   float64

	// groups and trendline
	cur, prev         group
	haveCur, havePrev bool
	firstArrival      int64
	acc, smoothed     float64
	xs, ys            [trendWindow]float64
	nTrend, numDeltas int
	trend, prevTrend  float64
	threshold         float64
	lastThresholdNS   int64
	overMS            float64
	overCount         int
	signal            Signal

	// acknowledged bitrate: received packets by arrival time
	acks      [ackRing]ackEntry
	ackHead   int // next slot
	ackN      int
	lossSent  int
	lossLost  int
	lossStart int64
	probe     cluster
	lastProbe uint64  // result of the last probe cluster, bits/s
	lastLoss  float64 // share lost in the last loss window
}

// New returns an Estimator with no estimate yet: Estimate is 0 until
// feedback has acknowledged some traffic.
func New(cfg Config) *Estimator {
	if cfg.Min == 0 {
		cfg.Min = 50_000
	}
	if cfg.Max == 0 {
		cfg.Max = 20_000_000
	}
	if cfg.Start == 0 {
		cfg.Start = 300_000
	}
	return &Estimator{cfg: cfg, threshold: thresholdInit}
}

// Estimate is the current estimate in bits/s, 0 while unknown.
func (e *Estimator) Estimate() uint64 {
	if e.rate == 0 {
		return 0
	}
	r := e.rate
	if e.lossCap > 0 && e.lossCap < r {
		r = e.lossCap
	}
	return uint64(r)
}

// Signal is the detector's last verdict.
func (e *Estimator) Signal() Signal { return e.signal }

// LastProbe is the rate the last finished probe cluster measured, 0 = none.
func (e *Estimator) LastProbe() uint64 { return e.lastProbe }

// Loss is the share of packets the last loss window reported lost.
func (e *Estimator) Loss() float64 { return e.lastLoss }

// Acked is the rate the receiver acknowledged over the last half second.
func (e *Estimator) Acked() uint64 { return uint64(e.acked()) }

// Update takes the packets of one feedback message, in send order, at now.
func (e *Estimator) Update(now int64, pkts []Packet) {
	for i := range pkts {
		p := &pkts[i]
		e.noteProbe(p)
		e.lossSent++
		if p.ArrivalNS == 0 {
			e.lossLost++
			continue
		}
		e.acks[e.ackHead] = ackEntry{p.ArrivalNS, p.Size}
		e.ackHead = (e.ackHead + 1) % ackRing
		e.ackN = min(e.ackN+1, ackRing)
		e.addToGroup(p)
	}
	e.updateLoss(now)
	e.updateRate(now)
}

// noteProbe accumulates probe clusters; one is judged when a packet sent
// after it (media or another cluster) is reported.
func (e *Estimator) noteProbe(p *Packet) {
	c := &e.probe
	if c.id != 0 && p.Probe != c.id && p.SendNS > c.lastSend {
		e.finishProbe()
	}
	if p.Probe == 0 {
		return
	}
	if c.id != p.Probe {
		*c = cluster{id: p.Probe, firstSend: p.SendNS}
	}
	c.packets++
	c.lastSend = max(c.lastSend, p.SendNS)
	c.sentBytes += p.Size
	c.lastSentSize = p.Size
	if p.ArrivalNS == 0 {
		c.lost++
		return
	}
	if c.received == 0 || p.ArrivalNS < c.firstArrival {
		c.firstArrival, c.firstRecvSize = p.ArrivalNS, p.Size
	}
	c.lastArrival = max(c.lastArrival, p.ArrivalNS)
	c.received++
	c.recvBytes += p.Size
}

// finishProbe turns the cluster into a rate (libwebrtc's
// ProbeBitrateEstimator): what was sent over the send span, what arrived
// over the arrival span; a path that delivered clearly less than was sent
// is saturated, and its delivery rate (less 5 %) is the result. A result
// above the estimate lifts it unless the detector sees overuse.
func (e *Estimator) finishProbe() {
	c := e.probe
	e.probe = cluster{}
	if c.packets < probeMinPackets || c.received < probeMinPackets {
		return
	}
	sendSpan, recvSpan := float64(c.lastSend-c.firstSend), float64(c.lastArrival-c.firstArrival)
	if sendSpan < 1e6 || recvSpan < 1e6 {
		return
	}
	sendRate := float64(c.sentBytes-c.lastSentSize) * 8 * 1e9 / sendSpan
	recvRate := float64(c.recvBytes-c.firstRecvSize) * 8 * 1e9 / recvSpan
	result := math.Min(sendRate, recvRate)
	if recvRate < 0.9*sendRate || float64(c.lost) > 0.1*float64(c.packets) {
		result = 0.95 * recvRate
	}
	e.lastProbe = uint64(result)
	if e.signal != Overusing && result > e.rate {
		e.rate = math.Min(result, float64(e.cfg.Max))
		if e.capAvg > 0 && result > e.capAvg+3*math.Sqrt(e.capVar) {
			e.capAvg, e.capVar = 0, 0 // the path opened up
		}
	}
}

func (e *Estimator) addToGroup(p *Packet) {
	if !e.haveCur {
		e.cur = group{p.SendNS, p.SendNS, p.ArrivalNS, p.ArrivalNS, p.Size}
		e.haveCur = true
		e.firstArrival = p.ArrivalNS
		return
	}
	// A packet sent within the group's 5 ms belongs to it; so does one
	// that arrived in a burst right behind it, sent later but delivered
	// with less delay (libwebrtc's InterArrival::BelongsToBurst): a
	// receiver that was not scheduled for a while delivers a backlog at
	// once, which is no sign of a queue on the path.
	arrDelta := p.ArrivalNS - e.cur.lastArrival
	burst := arrDelta >= 0 && arrDelta <= burstNS && arrDelta-(p.SendNS-e.cur.lastSend) < 0 && p.ArrivalNS-e.cur.firstArrival < 100e6
	if burst || p.SendNS-e.cur.firstSend <= burstNS && p.SendNS >= e.cur.firstSend {
		e.cur.lastSend = max(e.cur.lastSend, p.SendNS)
		e.cur.lastArrival = max(e.cur.lastArrival, p.ArrivalNS)
		e.cur.size += p.Size
		return
	}
	if p.SendNS < e.cur.firstSend {
		return // reordered across groups: too late to place
	}
	if e.havePrev {
		sendDelta := float64(e.cur.lastSend-e.prev.lastSend) / 1e6
		arrDelta := float64(e.cur.lastArrival-e.prev.lastArrival) / 1e6
		if arrDelta >= 0 {
			e.updateTrend(arrDelta-sendDelta, sendDelta, e.cur.lastArrival)
		}
	}
	e.prev, e.havePrev = e.cur, true
	e.cur = group{p.SendNS, p.SendNS, p.ArrivalNS, p.ArrivalNS, p.Size}
}

// updateTrend is libwebrtc's TrendlineEstimator plus OveruseDetector.
func (e *Estimator) updateTrend(delayMS, sendDeltaMS float64, arrival int64) {
	e.numDeltas = min(e.numDeltas+1, 1000)
	e.acc += delayMS
	e.smoothed = trendSmoothing*e.smoothed + (1-trendSmoothing)*e.acc
	x := float64(arrival-e.firstArrival) / 1e6
	if e.nTrend < trendWindow {
		e.xs[e.nTrend], e.ys[e.nTrend] = x, e.smoothed
		e.nTrend++
	} else {
		copy(e.xs[:], e.xs[1:])
		copy(e.ys[:], e.ys[1:])
		e.xs[trendWindow-1], e.ys[trendWindow-1] = x, e.smoothed
	}
	if e.nTrend < trendWindow {
		return
	}
	var mx, my float64
	for i := range e.xs {
		mx += e.xs[i]
		my += e.ys[i]
	}
	mx /= trendWindow
	my /= trendWindow
	var num, den float64
	for i := range e.xs {
		num += (e.xs[i] - mx) * (e.ys[i] - my)
		den += (e.xs[i] - mx) * (e.xs[i] - mx)
	}
	slope := e.prevTrend
	if den != 0 {
		slope = num / den
	}
	e.detect(slope, sendDeltaMS, arrival)
	e.prevTrend = slope
}

func (e *Estimator) detect(slope, sendDeltaMS float64, now int64) {
	t := float64(min(e.numDeltas, 60)) * slope * trendGain
	switch {
	case t > e.threshold:
		e.overMS += sendDeltaMS
		e.overCount++
		if e.overMS > overuseTimeMS && e.overCount > 1 && slope >= e.prevTrend {
			e.overMS, e.overCount = 0, 0
			e.signal = Overusing
		}
	case t < -e.threshold:
		e.overMS, e.overCount = 0, 0
		e.signal = Underusing
	default:
		e.overMS, e.overCount = 0, 0
		e.signal = Normal
	}
	// Adaptive threshold (gcc-02 §5.4): slow to rise, quicker to fall;
	// outliers far above it leave it alone.
	if at := math.Abs(t); at <= e.threshold+15 {
		dt := 100.0
		if e.lastThresholdNS != 0 {
			dt = math.Min(float64(now-e.lastThresholdNS)/1e6, 100)
		}
		k := thresholdUp
		if at < e.threshold {
			k = thresholdDown
		}
		e.threshold = math.Max(6, math.Min(600, e.threshold+k*(at-e.threshold)*dt))
	}
	e.lastThresholdNS = now
}

// acked is the bitrate of what arrived in the last ackWindowNS of arrival
// time, 0 while too little is known.
func (e *Estimator) acked() float64 {
	if e.ackN < 2 {
		return 0
	}
	last := int64(math.MinInt64)
	for i := 0; i < e.ackN; i++ {
		last = max(last, e.acks[i].arrival)
	}
	var bytes int
	first := last
	for i := 0; i < e.ackN; i++ {
		a := e.acks[i]
		if last-a.arrival < ackWindowNS {
			bytes += a.size
			first = min(first, a.arrival)
		}
	}
	span := float64(last - first)
	if span < 100e6 {
		return 0
	}
	return float64(bytes) * 8 * 1e9 / math.Max(span, ackWindowNS*0.8)
}

func (e *Estimator) updateLoss(now int64) {
	if e.lossStart == 0 {
		e.lossStart = now
	}
	if e.lossSent < lossWindowPkts || now-e.lossStart < lossWindowNS {
		return
	}
	if e.lossSent > 0 && e.rate > 0 {
		loss := float64(e.lossLost) / float64(e.lossSent)
		e.lastLoss = loss
		cur := float64(e.Estimate())
		switch {
		case loss > 0.10:
			e.lossCap = math.Max(float64(e.cfg.Min), cur*(1-0.5*loss))
		case loss < 0.02 && e.lossCap > 0:
			// The loss is over: recover within a few seconds (the delay
			// detector still guards against a queue).
			e.lossCap *= 1.5
			if e.lossCap >= e.rate {
				e.lossCap = 0
			}
		}
	}
	e.lossSent, e.lossLost, e.lossStart = 0, 0, now
}

func (e *Estimator) updateRate(now int64) {
	acked := e.acked()
	if e.rate == 0 {
		if acked == 0 {
			return
		}
		e.rate = math.Max(acked, float64(e.cfg.Start))
		e.lastNS = now
	}
	dt := math.Min(float64(now-e.lastNS), maxUpdateGapNS) / 1e9
	e.lastNS = now
	switch e.signal {
	case Overusing:
		if now-e.lastCut >= decreaseEveryNS {
			base := e.rate
			if acked > 0 {
				base = acked
				e.noteCapacity(acked)
			}
			e.rate = math.Min(e.rate, beta*base)
			e.lastCut = now
		}
		e.increase = false
	case Underusing:
		e.increase = false // queues drain: hold
	case Normal:
		if !e.increase {
			e.increase = true
			break
		}
		limit := 1.5*acked + 10_000
		if acked == 0 || e.rate >= limit {
			break // what arrived does not back a higher rate
		}
		if e.capAvg > 0 && acked > e.capAvg+3*math.Sqrt(e.capVar) {
			e.capAvg, e.capVar = 0, 0
		}
		next := e.rate * math.Pow(1.08, dt)
		if e.capAvg > 0 && e.rate > e.capAvg-3*math.Sqrt(e.capVar) {
			next = e.rate + additivePerSecBp*dt // near the known capacity
		}
		e.rate = math.Min(next, limit)
	}
	e.rate = math.Max(float64(e.cfg.Min), math.Min(float64(e.cfg.Max), e.rate))
}

// noteCapacity keeps the mean and variance of the rate acknowledged when
// overuse was detected (libwebrtc's LinkCapacityEstimator).
func (e *Estimator) noteCapacity(r float64) {
	if e.capAvg == 0 {
		e.capAvg, e.capVar = r, (0.4*r)*(0.4*r)
		return
	}
	e.capAvg = 0.95*e.capAvg + 0.05*r
	d := r - e.capAvg
	e.capVar = math.Max(0.95*e.capVar+0.05*d*d, (0.05*e.capAvg)*(0.05*e.capAvg))
}
