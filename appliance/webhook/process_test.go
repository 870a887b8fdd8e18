package webhook_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"callbox/appliance/command"
	"callbox/appliance/webhook"
	"callbox/signaling/call/record"
	"callbox/signaling/client"
	"callbox/signaling/usersig"
	"callbox/store"
)

// childEnv makes the test binary the callbox binary (TestMain), so that a
// test can kill -9 a real server.
const childEnv = "CALLBOX_WEBHOOK_TEST_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		if err := command.New(os.Stdout, os.Stderr, command.Build{}).Run(append([]string{"callbox"}, os.Args[1:]...)); err != nil {
			fmt.Fprintln(os.Stderr, "callbox:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// cli runs a callbox command in this process.
func cli(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if err := command.New(&out, &errb, command.Build{}).Run(append([]string{"callbox"}, args...)); err != nil {
		t.Fatalf("callbox %v: %v %s", args, err, errb.String())
	}
	return out.String()
}

// server is `callbox serve` in a child process.
type server struct {
	cmd    *exec.Cmd
	addr   string
	mu     sync.Mutex
	stderr bytes.Buffer
	exited chan struct{}
}

var servingRE = regexp.MustCompile(`msg="callbox serving" .*\bhttp=(\S+)`)

func startServer(t *testing.T, dir string) *server {
	t.Helper()
	cmd := exec.Command(os.Args[0], "--data", dir, "serve", "--http", "127.0.0.1:0", "--metrics-addr", "off", "--rtc-udp", "0", "--rtc-tcp", "-1",
		"--turn=false", "--login-rate", "0", "--call-rate", "0")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, exited: make(chan struct{})}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			s.mu.Lock()
			s.stderr.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
			if m := servingRE.FindStringSubmatch(sc.Text()); m != nil {
				ready <- m[1]
			}
		}
		cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-s.exited
		if t.Failed() {
			t.Logf("server log:\n%s", s.log())
		}
	})
	select {
	case s.addr = <-ready:
	case <-s.exited:
		t.Fatalf("server exited:\n%s", s.log())
	case <-time.After(20 * time.Second):
		t.Fatalf("server not serving:\n%s", s.log())
	}
	return s
}

func (s *server) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

// TestKill9MidBurst kills the server with SIGKILL while 100 calls are
// being made and their callbacks delivered, restarts it on the same data
// directory, and checks that every callback of every stored call reached
// the receiver at least once, that none is left queued or dead, and that
// a callback delivered twice carries the same event id both times.
func TestKill9MidBurst(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two server processes")
	}
	dir := filepath.Join(t.TempDir(), "data")
	var app struct {
		SDKAppID uint32
		Key      string
	}
	if err := json.Unmarshal([]byte(cli(t, "--data", dir, "app", "create", "--name", "kill9", "--json")), &app); err != nil {
		t.Fatal(err)
	}

	// The receiver checks Sign and keeps every delivery. It takes 10 ms
	// per request, longer than a commit, so that at the kill some
	// requests are in flight and a backlog waits.
	const token = "kill9-token"
	type delivery struct {
		id, command string
		body        []byte
	}
	var mu sync.Mutex
	var got []delivery
	var n atomic.Int64
	arrived := make(chan struct{}, 1)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		rt, _ := strconv.ParseInt(q.Get("RequestTime"), 10, 64)
		if q.Get("Sign") != webhook.Sign(token, rt) || time.Since(time.Unix(rt, 0)) > time.Minute {
			t.Errorf("bad Sign or RequestTime: %s", r.URL)
		}
		body, _ := io.ReadAll(r.Body)
		time.Sleep(10 * time.Millisecond) // the receiver's own work, not a wait for state
		mu.Lock()
		got = append(got, delivery{r.Header.Get(webhook.EventIDHeader), q.Get("command"), body})
		mu.Unlock()
		n.Add(1)
		io.WriteString(w, okReply)
		select {
		case arrived <- struct{}{}:
		default:
		}
	}))
	defer rcv.Close()
	cli(t, "--data", dir, "webhook", "set", "--url", rcv.URL+"/cb", "--token", token, "--concurrency", "4")

	srv := startServer(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	callers := burst(t, ctx, srv, app.SDKAppID, app.Key, 100, 40)
	srv.cmd.Process.Signal(syscall.SIGKILL)
	<-srv.exited
	callers.Wait() // they stop at their first error
	killedAt := n.Load()
	if killedAt == 0 {
		t.Fatal("nothing was delivered before the kill")
	}

	// The restart closes the calls the kill left live and delivers what
	// was queued, without a new call to wake it: the queue, as the
	// control socket reports it after each arrival, empties. SIGTERM
	// then stores the outcomes.
	srv = startServer(t, dir)
	waitEmpty(t, ctx, dir, app.SDKAppID, arrived)
	srv.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-srv.exited:
	case <-ctx.Done():
		t.Fatal("server did not stop")
	}

	st, err := store.Open(filepath.Join(dir, store.FileName), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var recs []record.Call
	var queued uint64
	must(t, st.View(func(tx *store.Tx) error {
		queued = tx.OutboxSequence()
		if out, _ := tx.Outbox(0, 0); len(out) != 0 {
			t.Errorf("%d events still queued", len(out))
		}
		if n, _ := tx.DeadCount(app.SDKAppID); n != 0 {
			t.Errorf("%d dead events", n)
		}
		var err error
		recs, err = tx.Calls(store.CallFilter{SDKAppID: app.SDKAppID})
		return err
	}))

	// Duplicates carry the same id; different events, different ids.
	byID := map[string][]byte{}
	idOf := map[string]string{}
	have := map[string]bool{} // CallId|command|UserId
	for _, d := range got {
		key := d.command + string(d.body)
		if prev, ok := byID[d.id]; ok && !bytes.Equal(prev, d.body) {
			t.Errorf("event id %s carried two bodies:\n%s\n%s", d.id, prev, d.body)
		}
		if prev, ok := idOf[key]; ok && prev != d.id {
			t.Errorf("one event under two ids %s and %s: %s", prev, d.id, d.body)
		}
		byID[d.id], idOf[key] = d.body, d.id
		var b struct{ CallId, UserId string }
		json.Unmarshal(d.body, &b)
		have[b.CallId+"|"+d.command+"|"+b.UserId] = true
	}
	// Every stored call's callbacks: its start, each participant's end
	// (per event and as status callback), its accept if it had one.
	missing := 0
	for _, rec := range recs {
		if rec.State != record.CallEnded {
			t.Errorf("call %s still %s", rec.CallID, rec.State)
		}
		want := []string{"caller_start_call|" + rec.Caller}
		if !rec.AcceptAt.IsZero() {
			want = append(want, "caller_call_accepted|"+rec.Caller)
		}
		for _, p := range rec.Participants {
			want = append(want, "call_end|"+p.UserID)
			if p.Role == "callee" {
				want = append(want, "callee_receive_call|"+p.UserID)
			}
			if !p.JoinedAt.IsZero() && p.Role == "callee" {
				want = append(want, "callee_accept_call|"+p.UserID)
			}
		}
		for _, w := range want {
			if !have[rec.CallID+"|"+w] {
				missing++
				t.Errorf("call %s (%s): no %s", rec.CallID, rec.Result, w)
			}
		}
		if !terminalFor(have, rec) {
			missing++
		}
	}
	// Every event ever queued arrived: as many ids as the outbox handed
	// out sequence numbers.
	if uint64(len(byID)) != queued {
		t.Errorf("%d events queued, %d arrived", queued, len(byID))
	}
	dups := len(got) - len(byID)
	t.Logf("%d calls stored; %d events queued; %d deliveries (%d before the kill), %d events, %d delivered twice or more, %d missing",
		len(recs), queued, len(got), killedAt, len(byID), dups, missing)
	if len(recs) < 40 {
		t.Errorf("only %d calls stored", len(recs))
	}
}

