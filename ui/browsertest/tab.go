package browsertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// actionTimeout bounds one Do or Eval; WaitFor takes its own.
const actionTimeout = 15 * time.Second

// pollInterval is how often WaitFor evaluates its condition. A timer, not
// requestAnimationFrame: a tab of a headless browser may not be painted.
const pollInterval = 50 * time.Millisecond

// Browser opens a tab in a new browser context of the binary's Chromium,
// starting it on first use, and closes it when t ends. The tab is blank;
// navigate it to a page of the server (BaseURL). name (say "alice") labels
// its messages and screenshots. An uncaught exception in it fails t.
func (e *Env) Browser(t *testing.T, name string) context.Context {
	t.Helper()
	root, err := sharedBrowser(e.ns)
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	ctx, cancel := chromedp.NewContext(root, chromedp.WithNewBrowserContext())
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		t.Fatalf("open a tab for %s: %v", name, err)
	}
	con, err := watchConsole(ctx)
	if err != nil {
		cancel()
		t.Fatalf("watch the console of %s: %v", name, err)
	}
	ctx = context.WithValue(ctx, consoleKey{}, con)
	t.Cleanup(func() {
		if t.Failed() && os.Getenv(screenshotsEnv) != "" {
			if path, err := saveScreenshot(t, ctx, name+"-failed"); err != nil {
				t.Logf("%s: screenshot after failure: %v", name, err)
			} else {
				t.Logf("%s: screenshot after failure: %s", name, path)
			}
		}
		settle(ctx)
		con.catchUp() // what the page did last counts too
		cancel()
		con.wait()
		con.report(t, name)
	})
	return ctx
}

// settle gives the page 50 ms to run what it queued: an unhandled
// rejection, for one, is reported by a task of its own after the Eval that
// caused it returned.
func settle(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](`new Promise((r) => setTimeout(r, 50))`, chromedp.EvalAwaitPromise))
}

// Do runs actions in the tab and fails t on error.
func Do(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, actionTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("browser: %v", timeoutErr(err))
	}
}

// Eval evaluates js in the tab's page, awaits it when it is a promise, and
// returns its value decoded as T (chromedp.Evaluate; use chromedp.Void to
// ignore it). An exception or a rejected promise fails t.
func Eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, actionTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("eval %s: %v", abbrev(js), timeoutErr(err))
	}
	return v
}

// WaitFor waits until the JavaScript expression cond is truthy in the tab's
// page, evaluating it every 50 ms, and fails t when timeout passes first.
func WaitFor(t *testing.T, ctx context.Context, cond string, timeout time.Duration) {
	t.Helper()
	// The context outlives the poll's own timeout a little, so that a
	// timeout is reported as such rather than as a cancelled call.
	ctx, cancel := context.WithTimeout(ctx, timeout+5*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](cond,
		chromedp.WithPollingInterval(pollInterval), chromedp.WithPollingTimeout(timeout)))
	if err != nil {
		t.Fatalf("wait %v for %s: %v", timeout, abbrev(cond), err)
	}
}

// screenshotsEnv names a directory that keeps screenshots after the test.
const screenshotsEnv = "CALLBOX_SCREENSHOTS"

// Screenshot saves a full-page PNG of the tab as <test>-<name>.png in
// $CALLBOX_SCREENSHOTS, or in a temporary directory of t, logs its path
// and returns it.
func Screenshot(t *testing.T, ctx context.Context, name string) string {
	t.Helper()
	path, err := saveScreenshot(t, ctx, name)
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	t.Logf("screenshot %s", path)
	return path
}

func saveScreenshot(t *testing.T, ctx context.Context, name string) (string, error) {
	dir := os.Getenv(screenshotsEnv)
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, actionTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return "", err
	}
	file := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name() + "-" + name + ".png")
	path := filepath.Join(dir, file)
	return path, os.WriteFile(path, png, 0o644)
}

// timeoutErr says which limit a deadline error is.
func timeoutErr(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("no result within %v (%w)", actionTimeout, err)
	}
	return err
}

// abbrev shortens a script for a failure message.
func abbrev(js string) string {
	js = strings.Join(strings.Fields(js), " ")
	if len(js) > 80 {
		js = js[:77] + "..."
	}
	return fmt.Sprintf("%q", js)
}
