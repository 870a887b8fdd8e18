package bwe

import (
	"testing"
)

// link is a synthetic bottleneck: a FIFO drained at capacity(t) bits/s,
// tail drop past maxQueue of delay, then a fixed propagation delay. The
// sender sends what the estimate allows (300 kbit/s before it has one) as
// 1,200-byte packets paced every 5 ms, plus, when probing, a 200 ms cluster
// at twice the estimate once a second. Feedback goes back every 100 ms.
type link struct {
	capacity func(ns int64) float64
	maxQueue int64
	prop     int64
	probe    bool

	lastDepart int64
	pending    []Packet
	nextProbe  int
	fb         []Packet
}

const ms = int64(1e6)

func (l *link) send(now int64, size, probe int) {
	c := l.capacity(now)
	depart := max(now, l.lastDepart) + int64(float64(size)*8*1e9/c)
	p := Packet{SendNS: now, Size: size, Probe: probe}
	if depart-now <= l.maxQueue {
		l.lastDepart = depart
		p.ArrivalNS = depart + l.prop
	}
	l.pending = append(l.pending, p)
}

// feedback reports, in send order, every pending packet that arrived by
// now; a lost one is reported once a later one has been.
func (l *link) feedback(now int64) []Packet {
	l.fb = l.fb[:0]
	n := 0
	for n < len(l.pending) {
		p := l.pending[n]
		if p.ArrivalNS != 0 && p.ArrivalNS > now {
			break
		}
		n++
	}
	// trailing losses wait for a later arrival to be known as lost
	for n > 0 && l.pending[n-1].ArrivalNS == 0 {
		n--
	}
	l.fb = append(l.fb, l.pending[:n]...)
	l.pending = append(l.pending[:0], l.pending[n:]...)
	return l.fb
}

// run drives e over the link for dur and returns the estimate sampled
// every 100 ms.
func (l *link) run(e *Estimator, from, dur int64) []uint64 {
	var samples []uint64
	var credit float64
	probeUntil, probeID := int64(0), 0
	for now := from; now < from+dur; now += 5 * ms {
		rate := float64(e.Estimate())
		if rate == 0 {
			rate = 300_000
		}
		if l.probe && (now/ms)%1000 == 0 {
			probeUntil = now + 200*ms
			l.nextProbe++
			probeID = l.nextProbe
		}
		id := 0
		if now < probeUntil {
			id = probeID
			rate *= 2
		}
		credit += rate * 5e-3 / 8
		for credit >= 1200 {
			l.send(now, 1200, id)
			credit -= 1200
		}
		if (now/ms)%100 == 0 {
			e.Update(now+l.prop, l.feedback(now))
			samples = append(samples, e.Estimate())
		}
	}
	return samples
}

func step(at int64, before, after float64) func(int64) float64 {
	return func(ns int64) float64 {
		if ns < at {
			return before
		}
		return after
	}
}

func minMax(s []uint64) (lo, hi uint64) {
	lo = s[0]
	for _, v := range s {
		lo, hi = min(lo, v), max(hi, v)
	}
	return lo, hi
}

// firstAt is the index of the first sample that satisfies ok, -1 if none.
func firstAt(s []uint64, ok func(uint64) bool) int {
	for i, v := range s {
		if ok(v) {
			return i
		}
	}
	return -1
}

func TestSteadyCapacity(t *testing.T) {
	const capacity = 2_500_000
	l := &link{capacity: step(0, capacity, capacity), maxQueue: 300 * ms, prop: 20 * ms}
	s := l.run(New(Config{}), 0, 60_000*ms)
	if i := firstAt(s, func(v uint64) bool { return v >= 0.8*capacity }); i < 0 || i > 400 {
		t.Fatalf("estimate reached 80%% of %d at sample %d (of 100 ms; want by 40 s): %v", capacity, i, s[:len(s):len(s)])
	}
	lo, hi := minMax(s[400:])
	if lo < 0.6*capacity || hi > 1.4*capacity {
		t.Errorf("estimate over the last 20 s ranged %d..%d, want within 60..140%% of %d", lo, hi, capacity)
	}
}