// waitEmpty waits until the running server reports the app's queue
// empty, asking after each arrival at the receiver and, since the last
// acknowledgement is stored a moment after the last arrival, every
// 100 ms.
func waitEmpty(t *testing.T, ctx context.Context, dir string, app uint32, arrived <-chan struct{}) {
	t.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		var info struct {
			Queue webhook.AppStats `json:"queue"`
		}
		out := cli(t, "--data", dir, "webhook", "get", "--sdkappid", fmt.Sprint(app), "--json")
		if err := json.Unmarshal([]byte(out), &info); err != nil {
			t.Fatal(err)
		}
		if info.Queue.Pending == 0 && info.Queue.InFlight == 0 {
			return
		}
		select {
		case <-arrived:
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("queue not empty: %+v", info.Queue)
		}
	}
}

// terminalFor reports whether each participant of a call got an event
// that ends its part (per-event callbacks).
func terminalFor(have map[string]bool, rec record.Call) bool {
	ok := true
	for _, p := range rec.Participants {
		found := false
		for _, ev := range []string{"call_end", "call_interrupted", "cancel_call", "call_canceled", "reject_call", "call_rejected"} {
			if have[rec.CallID+"|"+p.Role+"_"+ev+"|"+p.UserID] {
				found = true
			}
		}
		ok = ok && found
	}
	return ok
}

// burst makes calls from 10 callers to 10 callees (10 at a time), each
// answered and hung up, until total calls are started; once killAfter
// have completed it returns, leaving the others in flight in the
// goroutines of the group it returns.
func burst(t *testing.T, ctx context.Context, srv *server, app uint32, key string, total, killAfter int) *sync.WaitGroup {
	t.Helper()
	url := "ws://" + srv.addr + "/ws"
	dial := func(user string) *client.Client {
		sig, err := usersig.Issue(app, key, user, time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		c, _, err := client.Dial(ctx, url, app, user, sig, nil)
		if err != nil {
			t.Fatalf("login %s: %v", user, err)
		}
		t.Cleanup(func() { c.CloseNow() })
		return c
	}
	var done atomic.Int32
	kill := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for p := range 10 {
		a, b := dial(fmt.Sprint("caller", p)), dial(fmt.Sprint("callee", p))
		wg.Go(func() {
			for range total / 10 {
				r, err := a.Call(ctx, fmt.Sprint("callee", p), client.Audio)
				if err != nil {
					return // the server is gone
				}
				if _, err := b.WaitFor(ctx, client.Named(client.EvInvited)); err != nil {
					return
				}
				if _, err := b.Accept(ctx, r.CallID); err != nil {
					return
				}
				if err := a.Hangup(ctx, r.CallID); err != nil {
					return
				}
				if done.Add(1) == int32(killAfter) {
					once.Do(func() { close(kill) })
				}
			}
		})
	}
	select {
	case <-kill:
	case <-ctx.Done():
		t.Fatalf("%d calls made before the deadline", done.Load())
	}
	return &wg
}
