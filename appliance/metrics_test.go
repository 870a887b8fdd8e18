package appliance_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"callbox/appliance"
	"callbox/appliance/webhook"
	"callbox/sfu/sfuclient"
	"callbox/signaling/client"
	"callbox/store"
)

// scrape GETs url and parses the Prometheus text format.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return fams
}

// value returns the value of the series of family name whose labels
// include want (name=value pairs), or -1 when there is none. Histograms
// give their sample count.
func value(fams map[string]*dto.MetricFamily, name string, want ...string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(want); i += 2 {
			if labels[want[i]] != want[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

// TestMetricsAfterOneToOneCall: a scripted 1:1 video call (one refused
// login first) leaves the counters and histograms at the values it
// implies, on the metrics listener; the public listener serves /metrics
// only with the Bearer token; the detailed /healthz lists each component.
func TestMetricsAfterOneToOneCall(t *testing.T) {
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const token = "scrape-token-0123456789"
	s := startServer(t, func(c *appliance.Config) {
		c.MetricsListener = mln
		c.MetricsToken = token
	})
	metricsURL := "http://" + mln.Addr().String() + "/metrics"
	ctx := s.ctx

	if _, _, err := client.Dial(ctx, s.url, s.app.SDKAppID, "mallory", "not-a-usersig", nil); err == nil {
		t.Fatal("login with a bad UserSig succeeded")
	}
	// The app's backend hears of the call through its webhook.
	var received atomic.Int64
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		received.Add(1)
		io.WriteString(w, `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`)
	}))
	defer backend.Close()
	adm, err := appliance.OpenAdmin(ctx, s.a.DataDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := adm.SetWebhook(ctx, store.Webhook{SDKAppID: s.app.SDKAppID, URL: backend.URL, EventCallbacks: true, StatusCallback: true}); err != nil {
		t.Fatal(err)
	}
	adm.Close()

	alice := s.login("alice", sfuclient.Config{})
	bob := s.login("bob", sfuclient.Config{})
	// The SFU's receive path and socket series are there before any
	// media, the fast path's packets at 0.
	before := scrape(t, metricsURL)
	for _, name := range sfuPathSeries {
		if got := value(before, name); got < 0 {
			t.Errorf("before the call: no %s", name)
		}
	}
	if got := value(before, "callbox_sfu_fastpath_packets_total"); got != 0 {
		t.Errorf("before the call: callbox_sfu_fastpath_packets_total = %v, want 0", got)
	}
	callID := videoCall(t, ctx, alice, bob)

	during := scrape(t, metricsURL)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"callbox_signaling_connected_users", nil, 2},
		{"callbox_calls_live", []string{"type", "single", "media", "video"}, 1},
		{"callbox_calls_live", []string{"type", "single", "media", "audio"}, 0},
		{"callbox_sfu_rooms", nil, 1},
		{"callbox_sfu_peers", nil, 2},
		{"callbox_sfu_tracks", nil, 4},
		{"callbox_sfu_fastpath_enabled", nil, 1},
		{"callbox_sfu_fastpath_fallbacks_total", nil, 0},
		{"callbox_sfu_fastpath_auth_failures_total", nil, 0},
	} {
		if got := value(during, c.name, c.labels...); got != c.want {
			t.Errorf("during the call: %s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// Each side's media went through the fast path once its streams were
	// bound (videoCall waits for 100 packets of each of four tracks), and
	// through the batched socket calls.
	for _, name := range []string{"callbox_sfu_fastpath_packets_total", "callbox_sfu_fastpath_sent_packets_total"} {
		if got := value(during, name); got <= 0 {
			t.Errorf("during the call: %s = %v, want > 0", name, got)
		}
	}
	for _, op := range []string{"read", "write"} {
		if got := value(during, "callbox_sfu_udp_socket_calls_total", "op", op); got <= 0 {
			t.Errorf("during the call: callbox_sfu_udp_socket_calls_total{op=%q} = %v, want > 0", op, got)
		}
	}
	// UDP GSO: Linux has had UDP_SEGMENT since 4.18, and loopback never
	// refuses it. Each publish tick sends an audio and a video packet with
	// payloads of one length back to back to the same subscriber; some of
	// those pairs arrive in one read and leave as one segmented message
	// (100-175 in a call of about 400 packets).
	if runtime.GOOS == "linux" {
		if got := value(during, "callbox_sfu_udp_gso_enabled"); got != 1 {
			t.Errorf("during the call: callbox_sfu_udp_gso_enabled = %v, want 1 (a Linux kernel without UDP_SEGMENT?)", got)
		}
		if got := value(during, "callbox_sfu_udp_gso_messages_total"); got <= 0 {
			t.Errorf("during the call: callbox_sfu_udp_gso_messages_total = %v, want > 0", got)
		}
	}

	if err := alice.sig.Hangup(ctx, callID); err != nil {
		t.Fatal(err)
	}
	bob.waitEvent(ctx, "onCallEnd")
	// Webhooks go out after the commits: wait for the queue to empty.
	app := strconv.FormatUint(uint64(s.app.SDKAppID), 10)
	var after map[string]*dto.MetricFamily
	for deadline := time.Now().Add(20 * time.Second); ; {
		after = scrape(t, metricsURL)
		if value(after, "callbox_webhook_queue_depth", "sdkappid", app) == 0 && value(after, "callbox_webhook_deliveries_total") > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook queue not drained: depth %v, delivered %v", value(after, "callbox_webhook_queue_depth", "sdkappid", app), value(after, "callbox_webhook_deliveries_total"))
		}
		time.Sleep(20 * time.Millisecond) // polling the scrape: the queue has no event to wait on
	}
	if d, n := value(after, "callbox_webhook_deliveries_total"), received.Load(); d != float64(n) || value(after, "callbox_webhook_failed_attempts_total") != 0 {
		t.Errorf("webhook deliveries %v, failed %v; the backend got %d", d, value(after, "callbox_webhook_failed_attempts_total"), n)
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"callbox_signaling_logins_total", nil, 2},
		{"callbox_call_setups_total", nil, 1},
		{"callbox_call_results_total", []string{"result", "normal_end"}, 1},
		{"callbox_invite_delivery_seconds", nil, 1}, // bob's one onInvited
		{"callbox_calls_live", []string{"type", "single", "media", "video"}, 0},
	} {
		if got := value(after, c.name, c.labels...); got != c.want {
			t.Errorf("after the call: %s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if f := after["callbox_signaling_login_failures_total"]; f == nil || len(f.Metric) != 1 || f.Metric[0].Counter.GetValue() != 1 {
		t.Errorf("login failures: %v, want one refused login", f)
	}
	for _, name := range []string{"callbox_sfu_forwarded_packets_total", "callbox_sfu_forwarded_bytes_total",
		"callbox_store_commit_seconds", "callbox_store_size_bytes", "go_goroutines", "process_resident_memory_bytes"} {
		if got := value(after, name); got <= 0 {
			t.Errorf("%s = %v, want > 0", name, got)
		}
	}
	// The call's commits: call, accept, hangup at least, each observed.
	if got := value(after, "callbox_store_commit_seconds"); got < 3 {
		t.Errorf("store commits observed: %v, want at least 3", got)
	}
	if got := value(after, "callbox_turn_allocations"); got != 0 {
		t.Errorf("callbox_turn_allocations = %v", got)
	}

	// The public listener: only with the token.
	public := "http://" + webAddr(s) + "/metrics"
	for _, c := range []struct {
		auth string
		want int
	}{{"", 401}, {"Bearer wrong", 401}, {"Basic " + token, 401}, {"Bearer " + token, 200}} {
		req, _ := http.NewRequestWithContext(ctx, "GET", public, nil)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("public /metrics with %q: %d, want %d", c.auth, resp.StatusCode, c.want)
		}
	}

	var health struct {
		Status     string
		Components map[string]appliance.ComponentHealth
	}
	resp, err := http.Get("http://" + mln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&health)
	resp.Body.Close()
	want := map[string]string{"store": "ok", "signaling": "ok", "sfu": "ok", "turn": "ok", "tls": "off", "webhooks": "ok"}
	for name, st := range want {
		if health.Components[name].Status != st {
			t.Errorf("healthz %s = %+v, want %s", name, health.Components[name], st)
		}
	}
	if resp.StatusCode != 200 || health.Status != "ok" {
		t.Errorf("healthz: %d %q", resp.StatusCode, health.Status)
	}
	// The webhook queues, per app (issue 14: depth and oldest pending).
	raw, _ := json.Marshal(health.Components["webhooks"].Detail)
	var queues []webhook.AppStats
	if err := json.Unmarshal(raw, &queues); err != nil || len(queues) != 1 || queues[0].SDKAppID != s.app.SDKAppID || !queues[0].Configured || queues[0].Pending != 0 {
		t.Errorf("healthz webhooks = %s (%v)", raw, err)
	}
}

// sfuPathSeries are the SFU's receive path and media socket series, there
// whenever the SFU is.
var sfuPathSeries = []string{"callbox_sfu_fastpath_enabled", "callbox_sfu_fastpath_packets_total",
	"callbox_sfu_fastpath_fallbacks_total", "callbox_sfu_fastpath_auth_failures_total",
	"callbox_sfu_fastpath_dropped_packets_total", "callbox_sfu_fastpath_sent_packets_total", "callbox_sfu_udp_socket_calls_total",
	"callbox_sfu_udp_gso_enabled", "callbox_sfu_udp_gso_messages_total"}

// TestMetricsWithoutMediaFastPath: with the operator's kill switch
// (--no-media-fastpath) a call's media still flows, all of it through
// pion's receive path: the fast path is reported off and forwards nothing.
func TestMetricsWithoutMediaFastPath(t *testing.T) {
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, func(c *appliance.Config) {
		c.MetricsListener = mln
		c.NoMediaFastPath = true
	})
	alice := s.login("alice", sfuclient.Config{})
	bob := s.login("bob", sfuclient.Config{})
	videoCall(t, s.ctx, alice, bob)

	fams := scrape(t, "http://"+mln.Addr().String()+"/metrics")
	for _, name := range sfuPathSeries {
		if got := value(fams, name); got < 0 {
			t.Errorf("no %s", name)
		}
	}
	for _, c := range []struct {
		name string
		want float64
	}{
		{"callbox_sfu_fastpath_enabled", 0},
		{"callbox_sfu_fastpath_packets_total", 0},
		{"callbox_sfu_fastpath_fallbacks_total", 0},
		{"callbox_sfu_fastpath_sent_packets_total", 0},
	} {
		if got := value(fams, c.name); got != c.want {
			t.Errorf("%s = %v, want %v", c.name, got, c.want)
		}
	}
	// videoCall saw 100 packets of every track arrive: pion forwarded them.
	if got := value(fams, "callbox_sfu_forwarded_packets_total"); got < 400 {
		t.Errorf("callbox_sfu_forwarded_packets_total = %v, want at least 400", got)
	}
}

// webAddr is the server's HTTP address, from its /ws URL.
func webAddr(s *server) string {
	return strings.TrimSuffix(strings.TrimPrefix(s.url, "ws://"), "/ws")
}

// TestNoMetricsWithoutToken: without --metrics-token the public listener
// does not serve /metrics.
func TestNoMetricsWithoutToken(t *testing.T) {
	s := startServer(t, nil)
	resp, err := http.Get("http://" + webAddr(s) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == 200 && resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("public /metrics without a token: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}
