package browsertest

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// LimitDownlink caps what the server sends to the browsers at kbit
// kbit/s (0 lifts the cap): a token bucket (tc tbf) on the host end of
// the veth pair, with a 10 kB burst and a queue of at most 200 ms, past
// which packets are dropped. It shapes everything towards every browser
// of the test binary (media, signaling, page loads), as a slow access
// link would. The kernel here has tbf but no netem and no packet
// classifier, so random loss cannot be emulated this way (docs/
// performance.md). The cap is lifted when t ends. A test that calls it
// must not run in parallel with others (t.Parallel): they share the link.
func (e *Env) LimitDownlink(t *testing.T, kbit int) {
	t.Helper()
	if kbit < 0 {
		t.Fatalf("LimitDownlink(%d): negative rate", kbit)
	}
	if err := e.ns.limit(kbit); err != nil {
		t.Fatalf("limit the browser's downlink to %d kbit/s: %v", kbit, err)
	}
	if kbit > 0 {
		t.Cleanup(func() {
			if err := e.ns.limit(0); err != nil {
				t.Errorf("lift the browser's downlink limit: %v", err)
			}
		})
	}
}

// limit puts (or, with 0, removes) the tbf qdisc on the host end.
func (n *netns) limit(kbit int) error {
	args := []string{"qdisc", "replace", "dev", n.hostIf, "root", "tbf",
		"rate", fmt.Sprintf("%dkbit", kbit), "burst", "10kb", "latency", "200ms"}
	if kbit == 0 {
		args = []string{"qdisc", "del", "dev", n.hostIf, "root"}
	}
	out, err := exec.Command("tc", args...).CombinedOutput()
	if err != nil && !(kbit == 0 && strings.Contains(string(out), "No such file")) && !(kbit == 0 && strings.Contains(string(out), "Cannot delete qdisc with handle of zero")) {
		return fmt.Errorf("tc %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
