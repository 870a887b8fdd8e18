package appliance

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"callbox/appliance/webhook"
	"callbox/store"
)

// WebhookAdmin is the webhook part of Admin (docs/webhooks.md).
type WebhookAdmin interface {
	// SetWebhook validates and stores an app's webhook; a running server
	// also refuses a URL that reaches the server itself.
	SetWebhook(ctx context.Context, w store.Webhook) (store.Webhook, error)
	// Webhook returns an app's webhook (nil when none) and its queue.
	Webhook(ctx context.Context, app uint32) (WebhookInfo, error)
	DeleteWebhook(ctx context.Context, app uint32) error
	// TestWebhook sends a sample event (webhook.SampleBody) with the
	// app's URL and token and reports the receiver's answer.
	TestWebhook(ctx context.Context, app uint32, command string) (WebhookTest, error)
	// WebhookLog returns the last attempts, newest first.
	WebhookLog(ctx context.Context, app uint32, limit int, failed bool) ([]store.Delivery, error)
	DeadWebhooks(ctx context.Context, app uint32) ([]store.DeadEntry, error)
	// RetryWebhook sends an event again now (a dead letter, or a queued
	// event waiting out its backoff); eventID "" retries every dead
	// letter. It returns how many events it touched.
	RetryWebhook(ctx context.Context, app uint32, eventID string) (int, error)
}

// WebhookInfo is an app's webhook and queue.
type WebhookInfo struct {
	Webhook *store.Webhook   `json:"webhook"`
	Queue   webhook.AppStats `json:"queue"`
}

// WebhookTest is the outcome of `webhook test`.
type WebhookTest struct {
	URL       string  `json:"url"` // as requested, with the query of §3
	Command   string  `json:"command"`
	EventID   string  `json:"eventId"`
	Status    int     `json:"status"`
	LatencyMS float64 `json:"latencyMs"`
	Reply     string  `json:"reply"`
	Error     string  `json:"error,omitempty"` // "" = delivered
}

// hookAdmin implements WebhookAdmin over the store; d is nil when no
// server runs (nothing to wake), self nil when the server's own address
// is unknown.
type hookAdmin struct {
	st   *store.Store
	d    *webhook.Dispatcher
	self func(netip.AddrPort) bool
	hc   *http.Client
	now  func() time.Time
	ua   string
}

func (h *hookAdmin) SetWebhook(ctx context.Context, w store.Webhook) (store.Webhook, error) {
	if err := webhook.Check(w); err != nil {
		return w, badRequest("%v", err)
	}
	if err := h.checkSelf(ctx, w.URL); err != nil {
		return w, badRequest("invalid --url: %v", err)
	}
	w.Updated = h.now().UTC()
	if err := h.st.Update(func(tx *store.Tx) error { return tx.PutWebhook(w) }); err != nil {
		return w, err
	}
	return w, h.reload(ctx, w.SDKAppID)
}

func (h *hookAdmin) reload(ctx context.Context, app uint32) error {
	if h.d == nil {
		return nil
	}
	return h.d.Reload(ctx, app)
}

// checkSelf refuses a URL whose host is, or resolves to, this server's
// HTTP listener: callbacks to ourselves would fail forever (the
// dispatcher's client refuses the connection too, whatever the name
// resolves to by then).
func (h *hookAdmin) checkSelf(ctx context.Context, raw string) error {
	if h.self == nil {
		return nil
	}
	u, err := webhook.CheckURL(raw)
	if err != nil {
		return err
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return fmt.Errorf("bad port %q", port)
	}
	addrs := []netip.Addr{}
	if ip, err := netip.ParseAddr(u.Hostname()); err == nil {
		addrs = append(addrs, ip)
	} else {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		// A name that does not resolve now may later; the client checks
		// again at every connection.
		addrs, _ = net.DefaultResolver.LookupNetIP(ctx, "ip", u.Hostname())
	}
	for _, ip := range addrs {
		if ap := netip.AddrPortFrom(ip.Unmap(), uint16(p)); h.self(ap) {
			return fmt.Errorf("%s reaches this callbox server itself (%s); give your backend's address", u.Host, ap)
		}
	}
	return nil
}

