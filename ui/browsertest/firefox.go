package browsertest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/sys/unix"
)

// firefoxPath is Debian's Firefox ESR (package firefox-esr).
const firefoxPath = "/usr/bin/firefox-esr"

// firefoxPort is where Firefox's WebDriver BiDi server listens, on the
// namespace's own loopback: nothing else listens there.
const firefoxPort = 9222

// firefoxPrefs go into the fresh profile's user.js. The remote agent sets
// its own recommended prefs on top (no updates, telemetry, first-run pages).
const firefoxPrefs = `user_pref("remote.active-protocols", 1); // WebDriver BiDi only
user_pref("media.navigator.streams.fake", true);  // a fake camera and microphone
user_pref("media.navigator.permission.disabled", true); // and no prompt for them
user_pref("media.autoplay.default", 0);
user_pref("media.autoplay.blocking_policy", 0);
user_pref("media.peerconnection.ice.obfuscate_host_addresses", false);
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("app.update.disabledForTesting", true);
user_pref("app.normandy.enabled", false);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("toolkit.telemetry.reportingpolicy.firstRun", false);
user_pref("messaging-system.rsexperimentloader.enabled", false);
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
user_pref("browser.safebrowsing.update.enabled", false);
`

// ffShared is the binary's Firefox, started on the first Firefox call and
// stopped by Main.
type ffShared struct {
	ff  *firefox
	err error
}

// firefox is a running Firefox ESR in the namespace and its BiDi session.
type firefox struct {
	cmd    *exec.Cmd
	dir    string
	bidi   *bidiConn
	exited chan struct{}
}

// sharedFirefox returns the binary's Firefox, starting it in ns on first
// use. A failed start is not retried.
func sharedFirefox(ns *netns) (*firefox, error) {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.firefox.ff == nil && shared.firefox.err == nil {
		shared.firefox.ff, shared.firefox.err = startFirefox(ns)
	}
	return shared.firefox.ff, shared.firefox.err
}

// firefoxUnavailable says why this machine cannot run the Firefox tests,
// or "" when it can (then the Chromium prerequisites hold too).
func firefoxUnavailable() string {
	if why := unavailable(); why != "" {
		return why
	}
	if _, err := os.Stat(firefoxPath); err != nil {
		return "Firefox tests need " + firefoxPath + " (apt-get install firefox-esr)"
	}
	return ""
}

