package browsertest_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"callbox/appliance"
	"callbox/ui/browsertest"
)

// teamPage is a team's own app page: its origin is not the server's.
func teamPage(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/favicon.ico" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprint(w, "<!doctype html><meta charset=utf-8><title>team app</title><h1>team app</h1>")
}

// A team's own app on another origin (docs/sdk.md §1, §7) loads the SDK
// from the callbox server and passes it as server. The server lets that
// origin open /ws once it is allowed (--allowed-origin, docs/protocol.md
// §1); a page of an origin it does not allow gets a 403 for the WebSocket
// and a login rejection that says what the server needs.
func TestSDKOtherOrigin(t *testing.T) {
	site := browsertest.ServeSite(t, http.HandlerFunc(teamPage))
	allowed, other := site.Origin("app"), site.Origin("other")
	env := browsertest.Start(t, func(c *appliance.Config) { c.AllowedOrigins = []string{allowed} })

	t.Run("allowed", func(t *testing.T) {
		// The seed's code as a migrated app has it (docs/sdk.md §7): the
		// import line names the server's module, and the options its URL.
		js := pageScript(t, env, "yan", false)
		for old, new := range map[string]string{
			`import('/sdk/trtc-calling.mjs')`:                                          fmt.Sprintf(`import('%s/sdk/trtc-calling.mjs')`, env.BaseURL()),
			`SDKAppID: cfg.SDKAppID, // Replace with the SDKAppID of your application`: fmt.Sprintf(`SDKAppID: cfg.SDKAppID, server: %q,`, env.BaseURL()),
		} {
			if strings.Count(js, old) != 1 {
				t.Fatalf("the page script has no %q to replace", old)
			}
			js = strings.Replace(js, old, new, 1)
		}
		ctx := env.Browser(t, "yan")
		browsertest.Do(t, ctx, chromedp.Navigate(allowed+"/"))
		if code := browsertest.Eval[int](t, ctx, js); code != 0 {
			t.Fatalf("yan: login from %s failed with %d", allowed, code)
		}
		yan, zed := &tab{name: "yan", ctx: ctx}, login(t, env, "zed", true)
		call(t, yan, zed, 2)
		yan.checkVideoPlays(t)
		zed.checkVideoPlays(t)
		hangupBoth(t, yan, zed)
		if errs := browsertest.ConsoleErrors(ctx); len(errs) > 0 {
			t.Errorf("the app page logged errors: %q", errs)
		}
	})

	t.Run("not allowed", func(t *testing.T) {
		ctx := env.Browser(t, "uli")
		browsertest.Do(t, ctx, chromedp.Navigate(other+"/"))
		// The classic script, which needs no CORS.
		type result struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		}
		r := browsertest.Eval[result](t, ctx, fmt.Sprintf(`new Promise((resolve, reject) => {
			const s = document.createElement('script');
			s.src = %q;
			s.onload = resolve;
			s.onerror = () => reject(new Error('script failed'));
			document.head.append(s);
		}).then(() => new TRTCCalling({SDKAppID: %d, server: %q}).login({userID: 'uli', userSig: %q}))
		  .then(() => ({code: 0, message: 'logged in'}), (e) => ({code: e.code, message: e.message}))`,
			env.BaseURL()+"/sdk/trtc-calling.js", env.App().SDKAppID, env.BaseURL(), env.Sig("uli")))
		t.Logf("login from %s: %+v", other, r)
		if r.Code != -1 || !strings.Contains(r.Message, "--allowed-origin "+other) {
			t.Errorf("login from %s: %+v, want -1 and a message naming --allowed-origin %s", other, r, other)
		}
		errs := browsertest.ConsoleErrors(ctx)
		if !slices.ContainsFunc(errs, func(e string) bool { return strings.Contains(e, "403") }) {
			t.Errorf("the browser logged %q, want the WebSocket's 403", errs)
		}
	})
}
