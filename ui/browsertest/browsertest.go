// Package browsertest runs browser end-to-end tests: a real callbox server
// and Debian's Chromium, driven by chromedp (DESIGN "Tests"). It owns the
// test network, the server's test configuration and the browser's life; it
// holds no tests of the SDK or the web app itself, which build on it.
//
// # Network
//
// Chromium gathers no ICE candidates on loopback alone, so it runs in a
// network namespace of its own (cbbt-PID), joined to the host by a veth
// pair: the host end has 10.213.a.b+1/30, the namespace end the next
// address (a /30 per test process, chosen from its PID). The server
// listens on the host end (HTTP, WebSocket, media, TURN); the browser's
// only routes are that /30 and its own loopback, so it reaches nothing
// else. chromedp drives Chromium over a pipe, not a socket. In the browser
// every *.localhost name resolves to the server, and pages are loaded from
// http://callbox.localhost:PORT (BaseURL): a secure context, as an https
// page is in production, so getUserMedia works without TLS.
//
// # Use
//
// A package using it calls Main from TestMain: one namespace and one
// Chromium serve every test of the binary, and Main removes them. Then:
//
//	env := browsertest.Start(t, nil)          // a server of its own (nil: defaults)
//	alice := env.Browser(t, "alice")          // an isolated browser context
//	browsertest.Do(t, alice, chromedp.Navigate(env.BaseURL()+"/"))
//	n := browsertest.Eval[int](t, alice, `fetch("/healthz").then(r => r.status)`)
//	browsertest.WaitFor(t, alice, `window.done === true`, 5*time.Second)
//	browsertest.Screenshot(t, alice, "after-login")
//
// Pages are the server's own (same origin, so /ws accepts them); a test
// injects its script with Eval, which awaits promises, or loads the
// server's scripts (/sdk/...) into the page. Each Browser is a
// separate browser context (cookies, storage, cache), so two users in
// one test do not share state. An uncaught exception or unhandled promise
// rejection in a page fails the test; ConsoleErrors returns what the page
// logged as errors. Screenshots go to $CALLBOX_SCREENSHOTS when set (and
// every tab of a failed test is captured there), else to a temporary
// directory. SetLink takes the browser's network down and up again, as a
// dropped connection would.
//
// Env.Firefox opens a tab of Firefox ESR instead (firefox.go): one Firefox
// per binary in the same namespace, driven over WebDriver BiDi, with the
// same pages and secure origin; it skips without /usr/bin/firefox-esr.
//
// It needs root, ip(8) and /usr/bin/chromium. Without them a test is
// skipped locally and fails when CI=true; once they are there, any
// failure to set up is a test failure.
package browsertest

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"callbox/appliance"
	"callbox/signaling/usersig"
	"callbox/store"
)

// readyTimeout bounds the server's start.
const readyTimeout = 10 * time.Second

// Env is one test's server, reachable from the browser namespace.
type Env struct {
	t    *testing.T
	ns   *netns
	a    *appliance.Appliance
	app  store.App
	base string
}

// Start runs a callbox server for t on the host end of the veth pair,
// with every port chosen free, and stops it when t ends. mod, when not nil,
// changes the configuration before New.
func Start(t *testing.T, mod func(*appliance.Config)) *Env {
	t.Helper()
	ns := sharedNetns(t)
	ln, err := net.Listen("tcp", netip.AddrPortFrom(ns.hostIP, 0).String())
	if err != nil {
		t.Fatalf("listen on the host end: %v", err)
	}
	// The server's warnings go to the test log, but not pion's at
	// shutdown (streams and candidates closing), which say nothing.
	logs := &testWriter{t: t}
	level := new(slog.LevelVar)
	level.Set(slog.LevelWarn)
	if os.Getenv("CALLBOX_TEST_LOG") == "debug" { // the server's whole story, when a test needs explaining
		level.Set(slog.LevelDebug)
	}
	cfg := appliance.Config{
		DataDir:      filepath.Join(t.TempDir(), "data"),
		HTTPListener: ln,
		HTTPAddr:     ln.Addr().String(),
		RTCListenIP:  ns.hostIP.String(),
		Logger:       slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: level})),
	}
	if mod != nil {
		mod(&cfg)
	}
	a, err := appliance.New(cfg)
	if err != nil {
		ln.Close()
		t.Fatalf("appliance.New: %v", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		level.Set(slog.LevelError)
		stop()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
		logs.close()
	})
	select {
	case <-a.Ready():
	case err := <-done:
		done <- err // for the cleanup
		t.Fatalf("server ended before it was ready: %v", err)
	case <-time.After(readyTimeout):
		t.Fatalf("server not ready after %v", readyTimeout)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	e := &Env{t: t, ns: ns, a: a, base: fmt.Sprintf("http://%s:%d", pageHost, port)}
	err = a.Store().View(func(tx *store.Tx) error {
		apps, err := tx.Apps()
		if err == nil && len(apps) > 0 {
			e.app = apps[0]
		}
		return err
	})
	if err != nil || e.app.SDKAppID == 0 {
		t.Fatalf("default app: %v (none created)", err)
	}
	return e
}

// pageHost is the server's name in the browser. The browser resolves every
// *.localhost name to the server's address (ServerIP), and a *.localhost
// origin is a secure context, as an https one is in production: without
// one, a page has no navigator.mediaDevices. The server answers any
// *.localhost Host.
const pageHost = "callbox.localhost"

// BaseURL is the server as the browser reaches it,
// "http://callbox.localhost:PORT", without a trailing slash. Only the
// browser resolves that name; from Go use ServerIP and the same port.
func (e *Env) BaseURL() string { return e.base }

// ServerIP is the address the server listens on (HTTP, media, TURN): the
// host end of the veth pair.
func (e *Env) ServerIP() string { return e.ns.hostIP.String() }

// App is the server's default app.
func (e *Env) App() store.App { return e.app }

// Appliance is the running server (its store, for checks on records).
func (e *Env) Appliance() *appliance.Appliance { return e.a }

// Sig issues a UserSig for user in the default app, valid for a day.
func (e *Env) Sig(user string) string {
	e.t.Helper()
	sig, err := usersig.Issue(e.app.SDKAppID, e.app.Key, user, 24*time.Hour, time.Now())
	if err != nil {
		e.t.Fatalf("usersig for %q: %v", user, err)
	}
	return sig
}

// BrowserIP is the browser's address: its host ICE candidates carry it.
func (e *Env) BrowserIP() string { return e.ns.nsIP.String() }

// SetLink takes the browser's network down (up false) or brings it back,
// by setting the host end of the veth pair down or up: every browser of
// the test binary loses the server at once, with no packet and no close
// telling either side, as when a cable is pulled or Wi-Fi drops. TCP
// connections survive a short outage and ICE has to notice it by itself.
// So that no later test runs without a network, the link comes up again
// when t ends. A test that calls it must not run in parallel with others
// (t.Parallel): they share the link.
func (e *Env) SetLink(t *testing.T, up bool) {
	t.Helper()
	if err := e.ns.setLink(up); err != nil {
		t.Fatalf("set the browser's link up=%v: %v", up, err)
	}
	if !up {
		t.Cleanup(func() {
			if err := e.ns.setLink(true); err != nil {
				t.Errorf("bring the browser's link up again: %v", err)
			}
		})
	}
}

// testWriter passes the server's warnings to the test log until close:
// a log line after the test ended would panic.
type testWriter struct {
	mu     sync.Mutex
	t      *testing.T
	closed bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.t.Log("server: " + strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testWriter) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
}
