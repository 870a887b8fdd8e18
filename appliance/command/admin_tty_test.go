package command

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// lockedBuf is the command's stderr, read while it runs.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// openPTY returns a pseudo-terminal's master and its slave.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); m.Close() })
	return m, s
}

// waitFor waits until cond holds, checking every 10 ms, for 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("no %s after 10 s", what)
		}
	}
}

// `admin create` on a terminal asks twice with echo off: the password
// never appears on the terminal, and two different answers change
// nothing.
func TestAdminCreateOnTerminal(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	for _, tc := range []struct {
		name, first, second, want string
		ok                        bool
	}{
		{"different answers", "correct horse", "correct house", "the passwords differ", false},
		{"same answer", "correct horse", "correct horse", "created admin root", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			master, slave := openPTY(t)
			var echoed bytes.Buffer
			readDone := make(chan struct{})
			go func() {
				defer close(readDone)
				buf := make([]byte, 256)
				for {
					n, err := master.Read(buf)
					echoed.Write(buf[:n])
					if err != nil {
						return
					}
				}
			}()
			var out bytes.Buffer
			errw := &lockedBuf{}
			app := New(&out, errw, Build{})
			app.Reader = slave
			done := make(chan error, 1)
			go func() { done <- app.Run([]string{"callbox", "--data", dir, "admin", "create", "--user", "root"}) }()
			// Each prompt is printed after echo went off.
			waitFor(t, "first prompt", func() bool { return strings.Contains(errw.String(), "New password: ") })
			master.WriteString(tc.first + "\n")
			waitFor(t, "second prompt", func() bool { return strings.Contains(errw.String(), "Repeat it: ") })
			master.WriteString(tc.second + "\n")
			err := <-done
			got := out.String()
			if err != nil {
				got += err.Error()
			}
			if (err == nil) != tc.ok || !strings.Contains(got, tc.want) {
				t.Fatalf("admin create: err=%v out=%q, want %q", err, out.String(), tc.want)
			}
			// The terminal's echo is back on, and nothing was echoed.
			tio, terr := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
			if terr != nil || tio.Lflag&unix.ECHO == 0 {
				t.Errorf("echo not restored: %v", terr)
			}
			slave.Close()
			master.Close()
			<-readDone
			if strings.Contains(echoed.String(), "correct") {
				t.Errorf("the terminal echoed %q", echoed.String())
			}
		})
	}
}