// startFirefox starts Firefox headless inside ns with a fresh profile and
// opens a BiDi session. Firefox's BiDi server listens only on loopback, so
// the test process dials it from inside the namespace (dialInNetns).
// Called with shared.mu held.
func startFirefox(ns *netns) (_ *firefox, err error) {
	dir, err := os.MkdirTemp("", "browsertest-firefox-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	profile := filepath.Join(dir, "profile")
	if err := os.Mkdir(profile, 0o700); err != nil {
		return nil, err
	}
	// *.localhost is a secure context in Firefox too, and forceResolve
	// sends every name (the BiDi server is reached by address) to the
	// server.
	prefs := firefoxPrefs + fmt.Sprintf("user_pref(\"network.dns.forceResolve\", %q);\n", ns.hostIP.String())
	if err := os.WriteFile(filepath.Join(profile, "user.js"), []byte(prefs), 0o600); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "firefox.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command("ip", "netns", "exec", ns.name, firefoxPath,
		"-headless", "--no-remote", "-profile", profile,
		fmt.Sprintf("--remote-debugging-port=%d", firefoxPort), "about:blank")
	cmd.Env = append(os.Environ(), "HOME="+dir, "MOZ_CRASHREPORTER_DISABLE=1", "MOZ_HEADLESS=1")
	cmd.Stdout, cmd.Stderr = logf, logf
	// Firefox dies with the test binary even when that is killed (ip
	// netns exec execs it, so it is this child).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", firefoxPath, err)
	}
	ff := &firefox{cmd: cmd, dir: dir, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(ff.exited) }()
	defer func() {
		if err != nil {
			ff.kill()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for {
		ff.bidi, err = dialBiDi(ctx, ns.name, fmt.Sprintf("ws://127.0.0.1:%d/session", firefoxPort))
		if err == nil {
			break
		}
		select {
		case <-ff.exited:
			log, _ := os.ReadFile(filepath.Join(dir, "firefox.log"))
			return nil, fmt.Errorf("%s ended at start: %s", firefoxPath, strings.TrimSpace(string(log)))
		case <-ctx.Done():
			return nil, fmt.Errorf("no BiDi server in %s after %v: %w", firefoxPath, startTimeout, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	if _, err := ff.bidi.call(ctx, "session.new", map[string]any{"capabilities": map[string]any{}}); err != nil {
		return nil, fmt.Errorf("BiDi session.new: %w", err)
	}
	if _, err := ff.bidi.call(ctx, "session.subscribe", map[string]any{"events": []string{"log.entryAdded"}}); err != nil {
		return nil, fmt.Errorf("BiDi session.subscribe: %w", err)
	}
	return ff, nil
}

// stop closes the browser (browser.close), kills it when it does not end
// within 5 s, and removes its profile.
func (ff *firefox) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ff.bidi.call(ctx, "browser.close", map[string]any{})
	select {
	case <-ff.exited:
	case <-ctx.Done():
	}
	ff.kill()
	ff.bidi.close()
	return os.RemoveAll(ff.dir)
}

func (ff *firefox) kill() {
	ff.cmd.Process.Kill()
	<-ff.exited
}

// FirefoxTab is a tab of the binary's Firefox in a user context (cookies,
// storage) of its own, driven over WebDriver BiDi.
type FirefoxTab struct {
	name    string
	ff      *firefox
	context string // BiDi browsing context id
}

// Firefox opens a tab of Firefox ESR in a new user context, starting the
// browser in the namespace on first use, and closes it when t ends. The
// tab is blank; navigate it to BaseURL. It skips t when firefox-esr is
// missing (fails it with CI=true). An uncaught exception in the page
// fails t when it ends.
func (e *Env) Firefox(t *testing.T, name string) *FirefoxTab {
	t.Helper()
	if why := firefoxUnavailable(); why != "" {
		if inCI() {
			t.Fatalf("%s (CI is set, so this is a failure)", why)
		}
		t.Skip(why)
	}
	ff, err := sharedFirefox(e.ns)
	if err != nil {
		t.Fatalf("firefox: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), actionTimeout)
	defer cancel()
	var uc struct {
		UserContext string `json:"userContext"`
	}
	if err := ff.bidi.callInto(ctx, "browser.createUserContext", map[string]any{}, &uc); err != nil {
		t.Fatalf("firefox: user context for %s: %v", name, err)
	}
	var bc struct {
		Context string `json:"context"`
	}
	if err := ff.bidi.callInto(ctx, "browsingContext.create", map[string]any{"type": "tab", "userContext": uc.UserContext}, &bc); err != nil {
		t.Fatalf("firefox: tab for %s: %v", name, err)
	}
	tab := &FirefoxTab{name: name, ff: ff, context: bc.Context}
	t.Cleanup(func() {
		if t.Failed() && os.Getenv(screenshotsEnv) != "" {
			if path, err := tab.saveScreenshot(t, name+"-failed"); err != nil {
				t.Logf("%s: screenshot after failure: %v", name, err)
			} else {
				t.Logf("%s: screenshot after failure: %s", name, path)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), actionTimeout)
		defer cancel()
		// What the page did last counts too.
		tab.eval(ctx, `new Promise((r) => setTimeout(r, 50))`)
		if _, err := ff.bidi.call(ctx, "browser.removeUserContext", map[string]any{"userContext": uc.UserContext}); err != nil {
			t.Errorf("firefox: close %s: %v", name, err)
		}
		for _, e := range ff.bidi.takeLog(bc.Context) {
			if e.Type == "javascript" {
				t.Errorf("%s (firefox): uncaught: %s", name, e.Text)
			}
		}
	})
	return tab
}

// Navigate loads url in the tab and waits until it has loaded.
func (f *FirefoxTab) Navigate(t *testing.T, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), actionTimeout)
	defer cancel()
	if _, err := f.ff.bidi.call(ctx, "browsingContext.navigate", map[string]any{"context": f.context, "url": url, "wait": "complete"}); err != nil {
		t.Fatalf("firefox %s: navigate to %s: %v", f.name, url, timeoutErr(err))
	}
}

// Eval evaluates js in the tab's page, awaits it when it is a promise, and
// returns its value as JSON (null for undefined). An exception or a
// rejected promise fails t.
func (f *FirefoxTab) Eval(t *testing.T, js string) json.RawMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), actionTimeout)
	defer cancel()
	v, err := f.eval(ctx, js)
	if err != nil {
		t.Fatalf("firefox %s: eval %s: %v", f.name, abbrev(js), timeoutErr(err))
	}
	return v
}

