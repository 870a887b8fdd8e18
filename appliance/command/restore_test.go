package command

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"callbox/appliance"
	"callbox/store"
)

// TestRestoreCommand: `callbox restore FILE` puts a backup made by
// `callbox backup` in place and keeps the old database; it refuses while
// a server runs on the data directory, and a file that is not a backup.
func TestRestoreCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	mustRun(t, dir, "app", "create", "--name", "first")
	backup := filepath.Join(t.TempDir(), "backup.db")
	mustRun(t, dir, "backup", "--out", backup)
	mustRun(t, dir, "app", "create", "--name", "second")

	// While a server runs: refused, nothing changed.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a, err := appliance.New(appliance.Config{DataDir: dir, HTTPListener: ln, RTCListenIP: "127.0.0.1", TURNDisabled: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	select {
	case <-a.Ready():
	case err := <-done:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("server not ready")
	}
	r := run(t, dir, "restore", backup)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !r.failed || !strings.Contains(r.err, "callbox is running on this data directory; stop it first") {
		t.Fatalf("restore while serving: failed=%v %q", r.failed, r.err)
	}

	notes := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(notes, []byte("hello\n"), 0o600)
	if r := run(t, dir, "restore", notes); !r.failed || !strings.Contains(r.err, "not a callbox database") {
		t.Fatalf("restore of a text file: failed=%v %q", r.failed, r.err)
	}
	if r := run(t, dir, "restore"); !r.failed || !strings.Contains(r.err, "want one FILE") {
		t.Fatalf("restore without FILE: %q", r.err)
	}

	out := mustRun(t, dir, "restore", backup)
	if !strings.Contains(out, "the previous database is kept as "+filepath.Join(dir, store.FileName+".bak-")) {
		t.Fatalf("restore printed %q", out)
	}
	apps := mustRun(t, dir, "app", "list")
	if !strings.Contains(apps, "first") || strings.Contains(apps, "second") {
		t.Fatalf("apps after restore:\n%s", apps)
	}
}
