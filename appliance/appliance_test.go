package appliance_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"callbox/appliance"
	"callbox/appliance/callstore"
	"callbox/signaling/call"
	"callbox/signaling/call/record"
	"callbox/store"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// countApps reads how many apps st holds.
func countApps(t *testing.T, st *store.Store) int {
	t.Helper()
	var apps []store.App
	if err := st.View(func(tx *store.Tx) (err error) { apps, err = tx.Apps(); return err }); err != nil {
		t.Fatal(err)
	}
	return len(apps)
}

func TestFirstStartCreatesOneDefaultApp(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	var out bytes.Buffer
	cfg := testConfig(t, dir, nil)
	cfg.Out, cfg.Now = &out, func() time.Time { return t0 }
	a, err := appliance.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Nothing before Run has bound its listeners.
	if n := countApps(t, a.Store()); n != 0 || out.Len() != 0 {
		t.Fatalf("after New: %d apps, printed %q", n, out.String())
	}
	stop := runInBackground(t, a)
	if !strings.Contains(out.String(), "SDKAppID:") || !strings.Contains(out.String(), "Key:") {
		t.Fatalf("banner = %q", out.String())
	}
	if n := countApps(t, a.Store()); n != 1 {
		t.Fatalf("%d apps after the first start", n)
	}
	stop()

	// A call left live by a process that "crashed" after its last
	// liveness mark at t0+30m is closed on the next start, by New.
	st, err := appliance.OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	err = st.Update(func(tx *store.Tx) error {
		return tx.PutCall(record.Call{SDKAppID: 1400000001, CallID: "c1", State: record.CallActive, StartAt: t0,
			Participants: []record.Participant{{UserID: "a", Role: "caller", State: record.PartJoined}}})
	})
	if err != nil {
		t.Fatal(err)
	}
	crashed := t0.Add(30 * time.Minute)
	if err := callstore.New(st, callstore.Options{Now: func() time.Time { return crashed }}).MarkAlive(); err != nil {
		t.Fatal(err)
	}
	st.Close()

	out.Reset()
	cfg = testConfig(t, dir, nil)
	cfg.Out, cfg.Now = &out, func() time.Time { return t0.Add(time.Hour) }
	a, err = appliance.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a.Store().View(func(tx *store.Tx) error {
		rec, err := tx.Call(1400000001, "c1")
		if err != nil || rec.State != record.CallEnded || rec.Result != record.ResultInterrupt || !rec.EndAt.Equal(crashed) {
			t.Errorf("left-over call = %+v, %v; want interrupt at %v", rec, err, crashed)
		}
		// The per-event callback, then the call status callback.
		out, _ := tx.Outbox(0, 0)
		if len(out) != 2 || out[0].Command != "caller_call_interrupted" || out[1].Command != "call_end" ||
			!strings.Contains(string(out[0].Body), `"CallResult":"interrupt"`) || !strings.Contains(string(out[1].Body), `"CallResult":"interrupt"`) {
			t.Errorf("outbox after restart = %+v", out)
		}
		return nil
	})
	runInBackground(t, a)
	// No second app banner; only the setup link again, as there is
	// still no admin (docs/admin.md §1).
	if strings.Contains(out.String(), "SDKAppID") || !strings.Contains(out.String(), "/admin/#setup=") {
		t.Fatalf("second start printed %q", out.String())
	}
	if n := countApps(t, a.Store()); n != 1 {
		t.Errorf("%d apps after two starts", n)
	}
}

// TestFailedStartCreatesNoApp: a serve that cannot bind its HTTP port or
// its control socket fails without creating the default app or printing a
// key (which would belong to a server that never ran).
func TestFailedStartCreatesNoApp(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name    string
		prepare func(t *testing.T, dir string, cfg *appliance.Config)
		want    string
	}{
		{"http port in use", func(t *testing.T, dir string, cfg *appliance.Config) {
			cfg.HTTPListener.Close()
			cfg.HTTPListener, cfg.HTTPAddr = nil, busy.Addr().String()
		}, "listen http"},
		{"control socket unusable", func(t *testing.T, dir string, cfg *appliance.Config) {
			// A non-empty directory where the socket goes cannot be
			// removed as a stale socket.
			if err := os.MkdirAll(filepath.Join(dir, appliance.ControlSocketName, "x"), 0o700); err != nil {
				t.Fatal(err)
			}
		}, "control socket"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			var out bytes.Buffer
			cfg := testConfig(t, dir, nil)
			cfg.Out = &out
			tc.prepare(t, dir, &cfg)
			a, err := appliance.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Run(context.Background()); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run = %v, want an error about %s", err, tc.want)
			}
			select {
			case <-a.Ready():
				t.Errorf("Ready closed although Run failed")
			default:
			}
			if out.Len() != 0 {
				t.Errorf("printed %q", out.String())
			}
			st, err := appliance.OpenStore(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if n := countApps(t, st); n != 0 {
				t.Errorf("%d apps after a failed start", n)
			}
		})
	}
}

