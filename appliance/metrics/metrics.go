// Package metrics is callbox's Prometheus registry: GET /metrics in the
// text format (prometheus/client_golang), with the Go runtime and process
// collectors.
//
// Nothing here runs per media packet. The components keep their own
// atomic counters (sfu.Stats, turn.Stats, signaling.Metrics, the webhook
// queue's stats) and a scrape reads them through Sources, the one custom
// collector; only the store's commit latency is observed as it happens,
// once per commit.
package metrics

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"callbox/appliance/webhook"
	"callbox/sfu"
	"callbox/signaling"
	"callbox/signaling/call/record"
	"callbox/turn"
)

// Sources are what a scrape reads. A nil func is a part that is off.
type Sources struct {
	Signaling      func() signaling.MetricsSnapshot
	ConnectedUsers func() int
	LiveCalls      func() []record.Call
	SFU            func() sfu.Stats
	TURN           func() turn.Stats
	Webhooks       func() []webhook.AppStats
	WebhookTotals  func() (delivered, failed uint64)
	StoreSize      func() (int64, error)
	CertNotAfter   func() time.Time // zero: no certificate (yet)
}

// Metrics is the registry and the one histogram fed as events happen.
type Metrics struct {
	reg    *prometheus.Registry
	commit prometheus.Histogram
}

// New registers the collectors over src.
func New(src Sources) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "callbox_store_commit_seconds",
			Help:    "Time to store one batch of call transitions (one bbolt transaction, fsync included).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.commit,
		&collector{src: src},
	)
	return m
}

// ObserveCommit records one store commit (signaling.Config.OnCommit).
func (m *Metrics) ObserveCommit(_ int, took time.Duration) { m.commit.Observe(took.Seconds()) }

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("callbox_"+name, help, labels, nil)
}