func TestFallingCapacity(t *testing.T) {
	l := &link{capacity: step(40_000*ms, 2_000_000, 500_000), maxQueue: 300 * ms, prop: 20 * ms}
	e := New(Config{})
	s := l.run(e, 0, 60_000*ms)
	if lo, _ := minMax(s[350:400]); lo < 1_200_000 {
		t.Fatalf("before the drop the estimate fell to %d", lo)
	}
	after := s[400:]
	i := firstAt(after, func(v uint64) bool { return v <= 650_000 })
	if i < 0 || i > 30 {
		t.Fatalf("estimate came under 650 kbit/s %d samples (100 ms) after the drop, want within 3 s: %v", i, after[:40])
	}
	if lo, hi := minMax(after[50:]); lo < 250_000 || hi > 800_000 {
		t.Errorf("after the drop the estimate ranged %d..%d, want 250..800 kbit/s", lo, hi)
	}
}

func TestRisingCapacityWithProbes(t *testing.T) {
	l := &link{capacity: step(20_000*ms, 500_000, 2_500_000), maxQueue: 300 * ms, prop: 20 * ms, probe: true}
	e := New(Config{})
	s := l.run(e, 0, 40_000*ms)
	if _, hi := minMax(s[100:200]); hi > 900_000 {
		t.Fatalf("under a 500 kbit/s link the estimate rose to %d", hi)
	}
	after := s[200:]
	i := firstAt(after, func(v uint64) bool { return v >= 1_500_000 })
	if i < 0 || i > 100 {
		t.Fatalf("estimate reached 1.5 Mbit/s %d samples (100 ms) after the link opened, want within 10 s: %v", i, after[:100])
	}
	if e.LastProbe() == 0 {
		t.Error("no probe cluster was measured")
	}
}

// Without probes the estimate still climbs, more slowly, on the acked rate.
func TestRisingCapacityWithoutProbes(t *testing.T) {
	l := &link{capacity: step(20_000*ms, 500_000, 2_500_000), maxQueue: 300 * ms, prop: 20 * ms}
	s := l.run(New(Config{}), 0, 60_000*ms)
	if i := firstAt(s[200:], func(v uint64) bool { return v >= 1_500_000 }); i < 0 {
		t.Fatalf("estimate never reached 1.5 Mbit/s in 40 s after the link opened")
	}
}

func TestLossCapsEstimate(t *testing.T) {
	e := New(Config{})
	now := int64(0)
	var pkts []Packet
	// 1 Mbit/s acknowledged with 25 % loss, steady delay.
	for round := 0; round < 80; round++ {
		pkts = pkts[:0]
		for i := 0; i < 40; i++ {
			send := now + int64(i)*int64(2.5*float64(ms))
			p := Packet{SendNS: send, ArrivalNS: send + 20*ms, Size: 1200}
			if i%4 == 0 {
				p.ArrivalNS = 0
			}
			pkts = append(pkts, p)
		}
		now += 100 * ms
		e.Update(now+20*ms, pkts)
	}
	if got := e.Estimate(); got == 0 || got > 800_000 {
		t.Errorf("estimate under 25%% loss at ~1 Mbit/s = %d, want a cap below 800 kbit/s (about 1.1 Mbit/s without it)", got)
	}
}

func TestUpdateAllocs(t *testing.T) {
	e := New(Config{})
	pkts := make([]Packet, 50)
	now := int64(0)
	allocs := testing.AllocsPerRun(100, func() {
		for i := range pkts {
			pkts[i] = Packet{SendNS: now + int64(i)*2*ms, ArrivalNS: now + int64(i)*2*ms + 20*ms, Size: 1000}
		}
		now += 100 * ms
		e.Update(now, pkts)
	})
	if allocs != 0 {
		t.Errorf("Update allocates %.1f times per call", allocs)
	}
}

// A deep buffer loses nothing: only the delay gradient can see the drop.
func TestFallingCapacityDeepBuffer(t *testing.T) {
	l := &link{capacity: step(40_000*ms, 2_000_000, 500_000), maxQueue: 10_000 * ms, prop: 20 * ms}
	s := l.run(New(Config{}), 0, 60_000*ms)
	after := s[400:]
	if i := firstAt(after, func(v uint64) bool { return v <= 650_000 }); i < 0 || i > 30 {
		t.Fatalf("estimate came under 650 kbit/s %d samples (100 ms) after the drop, want within 3 s: %v", i, after[:40])
	}
}
