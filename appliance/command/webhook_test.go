package command

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"callbox/appliance"
	"callbox/appliance/webhook"
)

// signedReceiver answers OK to requests signed with token and counts
// them; anything else gets 400.
func signedReceiver(t *testing.T, token string) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		rt, _ := strconv.ParseInt(q.Get("RequestTime"), 10, 64)
		if q.Get("Sign") != webhook.Sign(token, rt) || r.Header.Get(webhook.EventIDHeader) == "" {
			http.Error(w, "bad sign", http.StatusBadRequest)
			return
		}
		n.Add(1)
		io.WriteString(w, `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// Bad input gets a clear error at `webhook set`, and nothing is stored.
func TestWebhookSetBadInput(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	mustRun(t, dir, "app", "create", "--name", "a")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no URL the first time", []string{"--token", "t"}, "--url is required"},
		{"not http", []string{"--url", "ftp://b.example/cb"}, "want http:// or https://"},
		{"no host", []string{"--url", "http:///cb"}, "no host"},
		{"relative", []string{"--url", "/cb"}, "want http:// or https://"},
		{"fragment", []string{"--url", "https://b.example/cb#x"}, "fragment"},
		{"token with spaces", []string{"--url", "https://b.example/cb", "--token", "my token"}, "token contains a space"},
		{"token with a tab", []string{"--url", "https://b.example/cb", "--token", "a\tb"}, "byte 0x09"},
		{"unknown event", []string{"--url", "https://b.example/cb", "--events", "start_call,hangup"}, `unknown event "hangup"`},
		{"timeout too long", []string{"--url", "https://b.example/cb", "--timeout", "1m"}, "invalid --timeout"},
		{"no concurrency", []string{"--url", "https://b.example/cb", "--concurrency", "0"}, "invalid --concurrency"},
		{"retry window", []string{"--url", "https://b.example/cb", "--retry-for", "30d"}, "invalid --retry-for"},
		{"stray argument", []string{"--url", "https://b.example/cb", "now"}, "unexpected argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, dir, append([]string{"webhook", "set"}, tc.args...)...)
			if !r.failed || !strings.Contains(r.err, tc.want) {
				t.Fatalf("failed=%v %q, want %q", r.failed, r.err, tc.want)
			}
		})
	}
	if out := mustRun(t, dir, "webhook", "get"); !strings.Contains(out, "Webhook:         none") {
		t.Fatalf("get after refused sets:\n%s", out)
	}
}

// Without a server the CLI works on the store: set (flags not given keep
// their values), get, test against a receiver that checks Sign, the log,
// delete.
func TestWebhookWithoutServer(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	mustRun(t, dir, "app", "create", "--name", "a")
	rcv, n := signedReceiver(t, "tok")
	mustRun(t, dir, "webhook", "set", "--url", rcv.URL+"/cb", "--token", "tok", "--events", "start_call,callee_call_end")
	mustRun(t, dir, "webhook", "set", "--status-callback=false", "--concurrency", "1", "--retry-for", "2d")
	var info struct {
		Webhook webhookJSON
		Queue   webhook.AppStats
	}
	if err := json.Unmarshal([]byte(mustRun(t, dir, "webhook", "get", "--json")), &info); err != nil {
		t.Fatal(err)
	}
	w := info.Webhook
	if w.URL != rcv.URL+"/cb" || w.Token != "tok" || !w.EventCallbacks || strings.Join(w.Events, ",") != "start_call,callee_call_end" ||
		w.StatusCallback || w.Concurrency != 1 || w.Timeout != "3s" || w.RetryFor != "48h0m0s" || !info.Queue.Configured {
		t.Fatalf("get --json = %+v", info)
	}
	out := mustRun(t, dir, "webhook", "test", "--command", "callee_call_end")
	if !strings.Contains(out, "HTTP 200") || !strings.Contains(out, "delivered") || n.Load() != 1 {
		t.Fatalf("test:\n%s", out)
	}
	mustRun(t, dir, "webhook", "set", "--token", "wrong")
	if r := run(t, dir, "webhook", "test"); !r.failed || !strings.Contains(r.err, "webhook test failed: HTTP 400") {
		t.Fatalf("test with a wrong token: failed=%v %q", r.failed, r.err)
	}
	log := mustRun(t, dir, "webhook", "log")
	if lines := strings.Split(strings.TrimSpace(log), "\n"); len(lines) != 3 || !strings.Contains(lines[1], "caller_start_call (test)") ||
		!strings.Contains(lines[1], "HTTP 400") || !strings.Contains(lines[2], "callee_call_end (test)") {
		t.Fatalf("log:\n%s", log)
	}
	if failed := mustRun(t, dir, "webhook", "log", "--failed"); strings.Count(failed, "\n") != 2 {
		t.Fatalf("log --failed:\n%s", failed)
	}
	if r := run(t, dir, "webhook", "retry", "no-such-event"); !r.failed || !strings.Contains(r.err, "has no queued or dead event") {
		t.Fatalf("retry of an unknown event: failed=%v %q", r.failed, r.err)
	}
	if out := mustRun(t, dir, "webhook", "retry", "--all-dead"); !strings.Contains(out, "0 event(s)") {
		t.Fatalf("retry --all-dead: %q", out)
	}
	mustRun(t, dir, "webhook", "delete")
	if r := run(t, dir, "webhook", "delete"); !r.failed || !strings.Contains(r.err, "has no webhook") {
		t.Fatalf("second delete: failed=%v %q", r.failed, r.err)
	}
	if r := run(t, dir, "webhook", "test"); !r.failed || !strings.Contains(r.err, "has no webhook") {
		t.Fatalf("test without a webhook: failed=%v %q", r.failed, r.err)
	}
}

// Through a running server: a URL that reaches the server itself is
// refused, a real one works, and `status` shows the queue.
func TestWebhookThroughServer(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "callbox", "--data", dir, "serve", "--http", "127.0.0.1:0", "--metrics-addr", "off", "--log-format", "json",
		"--rtc-udp", "0", "--rtc-tcp", "-1", "--turn=false")
	cmd.Env = append(os.Environ(), "CALLBOX_TEST_MAIN=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	addr := waitForLog(t, stderr, "callbox serving")["http"].(string)
	go io.Copy(io.Discard, stderr)
	_, port, _ := strings.Cut(addr, ":")

	for _, self := range []string{"http://" + addr + "/cb", "http://localhost:" + port + "/", "http://0.0.0.0:" + port} {
		if r := run(t, dir, "webhook", "set", "--url", self); !r.failed || !strings.Contains(r.err, "reaches this callbox server itself") {
			t.Fatalf("set --url %s: failed=%v %q", self, r.failed, r.err)
		}
	}
	rcv, n := signedReceiver(t, "tok")
	mustRun(t, dir, "webhook", "set", "--url", rcv.URL, "--token", "tok")
	if out := mustRun(t, dir, "webhook", "test", "--command", "call_end"); !strings.Contains(out, "delivered") || n.Load() != 1 {
		t.Fatalf("test:\n%s", out)
	}
	var h appliance.Health
	json.Unmarshal([]byte(mustRun(t, dir, "status", "--json")), &h)
	if len(h.Webhooks) != 1 || !h.Webhooks[0].Configured || h.Webhooks[0].Pending != 0 {
		t.Fatalf("status --json webhooks = %+v", h.Webhooks)
	}
	if out := mustRun(t, dir, "status"); !strings.Contains(out, "webhook: app ") || !strings.Contains(out, "0 pending") {
		t.Fatalf("status:\n%s", out)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve exited with %v", err)
	}
}
