package browsertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's chromium launcher (package chromium).
const chromiumPath = "/usr/bin/chromium"

// startTimeout bounds Chromium's start; it takes about a second.
const startTimeout = 30 * time.Second

// shared holds what one test binary starts once: the namespace (on the
// first Start) and Chromium inside it (on the first Browser). Main ends
// both after the tests.
var shared struct {
	mu     sync.Mutex
	inMain bool
	ns     *netns
	nsErr  error
	root   context.Context // chromedp context of the running browser
	stop   func()          // ends the browser and its allocator
	dir    string          // launcher script and profile
	brErr  error

	firefox ffShared // firefox.go
}

// Main runs the tests of a package that uses browsertest and then removes
// the namespace and stops Chromium. Call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(browsertest.Main(m)) }
func Main(m *testing.M) int {
	shared.mu.Lock()
	shared.inMain = true
	shared.mu.Unlock()
	code := m.Run()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	var errs []error
	if shared.stop != nil {
		shared.stop()
	}
	if shared.firefox.ff != nil {
		errs = append(errs, shared.firefox.ff.stop())
	}
	if shared.ns != nil {
		errs = append(errs, shared.ns.close())
	}
	if shared.dir != "" {
		errs = append(errs, os.RemoveAll(shared.dir))
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintf(os.Stderr, "browsertest: teardown: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// unavailable says what this machine lacks to run browser tests at all,
// or "" when nothing.
func unavailable() string {
	if os.Geteuid() != 0 {
		return "browser tests need root (ip netns, veth)"
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "browser tests need ip(8) (apt-get install iproute2)"
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		return "browser tests need " + chromiumPath + " (apt-get install chromium fonts-liberation)"
	}
	return ""
}

// inCI reports whether CI is set (CI=true): there a missing prerequisite
// fails the test instead of skipping it.
func inCI() bool {
	ci, _ := strconv.ParseBool(os.Getenv("CI"))
	return ci
}

// sharedNetns returns the binary's namespace, creating it on first use. It
// skips t on a machine that cannot run browser tests, except in CI.
func sharedNetns(t *testing.T) *netns {
	t.Helper()
	if why := unavailable(); why != "" {
		if inCI() {
			t.Fatalf("%s (CI is set, so this is a failure)", why)
		}
		t.Skip(why)
	}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.inMain {
		t.Fatal("browsertest: the package's TestMain must call browsertest.Main")
	}
	if shared.ns == nil && shared.nsErr == nil {
		shared.ns, shared.nsErr = newNetns()
	}
	if shared.nsErr != nil {
		t.Fatalf("browsertest: create network namespace: %v", shared.nsErr)
	}
	return shared.ns
}

// sharedBrowser returns the chromedp context of the binary's Chromium,
// starting it in ns on first use. A failed start is not retried.
func sharedBrowser(ns *netns) (context.Context, error) {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.root == nil && shared.brErr == nil {
		shared.root, shared.brErr = startChromium(ns)
	}
	return shared.root, shared.brErr
}

// startChromium starts Chromium inside ns and returns its first context.
// Called with shared.mu held.
//
// chromedp talks to Chromium over a pipe (its file descriptors 3 and 4,
// --remote-debugging-pipe), which ip netns exec and Debian's launcher
// script pass on. So the DevTools endpoint is no socket at all, and the
// namespace needs no route back to the test process for it.
func startChromium(ns *netns) (context.Context, error) {
	dir, err := os.MkdirTemp("", "browsertest-")
	if err != nil {
		return nil, err
	}
	shared.dir = dir
	launcher := filepath.Join(dir, "chromium-in-netns")
	script := fmt.Sprintf("#!/bin/sh\nexec ip netns exec %s %s \"$@\"\n", ns.name, chromiumPath)
	if err := os.WriteFile(launcher, []byte(script), 0o755); err != nil {
		return nil, err
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(launcher),
		chromedp.UserDataDir(filepath.Join(dir, "profile")), // fresh per binary
		chromedp.Flag("headless", "new"),
		chromedp.NoSandbox, // Chromium refuses its sandbox as root
		chromedp.DisableGPU,
		chromedp.Flag("use-fake-ui-for-media-stream", true), // grant getUserMedia
		// The test pattern and a beep; at 30 fps like a real camera
		// (Chromium's fake camera runs at 20 unless told).
		chromedp.Flag("use-fake-device-for-media-stream", "fps=30"),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		// Pages come from http://callbox.localhost:PORT: a *.localhost
		// origin is a secure context (getUserMedia needs one, and the
		// server has no TLS yet), and the name leads to the server.
		chromedp.Flag("host-resolver-rules", "MAP *.localhost "+ns.hostIP.String()),
		chromedp.WindowSize(1280, 800),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	root, cancelRoot := chromedp.NewContext(allocCtx)
	shared.stop = func() {
		cancelRoot()
		cancelAlloc()
	}
	// The first Do starts the browser and binds it to root, so the
	// deadline is a timer rather than a context of its own.
	timer := time.AfterFunc(startTimeout, shared.stop)
	defer timer.Stop()
	if err := chromedp.Do(root); err != nil {
		shared.stop()
		return nil, fmt.Errorf("start %s in namespace %s: %w", chromiumPath, ns.name, err)
	}
	return root, nil
}