// eval runs js as script.evaluate; the page turns the value into JSON,
// which spares decoding BiDi's remote values.
func (f *FirefoxTab) eval(ctx context.Context, js string) (json.RawMessage, error) {
	var r struct {
		Type   string `json:"type"`
		Result struct {
			Type  string `json:"type"`
			Value string `json:"value"`
		} `json:"result"`
		ExceptionDetails struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	err := f.ff.bidi.callInto(ctx, "script.evaluate", map[string]any{
		"expression":      "(async () => JSON.stringify(await (" + js + "\n)))()",
		"target":          map[string]any{"context": f.context},
		"awaitPromise":    true,
		"resultOwnership": "none",
	}, &r)
	switch {
	case err != nil:
		return nil, err
	case r.Type == "exception":
		return nil, fmt.Errorf("exception: %s", r.ExceptionDetails.Text)
	case r.Result.Type != "string":
		return json.RawMessage("null"), nil
	}
	return json.RawMessage(r.Result.Value), nil
}

// WaitFor waits until the JavaScript expression cond is truthy in the
// page, evaluating it every 50 ms, and fails t when timeout passes first.
func (f *FirefoxTab) WaitFor(t *testing.T, cond string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), actionTimeout)
		v, err := f.eval(ctx, "(async () => !!(await ("+cond+"\n)))()")
		cancel()
		if err != nil {
			t.Fatalf("firefox %s: wait for %s: %v", f.name, abbrev(cond), err)
		}
		if string(v) == "true" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("firefox %s: wait %v for %s: timed out", f.name, timeout, abbrev(cond))
		}
		time.Sleep(pollInterval)
	}
}

// ConsoleErrors returns what the page logged with console.error so far.
func (f *FirefoxTab) ConsoleErrors() []string {
	var errs []string
	for _, e := range f.ff.bidi.peekLog(f.context) {
		if e.Type == "console" && e.Level == "error" {
			errs = append(errs, e.Text)
		}
	}
	return errs
}

// Screenshot saves a full-page PNG of the tab as <test>-<name>.png in
// $CALLBOX_SCREENSHOTS, or in a temporary directory of t, logs its path
// and returns it.
func (f *FirefoxTab) Screenshot(t *testing.T, name string) string {
	t.Helper()
	path, err := f.saveScreenshot(t, name)
	if err != nil {
		t.Fatalf("firefox %s: screenshot %s: %v", f.name, name, err)
	}
	t.Logf("screenshot %s", path)
	return path
}

func (f *FirefoxTab) saveScreenshot(t *testing.T, name string) (string, error) {
	dir := os.Getenv(screenshotsEnv)
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), actionTimeout)
	defer cancel()
	var r struct {
		Data string `json:"data"`
	}
	if err := f.ff.bidi.callInto(ctx, "browsingContext.captureScreenshot", map[string]any{"context": f.context, "origin": "document"}, &r); err != nil {
		return "", err
	}
	png, err := base64.StdEncoding.DecodeString(r.Data)
	if err != nil {
		return "", fmt.Errorf("screenshot data: %w", err)
	}
	file := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name() + "-" + name + ".png")
	path := filepath.Join(dir, file)
	return path, os.WriteFile(path, png, 0o644)
}

// bidiConn is a WebDriver BiDi connection: commands with ids, their
// replies, and the log.entryAdded events kept per browsing context.
type bidiConn struct {
	ws   *websocket.Conn
	done chan struct{} // closed when the reader ends

	mu      sync.Mutex
	next    int
	pending map[int]chan bidiReply
	logs    map[string][]bidiLogEntry
	err     error // why the reader ended
}

