// Package webhookbench measures webhook delivery (`callbox bench
// webhook`): events appended to the outbox of a temporary store in
// batches, as the call store commits them, and delivered by the real
// dispatcher to a receiver on 127.0.0.1 that checks Sign, until every
// event has arrived and its acknowledgement is stored. Because these
// machines are noisy, it also measures the raw commit rate of the same
// store on the same disk (one small key per transaction) before and
// after (medians of short windows), and reports the ratio: how many
// events are persisted and delivered in the time of one bare commit.
//
// It owns no production code path; it uses the store and the
// dispatcher's public API only.
package webhookbench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"callbox/appliance/webhook"
	"callbox/signaling/call"
	"callbox/store"
)

// Defaults for zero Config fields.
const (
	DefaultEvents = 20000
	DefaultBatch  = 50
	DefaultApps   = 1
)

// Config configures a run. Zero fields get the defaults.
type Config struct {
	Events      int       // events queued in all
	Batch       int       // events per producer commit
	Apps        int       // apps, each with its webhook to the receiver; events go round-robin
	Concurrency int       // requests in flight per app; 0 = webhook.DefaultConcurrency
	Dir         string    // where the temporary stores go; "" = os.TempDir()
	Out         io.Writer // the report; nil = io.Discard
}

// Result is what a run measured.
type Result struct {
	Events        int
	Apps          int
	Batch         int
	Concurrency   int
	Seconds       float64       // from the first commit to the last acknowledgement stored
	EventsPerSec  float64       // persisted and delivered
	CommitsPerSec float64       // raw commits, mean of before and after
	CommitsBefore float64       // raw commits per second before the run
	CommitsAfter  float64       // and after it
	Ratio         float64       // EventsPerSec / CommitsPerSec
	LatencyP50    time.Duration // commit of the event -> its arrival at the receiver
	LatencyP99    time.Duration
	Requests      int // requests the receiver answered, duplicates included
	Duplicates    int
}

const token = "bench-token"

