package appliance_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"callbox/appliance"
	"callbox/signaling/call/record"
	"callbox/signaling/client"
	"callbox/signaling/usersig"
	"callbox/store"
)

// syncBuffer is a cfg.Out or log sink the test reads while the server
// writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// console is a browser-like client of one server's admin console: a
// cookie jar, the CSRF token of its session, and a source address.
type console struct {
	t    *testing.T
	base string
	hc   *http.Client
	csrf string
}

func newConsole(t *testing.T, s *server, fromIP string) *console {
	jar, _ := cookiejar.New(nil)
	tr := &http.Transport{}
	if fromIP != "" {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(fromIP)}}
		tr.DialContext = d.DialContext
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &console{t: t, base: "http://" + strings.TrimSuffix(strings.TrimPrefix(s.url, "ws://"), "/ws"), hc: &http.Client{Jar: jar, Transport: tr}}
}

type reply struct {
	status int
	header http.Header
	body   string
	code   string // controlError.code
}

// do sends a request; body, when not nil, goes as JSON.
func (c *console) do(method, path string, body any, hdr map[string]string) reply {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		if s, ok := body.(string); ok {
			rd = strings.NewReader(s)
		} else {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
	var ce struct{ Code string }
	json.Unmarshal(b, &ce)
	r.code = ce.Code
	return r
}

// api calls the admin API with the session's CSRF token.
func (c *console) api(method, path string, body any) reply {
	c.t.Helper()
	return c.do(method, "/admin/api"+path, body, map[string]string{"X-CSRF-Token": c.csrf})
}

func (c *console) login(user, pw string) reply {
	c.t.Helper()
	r := c.do("POST", "/admin/api/login", map[string]string{"user": user, "password": pw}, nil)
	if r.status == http.StatusOK {
		var s struct{ CSRF string }
		json.Unmarshal([]byte(r.body), &s)
		c.csrf = s.CSRF
	}
	return r
}

var setupRE = regexp.MustCompile(`/admin/#setup=([A-Za-z0-9_-]+)`)

// startConsole runs a server, creates the admin "root" through the
// setup link it printed, and returns a logged-in console.
func startConsole(t *testing.T, mod func(*appliance.Config)) (*server, *console) {
	t.Helper()
	out := &syncBuffer{}
	s := startServer(t, func(c *appliance.Config) {
		c.Out = out
		if mod != nil {
			mod(c)
		}
	})
	m := setupRE.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no setup link printed: %q", out.String())
	}
	c := newConsole(t, s, "")
	r := c.do("POST", "/admin/api/setup", map[string]string{"token": m[1], "user": "root", "password": "correct horse"}, nil)
	if r.status != http.StatusOK {
		t.Fatalf("setup: %d %s", r.status, r.body)
	}
	var si struct{ CSRF string }
	json.Unmarshal([]byte(r.body), &si)
	c.csrf = si.CSRF
	return s, c
}

// TestConsoleSetupLink: the link printed by the first start creates the
// first admin once; a wrong token, a reused one and a bad password are
// refused with a clear message, and the bad password does not use it up.
func TestConsoleSetupLink(t *testing.T) {
	out := &syncBuffer{}
	s := startServer(t, func(c *appliance.Config) { c.Out = out })
	m := setupRE.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no setup link printed: %q", out.String())
	}
	c := newConsole(t, s, "")
	form := func(tok, user, pw string) reply {
		return c.do("POST", "/admin/api/setup", map[string]string{"token": tok, "user": user, "password": pw}, nil)
	}
	if r := form("not-the-token", "root", "correct horse"); r.status != http.StatusGone || !strings.Contains(r.body, "used or has expired") {
		t.Errorf("wrong token: %d %s", r.status, r.body)
	}
	if r := form(m[1], "root", "short"); r.status != http.StatusBadRequest || !strings.Contains(r.body, "at least 10 characters") {
		t.Errorf("short password: %d %s", r.status, r.body)
	}
	if r := form(m[1], "root", "correct horse"); r.status != http.StatusOK {
		t.Fatalf("setup: %d %s", r.status, r.body)
	}
	if r := form(m[1], "second", "correct horse"); r.status != http.StatusGone || r.code != "gone" {
		t.Errorf("reused link: %d %s", r.status, r.body)
	}
	s.a.Store().View(func(tx *store.Tx) error {
		admins, _ := tx.Admins()
		if len(admins) != 1 || admins[0].Name != "root" || !strings.HasPrefix(admins[0].Hash, "$argon2id$v=19$") {
			t.Errorf("admins = %+v", admins)
		}
		return nil
	})
	// The setup created a session: the console works at once.
	if r := c.do("GET", "/admin/api/session", nil, nil); r.status != http.StatusOK || !strings.Contains(r.body, `"admin":"root"`) {
		t.Errorf("session after setup: %d %s", r.status, r.body)
	}
}

