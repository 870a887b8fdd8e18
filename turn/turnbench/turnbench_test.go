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

// TestRun runs a small benchmark (one repetition, about 6 s per server, as
// uclient idles a few seconds whatever the load) and checks that both sides
// relayed everything and that the figures are sane. The ratio is reported,
// not asserted: two shared cores make it too noisy for a gate.
func TestRun(t *testing.T) {
	cfg := Config{Clients: 10, Packets: 100, Interval: time.Millisecond, Size: 160, Reps: 1}
	if os.Getenv("TURNBENCH_FULL") != "" { // the default, larger load
		cfg = Config{}
	}
	if n, _ := strconv.Atoi(os.Getenv("TURNBENCH_CLIENTS")); n > 0 {
		cfg.Clients = n
	}
	var out bytes.Buffer
	cfg.Out = &out
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
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
	if len(res.Reps) != want.Reps {
		t.Fatalf("%d reps, want %d", len(res.Reps), want.Reps)
	}
	var sides []Side
	for _, r := range res.Reps {
		sides = append(sides, r.Ours, r.Coturn)
	}
	for _, s := range sides {
		if s.Sent != want.Clients*want.Packets || s.Received != s.Sent || s.Lost != 0 {
			t.Errorf("%s: sent %d received %d lost %d, want %d each and no loss",
				s.Server, s.Sent, s.Received, s.Lost, want.Clients*want.Packets)
		}
		if s.CPUSeconds <= 0 || s.CPUPerPacket <= 0 {
			t.Errorf("%s: no CPU measured: %+v", s.Server, s)
		}
	}
	if res.Ratio <= 0 || res.RatioMin > res.Ratio || res.RatioMax < res.Ratio || res.Lost != 0 {
		t.Errorf("ratio %v (%v-%v), lost %d", res.Ratio, res.RatioMin, res.RatioMax, res.Lost)
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
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
