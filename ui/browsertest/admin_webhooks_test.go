package browsertest_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"callbox/appliance/webhook"
	"callbox/ui/browsertest"
)

// TestAdminWebhooks: the console's webhooks page sets an app's callback
// URL and token, sends a test event that a real receiver checks, and
// shows it in the delivery log; a bad URL gets the server's message.
func TestAdminWebhooks(t *testing.T) {
	var got atomic.Int32
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("Sign") == "" || r.Header.Get(webhook.EventIDHeader) == "" {
			http.Error(w, "unsigned", http.StatusBadRequest)
			return
		}
		got.Add(1)
		io.WriteString(w, `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`)
	}))
	defer rcv.Close()

	env, token := startWithConsole(t)
	admin := env.Browser(t, "admin")
	browsertest.Do(t, admin, chromedp.Navigate(env.BaseURL()+"/admin/#setup="+token))
	fill(t, admin, "#auth-form", map[string]string{"user": "root", "password": "correct horse battery"})
	browsertest.WaitFor(t, admin, `document.querySelector('#apps') !== null`, 10*time.Second)

	browsertest.Do(t, admin, chromedp.Navigate(env.BaseURL()+"/admin/#webhooks"))
	fill(t, admin, "#webhook", map[string]string{"url": "ftp://example.com/x"})
	browsertest.WaitFor(t, admin, `/http/.test(document.querySelector('.card .error').textContent)`, 10*time.Second)
	fill(t, admin, "#webhook", map[string]string{"url": rcv.URL + "/callbox", "token": "s3cret"})
	browsertest.WaitFor(t, admin, `document.querySelector('#webhook button[name=test]') !== null`, 10*time.Second)
	click(t, admin, "#webhook button[name=test]")
	browsertest.WaitFor(t, admin, `/Test delivered: HTTP 200/.test(document.querySelector('#toast').textContent)`, 15*time.Second)
	browsertest.WaitFor(t, admin, `document.querySelector('#deliveries') !== null && /caller_start_call/.test(document.querySelector('#deliveries').textContent)`, 10*time.Second)
	if got.Load() != 1 {
		t.Errorf("the receiver got %d signed requests, want 1", got.Load())
	}
	browsertest.Screenshot(t, admin, "webhooks")
	if v := browsertest.Eval[string](t, admin, `document.querySelector('#webhook [name=url]').value`); !strings.HasSuffix(v, "/callbox") {
		t.Errorf("the saved URL shows as %q", v)
	}
}
