package signaling_test

import (
	"bytes"
	"context"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestShutdownExpiredCtx: Shutdown whose ctx has ended returns at once
// with the ctx error and leaves no goroutine of its own waiting for the
// sessions (a client that never reads holds its session in the close
// handshake for seconds), and a second Shutdown still waits them out.
func TestShutdownExpiredCtx(t *testing.T) {
	h := newHarness(t, nil)
	// A raw client that never reads: the server's close handshake with it
	// cannot complete until its timeout.
	conn, _, err := websocket.Dial(ctxT(t), h.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	if err := conn.Write(ctxT(t), websocket.MessageText, []byte(`{"id":1,"type":"ping"}`)); err != nil {
		t.Fatal(err)
	}
	// Its reply proves the server serves the session (a dial can return
	// before the server has registered the connection); then it reads no
	// more.
	if _, _, err := conn.Read(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.srv.Shutdown(ctx); err == nil {
		t.Fatal("Shutdown with an ended ctx returned nil while a session was open")
	}
	var buf bytes.Buffer
	pprof.Lookup("goroutine").WriteTo(&buf, 1)
	if strings.Contains(buf.String(), "signaling.(*Server).Shutdown") {
		t.Fatalf("Shutdown left a goroutine behind:\n%s", buf.String())
	}
	conn.CloseNow()
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	if err := h.srv.Shutdown(sctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
}
