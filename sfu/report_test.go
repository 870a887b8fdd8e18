package sfu

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// rrRecorder stands for a publish PC: it notes when each receiver report
// is written.
type rrRecorder struct {
	mu sync.Mutex
	at []time.Time
}

func (r *rrRecorder) WriteRTCP(pkts []rtcp.Packet) error {
	for _, p := range pkts {
		if _, ok := p.(*rtcp.ReceiverReport); ok {
			r.mu.Lock()
			r.at = append(r.at, time.Now())
			r.mu.Unlock()
		}
	}
	return nil
}

func (r *rrRecorder) times() []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.at...)
}

// addPublisher puts into r a peer publishing one video stream that has
// received a packet, so every receiver report it is due has a block.
func addPublisher(t *testing.T, r *room, id string) *rrRecorder {
	t.Helper()
	rec := &rrRecorder{}
	p := &Peer{s: r.s, room: r, id: id, streamID: "s-" + id, log: r.s.log, toPub: rec,
		send:   func(json.RawMessage) {},
		tracks: make(map[*webrtc.RTPReceiver]*pubTrack),
		downs:  make(map[*pubTrack]*downTrack),
	}
	tr := &pubTrack{peer: p, id: id + "-video", kind: webrtc.RTPCodecTypeVideo}
	l := &layer{t: tr, ssrc: 1, ring: newRing(videoRing)}
	l.recv.record(1, 0, time.Now().UnixNano(), 90000)
	tr.layers = []*layer{l}
	tr.downs.Store(&[]*downTrack{})
	tr.peak.Store(-1)
	p.tracks[new(webrtc.RTPReceiver)] = tr
	if err := r.add(p); err != nil {
		t.Fatal(err)
	}
	return rec
}

// TestReceiverReportsRegular runs Run in a synctest bubble, whose clock
// fires every ticker exactly on time; the feedback and volume ticks fall
// due together every 400 ms, and the report and quality ticks every 1 s
// and 2 s. Each publisher must get a receiver report every reportInterval
// on the dot, whatever else wakes Run (issue 9), starting one interval
// after its first feedback tick. The sleeps move the bubble's fake clock;
// they return once every goroutine in it is blocked, so they wait for no
// state.
func TestReceiverReportsRegular(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &Server{log: slog.New(slog.DiscardHandler), now: time.Now, rooms: make(map[string]*room)}
		r := newRoom(s, "r")
		s.rooms[r.name] = r
		aliceFrom := time.Now()
		alice := addPublisher(t, r, "alice")
		ctx, stop := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()

		// Bob starts between two feedback ticks: his reports keep their
		// own phase.
		time.Sleep(350 * time.Millisecond)
		bobFrom := time.Now()
		bob := addPublisher(t, r, "bob")
		time.Sleep(10 * time.Second)
		stop()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		checkReports(t, "alice", aliceFrom, alice.times())
		checkReports(t, "bob", bobFrom, bob.times())
	})
}

// checkReports wants the first report within an interval and a tick of
// from, then one every reportInterval exactly.
func checkReports(t *testing.T, who string, from time.Time, at []time.Time) {
	t.Helper()
	if len(at) < 9 {
		t.Errorf("%s: %d receiver reports in 10 s, want 9 or 10", who, len(at))
	}
	prev := from
	for i, a := range at {
		d := a.Sub(prev)
		if i == 0 && (d <= 0 || d > reportInterval+feedbackInterval) || i > 0 && d != reportInterval {
			t.Errorf("%s: report %d came %v after the previous one (%v from the start), want %v",
				who, i, d, a.Sub(from), reportInterval)
		}
		prev = a
	}
}

// TestReportClock feeds one publisher's report clock the tick times Run
// reads: the ticker's 100 ms grid plus a scheduling delay that varies,
// or, after a stall in which the ticker dropped ticks, the buffered tick
// read when Run gets back to it.
func TestReportClock(t *testing.T) {
	type tick struct{ at, late int } // ms: grid time, delay of the read
	grid := func(from, to int, late ...int) []tick {
		var ts []tick
		for i, ms := 0, from; ms <= to; i, ms = i+1, ms+100 {
			ts = append(ts, tick{ms, late[i%len(late)]})
		}
		return ts
	}
	join := func(parts ...[]tick) []tick { return slices.Concat(parts...) }
	for _, tc := range []struct {
		name  string
		ticks []tick // the first one lays the grid
		want  []int  // grid times of the ticks that send a report
	}{
		{"on time", grid(0, 3000, 0), []int{1000, 2000, 3000}},
		{"late first tick", join([]tick{{0, 45}}, grid(100, 3000, 0)), []int{1000, 2000, 3000}},
		{"varying delays", grid(0, 3000, 5, 44, 0, 20, 31, 1, 7), []int{1000, 2000, 3000}},
		{"stall over a due time", join(grid(0, 1900, 0), []tick{{2350, 0}}, grid(2400, 3000, 0)), []int{1000, 2350, 3000}},
		{"stall over two due times", join(grid(0, 1900, 0), []tick{{3250, 0}}, grid(3300, 5000, 0)), []int{1000, 3250, 4000, 5000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			var c reportClock
			var got []int
			for _, tk := range tc.ticks {
				if c.due(base.Add(time.Duration(tk.at+tk.late) * time.Millisecond)) {
					got = append(got, tk.at)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("reports at the ticks of %v ms, want %v", got, tc.want)
			}
		})
	}
}
