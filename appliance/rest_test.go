package appliance_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"callbox/appliance"
	"callbox/sfu/sfuclient"
	"callbox/signaling/call/record"
	"callbox/signaling/usersig"
	"callbox/store"
)

// restClient is a Tencent-style REST client of a running server: a real
// HTTP client, the query of tencent-compat.md §2.
type restClient struct {
	t    *testing.T
	s    *server
	base string
	hc   *http.Client
}

func newRESTClient(s *server) *restClient {
	host := strings.TrimSuffix(strings.TrimPrefix(s.url, "ws://"), "/ws")
	return &restClient{t: s.t, s: s, base: "http://" + host, hc: &http.Client{Timeout: 20 * time.Second}}
}

// restReply is one answer: the envelope, its raw bytes and HTTP status.
type restReply struct {
	Status       int
	Raw          []byte
	ErrorCode    int             `json:"ErrorCode"`
	ErrorInfo    string          `json:"ErrorInfo"`
	ActionStatus string          `json:"ActionStatus"`
	RequestID    string          `json:"RequestId"`
	Response     json.RawMessage `json:"Response"`
}

// sig issues a UserSig of the server's app for user.
func (c *restClient) sig(user string) string {
	c.t.Helper()
	s, err := usersig.Issue(c.s.app.SDKAppID, c.s.app.Key, user, time.Hour, time.Now())
	if err != nil {
		c.t.Fatal(err)
	}
	return s
}

// query is the seed's query, in its order, for the app's administrator.
func (c *restClient) query() string {
	return fmt.Sprintf("sdkappid=%d&identifier=administrator&usersig=%s&random=99999999&contenttype=json",
		c.s.app.SDKAppID, url.QueryEscape(c.sig("administrator")))
}

// raw posts body to /v4/<cmd>?<query> and decodes the envelope.
func (c *restClient) raw(method, cmd, query string, body []byte) restReply {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+"/v4/"+cmd+"?"+query, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var r restReply
	r.Status = resp.StatusCode
	if r.Raw, err = io.ReadAll(resp.Body); err != nil {
		c.t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		c.t.Fatalf("%s: Content-Type %q, body %.200s", cmd, ct, r.Raw)
	}
	if err := json.Unmarshal(r.Raw, &r); err != nil {
		c.t.Fatalf("%s: answer is not the envelope: %v: %.300s", cmd, err, r.Raw)
	}
	return r
}

// do posts a command as the administrator.
func (c *restClient) do(cmd string, body any) restReply {
	c.t.Helper()
	b, ok := body.([]byte)
	if !ok {
		if s, isStr := body.(string); isStr {
			b = []byte(s)
		} else {
			var err error
			if b, err = json.Marshal(body); err != nil {
				c.t.Fatal(err)
			}
		}
	}
	return c.raw(http.MethodPost, cmd, c.query(), b)
}

// ok checks an OK answer and decodes its Response into v (if not nil).
func (r restReply) ok(t *testing.T, v any) {
	t.Helper()
	if r.Status != 200 || r.ActionStatus != "OK" || r.ErrorCode != 0 || r.ErrorInfo != "" {
		t.Fatalf("want OK, got %d %.400s", r.Status, r.Raw)
	}
	if v != nil {
		if err := json.Unmarshal(r.Response, v); err != nil {
			t.Fatalf("Response: %v: %s", err, r.Response)
		}
	}
}

// fail checks a FAIL answer with code: HTTP 200, errors in the body.
func (r restReply) fail(t *testing.T, code int) {
	t.Helper()
	if r.Status != 200 || r.ActionStatus != "FAIL" || r.ErrorCode != code || r.ErrorInfo == "" || r.Response != nil {
		t.Fatalf("want FAIL %d, got %d %.400s", code, r.Status, r.Raw)
	}
}

type startResp struct {
	CallID     string `json:"CallId"`
	CallResult []struct {
		Callee     string `json:"Callee_Account"`
		ResultCode int    `json:"ResultCode"`
	} `json:"CallResult"`
}

