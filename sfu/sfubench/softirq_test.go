package sfubench

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

func TestSoftirqClockRead(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"3848743661 369623713535 151207\n", 3848743661, true},
		{"12\n", 12, true},
		{"", 0, false},
		{"x 1 2\n", 0, false},
	} {
		path := filepath.Join(dir, "schedstat")
		if err := os.WriteFile(path, []byte(tt.in), 0o644); err != nil {
			t.Fatal(err)
		}
		got, ok := softirqClock{path: path}.read()
		if got != tt.want || ok != tt.ok {
			t.Errorf("%q: got %v %v, want %v %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	if _, ok := (softirqClock{path: filepath.Join(dir, "missing")}).read(); ok {
		t.Error("a missing file read ok")
	}
}

// TestSoftirqClockFindsKsoftirqd: on Linux with the host's /proc (not a
// PID namespace that hides kernel threads), CPU 0's ksoftirqd is found.
func TestSoftirqClockFindsKsoftirqd(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux only")
	}
	if _, err := os.Stat("/proc/2/comm"); err != nil { // kthreadd: kernel threads are visible
		t.Skip("kernel threads are not visible here")
	}
	c, ok := newSoftirqClock(0)
	if !ok {
		t.Fatal("ksoftirqd/0 not found")
	}
	if _, ok := newSoftirqClock(100000); ok {
		t.Fatal("found a ksoftirqd for CPU 100000")
	}
	if _, ok := c.read(); !ok {
		t.Fatal("cannot read", c.path)
	}
}
