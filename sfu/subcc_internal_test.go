package sfu

import (
	"callbox/sfu/bwe"
	"fmt"
	"testing"
	"time"

	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
)

// TestFeedbackParse feeds transport-cc feedback built by pion's recorder
// (run-length and status-vector chunks, small and large deltas, losses)
// through our own parser and checks every packet's send and arrival time.
func TestFeedbackParse(t *testing.T) {
	var c subCC
	c.enable()
	const n = 300
	arrivals := map[uint16]int64{} // µs, receiver clock
	rec := twcc.NewRecorder(1)
	at := int64(1_000_000)
	for i := 0; i < n; i++ {
		seq := c.stamp(1000+i, int64(i)*1e6)
		switch {
		case i%17 == 5 || i >= 100 && i < 120: // lost, alone and in a run
			continue
		case i == 200:
			at += 300_000 // a large delta
		case i == 250:
			at -= 3_000 // reordered: a negative (large) delta
		default:
			at += 1_000 + int64(i%7)*250
		}
		arrivals[seq] = at
		rec.Record(7, seq, at)
	}
	var raw []byte
	for _, p := range rec.BuildFeedbackPacket() {
		b, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, b...)
	}
	raw = append(raw, mustMarshal(t, &rtcp.PictureLossIndication{MediaSSRC: 7})...)
	got := map[int]int64{} // arrivals as parsed by send time (= index), ns, 0 = lost
	other := splitTWCC(raw, func(body []byte) {
		c.feedback(body, 1)
		for _, p := range c.pkts {
			got[int(p.SendNS/1e6)] = p.ArrivalNS
		}
	})
	if !other {
		t.Error("the PLI in the compound went unnoticed")
	}
	// pion's recorder reports from its second packet on.
	if len(got) < n-1 {
		t.Fatalf("parsed %d packets, want %d", len(got), n-1)
	}
	var first int64
	for i := 1; i < n; i++ {
		a := got[i]
		want, ok := arrivals[uint16(i)]
		if !ok {
			if a != 0 {
				t.Errorf("packet %d: lost, parsed as arrived at %d", i, a)
			}
			continue
		}
		if a == 0 {
			t.Fatalf("packet %d: arrived, parsed as lost", i)
		}
		if first == 0 {
			first = a - want*1000
		}
		// Deltas are quantised to 250 µs.
		if d := a - first - want*1000; d > 250_000 || d < -250_000 {
			t.Errorf("packet %d: arrival %d µs, want %d", i, (a-first)/1000, want)
		}
	}
	if c.est == nil || c.est.Acked() == 0 {
		t.Error("the feedback reached no estimate")
	}
	allocs := testing.AllocsPerRun(50, func() {
		splitTWCC(raw, func(body []byte) { c.feedback(body, 2) })
	})
	if allocs != 0 {
		t.Errorf("parsing feedback allocates %.1f times", allocs)
	}
}

func mustMarshal(t *testing.T, p rtcp.Packet) []byte {
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Probe cluster ids fit the send log's 5 bits and are never 0 ("none").
func TestProbeClusterIDs(t *testing.T) {
	c := subCC{est: bwe.New(bwe.Config{})}
	now := time.Unix(1000, 0)
	for i := 0; i < 100; i++ {
		id := c.startProbe(now)
		if id < 1 || id > 31 || packSent(1, 100, id, 5).probe() != id {
			t.Fatalf("probe %d: cluster id %d does not survive the log", i, id)
		}
		c.probing.Store(false)
		now = now.Add(probeEveryMax)
	}
}

// Probes that do not lift the estimate come ever less often (2, 4, 4 s
// apart), and none comes within probeAfterCut of a cut: on a full path
// each probe costs the media packets.
func TestProbeBackoff(t *testing.T) {
	c := subCC{est: bwe.New(bwe.Config{})}
	// A second of steady 1 Mbit/s with a steady delay: an estimate.
	t0 := int64(1000e9)
	var pkts []bwe.Packet
	for i := range 1000 {
		send := t0 + int64(i)*1e6
		pkts = append(pkts, bwe.Packet{SendNS: send, ArrivalNS: send + 20e6, Size: 125})
	}
	c.est.Update(t0+1020e6, pkts)
	if c.est.Estimate() == 0 {
		t.Fatal("no estimate to probe above")
	}
	now := time.Unix(0, t0+2e9)
	var starts []time.Duration
	for el := time.Duration(0); el <= 12*time.Second; el += 100 * time.Millisecond {
		if c.startProbe(now.Add(el)) != 0 {
			starts = append(starts, el)
			c.probing.Store(false)
		}
	}
	want := []time.Duration{0, 2 * time.Second, 6 * time.Second, 10 * time.Second}
	if fmt.Sprint(starts) != fmt.Sprint(want) {
		t.Errorf("failing probes started at %v, want %v", starts, want)
	}
	c.lastCut = now.Add(20 * time.Second).UnixNano()
	if id := c.startProbe(now.Add(20*time.Second + probeAfterCut - time.Millisecond)); id != 0 {
		t.Errorf("a probe started %v after a cut", probeAfterCut-time.Millisecond)
	}
	if id := c.startProbe(now.Add(20*time.Second + probeAfterCut)); id == 0 {
		t.Errorf("no probe %v after a cut and long after the last probe", probeAfterCut)
	}
}