var (
	connectedUsers = desc("signaling_connected_users", "Users logged in to signaling now.")
	logins         = desc("signaling_logins_total", "Successful logins.")
	loginFailures  = desc("signaling_login_failures_total", "Refused logins by protocol error code (docs/protocol.md).", "code")
	liveCalls      = desc("calls_live", "Calls ringing or active now, by call type and media type.", "type", "media")
	callSetups     = desc("call_setups_total", "Calls started.")
	callResults    = desc("call_results_total", "Ended calls by CallResult.", "result")
	inviteLatency  = desc("invite_delivery_seconds", "From a call request's arrival to the invitee's onInvited being queued to its connection.")

	sfuRooms       = desc("sfu_rooms", "Media rooms now.")
	sfuPeers       = desc("sfu_peers", "Peers in media rooms now.")
	sfuTracks      = desc("sfu_tracks", "Published tracks now (a simulcast track counts once).")
	sfuPackets     = desc("sfu_forwarded_packets_total", "RTP packets written to subscribers, retransmissions included.")
	sfuBytes       = desc("sfu_forwarded_bytes_total", "Payload bytes of the forwarded RTP packets.")
	sfuNACKed      = desc("sfu_nacked_packets_total", "Packets subscribers asked for again (NACK), by whether the SFU still had them.", "result")
	sfuPLIs        = desc("sfu_plis_sent_total", "Keyframe requests (PLI) sent to publishers.")
	sfuSwitches    = desc("sfu_layer_switches_total", "Simulcast layer changes made for subscribers.")
	sfuDroppedUDP  = desc("sfu_dropped_datagrams_total", "UDP datagrams on the media port that belonged to no session.")
	sfuDroppedConn = desc("sfu_dropped_tcp_connections_total", "ICE-TCP connections refused or failed.")
	sfuFastPath    = desc("sfu_fastpath_enabled", "1 when the SFU's receive fast path is on, 0 when serve --no-media-fastpath turned it off.")
	sfuFastPackets = desc("sfu_fastpath_packets_total", "Received RTP packets the receive fast path decrypted and forwarded itself; the others took pion's receive path.")
	sfuFallbacks   = desc("sfu_fastpath_fallbacks_total", "Media streams the receive fast path handed back to pion's receive path because its SRTP keys did not decrypt them.")
	sfuAuthFails   = desc("sfu_fastpath_auth_failures_total", "Received SRTP packets that failed authentication on the receive fast path.")
	sfuFastDropped = desc("sfu_fastpath_dropped_packets_total", "Received packets the receive fast path dropped: not authenticated, replayed or cut short.")
	sfuFastSent    = desc("sfu_fastpath_sent_packets_total", "RTP packets to subscribers that the send fast path sealed and sent itself; the others took pion's send path.")
	sfuUDPCalls    = desc("sfu_udp_socket_calls_total", "Socket calls that moved data on the media UDP port, by op: read (recvmmsg) or write (sendmmsg, sendto).", "op")
	sfuGSO         = desc("sfu_udp_gso_enabled", "1 while the SFU sends runs of equal-sized datagrams to one address with UDP GSO (UDP_SEGMENT); 0 when the kernel lacks it or refused it.")
	sfuGSOMessages = desc("sfu_udp_gso_messages_total", "Messages the SFU sent with UDP GSO, each a run of datagrams to one address that the kernel cut.")

	turnAllocations = desc("turn_allocations", "Live TURN allocations.")
	turnBytes       = desc("turn_relayed_bytes_total", "Bytes relayed by TURN, by direction.", "direction")
	turnPackets     = desc("turn_relayed_packets_total", "Datagrams relayed by TURN, by direction.", "direction")
	turnRefusals    = desc("turn_refusals_total", "TURN requests (datagrams, for reason port) refused, by reason.", "reason")

	hookPending   = desc("webhook_queue_depth", "Webhook events waiting for delivery, in flight included, by app.", "sdkappid")
	hookInFlight  = desc("webhook_in_flight", "Webhook deliveries in flight, by app.", "sdkappid")
	hookDead      = desc("webhook_dead_letters", "Webhook events parked after too many failures, by app.", "sdkappid")
	hookFailures  = desc("webhook_failures", "Failed webhook attempts since the app's last successful delivery.", "sdkappid")
	hookDelivered = desc("webhook_deliveries_total", "Webhook events acknowledged by their receiver.")
	hookFailed    = desc("webhook_failed_attempts_total", "Webhook delivery attempts that failed (each retry counts).")

	storeSize  = desc("store_size_bytes", "Size of callbox.db.")
	certExpiry = desc("tls_certificate_expiry_timestamp_seconds", "When the served TLS certificate expires (Unix time).")
)