type bidiReply struct {
	Type    string          `json:"type"` // success, error, event
	ID      *int            `json:"id"`
	Result  json.RawMessage `json:"result"`
	Error   string          `json:"error"`
	Message string          `json:"message"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
}

type bidiLogEntry struct {
	Type   string `json:"type"`  // console, javascript
	Level  string `json:"level"` // debug, info, warn, error
	Text   string `json:"text"`
	Source struct {
		Context string `json:"context"`
	} `json:"source"`
}

// dialBiDi connects to url from inside the namespace nsName.
func dialBiDi(ctx context.Context, nsName, url string) (*bidiConn, error) {
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dialInNetns(ctx, nsName, network, addr)
		},
	}}
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: client})
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(64 << 20) // screenshots
	c := &bidiConn{ws: ws, done: make(chan struct{}), pending: map[int]chan bidiReply{}, logs: map[string][]bidiLogEntry{}}
	go c.read()
	return c, nil
}

// dialInNetns dials addr with a socket made in the namespace nsName: the
// dialing thread enters the namespace for the socket call and goes back
// after it; the socket stays in the namespace it was made in.
func dialInNetns(ctx context.Context, nsName, network, addr string) (net.Conn, error) {
	type result struct {
		conn net.Conn
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", syscall.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: err}
			return
		}
		defer orig.Close()
		target, err := os.Open(filepath.Join("/run/netns", nsName))
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: err}
			return
		}
		defer target.Close()
		if err := setns(target); err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: fmt.Errorf("enter namespace %s: %w", nsName, err)}
			return
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, network, addr)
		ch <- result{conn, err}
		// A thread that cannot go back stays locked, so the runtime
		// ends it with this goroutine.
		if setns(orig) == nil {
			runtime.UnlockOSThread()
		}
	}()
	r := <-ch
	return r.conn, r.err
}

func setns(f *os.File) error {
	return unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
}

func (c *bidiConn) read() {
	defer close(c.done)
	for {
		_, data, err := c.ws.Read(context.Background())
		if err != nil {
			c.mu.Lock()
			c.err = err
			for id, ch := range c.pending {
				close(ch)
				delete(c.pending, id)
			}
			c.mu.Unlock()
			return
		}
		var m bidiReply
		if err := json.Unmarshal(data, &m); err != nil {
			continue
		}
		c.mu.Lock()
		switch {
		case m.Type == "event" && m.Method == "log.entryAdded":
			var e bidiLogEntry
			if json.Unmarshal(m.Params, &e) == nil {
				c.logs[e.Source.Context] = append(c.logs[e.Source.Context], e)
			}
		case m.ID != nil:
			if ch, ok := c.pending[*m.ID]; ok {
				ch <- m
				delete(c.pending, *m.ID)
			}
		}
		c.mu.Unlock()
	}
}

// call sends a command and waits for its result.
func (c *bidiConn) call(ctx context.Context, method string, params any) (json.RawMessage, error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, fmt.Errorf("BiDi connection: %w", c.err)
	}
	c.next++
	id := c.next
	ch := make(chan bidiReply, 1)
	c.pending[id] = ch
	c.mu.Unlock()
	msg, err := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	if err != nil {
		return nil, err
	}
	if err := c.ws.Write(ctx, websocket.MessageText, msg); err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return nil, fmt.Errorf("%s: BiDi connection closed", method)
		}
		if r.Type == "error" {
			return nil, fmt.Errorf("%s: %s: %s", method, r.Error, r.Message)
		}
		return r.Result, nil
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
		return nil, fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// callInto is call with the result decoded into v.
func (c *bidiConn) callInto(ctx context.Context, method string, params, v any) error {
	res, err := c.call(ctx, method, params)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(res, v); err != nil {
		return fmt.Errorf("%s: result: %w", method, err)
	}
	return nil
}

func (c *bidiConn) peekLog(context string) []bidiLogEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]bidiLogEntry(nil), c.logs[context]...)
}

func (c *bidiConn) takeLog(context string) []bidiLogEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.logs[context]
	delete(c.logs, context)
	return l
}

func (c *bidiConn) close() {
	c.ws.Close(websocket.StatusNormalClosure, "")
	<-c.done
}
