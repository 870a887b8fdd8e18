package webhook

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"syscall"
	"time"
)

// Sign is tencent-compat.md §3's signature: lowercase hex of
// SHA-256(token + RequestTime in decimal unix seconds).
func Sign(token string, requestTime int64) string {
	sum := sha256.Sum256([]byte(token + strconv.FormatInt(requestTime, 10)))
	return hex.EncodeToString(sum[:])
}

// EventIDHeader carries an event's stable id, the same on every retry, so
// that receivers can drop duplicates (delivery is at least once).
const EventIDHeader = "X-Callbox-Event-Id"

// maxReply bounds how much of a receiver's answer is read: the OK reply is
// about 50 bytes; a receiver that streams 100 MB fails at 64 KiB.
const maxReply = 64 << 10

// Request is one POST of one event.
type Request struct {
	URL       string // the app's callback URL (may have a query of its own)
	Token     string // "" = unsigned: no RequestTime, no Sign
	SDKAppID  uint32
	Command   string // the query's command, e.g. caller_start_call
	EventID   string
	Body      []byte // the §3 JSON body
	Now       time.Time
	Timeout   time.Duration // the whole exchange: connect, send, answer
	UserAgent string
}

// Result is what one attempt gave. Err is nil only for a delivery: HTTP
// 2xx with {"ActionStatus":"OK","ErrorCode":0} in time (§3).
type Result struct {
	Status  int           // HTTP status; 0 when none arrived
	Latency time.Duration // from the first byte sent to the answer read
	Reply   string        // the start of the answer's body, for people
	Err     error
}

// RequestURL is the URL of §3: the configured URL with sdkappid, command,
// contenttype, clientip and optplatform, then RequestTime and Sign when
// there is a token, in the order of Tencent's example. callbox does not
// pass client addresses to backends: clientip is empty. Its clients are
// the web SDK and the Go client, so optplatform is Web.
func RequestURL(base, token string, app uint32, command string, now time.Time) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	q := "sdkappid=" + strconv.FormatUint(uint64(app), 10) +
		"&command=" + url.QueryEscape(command) +
		"&contenttype=json&clientip=&optplatform=Web"
	if token != "" {
		t := now.Unix()
		q += "&RequestTime=" + strconv.FormatInt(t, 10) + "&Sign=" + Sign(token, t)
	}
	if u.RawQuery != "" {
		q = u.RawQuery + "&" + q
	}
	u.RawQuery = q
	u.Fragment = ""
	return u.String(), nil
}

// Send makes one attempt. It never follows a redirect (a 3xx is a failed
// attempt naming the Location), reads at most 64 KiB of the answer, and
// gives up after r.Timeout however slowly the receiver trickles bytes.
func Send(ctx context.Context, hc *http.Client, r Request) Result {
	ctx, cancel := context.WithTimeout(ctx, r.Timeout)
	defer cancel()
	target, err := RequestURL(r.URL, r.Token, r.SDKAppID, r.Command, r.Now)
	if err != nil {
		return Result{Err: fmt.Errorf("bad URL: %w", err)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(r.Body))
	if err != nil {
		return Result{Err: fmt.Errorf("bad URL: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(EventIDHeader, r.EventID)
	if r.UserAgent != "" {
		req.Header.Set("User-Agent", r.UserAgent)
	}
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		return Result{Latency: time.Since(start), Err: describe(ctx, err, r.Timeout)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxReply+1))
	res := Result{Status: resp.StatusCode, Latency: time.Since(start), Reply: snippet(body)}
	switch {
	case err != nil:
		res.Err = fmt.Errorf("reading the answer: %w", describe(ctx, err, r.Timeout))
	case len(body) > maxReply:
		res.Err = fmt.Errorf("answer longer than %d KiB", maxReply>>10)
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		res.Err = fmt.Errorf("HTTP %d redirect to %q not followed: configure the final URL", resp.StatusCode, resp.Header.Get("Location"))
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		res.Err = fmt.Errorf("HTTP %d", resp.StatusCode)
	default:
		res.Err = checkReply(body)
	}
	return res
}

// Reply is the receiver's answer (§3).
type Reply struct {
	ActionStatus string `json:"ActionStatus"`
	ErrorInfo    string `json:"ErrorInfo"`
	ErrorCode    int    `json:"ErrorCode"`
}

func checkReply(body []byte) error {
	var rep Reply
	if err := json.Unmarshal(body, &rep); err != nil {
		return errors.New(`answer is not {"ActionStatus":"OK","ErrorCode":0,...}`)
	}
	if rep.ActionStatus != "OK" || rep.ErrorCode != 0 {
		return fmt.Errorf("receiver answered ActionStatus %q, ErrorCode %d, ErrorInfo %q", rep.ActionStatus, rep.ErrorCode, rep.ErrorInfo)
	}
	return nil
}

// describe turns a transport error into one line for the delivery log.
func describe(ctx context.Context, err error, timeout time.Duration) error {
	if errors.Is(err, ErrSelf) {
		return ErrSelf
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("no complete answer within %s", timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// snippet is the start of an answer as printable text.
func snippet(b []byte) string {
	const n = 256
	if len(b) > n {
		return string(bytes.ToValidUTF8(b[:n], nil)) + "..."
	}
	return string(bytes.ToValidUTF8(b, nil))
}

// ErrSelf refuses a request that would reach this callbox server itself
// (the URL, or where its name resolves to, is our own HTTP listener).
var ErrSelf = errors.New("the webhook URL points at this callbox server; give your backend's address")

// NewClient returns the HTTP client deliveries use: it follows no
// redirect, keeps connections to each receiver alive (up to 64 idle), and
// refuses to connect to an address self reports as this server's own (nil
// = none), checked on the resolved address so that a DNS name or a proxy
// cannot get around it.
func NewClient(self func(netip.AddrPort) bool) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if self != nil {
		d.Control = func(_, address string, _ syscall.RawConn) error {
			if ap, err := netip.ParseAddrPort(address); err == nil && self(ap) {
				return ErrSelf
			}
			return nil
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = d.DialContext
	tr.MaxIdleConns = 256
	tr.MaxIdleConnsPerHost = 64
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
