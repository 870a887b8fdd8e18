package sfu

import (
	"slices"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

func TestRecvStatsNACKAndReport(t *testing.T) {
	var r recvStats
	ms := int64(time.Millisecond)
	now := int64(1e9)
	// 100..109 with 103 and 105 lost, then 110 after a wrap-free jump.
	for s := uint16(100); s < 110; s++ {
		if s == 103 || s == 105 {
			continue
		}
		r.record(s, uint32(s)*3000, now, 90000)
		now += 10 * ms
	}
	_ = got(t, &r, now, []uint16{105, 103})
	r.record(103, 103*3000, now, 90000) // a repair arrives
	_ = got(t, &r, now+60*ms, []uint16{105})
	for i := 0; i < nackMaxTries; i++ {
		r.missing(nil, now+int64(100+i)*ms, 0)
	}
	_ = got(t, &r, now+time.Second.Nanoseconds(), nil) // gave up
	// A fresh gap waits nackMinAge for reordering.
	r.record(111, 111*3000, now, 90000)
	_ = got(t, &r, now+5*ms, nil)
	_ = got(t, &r, now+30*ms, []uint16{110})

	rr, ok := r.report(42, time.Unix(0, now))
	if !ok || rr.SSRC != 42 || rr.LastSequenceNumber != 111 || rr.TotalLost != 2 || rr.FractionLost != 2*256/12 {
		t.Errorf("report = %+v", rr)
	}
	// Nothing new: no loss in the next interval.
	if rr, _ := r.report(42, time.Unix(0, now)); rr.FractionLost != 0 {
		t.Errorf("second report = %+v", rr)
	}
}

func got(t *testing.T, r *recvStats, now int64, want []uint16) []uint16 {
	t.Helper()
	g := r.missing(nil, now, 0)
	if !slices.Equal(g, want) {
		t.Errorf("missing at %d = %v, want %v", now, g, want)
	}
	return g
}

func TestRecvStatsWrap(t *testing.T) {
	var r recvStats
	for i, s := 0, uint16(65530); i < 12; i, s = i+1, s+1 {
		r.record(s, 0, int64(i)*1e7, 0)
	}
	rr, _ := r.report(1, time.Unix(1, 0))
	if rr.LastSequenceNumber != 1<<16|5 || rr.TotalLost != 0 {
		t.Errorf("report across the wrap = %+v", rr)
	}
}

func TestQualityLevel(t *testing.T) {
	for _, tc := range []struct {
		name string
		loss float64
		rtt  uint32
		want int
	}{
		{"clean", 0, 20, QualityExcellent},
		{"some loss", 0.03, 20, QualityGood},
		{"slow", 0, 300, QualityPoor},
		{"lossy", 0.15, 50, QualityBad},
		{"awful", 0.5, 50, QualityVbad},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := qualityLevel(tc.loss, tc.rtt); got != tc.want {
				t.Errorf("qualityLevel(%v, %v) = %d, want %d", tc.loss, tc.rtt, got, tc.want)
			}
		})
	}
}

func TestLossBasedEstimate(t *testing.T) {
	p := &Peer{}
	p.noteReceiverReport(64, 0, 1_000_000) // 25 % loss at 1 Mbit/s
	if got := p.q.bwe.Load(); got != 875_000 {
		t.Errorf("after 25%% loss: %d", got)
	}
	p.noteReceiverReport(0, 0, 0)
	if got := p.q.bwe.Load(); got != 945_000 {
		t.Errorf("after a clean report: %d", got)
	}
}

// A sequence number NACKed is asked for again only after the retry time
// (1.5 round trips, nackTick), not on every tick; a stream with nothing
// missing is not scanned (quiet) until its next gap.
func TestRecvStatsNACKRetry(t *testing.T) {
	var r recvStats
	ms := int64(time.Millisecond)
	now := int64(1e9)
	for _, s := range []uint16{1, 2, 4} {
		r.record(s, 0, now, 90000)
	}
	retry := 50 * ms
	at := now + 20*ms
	for _, tc := range []struct {
		after int64
		want  []uint16
	}{{0, []uint16{3}}, {20 * ms, nil}, {49 * ms, nil}, {50 * ms, []uint16{3}}, {80 * ms, nil}, {100 * ms, []uint16{3}}} {
		if g := r.missing(nil, at+tc.after, retry); !slices.Equal(g, tc.want) {
			t.Errorf("%d ms after the first NACK: missing %v, want %v", tc.after/ms, g, tc.want)
		}
	}
	r.record(3, 0, at+110*ms, 90000)
	if g := r.missing(nil, at+200*ms, retry); g != nil || !r.quiet {
		t.Errorf("after the repair: missing %v, quiet %v", g, r.quiet)
	}
	r.record(6, 0, at+210*ms, 90000)
	if r.quiet {
		t.Error("a new gap left the stream quiet")
	}
	if g := r.missing(nil, at+240*ms, retry); !slices.Equal(g, []uint16{5}) {
		t.Errorf("the new gap: missing %v, want [5]", g)
	}
}

// The 20 ms NACK tick of a peer with nothing missing allocates nothing.
func TestNACKTickQuietAllocatesNothing(t *testing.T) {
	p := &Peer{tracks: map[*webrtc.RTPReceiver]*pubTrack{}}
	tr := &pubTrack{peer: p}
	l := &layer{t: tr, ring: newRing(videoRing)}
	tr.layers = []*layer{l}
	p.tracks[nil] = tr
	for s := uint16(1); s < 10; s++ {
		l.recv.record(s, 0, 1e9, 90000)
	}
	now := time.Unix(2, 0)
	p.nackTick(now) // looks once: nothing missing, quiet from then on
	if allocs := testing.AllocsPerRun(100, func() { p.nackTick(now) }); allocs != 0 {
		t.Errorf("a quiet NACK tick allocates %.1f times", allocs)
	}
}