// collector reads Sources at scrape time.
type collector struct{ src Sources }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{connectedUsers, logins, loginFailures, liveCalls, callSetups, callResults, inviteLatency,
		sfuRooms, sfuPeers, sfuTracks, sfuPackets, sfuBytes, sfuNACKed, sfuPLIs, sfuSwitches, sfuDroppedUDP, sfuDroppedConn,
		sfuFastPath, sfuFastPackets, sfuFallbacks, sfuAuthFails, sfuFastDropped, sfuFastSent, sfuUDPCalls, sfuGSO, sfuGSOMessages,
		turnAllocations, turnBytes, turnPackets, turnRefusals, hookPending, hookInFlight, hookDead, hookFailures, hookDelivered, hookFailed,
		storeSize, certExpiry} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	src := c.src
	if src.ConnectedUsers != nil {
		gauge(connectedUsers, float64(src.ConnectedUsers()))
	}
	if src.Signaling != nil {
		s := src.Signaling()
		counter(logins, s.Logins)
		for code, n := range s.LoginFailures {
			counter(loginFailures, n, strconv.Itoa(code))
		}
		counter(callSetups, s.CallSetups)
		for result, n := range s.CallResults {
			counter(callResults, n, result)
		}
		buckets := map[float64]uint64{}
		var cum uint64
		for i, le := range signaling.InviteBuckets() {
			cum += s.InviteBuckets[i]
			buckets[le.Seconds()] = cum
		}
		ch <- prometheus.MustNewConstHistogram(inviteLatency, s.InviteCount, s.InviteSum.Seconds(), buckets)
	}
	if src.LiveCalls != nil {
		type key struct{ typ, media string }
		n := map[key]int{}
		for _, typ := range []string{"single", "group"} {
			for _, media := range []string{"audio", "video"} {
				n[key{typ, media}] = 0 // every series is there, at 0 when idle
			}
		}
		for _, rec := range src.LiveCalls() {
			n[key{rec.CallType, rec.MediaType}]++
		}
		for k, v := range n {
			gauge(liveCalls, float64(v), k.typ, k.media)
		}
	}
	if src.SFU != nil {
		s := src.SFU()
		gauge(sfuRooms, float64(s.Rooms))
		gauge(sfuPeers, float64(s.Peers))
		gauge(sfuTracks, float64(s.Tracks))
		counter(sfuPackets, s.ForwardedPackets)
		counter(sfuBytes, s.ForwardedBytes)
		counter(sfuNACKed, s.Retransmitted, "retransmitted")
		counter(sfuNACKed, s.NACKMisses, "missed")
		counter(sfuPLIs, s.PLIsSent)
		counter(sfuSwitches, s.LayerSwitches)
		counter(sfuDroppedUDP, s.DroppedDatagrams)
		counter(sfuDroppedConn, s.DroppedTCPConns)
		gauge(sfuFastPath, boolValue(s.FastPath))
		counter(sfuFastPackets, s.FastPathPackets)
		counter(sfuFallbacks, s.FastPathFallbacks)
		counter(sfuAuthFails, s.FastPathAuthFails)
		counter(sfuFastDropped, s.FastPathDropped)
		counter(sfuFastSent, s.FastSendPackets)
		counter(sfuUDPCalls, s.UDPReadCalls, "read")
		counter(sfuUDPCalls, s.UDPWriteCalls, "write")
		gauge(sfuGSO, boolValue(s.GSO))
		counter(sfuGSOMessages, s.GSOMessages)
	}
	if src.TURN != nil {
		s := src.TURN()
		gauge(turnAllocations, float64(s.Allocations))
		counter(turnBytes, s.ToPeerBytes, "to_peer")
		counter(turnBytes, s.FromPeerBytes, "from_peer")
		counter(turnPackets, s.ToPeerPackets, "to_peer")
		counter(turnPackets, s.FromPeerPackets, "from_peer")
		counter(turnRefusals, s.AuthRefused, "auth")
		counter(turnRefusals, s.QuotaRefused, "quota")
		counter(turnRefusals, s.PeersRefused, "peer")
		counter(turnRefusals, s.PortRefused, "port")
	}
	if src.Webhooks != nil {
		for _, a := range src.Webhooks() {
			app := fmt.Sprint(a.SDKAppID)
			gauge(hookPending, float64(a.Pending), app)
			gauge(hookInFlight, float64(a.InFlight), app)
			gauge(hookDead, float64(a.Dead), app)
			gauge(hookFailures, float64(a.Failures), app)
		}
	}
	if src.WebhookTotals != nil {
		delivered, failed := src.WebhookTotals()
		counter(hookDelivered, delivered)
		counter(hookFailed, failed)
	}
	if src.StoreSize != nil {
		if n, err := src.StoreSize(); err == nil {
			gauge(storeSize, float64(n))
		} else {
			ch <- prometheus.NewInvalidMetric(storeSize, err)
		}
	}
	if src.CertNotAfter != nil {
		if t := src.CertNotAfter(); !t.IsZero() {
			gauge(certExpiry, float64(t.Unix()))
		}
	}
}

// boolValue is a 0/1 gauge's value.
func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
