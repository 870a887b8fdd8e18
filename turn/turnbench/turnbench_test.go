package turnbench

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strconv"
	"testing"
	"time"
)

// TestRun runs a small benchmark (a few seconds per server) and checks that
// both sides relayed everything and that the figures are sane. The ratio is
// reported, not asserted: two shared cores make it too noisy for a gate.
func TestRun(t *testing.T) {
	cfg := Config{Clients: 4, Packets: 200, Interval: 5 * time.Millisecond, Size: 160}
	if os.Getenv("TURNBENCH_FULL") != "" { // the default, larger load
		cfg = Config{}
	}
	if n, _ := strconv.Atoi(os.Getenv("TURNBENCH_CLIENTS")); n > 0 {
		cfg.Clients = n
	}
	var out bytes.Buffer
	cfg.Out = &out
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := Run(ctx, cfg)
	if errors.Is(err, ErrMissingTool) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	t.Logf("\n%s", out.String())
	want := cfg.withDefaults()
	for _, s := range []Side{res.Ours, res.Coturn} {
		if s.Sent != want.Clients*want.Packets || s.Received != s.Sent || s.Lost != 0 {
			t.Errorf("%s: sent %d received %d lost %d, want %d each and no loss",
				s.Server, s.Sent, s.Received, s.Lost, want.Clients*want.Packets)
		}
		if s.CPUSeconds <= 0 || s.CPUPerPacket <= 0 {
			t.Errorf("%s: no CPU measured: %+v", s.Server, s)
		}
	}
	if res.Ratio <= 0 {
		t.Errorf("ratio %v", res.Ratio)
	}
}

func TestParseUclient(t *testing.T) {
	out := []byte("5: : start_mclient: msz=2, tot_send_msgs=39, tot_recv_msgs=39, tot_send_bytes ~ 7800, tot_recv_bytes ~ 7800\n" +
		"5: : start_mclient: tot_send_msgs=40, tot_recv_msgs=38\n" +
		"5: : Total lost packets 2 (5.000000%), total send dropped 0 (0.000000%)\n")
	got, err := parseUclient(out)
	if err != nil || got != (uclientTotalsT{40, 38, 2}) {
		t.Fatalf("parseUclient = %+v, %v", got, err)
	}
	if _, err := parseUclient([]byte("0: : error 401\n")); err == nil {
		t.Errorf("no totals accepted")
	}
}

func TestProcCPU(t *testing.T) {
	d, err := procCPU(os.Getpid())
	if err != nil || d.user < 0 || d.sys < 0 {
		t.Fatalf("procCPU(self) = %v, %v", d, err)
	}
	if _, err := procCPU(-1); err == nil {
		t.Errorf("procCPU(-1) succeeded")
	}
}
