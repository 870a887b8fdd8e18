package sigbench_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"callbox/signaling/sigbench"
)

func TestRunSmall(t *testing.T) {
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := sigbench.Run(ctx, sigbench.Config{Users: 40, CallsPerSec: 40, Duration: time.Second, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(out.String())
	if res.Calls == 0 || res.Failed != 0 {
		t.Fatalf("calls %d failed %d", res.Calls, res.Failed)
	}
	if res.InviteP99 <= 0 || res.EchoP99 <= 0 || res.HeapPerConn <= 0 {
		t.Fatalf("missing figures: %+v", res)
	}
}

// BenchmarkInviteDelivery runs the bench with b.N call setups at 200/s
// among 1000 users and reports the figures as metrics.
func BenchmarkInviteDelivery(b *testing.B) {
	const rate = 200
	d := time.Duration(float64(b.N)/rate*float64(time.Second)) + 500*time.Millisecond
	res, err := sigbench.Run(context.Background(), sigbench.Config{Users: 1000, CallsPerSec: rate, Duration: d})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(res.InviteP50.Microseconds()), "p50-invite-µs")
	b.ReportMetric(float64(res.InviteP99.Microseconds()), "p99-invite-µs")
	b.ReportMetric(float64(res.EchoP99.Microseconds()), "p99-echo-µs")
	b.ReportMetric(res.Ratio, "p99-ratio")
	b.ReportMetric(float64(res.CommitP99.Microseconds()), "p99-commit-µs")
	b.ReportMetric(res.SetupsPerSec, "setups/s")
	b.ReportMetric(res.HeapPerConn/1024, "KiB/conn")
	b.ReportMetric(0, "ns/op")
}
