package appliance_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"callbox/appliance"
	"callbox/signaling/call/record"
	"callbox/store"
)

// logEvents is a JSON log destination that hands each record to the test.
type logEvents chan map[string]any

func (l logEvents) Write(p []byte) (int, error) {
	var rec map[string]any
	if json.Unmarshal(p, &rec) == nil {
		select {
		case l <- rec:
		default: // the test has what it waits for
		}
	}
	return len(p), nil
}

// waitFor returns the first record with message msg.
func (l logEvents) waitFor(t *testing.T, msg string) map[string]any {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case rec := <-l:
			if rec["msg"] == msg {
				return rec
			}
		case <-deadline:
			t.Fatalf("no %q logged", msg)
		}
	}
}

// testConfig is a loopback Config with dir and its logs going to events
// (nil: discarded).
func testConfig(t *testing.T, dir string, events logEvents) appliance.Config {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := appliance.Config{DataDir: dir, HTTPListener: ln, RTCListenIP: "127.0.0.1"}
	if events != nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(events, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return cfg
}

// runInBackground runs a until the test ends or stop is called, and
// returns once a is ready.
func runInBackground(t *testing.T, a *appliance.Appliance) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stop = sync.OnceFunc(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	t.Cleanup(stop)
	waitReady(t, a, done)
	return stop
}

// waitReady waits until a is ready, failing if Run (done) ends first.
func waitReady(t *testing.T, a *appliance.Appliance, done <-chan error) {
	t.Helper()
	select {
	case <-a.Ready():
	case err := <-done:
		t.Fatalf("Run ended before it was ready: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run not ready after 10 s")
	}
}

func TestLooseDataDirIsReported(t *testing.T) {
	tests := []struct {
		name string
		mode os.FileMode
		warn bool
	}{
		{"private", 0o700, false},
		{"group can enter", 0o710, true},
		{"world readable", 0o755, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, tc.mode); err != nil {
				t.Fatal(err)
			}
			events := make(logEvents, 100)
			a, err := appliance.New(testConfig(t, dir, events))
			if err != nil {
				t.Fatal(err)
			}
			runInBackground(t, a) // only to close what New opened
			var warned map[string]any
			for len(events) > 0 {
				if rec := <-events; rec["msg"] == "data directory is open to other users" {
					warned = rec
				}
			}
			if !tc.warn {
				if warned != nil {
					t.Fatalf("warned about a %#o directory: %v", tc.mode, warned)
				}
				return
			}
			mode := fmt.Sprintf("%#o", tc.mode)
			if warned == nil || warned["level"] != "WARN" || warned["mode"] != mode || warned["fix"] != "chmod 700 "+dir {
				t.Fatalf("warning = %v, want mode %s and fix chmod 700 %s", warned, mode, dir)
			}
			// Reported, not changed: the directory is the operator's.
			if st, _ := os.Stat(dir); st.Mode().Perm() != tc.mode {
				t.Errorf("mode changed to %#o", st.Mode().Perm())
			}
		})
	}
}

// Run prunes old records at start, on its clock.
func TestRunPrunesOldRecords(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	events := make(logEvents, 100)
	cfg := testConfig(t, filepath.Join(t.TempDir(), "data"), events)
	cfg.RecordRetention = 30 * 24 * time.Hour
	cfg.Now = func() time.Time { return t0.Add(40 * 24 * time.Hour) }
	a, err := appliance.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const app = 1400000001
	err = a.Store().Update(func(tx *store.Tx) error {
		for _, rec := range []record.Call{
			{SDKAppID: app, CallID: "old", State: record.CallEnded, StartAt: t0, EndAt: t0.Add(time.Minute)},
			{SDKAppID: app, CallID: "recent", State: record.CallEnded, StartAt: t0.Add(20 * 24 * time.Hour), EndAt: t0.Add(20 * 24 * time.Hour)},
		} {
			if err := tx.PutCall(rec); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	runInBackground(t, a)
	if rec := events.waitFor(t, "call records pruned"); rec["count"] != 1.0 {
		t.Fatalf("pruned log = %v, want count 1", rec)
	}
	a.Store().View(func(tx *store.Tx) error {
		if _, err := tx.Call(app, "old"); err == nil {
			t.Errorf("old record kept")
		}
		if _, err := tx.Call(app, "recent"); err != nil {
			t.Errorf("recent record: %v", err)
		}
		return nil
	})
}
