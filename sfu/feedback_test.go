package sfu

import (
	"slices"
	"testing"
	"time"
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
		r.missing(nil, now+int64(100+i)*ms)
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
	g := r.missing(nil, now)
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