func (h *hookAdmin) Webhook(ctx context.Context, app uint32) (WebhookInfo, error) {
	var info WebhookInfo
	err := h.st.View(func(tx *store.Tx) error {
		if _, err := tx.App(app); err != nil {
			return err
		}
		w, err := tx.Webhook(app)
		if err == nil {
			info.Webhook = &w
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return nil
	})
	if err != nil {
		return info, err
	}
	stats, err := h.stats(ctx)
	for _, s := range stats {
		if s.SDKAppID == app {
			info.Queue = s
		}
	}
	info.Queue.SDKAppID, info.Queue.Configured = app, info.Webhook != nil
	return info, err
}

func (h *hookAdmin) stats(ctx context.Context) ([]webhook.AppStats, error) {
	if h.d != nil {
		return h.d.Stats(ctx)
	}
	return webhook.QueueStats(h.st)
}

func (h *hookAdmin) DeleteWebhook(ctx context.Context, app uint32) error {
	if err := h.st.Update(func(tx *store.Tx) error { return tx.DeleteWebhook(app) }); err != nil {
		return err
	}
	return h.reload(ctx, app)
}

func (h *hookAdmin) TestWebhook(ctx context.Context, app uint32, command string) (WebhookTest, error) {
	if command == "" {
		command = "caller_start_call"
	}
	if command != webhook.StatusCommand {
		if _, filter, err := webhook.ParseEvents(command); err != nil || len(filter) != 1 || filter[0] != command || len(command) < 7 || command[6] != '_' {
			return WebhookTest{}, badRequest("invalid --command %q: want a command such as caller_start_call, or call_end", command)
		}
	}
	var w store.Webhook
	if err := h.st.View(func(tx *store.Tx) error {
		var err error
		w, err = tx.Webhook(app)
		return err
	}); err != nil {
		return WebhookTest{}, err
	}
	now := h.now()
	id := uuid.NewString()
	timeout := w.Timeout
	if timeout <= 0 {
		timeout = webhook.DefaultTimeout
	}
	req := webhook.Request{URL: w.URL, Token: w.Token, SDKAppID: app, Command: command, EventID: id,
		Body: webhook.SampleBody(command, "callbox-test-"+id, now), Now: now, Timeout: timeout, UserAgent: h.ua}
	res := webhook.Send(ctx, h.hc, req)
	h.hc.CloseIdleConnections()
	target, _ := webhook.RequestURL(w.URL, w.Token, app, command, now)
	out := WebhookTest{URL: target, Command: command, EventID: id, Status: res.Status,
		LatencyMS: float64(res.Latency.Microseconds()) / 1000, Reply: res.Reply}
	d := store.Delivery{At: now, EventID: id, Command: command, Attempt: 1, Status: res.Status, Latency: res.Latency, Test: true}
	if res.Err != nil {
		out.Error, d.Error = res.Err.Error(), res.Err.Error()
	}
	return out, h.st.Update(func(tx *store.Tx) error { return tx.AppendDelivery(app, d) })
}

func (h *hookAdmin) WebhookLog(_ context.Context, app uint32, limit int, failed bool) ([]store.Delivery, error) {
	var out []store.Delivery
	err := h.st.View(func(tx *store.Tx) error {
		if _, err := tx.App(app); err != nil {
			return err
		}
		var err error
		out, err = tx.Deliveries(app, limit, failed)
		return err
	})
	return out, err
}

func (h *hookAdmin) DeadWebhooks(_ context.Context, app uint32) ([]store.DeadEntry, error) {
	var out []store.DeadEntry
	err := h.st.View(func(tx *store.Tx) error {
		if _, err := tx.App(app); err != nil {
			return err
		}
		var err error
		out, err = tx.DeadEntries(app)
		return err
	})
	return out, err
}

func (h *hookAdmin) RetryWebhook(ctx context.Context, app uint32, eventID string) (int, error) {
	var n int
	var err error
	if h.d != nil {
		n, err = h.d.Retry(ctx, app, eventID)
	} else if n, err = webhook.RequeueDead(h.st, app, eventID, h.now()); err == nil && n == 0 && eventID != "" {
		// No server: a queued event goes out when one starts.
		err = h.st.View(func(tx *store.Tx) error {
			queued, err := tx.AppOutbox(app, 0, 0)
			for _, e := range queued {
				if e.EventID == eventID {
					n = 1
				}
			}
			return err
		})
		if err == nil && n == 0 {
			err = webhook.ErrNoEvent
		}
	}
	if errors.Is(err, webhook.ErrNoEvent) {
		return 0, fmt.Errorf("event %s of app %d: %w", eventID, app, store.ErrNotFound)
	}
	return n, err
}

// webhooks is the running server's webhook side: the dispatcher, and the
// HTTP listener's address that callbacks must not reach.
type webhooks struct {
	hookAdmin
	listen    atomic.Pointer[netip.AddrPort]
	publicIPs []netip.Addr
}

func (a *Appliance) newWebhooks() *webhooks {
	w := &webhooks{}
	for _, s := range a.cfg.PublicIPs {
		if ip, err := netip.ParseAddr(s); err == nil {
			w.publicIPs = append(w.publicIPs, ip.Unmap())
		}
	}
	ua := "callbox/" + a.cfg.Version
	w.d = webhook.New(webhook.Config{Store: a.store, Self: w.isSelf, Logger: a.log, UserAgent: ua})
	w.hookAdmin = hookAdmin{st: a.store, d: w.d, self: w.isSelf, hc: webhook.NewClient(w.isSelf), now: time.Now, ua: ua}
	return w
}

// listening records the HTTP listener's address.
func (w *webhooks) listening(addr net.Addr) {
	if ap, err := netip.ParseAddrPort(addr.String()); err == nil {
		w.listen.Store(&ap)
	}
}

// isSelf reports whether a connection to ap would reach our HTTP
// listener: its own address; with a wildcard listener, any loopback,
// local interface or public address on its port.
func (w *webhooks) isSelf(ap netip.AddrPort) bool {
	l := w.listen.Load()
	if l == nil || ap.Port() != l.Port() {
		return false
	}
	ip, lip := ap.Addr().Unmap(), l.Addr().Unmap()
	switch {
	case ip == lip || ip.IsUnspecified():
		return true
	case !lip.IsUnspecified():
		return false
	case ip.IsLoopback():
		return true
	}
	for _, p := range w.publicIPs {
		if p == ip {
			return true
		}
	}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if local, ok := netip.AddrFromSlice(n.IP); ok && local.Unmap() == ip {
				return true
			}
		}
	}
	return false
}

// health is the webhook part of GET /health: every app's queue.
func (w *webhooks) health() []webhook.AppStats {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	stats, err := w.stats(ctx)
	if err != nil {
		return nil
	}
	return stats
}

// appDeleted drops the queued events of a deleted app: its webhook went
// with it.
func (w *webhooks) appDeleted(ctx context.Context, app uint32, log interface{ Warn(string, ...any) }) {
	if err := w.reload(ctx, app); err != nil {
		log.Warn("webhook queue of a deleted app not dropped; it is at the next start", "app_id", app, "err", err)
	}
}

// run delivers until ctx ends.
func (w *webhooks) run(ctx context.Context) error { return w.d.Run(ctx) }

// drain gives the events of the calls ended at shutdown half of what is
// left of the shutdown deadline to go out.
func (w *webhooks) drain(ctx context.Context, log interface{ Warn(string, ...any) }) {
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, time.Now().Add(time.Until(dl)/2))
		defer cancel()
	}
	if err := w.d.Drain(ctx); err != nil {
		log.Warn("webhooks not drained at shutdown; they go out at the next start", "err", err)
	}
}
