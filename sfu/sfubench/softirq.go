package sfubench

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// softirqClock reads the run time of ksoftirqd/<cpu>, the kernel thread
// that takes over a CPU's softirq work (loopback delivery, UDP GSO
// segmentation) when there is more than the sending syscall handles on
// its way out. That work is the server's, but its rusage does not see it:
// without this, a change that moves work into the softirq (GSO on
// loopback does) looks cheaper than it is.
type softirqClock struct{ path string }

// newSoftirqClock finds ksoftirqd/<cpu>; ok is false where there is none
// (not Linux, no /proc).
func newSoftirqClock(cpu int) (softirqClock, bool) {
	want := []byte(fmt.Sprintf("ksoftirqd/%d\n", cpu))
	comms, _ := filepath.Glob("/proc/[0-9]*/comm")
	for _, comm := range comms {
		if b, err := os.ReadFile(comm); err == nil && bytes.Equal(b, want) {
			c := softirqClock{path: filepath.Join(filepath.Dir(comm), "schedstat")}
			if _, ok := c.read(); ok {
				return c, true
			}
		}
	}
	return softirqClock{}, false
}

// read returns the thread's total time on the CPU: the first field of
// /proc/<pid>/schedstat, in nanoseconds.
func (c softirqClock) read() (time.Duration, bool) {
	b, err := os.ReadFile(c.path)
	if err != nil {
		return 0, false
	}
	f := bytes.Fields(b)
	if len(f) == 0 {
		return 0, false
	}
	ns, err := strconv.ParseInt(string(f[0]), 10, 64)
	return time.Duration(ns), err == nil
}
