package sfubench

import (
	"bytes"
	"context"
	"runtime/pprof"
	"testing"
	"time"
)

func TestLabelCPU(t *testing.T) {
	var b bytes.Buffer
	if err := pprof.StartCPUProfile(&b); err != nil {
		t.Skip("a CPU profile is already running")
	}
	spin := func(d time.Duration) {
		for end := time.Now().Add(d); time.Now().Before(end); {
		}
	}
	pprof.Do(context.Background(), pprof.Labels(roleKey, roleServer), func(context.Context) { spin(300 * time.Millisecond) })
	spin(100 * time.Millisecond)
	pprof.StopCPUProfile()
	m, n, err := labelCPU(b.Bytes(), roleKey)
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 || m[roleServer] <= m[""] {
		t.Errorf("by label %v from %d samples; want most under server", m, n)
	}
	if _, _, err := labelCPU([]byte("not gzip"), roleKey); err == nil {
		t.Error("garbage profile accepted")
	}
}