// Run performs one benchmark run.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Events <= 0 {
		cfg.Events = DefaultEvents
	}
	if cfg.Batch <= 0 {
		cfg.Batch = DefaultBatch
	}
	if cfg.Apps <= 0 {
		cfg.Apps = DefaultApps
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = webhook.DefaultConcurrency
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	dir, err := os.MkdirTemp(cfg.Dir, "webhookbench-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(dir)
	res := Result{Events: cfg.Events, Apps: cfg.Apps, Batch: cfg.Batch, Concurrency: cfg.Concurrency}
	if res.CommitsBefore, err = commitRate(ctx, filepath.Join(dir, "baseline-1.db")); err != nil {
		return res, err
	}
	if err := pipeline(ctx, cfg, filepath.Join(dir, store.FileName), &res); err != nil {
		return res, err
	}
	if res.CommitsAfter, err = commitRate(ctx, filepath.Join(dir, "baseline-2.db")); err != nil {
		return res, err
	}
	res.CommitsPerSec = (res.CommitsBefore + res.CommitsAfter) / 2
	res.Ratio = res.EventsPerSec / res.CommitsPerSec
	report(cfg.Out, res)
	return res, nil
}

// commitRate is the baseline: transactions per second that each store
// one small key; the median of five 200 ms windows, since the disk's
// sync time jumps about.
func commitRate(ctx context.Context, path string) (float64, error) {
	st, err := store.Open(path, store.Options{})
	if err != nil {
		return 0, err
	}
	defer st.Close()
	var rates []float64
	for range 5 {
		start := time.Now()
		n := 0
		for time.Since(start) < 200*time.Millisecond {
			if err := ctx.Err(); err != nil {
				return 0, err
			}
			if err := st.Update(func(tx *store.Tx) error { return tx.PutSetting("bench", []byte(strconv.Itoa(n))) }); err != nil {
				return 0, err
			}
			n++
		}
		rates = append(rates, float64(n)/time.Since(start).Seconds())
	}
	slices.Sort(rates)
	return rates[len(rates)/2], nil
}

// receiver answers OK to every signed request and notes when each event
// first arrived.
type receiver struct {
	mu       sync.Mutex
	arrived  map[int]time.Time // event number -> first arrival
	requests int
	bad      error
	all      chan struct{} // closed when every event has arrived
	want     int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	rt, _ := strconv.ParseInt(q.Get("RequestTime"), 10, 64)
	_, _ = io.Copy(io.Discard, r.Body)
	n, err := strconv.Atoi(strings.TrimPrefix(r.Header.Get(webhook.EventIDHeader), "bench-"))
	now := time.Now()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.requests++
	if q.Get("Sign") != webhook.Sign(token, rt) || err != nil {
		rc.bad = fmt.Errorf("bad request %s", r.URL)
		http.Error(w, "bad", http.StatusBadRequest)
		return
	}
	if _, ok := rc.arrived[n]; !ok {
		rc.arrived[n] = now
		if len(rc.arrived) == rc.want {
			close(rc.all)
		}
	}
	io.WriteString(w, `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`)
}

// pipeline queues cfg.Events in batches and waits until all are
// delivered and acknowledged.
func pipeline(ctx context.Context, cfg Config, path string, res *Result) error {
	st, err := store.Open(path, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	rc := &receiver{arrived: make(map[int]time.Time, cfg.Events), all: make(chan struct{}), want: cfg.Events}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: rc, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan struct{})
	go func() { defer close(served); srv.Serve(ln) }()
	defer func() { srv.Close(); <-served }()
	apps := make([]uint32, cfg.Apps)
	err = st.Update(func(tx *store.Tx) error {
		for i := range apps {
			a, err := tx.CreateApp(fmt.Sprint("bench-", i), time.Now())
			if err != nil {
				return err
			}
			apps[i] = a.SDKAppID
			if err := tx.PutWebhook(store.Webhook{SDKAppID: a.SDKAppID, URL: "http://" + ln.Addr().String() + "/cb", Token: token,
				EventCallbacks: true, StatusCallback: true, Concurrency: cfg.Concurrency}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	d := webhook.New(webhook.Config{Store: st, UserAgent: "callbox-bench"})
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- d.Run(runCtx) }()
	defer func() {
		stop()
		<-ran // before the store closes
	}()

	queued := make([]time.Time, cfg.Events)
	commands := []string{"caller_start_call", "callee_receive_call", "callee_accept_call", "caller_call_accepted",
		"caller_call_end", "callee_call_end", "call_end", "call_end"}
	start := time.Now()
	for first := 0; first < cfg.Events; first += cfg.Batch {
		last := min(first+cfg.Batch, cfg.Events)
		err := st.Update(func(tx *store.Tx) error {
			for n := first; n < last; n++ {
				role, event, _ := strings.Cut(commands[n%8], "_")
				if commands[n%8] == webhook.StatusCommand {
					role, event = "caller", webhook.StatusCommand
				}
				body, _ := json.Marshal(call.HookBody{UserId: fmt.Sprint("user", n%1000), RoomId: strconv.Itoa(n/8 + 1), TotalNum: 2,
					MediaType: "video", CallType: "single", CallId: fmt.Sprint("bench-call-", n/8), Role: role,
					Event: event, EventTime: start.Unix(), StartCallTs: start.Unix()})
				if _, err := tx.AppendOutbox(store.OutboxEntry{EventID: fmt.Sprint("bench-", n), SDKAppID: apps[(n/8)%len(apps)],
					Command: commands[n%8], Body: body, Created: time.Now()}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		now := time.Now()
		for n := first; n < last; n++ {
			queued[n] = now
		}
		d.Notify()
	}
	select {
	case <-rc.all:
	case err := <-ran:
		ran <- err
		return fmt.Errorf("dispatcher stopped: %v", err)
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := d.Drain(ctx); err != nil {
		return err
	}
	elapsed := time.Since(start)
	var left int
	if err := st.View(func(tx *store.Tx) error {
		out, err := tx.Outbox(0, 0)
		left = len(out)
		return err
	}); err != nil {
		return err
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.bad != nil {
		return rc.bad
	}
	if left != 0 {
		return errors.New("events left in the outbox after the drain")
	}
	lat := make([]time.Duration, 0, cfg.Events)
	for n, at := range rc.arrived {
		lat = append(lat, max(0, at.Sub(queued[n])))
	}
	slices.Sort(lat)
	res.Seconds = elapsed.Seconds()
	res.EventsPerSec = float64(cfg.Events) / elapsed.Seconds()
	res.LatencyP50, res.LatencyP99 = lat[len(lat)/2], lat[len(lat)*99/100]
	res.Requests, res.Duplicates = rc.requests, rc.requests-len(rc.arrived)
	return nil
}

func report(w io.Writer, r Result) {
	fmt.Fprintf(w, "webhook bench: %d events to %d app(s), %d events per commit, %d requests in flight per app\n",
		r.Events, r.Apps, r.Batch, r.Concurrency)
	fmt.Fprintf(w, "raw commits          %.0f/s   (before %.0f/s, after %.0f/s; one small key per transaction, same store, same disk)\n",
		r.CommitsPerSec, r.CommitsBefore, r.CommitsAfter)
	fmt.Fprintf(w, "persisted+delivered  %.0f events/s   (%.2f s, every acknowledgement stored)\n", r.EventsPerSec, r.Seconds)
	fmt.Fprintf(w, "ratio events/s / raw commits/s: %.1f\n", r.Ratio)
	fmt.Fprintf(w, "commit -> receiver   p50 %v  p99 %v\n", r.LatencyP50.Round(10*time.Microsecond), r.LatencyP99.Round(10*time.Microsecond))
	fmt.Fprintf(w, "receiver: %d requests, %d duplicates, every Sign checked\n", r.Requests, r.Duplicates)
}