func TestRunServesHealthAndStops(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a, err := appliance.New(appliance.Config{DataDir: dir, HTTPListener: ln, Version: "1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	waitReady(t, a, done)

	// The world learns only that the server answers.
	resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != `{"status":"ok"}` {
		t.Fatalf("healthz = %d %s", resp.StatusCode, body)
	}
	// The owner gets the details on the control socket.
	adm, err := appliance.OpenAdmin(ctx, dir, false)
	if err != nil {
		t.Fatal(err)
	}
	h, err := adm.Health(ctx)
	if err != nil || h.Status != "ok" || h.Version != "1.2.3" || h.GoVersion != runtime.Version() || h.Uptime < 0 || h.StartedAt == "" {
		t.Fatalf("health over the control socket = %+v, %v", h, err)
	}
	apps, err := adm.Apps(ctx)
	if err != nil || len(apps) != 1 {
		t.Fatalf("apps over the control socket = %v, %v", apps, err)
	}
	if _, err := adm.RotateKey(ctx, 1); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("rotate a missing app: %v", err)
	}
	adm.Close()

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	st, err := store.Open(filepath.Join(dir, store.FileName), store.Options{})
	if err != nil {
		t.Fatalf("store not closed cleanly: %v", err)
	}
	st.Close()
}

// TestCrashedCallEndsAtLastMark: a call left live by a kill -9 ends at the
// last liveness mark, not at the restart (a 3 s call was recorded as 24 s).
func TestCrashedCallEndsAtLastMark(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	a, err := appliance.New(appliance.Config{DataDir: dir, Out: io.Discard, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	st := a.Store()
	created, err := st.CreateApp("crash", t0)
	if err != nil {
		t.Fatal(err)
	}
	app := created.SDKAppID
	now := t0
	cs := callstore.New(st, callstore.Options{Now: func() time.Time { return now }})
	engine := call.New(call.Config{})
	tr, err := engine.Call(now, call.Invite{SDKAppID: app, Caller: "alice", Callees: []string{"bob"}, Media: call.MediaAudio})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := cs.Commit(ctx, []call.Transition{tr}); err != nil {
		t.Fatal(err)
	}
	now = t0.Add(time.Second)
	engine.Online(now, app, "bob")
	acc, err := engine.Accept(now, app, "bob", tr.Call.CallID)
	if err != nil {
		t.Fatal(err)
	}
	if err := cs.Commit(ctx, []call.Transition{acc}); err != nil {
		t.Fatal(err)
	}
	now = t0.Add(4 * time.Second)
	if err := cs.MarkAlive(); err != nil { // the ticker's mark, 3 s after the last commit
		t.Fatal(err)
	}
	st.Close() // killed: nothing else is written

	a, err = appliance.New(appliance.Config{DataDir: dir, Out: io.Discard, Now: func() time.Time { return t0.Add(24 * time.Second) }})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Store().Close()
	a.Store().View(func(tx *store.Tx) error {
		rec, err := tx.Call(app, tr.Call.CallID)
		want := t0.Add(4 * time.Second)
		if err != nil || rec.Result != record.ResultInterrupt || !rec.EndAt.Equal(want) {
			t.Errorf("crashed call = %+v, %v; want interrupt at %v", rec, err, want)
		}
		for _, p := range rec.Participants {
			if !p.LeftAt.Equal(want) {
				t.Errorf("%s left at %v, want %v (%+v)", p.UserID, p.LeftAt, want, rec)
			}
		}
		return nil
	})
}

func TestInterruptAt(t *testing.T) {
	rec := record.Call{StartAt: t0, AcceptAt: t0.Add(2 * time.Second),
		Participants: []record.Participant{{JoinedAt: t0.Add(4 * time.Second)}}}
	for _, tc := range []struct {
		name  string
		alive time.Time
		want  time.Time
	}{
		{"no mark: now", time.Time{}, t0.Add(time.Hour)},
		{"mark after everything", t0.Add(10 * time.Second), t0.Add(10 * time.Second)},
		{"mark before the last join", t0.Add(3 * time.Second), t0.Add(4 * time.Second)},
		{"mark in the future: now", t0.Add(2 * time.Hour), t0.Add(time.Hour)},
	} {
		if got := callstore.InterruptAt(rec, tc.alive, t0.Add(time.Hour)); !got.Equal(tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
