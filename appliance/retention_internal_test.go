package appliance

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"callbox/signaling/call/record"
	"callbox/store"
)

// fakeClock is a clock the test sets; the pruner reads it from its goroutine.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *fakeClock) set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// syncBuffer is a log destination read by the test while the pruner writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestPrunerRunsOnItsClock(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), store.FileName), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const app = 1400000001
	put := func(id string, start, end time.Time) {
		t.Helper()
		rec := record.Call{SDKAppID: app, CallID: id, State: record.CallActive, StartAt: start,
			Participants: []record.Participant{{UserID: "alice", Role: "caller", State: record.PartJoined}}}
		if !end.IsZero() {
			rec.State, rec.Result, rec.EndAt = record.CallEnded, record.ResultNormalEnd, end
		}
		if err := st.Update(func(tx *store.Tx) error { return tx.PutCall(rec) }); err != nil {
			t.Fatal(err)
		}
	}
	// Seven old records: three batches of three.
	for i := range 7 {
		start := t0.Add(time.Duration(i) * time.Minute)
		put(fmt.Sprintf("old%d", i), start, start.Add(time.Minute))
	}
	put("live", t0, time.Time{})
	put("later", t0.Add(50*24*time.Hour), t0.Add(50*24*time.Hour+time.Minute))
	left := func() []string {
		t.Helper()
		var ids []string
		st.View(func(tx *store.Tx) error {
			recs, err := tx.Calls(store.CallFilter{SDKAppID: app, User: "alice"})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				ids = append(ids, r.CallID)
			}
			return nil
		})
		return ids
	}

	clock := &fakeClock{t: t0.Add(time.Hour)}
	var logs syncBuffer
	waits := make(chan time.Duration)
	ticks := make(chan time.Time)
	p := &pruner{
		store:     st,
		retention: 30 * 24 * time.Hour,
		interval:  time.Hour,
		batch:     3,
		now:       clock.now,
		// The pruner asks for its next wake-up once a pass is done.
		after: func(d time.Duration) <-chan time.Time { waits <- d; return ticks },
		log:   slog.New(slog.NewTextHandler(&logs, nil)),
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.run(ctx) }()
	passDone := func() {
		t.Helper()
		select {
		case d := <-waits:
			if d != time.Hour {
				t.Fatalf("next pass in %v, want 1h", d)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("pruning pass did not finish")
		}
	}

	tests := []struct {
		name string
		now  time.Time
		want []string
	}{
		{"at start nothing is old enough", t0.Add(time.Hour), []string{"later", "old6", "old5", "old4", "old3", "old2", "old1", "old0", "live"}},
		{"a month on the old ones go", t0.Add(40 * 24 * time.Hour), []string{"later", "live"}},
		{"later goes in its turn, live stays", t0.Add(100 * 24 * time.Hour), []string{"live"}},
	}
	for i, tc := range tests {
		clock.set(tc.now)
		if i > 0 {
			ticks <- tc.now
		}
		passDone()
		if got := left(); !equalIDs(got, tc.want) {
			t.Fatalf("%s: records %v, want %v", tc.name, got, tc.want)
		}
	}
	if out := logs.String(); !bytes.Contains([]byte(out), []byte(`msg="call records pruned" count=7`)) {
		t.Errorf("logs do not count the pruned records:\n%s", out)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop with its context")
	}
}

func TestPrunerKeepsForever(t *testing.T) {
	p := &pruner{retention: KeepRecordsForever}
	// Returns at once, without touching the (nil) store or clock.
	if err := p.run(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func equalIDs(a, b []string) bool {
	return fmt.Sprint(a) == fmt.Sprint(b)
}