// countCalls counts the stored call records of the server's app.
func countCalls(t *testing.T, s *server) int {
	t.Helper()
	var n int
	err := s.a.Store().View(func(tx *store.Tx) error {
		recs, err := tx.Calls(store.CallFilter{SDKAppID: s.app.SDKAppID})
		n = len(recs)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// TestRESTSeedSample sends the seed's sample start_call_by_robot request
// (start-call-by-robot.txt, copied byte for byte into testdata): the
// documentation's text is not JSON (a // comment, a missing comma and
// "\\"" escapes), so as it stands it is refused with 101002 and nothing
// is written; with only those three things repaired, every value as in
// the seed, it rings jack and the call is as the sample asked.
func TestRESTSeedSample(t *testing.T) {
	s := startServer(t, nil)
	rc := newRESTClient(s)
	jack := s.login("jack", sfuclient.Config{})
	sample, err := os.ReadFile("testdata/start-call-by-robot.sample.json")
	if err != nil {
		t.Fatal(err)
	}
	r := rc.do("call_engine_http_srv/start_call_by_robot", sample)
	r.fail(t, 101002)
	if !strings.Contains(r.ErrorInfo, "JSON") {
		t.Errorf("ErrorInfo %q does not say the body is not JSON", r.ErrorInfo)
	}
	if n := countCalls(t, s); n != 0 {
		t.Fatalf("%d records written by a refused request", n)
	}

	repaired := strings.Replace(string(sample), ` // robot userid, no heartbeat detection for robot`, ``, 1)
	repaired = strings.Replace(repaired, `"This is offline push content"`, `"This is offline push content",`, 1)
	repaired = strings.ReplaceAll(repaired, `\\"`, `\"`)
	var resp startResp
	rc.do("call_engine_http_srv/start_call_by_robot", repaired).ok(t, &resp)
	if !uuidRE.MatchString(resp.CallID) || len(resp.CallResult) != 1 || resp.CallResult[0].Callee != "jack" || resp.CallResult[0].ResultCode != 0 {
		t.Fatalf("Response %+v", resp)
	}
	if !bytes.Contains(jack.waitEvent(s.ctx, "onInvited"), []byte(`"sponsor":"robot"`)) {
		t.Error("jack's invitation is not from robot")
	}
	var info struct {
		CallInfo map[string]any `json:"CallInfo"`
		UserList []map[string]any
	}
	rc.do("call_engine_http_srv/get_call_info", map[string]string{"CallId": resp.CallID}).ok(t, &info)
	want := map[string]any{"CallId": resp.CallID, "Caller_Account": "robot", "MediaType": "Video", "RoomId": "roomid-test",
		"RoomIdType": float64(2), "UserData": "userdata-12345687", "CallType": "single", "State": "ringing"}
	for k, v := range want {
		if info.CallInfo[k] != v {
			t.Errorf("CallInfo.%s = %v, want %v", k, info.CallInfo[k], v)
		}
	}
	if len(info.UserList) != 2 || info.UserList[0]["User_Account"] != "robot" || info.UserList[1]["Status"] != "ringing" {
		t.Errorf("UserList %v", info.UserList)
	}
	// Timeout 300000 is five minutes, in milliseconds.
	var rec record.Call
	s.a.Store().View(func(tx *store.Tx) (err error) { rec, err = tx.Call(s.app.SDKAppID, resp.CallID); return err })
	if rec.Timeout != 5*time.Minute {
		t.Errorf("stored Timeout %s, want 5m0s", rec.Timeout)
	}
}

// TestRESTEnvelope: every answer, OK or FAIL, even to an unknown command
// or a GET, is HTTP 200 with the envelope's four fields in Tencent's
// order and a RequestId unique to it, which the server logs with the
// request.
func TestRESTEnvelope(t *testing.T) {
	var logs syncBuffer
	s := startServer(t, func(c *appliance.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	rc := newRESTClient(s)
	unknown := `{"CallId":"35fd577d-1d10-4201-a40d-6d7316560986"}`
	replies := []restReply{
		rc.do("call_engine_http_srv/get_call_info", unknown),
		rc.do("call_config/delete_callback", "{}"),
		rc.do("no_such_srv/no_such_command", "{}"),
		rc.raw(http.MethodGet, "call_engine_http_srv/get_call_info", rc.query(), nil),
		rc.raw(http.MethodPost, "call_engine_http_srv/get_call_info", "", []byte(unknown)),
	}
	for range 20 {
		replies = append(replies, rc.do("call_record_http_srv/get_record_by_filter", "{}"))
	}
	order := regexp.MustCompile(`^\{"ErrorCode":\d+,"ErrorInfo":"[^"]*","ActionStatus":"(OK|FAIL)","RequestId":"Id-[0-9a-f]{32}-O-Seq-\d+"(,"Response":.*)?\}\n$`)
	seen := map[string]bool{}
	for _, r := range replies {
		if r.Status != 200 || !order.Match(r.Raw) {
			t.Errorf("answer %d %s", r.Status, r.Raw)
		}
		if seen[r.RequestID] {
			t.Errorf("RequestId %s repeated", r.RequestID)
		}
		seen[r.RequestID] = true
	}
	replies[0].fail(t, 101004)
	replies[1].fail(t, 101050)
	replies[2].fail(t, 101002)
	replies[3].fail(t, 101002)
	replies[4].fail(t, 70020)
	var page struct{ RecordList []any }
	replies[5].ok(t, &page)
	if page.RecordList == nil {
		t.Error("RecordList is null, want []")
	}
	for id := range seen {
		if !strings.Contains(logs.String(), `"request_id":"`+id+`"`) {
			t.Errorf("RequestId %s not in the log", id)
		}
	}
}

// TestRESTAuth: each failure of the query authentication gets its code
// (tencent-compat.md §1-2), and an app's admin accounts are what
// `callbox app admins` makes them.
func TestRESTAuth(t *testing.T) {
	s := startServer(t, nil)
	rc := newRESTClient(s)
	app := s.app.SDKAppID
	other, err := s.a.Store().CreateApp("other", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	issue := func(app uint32, key, user string, expire time.Duration, at time.Time) string {
		sig, err := usersig.Issue(app, key, user, expire, at)
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
	admin := issue(app, s.app.Key, "administrator", time.Hour, time.Now())
	q := func(sdkappid uint32, identifier, sig string) string {
		return fmt.Sprintf("sdkappid=%d&identifier=%s&usersig=%s&random=1&contenttype=json", sdkappid, identifier, url.QueryEscape(sig))
	}
	for _, tc := range []struct {
		name  string
		query string
		want  int
	}{
		{"ok", q(app, "administrator", admin), 0},
		{"no sig", fmt.Sprintf("sdkappid=%d&identifier=administrator&random=1&contenttype=json", app), 70002},
		{"empty sig", q(app, "administrator", ""), 70002},
		{"sig not a sig", q(app, "administrator", "xxx"), 70003},
		{"sig signed with another key", q(app, "administrator", issue(app, other.Key, "administrator", time.Hour, time.Now())), 70009},
		{"expired sig", q(app, "administrator", issue(app, s.app.Key, "administrator", time.Minute, time.Now().Add(-2*time.Minute))), 70001},
		{"sig of a non-admin user", q(app, "bob", issue(app, s.app.Key, "bob", time.Hour, time.Now())), 70403},
		{"sig of another identifier", q(app, "bob", admin), 70013},
		{"sig of another app", q(other.SDKAppID, "administrator", admin), 70014},
		{"sdkappid of no app", q(1499999998, "administrator", issue(1499999998, s.app.Key, "administrator", time.Hour, time.Now())), 70020},
		{"no sdkappid", "identifier=administrator&usersig=" + url.QueryEscape(admin), 70020},
		{"sdkappid not a number", "sdkappid=abc&identifier=administrator&usersig=" + url.QueryEscape(admin), 70020},
		{"no identifier", fmt.Sprintf("sdkappid=%d&usersig=%s", app, url.QueryEscape(admin)), 70403},
		{"random not a u32", strings.Replace(q(app, "administrator", admin), "random=1", "random=4294967296", 1), 101002},
		{"contenttype not json", strings.Replace(q(app, "administrator", admin), "contenttype=json", "contenttype=xml", 1), 101002},
		{"sdkappid twice", q(app, "administrator", admin) + fmt.Sprintf("&sdkappid=%d", app), 101002},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rc.raw(http.MethodPost, "call_record_http_srv/get_record_by_filter", tc.query, []byte("{}"))
			if tc.want == 0 {
				r.ok(t, nil)
				return
			}
			r.fail(t, tc.want)
		})
	}

	// `callbox app admins` adds ops; removing administrator leaves ops
	// as the only admin.
	ops := q(app, "ops", issue(app, s.app.Key, "ops", time.Hour, time.Now()))
	adm, err := appliance.OpenAdmin(s.ctx, s.a.DataDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	if _, err := adm.SetAppAdmins(s.ctx, app, []string{"ops"}, []string{"administrator"}); err != nil {
		t.Fatal(err)
	}
	rc.raw(http.MethodPost, "call_record_http_srv/get_record_by_filter", ops, []byte("{}")).ok(t, nil)
	rc.raw(http.MethodPost, "call_record_http_srv/get_record_by_filter", q(app, "administrator", admin), []byte("{}")).fail(t, 70403)
	if _, err := adm.SetAppAdmins(s.ctx, app, nil, []string{"ops"}); err == nil {
		t.Fatal("the last admin account was removed")
	}
	if _, err := adm.SetAppAdmins(s.ctx, app, []string{"bad id"}, nil); err == nil {
		t.Fatal("an invalid userID became an admin")
	}
}

// TestRESTBadInput: bodies that are not what a command takes get 101002
// (or 101004 / 101050 for an unknown call or record), never a 500, and
// nothing is written.
func TestRESTBadInput(t *testing.T) {
	s := startServer(t, nil)
	rc := newRESTClient(s)
	start := func(mod func(m map[string]any)) map[string]any {
		m := map[string]any{"Robot_Account": "robot", "CalleeList_Account": []string{"jack"}, "Timeout": 30000,
			"CallInfo": map[string]any{"MediaType": "Video", "RoomId": 1234, "RoomIdType": 1}}
		mod(m)
		return m
	}
	info := func(m map[string]any) map[string]any { return m["CallInfo"].(map[string]any) }
	many := make([]string, 10000)
	for i := range many {
		many[i] = fmt.Sprintf("u%d", i)
	}
	// Bodies that a command would take but for one thing wrong with the
	// JSON itself (in a field the command ignores, or after the object).
	valid, err := json.Marshal(start(func(m map[string]any) { m["UserData"] = "MARK" }))
	if err != nil {
		t.Fatal(err)
	}
	withPush := func(push string) string {
		return strings.Replace(string(valid), `"UserData"`, `"OfflinePushInfo":`+push+`,"UserData"`, 1)
	}
	deep := withPush(strings.Repeat(`{"a":`, 20) + "1" + strings.Repeat("}", 20))
	huge := withPush(`"` + strings.Repeat("x", 1<<20) + `"`)
	const startCmd = "call_engine_http_srv/start_call_by_robot"
	for _, tc := range []struct {
		name string
		cmd  string
		body any
		want int
	}{
		{"malformed JSON", startCmd, `{"Robot_Account":`, 101002},
		{"not an object", startCmd, `["robot"]`, 101002},
		{"data after the object", startCmd, string(valid) + ` {}`, 101002},
		{"too deep", startCmd, deep, 101002},
		{"over 1 MiB", startCmd, huge, 101002},
		{"not UTF-8", startCmd, []byte(strings.Replace(string(valid), "MARK", "\xff", 1)), 101002},
		{"wrong type", startCmd, `{"Robot_Account":7}`, 101002},
		{"no robot", startCmd, start(func(m map[string]any) { delete(m, "Robot_Account") }), 101002},
		{"robot id with a space", startCmd, start(func(m map[string]any) { m["Robot_Account"] = "ro bot" }), 101002},
		{"robot calls itself", startCmd, start(func(m map[string]any) { m["CalleeList_Account"] = []string{"robot"} }), 101002},
		{"0 callees", startCmd, start(func(m map[string]any) { m["CalleeList_Account"] = []string{} }), 101002},
		{"10000 callees", startCmd, start(func(m map[string]any) { m["CalleeList_Account"] = many }), 101002},
		{"bad callee id", startCmd, start(func(m map[string]any) { m["CalleeList_Account"] = []string{strings.Repeat("j", 33)} }), 101002},
		{"negative timeout", startCmd, start(func(m map[string]any) { m["Timeout"] = -1 }), 101002},
		{"fractional timeout", startCmd, start(func(m map[string]any) { m["Timeout"] = 1.5 }), 101002},
		{"timeout over a day", startCmd, start(func(m map[string]any) { m["Timeout"] = 86400001 }), 101002},
		{"no media type", startCmd, start(func(m map[string]any) { delete(info(m), "MediaType") }), 101002},
		{"media type screen", startCmd, start(func(m map[string]any) { info(m)["MediaType"] = "screen" }), 101002},
		{"RoomIdType 1, string RoomId", startCmd, start(func(m map[string]any) { info(m)["RoomId"] = "roomid-test" }), 101002},
		{"RoomIdType 1, RoomId 0", startCmd, start(func(m map[string]any) { info(m)["RoomId"] = 0 }), 101002},
		{"RoomIdType 1, RoomId over u32", startCmd, start(func(m map[string]any) { info(m)["RoomId"] = 4294967296 }), 101002},
		{"RoomIdType 3", startCmd, start(func(m map[string]any) { info(m)["RoomIdType"] = 3 }), 101002},
		{"RoomIdType 2, no RoomId", startCmd, start(func(m map[string]any) { info(m)["RoomIdType"] = 2; delete(info(m), "RoomId") }), 101002},
		{"RoomId of 65 bytes", startCmd, start(func(m map[string]any) { info(m)["RoomIdType"] = 2; info(m)["RoomId"] = strings.Repeat("r", 65) }), 101002},
		{"UserData over 4 KiB", startCmd, start(func(m map[string]any) { m["UserData"] = strings.Repeat("u", 4097) }), 101002},
		{"unknown robot audio", startCmd, start(func(m map[string]any) { m["RobotMedia"] = map[string]string{"Audio": "nope.ogg"} }), 101002},
		{"robot media path", startCmd, start(func(m map[string]any) { m["RobotMedia"] = map[string]string{"Video": "../callbox.db"} }), 101002},
		{"get_call_info no CallId", "call_engine_http_srv/get_call_info", `{}`, 101002},
		{"get_call_info CallId not a UUID", "call_engine_http_srv/get_call_info", `{"CallId":"abc"}`, 101002},
		{"get_call_info unknown call", "call_engine_http_srv/get_call_info", `{"CallId":"35fd577d-1d10-4201-a40d-6d7316560986"}`, 101004},
		{"end_call unknown call", "call_engine_http_srv/end_call", `{"CallId":"35fd577d-1d10-4201-a40d-6d7316560986"}`, 101004},
		{"get_record_by_callid unknown", "call_record_http_srv/get_record_by_callid", `{"CallId":"35fd577d-1d10-4201-a40d-6d7316560986"}`, 101050},
		{"filter bad result", "call_record_http_srv/get_record_by_filter", `{"CallResult":"won"}`, 101002},
		{"filter limit 0", "call_record_http_srv/get_record_by_filter", `{"Limit":0}`, 101002},
		{"filter limit 101", "call_record_http_srv/get_record_by_filter", `{"Limit":101}`, 101002},
		{"filter reversed range", "call_record_http_srv/get_record_by_filter", `{"StartTime":200,"EndTime":100}`, 101002},
		{"filter bad user", "call_record_http_srv/get_record_by_filter", `{"User_Account":"a,b"}`, 101002},
		{"set_callback nothing", "call_config/set_callback", `{}`, 101002},
		{"set_callback no URL yet", "call_config/set_callback", `{"Token":"abc"}`, 101002},
		{"set_callback ftp URL", "call_config/set_callback", `{"CallbackUrl":"ftp://example.com/x"}`, 101002},
		{"set_callback unknown event", "call_config/set_callback", `{"CallbackUrl":"http://192.0.2.1/cb","EventList":["explode"]}`, 101002},
		{"set_callback token with a space", "call_config/set_callback", `{"CallbackUrl":"http://192.0.2.1/cb","Token":"a b"}`, 101002},
		{"set_callback to the server itself", "call_config/set_callback", `{"CallbackUrl":"` + rc.base + `/cb"}`, 101002},
		{"get_callback none", "call_config/get_callback", `{}`, 101050},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc.do(tc.cmd, tc.body).fail(t, tc.want)
		})
	}
	if n := countCalls(t, s); n != 0 {
		t.Fatalf("%d records written by refused requests", n)
	}
	var w *store.Webhook
	s.a.Store().View(func(tx *store.Tx) error {
		if got, err := tx.Webhook(s.app.SDKAppID); err == nil {
			w = &got
		}
		return nil
	})
	if w != nil {
		t.Fatalf("a refused set_callback stored %+v", *w)
	}
	// The control: the body the JSON cases spoil is accepted as it is.
	rc.do(startCmd, valid).ok(t, nil)
	if n := countCalls(t, s); n != 1 {
		t.Fatalf("%d records after the valid request, want 1", n)
	}
}

// TestRESTCallbackConfig: set_callback, get_callback and delete_callback
// are the CLI's webhook set, get and delete: what one sets the other
// shows, and set_callback keeps the fields it is not given.
func TestRESTCallbackConfig(t *testing.T) {
	s := startServer(t, nil)
	rc := newRESTClient(s)
	type cb struct {
		CallbackUrl    string
		Token          string
		EventList      []string
		StatusCallback bool
	}
	var got cb
	rc.do("call_config/set_callback", `{"CallbackUrl":"http://192.0.2.10:8000/cb","Token":"xxxxyyyy"}`).ok(t, &got)
	if got.CallbackUrl != "http://192.0.2.10:8000/cb" || got.Token != "xxxxyyyy" || !got.StatusCallback || len(got.EventList) != 1 || got.EventList[0] != "all" {
		t.Fatalf("set_callback answered %+v", got)
	}
	rc.do("call_config/set_callback", `{"EventList":["start_call","call_end"],"StatusCallback":false}`).ok(t, &got)
	rc.do("call_config/get_callback", nil).ok(t, &got)
	if got.CallbackUrl != "http://192.0.2.10:8000/cb" || got.Token != "xxxxyyyy" || got.StatusCallback || strings.Join(got.EventList, ",") != "start_call,call_end" {
		t.Fatalf("get_callback %+v", got)
	}
	// The CLI's view, over the control socket, is the same configuration.
	adm, err := appliance.OpenAdmin(s.ctx, s.a.DataDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	info, err := adm.Webhook(s.ctx, s.app.SDKAppID)
	if err != nil || info.Webhook == nil || info.Webhook.URL != got.CallbackUrl || info.Webhook.StatusCallback || len(info.Webhook.Events) != 2 {
		t.Fatalf("CLI sees %+v, %v", info.Webhook, err)
	}
	// And what the CLI sets, REST reads.
	u := "http://192.0.2.11/cb"
	w, err := appliance.ApplyWebhookUpdate(s.app.SDKAppID, info.Webhook, appliance.WebhookUpdate{URL: &u})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := adm.SetWebhook(s.ctx, w); err != nil {
		t.Fatal(err)
	}
	rc.do("call_config/get_callback", "").ok(t, &got)
	if got.CallbackUrl != u {
		t.Fatalf("get_callback after the CLI's set: %+v", got)
	}
	rc.do("call_config/delete_callback", "{}").ok(t, nil)
	rc.do("call_config/get_callback", "{}").fail(t, 101050)
	rc.do("call_config/delete_callback", "{}").fail(t, 101050)
	if info, err := adm.Webhook(s.ctx, s.app.SDKAppID); err != nil || info.Webhook != nil {
		t.Fatalf("CLI still sees %+v, %v", info.Webhook, err)
	}
}