// TestConsoleSession: the cookie's flags, the session surviving a
// restart, and `admin passwd` revoking it.
func TestConsoleSession(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s, _ := startConsole(t, func(c *appliance.Config) { c.DataDir = dir })
	c := newConsole(t, s, "")
	r := c.login("root", "correct horse")
	if r.status != http.StatusOK {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	ck := (&http.Response{Header: r.header}).Cookies()
	if len(ck) != 1 || !ck[0].HttpOnly || ck[0].SameSite != http.SameSiteStrictMode || ck[0].Path != "/admin/" || ck[0].Secure {
		t.Fatalf("cookie = %+v, want HttpOnly, SameSite=Strict, Path=/admin/, not Secure over plain HTTP", ck)
	}
	// The store keeps only the id's hash.
	id := ck[0].Value
	s.a.Store().View(func(tx *store.Tx) error {
		h := sha256.Sum256([]byte(id))
		if _, err := tx.Session([]byte(id)); err == nil {
			t.Error("the session is stored under its raw id")
		}
		if _, err := tx.Session(h[:]); err != nil {
			t.Errorf("session by hash: %v", err)
		}
		return nil
	})
	s.close()

	// A restart keeps the session.
	s2 := startServer(t, func(cfg *appliance.Config) { cfg.DataDir = dir })
	c.base = "http://" + strings.TrimSuffix(strings.TrimPrefix(s2.url, "ws://"), "/ws")
	u, _ := url.Parse(c.base + "/admin/")
	c.hc.Jar.SetCookies(u, ck)
	if r := c.api("GET", "/apps", nil); r.status != http.StatusOK {
		t.Fatalf("after restart: %d %s", r.status, r.body)
	}
	// A new password through the CLI's Admin (the control socket) ends it.
	adm, err := appliance.OpenAdmin(context.Background(), dir, false)
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	n, err := adm.SetAdminPassword(context.Background(), "root", "a new password")
	if err != nil || n < 1 {
		t.Fatalf("SetAdminPassword = %d, %v", n, err)
	}
	if r := c.api("GET", "/apps", nil); r.status != http.StatusUnauthorized {
		t.Fatalf("after passwd: %d %s", r.status, r.body)
	}
	if r := c.login("root", "correct horse"); r.status != http.StatusUnauthorized {
		t.Errorf("old password: %d %s", r.status, r.body)
	}
	if r := c.login("root", "a new password"); r.status != http.StatusOK {
		t.Errorf("new password: %d %s", r.status, r.body)
	}
}

// fillPattern turns a route pattern into a request path.
func fillPattern(pattern string, app uint32) (method, path string) {
	method, path, _ = strings.Cut(pattern, " ")
	r := strings.NewReplacer("{id}", fmt.Sprint(app), "{app}", fmt.Sprint(app), "{name}", "root")
	path = r.Replace(path)
	if strings.HasPrefix(pattern, "POST /calls/") || strings.HasPrefix(pattern, "GET /records/{app}/") {
		// {app} then {id} is a call id there.
		path = strings.Replace(path, fmt.Sprintf("/%d/%d", app, app), fmt.Sprintf("/%d/some-call", app), 1)
	}
	return method, path
}

// TestConsoleRefusals: every admin API route, listed from the mux so that
// a new one cannot be left out, refuses a request with no session, an
// expired session, no CSRF token and a wrong one; with both it answers.
func TestConsoleRefusals(t *testing.T) {
	s, good := startConsole(t, nil)
	routes := appliance.AdminRoutes(s.a)
	if len(routes) < 25 {
		t.Fatalf("only %d routes: %v", len(routes), routes)
	}
	routes = append(routes, "POST /logout")
	// An expired session, stored afresh for each route (the first use
	// deletes it): last seen 12 h and a minute ago.
	expiredID, expiredCSRF := "expired-session-id", "expired-csrf"
	h := sha256.Sum256([]byte(expiredID))
	expire := func(t *testing.T) {
		err := s.a.Store().Update(func(tx *store.Tx) error {
			old := time.Now().Add(-appliance.SessionIdle - time.Minute)
			return tx.PutSession(h[:], store.Session{Admin: "root", CSRF: expiredCSRF, Created: old, Seen: old})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	anon := newConsole(t, s, "")
	for _, pattern := range routes {
		method, path := fillPattern(pattern, s.app.SDKAppID)
		t.Run(pattern, func(t *testing.T) {
			body := "{}"
			if r := anon.do(method, "/admin/api"+path, body, map[string]string{"X-CSRF-Token": good.csrf}); r.status != http.StatusUnauthorized || r.code != "unauthorized" {
				t.Errorf("no session: %d %s", r.status, r.body)
			}
			expire(t)
			r := anon.do(method, "/admin/api"+path, body, map[string]string{"X-CSRF-Token": expiredCSRF,
				"Cookie": "callbox_admin=" + expiredID})
			if r.status != http.StatusUnauthorized || !strings.Contains(r.body, "session has expired") {
				t.Errorf("expired session: %d %s", r.status, r.body)
			}
			if r := good.do(method, "/admin/api"+path, body, nil); r.status != http.StatusForbidden || !strings.Contains(r.body, "CSRF") {
				t.Errorf("no CSRF token: %d %s", r.status, r.body)
			}
			if r := good.do(method, "/admin/api"+path, body, map[string]string{"X-CSRF-Token": good.csrf + "x"}); r.status != http.StatusForbidden {
				t.Errorf("wrong CSRF token: %d %s", r.status, r.body)
			}
			// Another page's origin is refused even with both.
			if r := good.do(method, "/admin/api"+path, body, map[string]string{"X-CSRF-Token": good.csrf, "Origin": "http://evil.example"}); r.status != http.StatusForbidden {
				t.Errorf("cross-origin: %d %s", r.status, r.body)
			}
			if method == "GET" {
				if r := good.api(method, path, nil); r.status == http.StatusUnauthorized || r.status == http.StatusForbidden {
					t.Errorf("with session and token: %d %s", r.status, r.body)
				}
			}
		})
	}
	// The expired session is gone from the store.
	s.a.Store().View(func(tx *store.Tx) error {
		if _, err := tx.Session(h[:]); err == nil {
			t.Error("the expired session is still stored")
		}
		return nil
	})
}

// TestConsoleLoginRateLimit: five failures from one address, or for one
// account from several, hold further attempts back, the right password
// included.
func TestConsoleLoginRateLimit(t *testing.T) {
	s, _ := startConsole(t, nil)
	// Per account: one failure each from five addresses.
	for i := 2; i <= 6; i++ {
		c := newConsole(t, s, fmt.Sprintf("127.0.0.%d", i))
		if r := c.login("root", "wrong password"); r.status != http.StatusUnauthorized || !strings.Contains(r.body, "wrong user name or password") {
			t.Fatalf("failure %d: %d %s", i, r.status, r.body)
		}
	}
	r := newConsole(t, s, "127.0.0.7").login("root", "correct horse")
	if r.status != http.StatusTooManyRequests || r.code != "rate_limited" || r.header.Get("Retry-After") == "" {
		t.Fatalf("sixth attempt on the account: %d %s", r.status, r.body)
	}
	// Per address: five failures for five names.
	c := newConsole(t, s, "127.0.0.8")
	for i := range 5 {
		if r := c.login(fmt.Sprintf("nobody%d", i), "whatever password"); r.status != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d %s", i, r.status, r.body)
		}
	}
	if r := c.login("other", "whatever password"); r.status != http.StatusTooManyRequests {
		t.Fatalf("sixth attempt from the address: %d %s", r.status, r.body)
	}
	// Another address and account still log in.
	adm, err := appliance.OpenAdmin(context.Background(), s.a.DataDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	if _, err := adm.CreateAdmin(context.Background(), "second", "second password"); err != nil {
		t.Fatal(err)
	}
	if r := newConsole(t, s, "127.0.0.9").login("second", "second password"); r.status != http.StatusOK {
		t.Errorf("unrelated login: %d %s", r.status, r.body)
	}
}

// TestConsoleBadInput: each bad input gets a clear message and changes
// nothing.
func TestConsoleBadInput(t *testing.T) {
	s, c := startConsole(t, nil)
	app := s.app.SDKAppID
	long := strings.Repeat("x", 300)
	for _, tc := range []struct {
		name, method, path string
		body               any
		status             int
		msg                string
	}{
		{"over-long app name", "PATCH", fmt.Sprintf("/apps/%d?name=%s", app, strings.Repeat("n", 65)), nil, 400, "1 to 64 characters"},
		{"control characters in app name", "POST", "/apps?name=a%0Ab", nil, 400, "control characters"},
		{"empty app name", "POST", "/apps?name=", nil, 400, "1 to 64 characters"},
		{"rotate an app that does not exist", "POST", "/apps/1400000000/rotate-key", nil, 404, "app 1400000000: not found"},
		{"malformed app id", "POST", "/apps/12ab/rotate-key", nil, 400, "bad sdkappid"},
		{"delete the last admin", "DELETE", "/admins/root", nil, 400, "cannot delete the last admin"},
		{"admin name with a slash", "POST", "/admins", map[string]string{"Name": "a/b", "Password": "long enough pw"}, 400, "invalid admin name"},
		{"over-long admin name", "POST", "/admins", map[string]string{"Name": long, "Password": "long enough pw"}, 400, "invalid admin name"},
		{"short password", "POST", "/admins", map[string]string{"Name": "bob", "Password": "short"}, 400, "at least 10 characters"},
		{"over-long password", "POST", "/admins", map[string]string{"Name": "bob", "Password": long}, 400, "too long"},
		{"unknown field", "POST", "/admins", map[string]string{"Name": "bob", "Password": "long enough pw", "Admin": "yes"}, 400, "unknown field"},
		{"malformed JSON", "POST", "/records", "{", 400, "bad request body"},
		{"bad result filter", "POST", "/records", map[string]any{"Result": "everything"}, 400, "bad result filter"},
		{"user filter without app", "POST", "/records", map[string]any{"User": "alice"}, 400, "needs an SDKAppID"},
		{"bad user id", "POST", fmt.Sprintf("/apps/%d/usersig", app), map[string]any{"user": "a b", "expire": 60}, 400, "invalid user"},
		{"bad expiry", "POST", fmt.Sprintf("/apps/%d/usersig", app), map[string]any{"user": "alice", "expire": -1}, 400, "invalid expire"},
		{"invite with a bad base", "POST", fmt.Sprintf("/apps/%d/invite", app), map[string]any{"user": "alice", "expire": 60, "base": "javascript:alert(1)"}, 400, "invalid base"},
		{"end a call that does not exist", "POST", fmt.Sprintf("/calls/%d/nope/end", app), nil, 404, "not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.api(tc.method, tc.path, tc.body)
			if r.status != tc.status || !strings.Contains(r.body, tc.msg) {
				t.Errorf("%d %s, want %d with %q", r.status, r.body, tc.status, tc.msg)
			}
		})
	}
	// Nothing changed: one app with its name and key, one admin.
	s.a.Store().View(func(tx *store.Tx) error {
		apps, _ := tx.Apps()
		if len(apps) != 1 || apps[0].Name != s.app.Name || apps[0].Key != s.app.Key {
			t.Errorf("apps = %+v, want only %+v", apps, s.app)
		}
		admins, _ := tx.Admins()
		if len(admins) != 1 {
			t.Errorf("admins = %+v", admins)
		}
		return nil
	})
	// Login forms: a wrong password, over-long fields, not JSON.
	anon := newConsole(t, s, "127.0.0.20")
	if r := anon.login("root", "not the password"); r.status != 401 || !strings.Contains(r.body, "wrong user name or password") {
		t.Errorf("wrong password: %d %s", r.status, r.body)
	}
	if r := anon.login(long, "x"); r.status != 400 || !strings.Contains(r.body, "too long") {
		t.Errorf("over-long user: %d %s", r.status, r.body)
	}
	if r := anon.do("POST", "/admin/api/login", "user=root&password=x", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}); r.status != http.StatusUnsupportedMediaType {
		t.Errorf("form-encoded login: %d %s", r.status, r.body)
	}
}

// TestConsoleApart: the console's API is not reachable through /ws or
// with a web app user's UserSig, and its pages carry the strict CSP.
func TestConsoleApart(t *testing.T) {
	s, _ := startConsole(t, nil)
	sig, err := usersig.Issue(s.app.SDKAppID, s.app.Key, "alice", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// alice is logged in to signaling with it.
	cl, _, err := client.Dial(s.ctx, s.url, s.app.SDKAppID, "alice", sig, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	c := newConsole(t, s, "127.0.0.30")
	if r := c.login("alice", sig); r.status != http.StatusUnauthorized && r.status != http.StatusBadRequest {
		t.Errorf("login with a UserSig: %d %s", r.status, r.body)
	}
	for _, hdr := range []map[string]string{
		{"Authorization": "Bearer " + sig},
		{"X-CSRF-Token": sig, "Cookie": "callbox_admin=" + sig},
	} {
		if r := c.do("GET", "/admin/api/apps", nil, hdr); r.status != http.StatusUnauthorized {
			t.Errorf("API with a UserSig %v: %d %s", hdr, r.status, r.body)
		}
	}
	for _, path := range []string{"/ws/apps", "/ws/admin/api/apps", "/ws?path=/admin/api/apps"} {
		r := c.do("GET", path, nil, nil)
		if r.status == http.StatusOK && strings.Contains(r.body, "SDKAppID") {
			t.Errorf("GET %s answered the admin API: %s", path, r.body)
		}
	}
	r := c.do("GET", "/admin/", nil, nil)
	csp := r.header.Get("Content-Security-Policy")
	if r.status != 200 || !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "script-src 'self'") ||
		strings.Contains(csp, "unsafe-inline") || r.header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("GET /admin/: %d, CSP %q, XFO %q", r.status, csp, r.header.Get("X-Frame-Options"))
	}
	if strings.Contains(r.body, "<script>") || regexp.MustCompile(`\son[a-z]+=`).MatchString(r.body) {
		t.Errorf("inline script in the console's page")
	}
}

// TestConsoleOverTLS: with TLS the setup link is https and the session
// cookie is Secure.
func TestConsoleOverTLS(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	out := &syncBuffer{}
	cfg := testConfig(t, dir, nil)
	cfg.TURNDisabled = true
	cfg.Out = out
	cfg.TLS = appliance.TLSConfig{SelfSigned: true}
	a, err := appliance.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer runInBackground(t, a)()
	m := regexp.MustCompile(`(https://\S+)/admin/#setup=([A-Za-z0-9_-]+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no https setup link printed: %q", out.String())
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} // self-signed
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	b, _ := json.Marshal(map[string]string{"token": m[2], "user": "root", "password": "correct horse"})
	resp, err := hc.Post("https://"+cfg.HTTPListener.Addr().String()+"/admin/api/setup", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ck := resp.Cookies()
	if resp.StatusCode != http.StatusOK || len(ck) != 1 || !ck[0].Secure || !ck[0].HttpOnly || ck[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("setup over TLS: %s, cookies %+v", resp.Status, ck)
	}
}

// TestConsoleRecords: the records' filter, paging by start time as the
// console pages, the CSV export (a value that looks like a formula is
// quoted) and a record's detail.
func TestConsoleRecords(t *testing.T) {
	s, c := startConsole(t, nil)
	app := s.app.SDKAppID
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	err := s.a.Store().Update(func(tx *store.Tx) error {
		for i := range 5 {
			id := fmt.Sprintf("call-%d", i)
			if i == 4 {
				id = "=HYPERLINK(\"x\")"
			}
			res := record.ResultNormalEnd
			if i%2 == 1 {
				res = record.ResultReject
			}
			rec := record.Call{SDKAppID: app, CallID: id, RoomID: "r", MediaType: "audio", CallType: "single", Caller: "alice",
				State: record.CallEnded, Result: res, StartAt: t0.Add(time.Duration(i) * time.Minute), EndAt: t0.Add(time.Duration(i)*time.Minute + 30*time.Second),
				Participants: []record.Participant{
					{UserID: "alice", Role: "caller", State: record.PartLeft, JoinedAt: t0, LeftAt: t0.Add(time.Minute)},
					{UserID: "bob", Role: "callee", State: record.PartLeft, InvitedAt: t0, RingingAt: t0, JoinedAt: t0, LeftAt: t0.Add(time.Minute)},
				}}
			if err := tx.PutCall(rec); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	page := func(f map[string]any) []record.Call {
		t.Helper()
		r := c.api("POST", "/records", f)
		if r.status != 200 {
			t.Fatalf("records %v: %d %s", f, r.status, r.body)
		}
		var recs []record.Call
		json.Unmarshal([]byte(r.body), &recs)
		return recs
	}
	// Pages of two, newest first, as the console asks (Limit n+1).
	var got []string
	f := map[string]any{"SDKAppID": app, "User": "bob", "Limit": 3}
	for range 5 {
		recs := page(f)
		n := min(len(recs), 2)
		for _, r := range recs[:n] {
			got = append(got, r.CallID)
		}
		if len(recs) <= 2 {
			break
		}
		f["Until"] = recs[1].StartAt
	}
	if want := []string{"=HYPERLINK(\"x\")", "call-3", "call-2", "call-1", "call-0"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("pages = %q, want %q", got, want)
	}
	if recs := page(map[string]any{"SDKAppID": app, "Result": "reject"}); len(recs) != 2 {
		t.Errorf("result=reject: %d records", len(recs))
	}
	if recs := page(map[string]any{"Since": t0.Add(2 * time.Minute), "Until": t0.Add(4 * time.Minute)}); len(recs) != 2 || recs[0].CallID != "call-3" {
		t.Errorf("time range: %+v", recs)
	}
	r := c.api("POST", "/records/csv", map[string]any{"SDKAppID": app})
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv: %d %s", r.status, r.body)
	}
	lines := strings.Split(strings.TrimSpace(r.body), "\n")
	if len(lines) != 11 || !strings.HasPrefix(lines[0], "SDKAppID,CallId,") || !strings.Contains(r.body, `'=HYPERLINK`) ||
		!strings.Contains(lines[1], "2026-11-01T10:04:00Z") {
		t.Errorf("csv:\n%s", r.body)
	}
	r = c.api("GET", fmt.Sprintf("/records/%d/call-2", app), nil)
	var rec record.Call
	json.Unmarshal([]byte(r.body), &rec)
	if r.status != 200 || len(rec.Participants) != 2 || rec.Participants[1].RingingAt.IsZero() {
		t.Errorf("detail: %d %s", r.status, r.body)
	}
	if r := c.api("GET", fmt.Sprintf("/records/%d/nope", app), nil); r.status != 404 {
		t.Errorf("missing record: %d %s", r.status, r.body)
	}
}

// TestConsoleStats: the server page's numbers, and a backup taken
// through the admin API shows as the last one.
func TestConsoleStats(t *testing.T) {
	s, c := startConsole(t, func(cfg *appliance.Config) { cfg.PublicIPs = []string{"203.0.113.7"} })
	var st appliance.ServerStats
	stats := func() {
		t.Helper()
		r := c.api("GET", "/stats", nil)
		if r.status != 200 {
			t.Fatalf("stats: %d %s", r.status, r.body)
		}
		if err := json.Unmarshal([]byte(r.body), &st); err != nil {
			t.Fatal(err)
		}
	}
	stats()
	if st.Version == "" || st.Apps != 1 || st.StoreBytes <= 0 || st.LastBackup != nil || st.RTCUDPPort == 0 ||
		st.TURN.Mode != "embedded" || st.TURN.Port == 0 || st.TURN.Stats == nil || st.TURN.Quota == 0 ||
		len(st.PublicIPs) != 1 || st.PublicIPs[0] != "203.0.113.7" || st.SFU.Rooms == nil {
		t.Errorf("stats = %+v", st)
	}
	if strings.Contains(c.api("GET", "/stats", nil).body, s.app.Key) {
		t.Error("the stats hold an app key")
	}
	r := c.api("GET", "/backup", nil)
	if r.status != 200 || len(r.body) == 0 {
		t.Fatalf("backup: %d", r.status)
	}
	stats()
	if st.LastBackup == nil || st.LastBackup.Bytes != int64(len(r.body)) || time.Since(st.LastBackup.At) > time.Minute {
		t.Errorf("last backup = %+v, want %d bytes now", st.LastBackup, len(r.body))
	}
}
