package sfubench

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

func TestRunSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("runs windows of real traffic")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	res, err := Run(ctx, Config{Publishers: 2, Subscribers: 2, Duration: time.Second, Reps: 1, VideoPPS: 300, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", out.String())
	// The figures themselves are too light to mean much at this load
	// (the SFU's CPU profile has few samples); check the plumbing.
	if len(res.Windows) != 2 || res.RelayFwd <= 0 {
		t.Fatalf("result %+v", res)
	}
	for _, w := range res.Windows {
		// 2 x 350 packets/s to 2 subscribers (and, for the SFU, to the
		// other publisher) for one second, give or take a tick. This
		// checks the plumbing while other test packages load both cores;
		// the loss target (< 0.1 %) is the benchmark's, on a quiet machine.
		if w.Forwarded < 1000 || w.Loss > 0.05 || w.Received < w.Expected*95/100 {
			t.Errorf("%s window: %+v", w.Variant, w)
		}
		if w.ServerCPU < 0 || w.ServerCPU > w.Seconds*2 {
			t.Errorf("%s server CPU %v", w.Variant, w.ServerCPU)
		}
	}
	if res.Windows[0].Method != "thread-clock" || res.Windows[1].Method != "profile" {
		t.Errorf("methods %s, %s", res.Windows[0].Method, res.Windows[1].Method)
	}
	if !strings.Contains(out.String(), "ratio sfu/relay") {
		t.Errorf("report lacks the ratio:\n%s", out.String())
	}
}

// TestFigures runs a full measurement when SFUBENCH is set, e.g.
// SFUBENCH=1 go test ./sfu/sfubench -run TestFigures -v -timeout 10m
func TestFigures(t *testing.T) {
	if os.Getenv("SFUBENCH") == "" {
		t.Skip("set SFUBENCH=1")
	}
	for _, c := range []Config{
		{Publishers: 1, Subscribers: 1},
		{Publishers: 1, Subscribers: 4},
		{Publishers: 2, Subscribers: 8, VideoPPS: 500},
	} {
		c.Out, c.Isolate = os.Stdout, true
		if _, err := Run(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMain lets this test binary serve as the isolated server process.
func TestMain(m *testing.M) {
	if IsChild() {
		os.Exit(ChildMain())
	}
	os.Exit(m.Run())
}

func TestRunIsolated(t *testing.T) {
	if testing.Short() {
		t.Skip("runs windows of real traffic")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	var out bytes.Buffer
	res, err := Run(ctx, Config{Publishers: 1, Subscribers: 2, Duration: time.Second, Reps: 1, VideoPPS: 300, Isolate: true, JSON: true, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Windows) != 2 || !res.Isolated {
		t.Fatalf("result %+v", res)
	}
	for _, w := range res.Windows {
		if w.Method != "child-rusage" || w.AllocScope != "server" || w.ServerCPU <= 0 || w.FwdPerCPUSec <= 0 {
			t.Errorf("%s window: %+v", w.Variant, w)
		}
		if w.Forwarded < 450 || w.Received < w.Expected*95/100 {
			t.Errorf("%s window: %+v", w.Variant, w)
		}
	}
	if !bytes.Contains(out.Bytes(), []byte(`"ratio"`)) {
		t.Errorf("JSON report lacks the ratio:\n%s", out.String())
	}
}
