package browsertest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"callbox/appliance"
	"callbox/signaling/usersig"
	"callbox/ui/browsertest"
)

// The admin console (/admin/, docs/admin.md) in Chromium against a real
// server: the first start's setup link, login, apps, an invite link used
// in a second browser, a call seen live and ended from the console, its
// record under the right filter, and a key rotation.

// lockedBuffer is the server's cfg.Out, read while it writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var setupLink = regexp.MustCompile(`https?://\S+/admin/#setup=([A-Za-z0-9_-]+)`)

// startWithConsole starts a server and returns it with the setup token it
// printed.
func startWithConsole(t *testing.T) (*browsertest.Env, string) {
	t.Helper()
	out := &lockedBuffer{}
	env := browsertest.Start(t, func(c *appliance.Config) { c.Out = out })
	m := setupLink.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("the first start printed no setup link: %q", out.String())
	}
	return env, m[1]
}

// fill sets the inputs of the form sel by name and submits it.
func fill(t *testing.T, ctx context.Context, sel string, values map[string]string) {
	t.Helper()
	browsertest.WaitFor(t, ctx, fmt.Sprintf(`document.querySelector(%q) !== null`, sel), 10*time.Second)
	v, _ := json.Marshal(values)
	browsertest.Eval[chromedp.Void](t, ctx, fmt.Sprintf(`(() => {
		const f = document.querySelector(%q);
		for (const [k, v] of Object.entries(%s)) {
			const el = f.querySelector('[name="' + k + '"]');
			el.value = v;
			el.dispatchEvent(new Event('change', { bubbles: true }));
		}
		f.requestSubmit();
	})()`, sel, v))
}

// click clicks the first element matching sel.
func click(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	browsertest.WaitFor(t, ctx, fmt.Sprintf(`document.querySelector(%q) !== null`, sel), 10*time.Second)
	browsertest.Eval[chromedp.Void](t, ctx, fmt.Sprintf(`document.querySelector(%q).click()`, sel))
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	return browsertest.Eval[string](t, ctx, fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ""`, sel))
}

// consoleLogin logs in through the login form and waits for the apps page.
func consoleLogin(t *testing.T, ctx context.Context, user, pw string) {
	t.Helper()
	browsertest.WaitFor(t, ctx, `document.querySelector('#auth-form') !== null`, 10*time.Second)
	fill(t, ctx, "#auth-form", map[string]string{"user": user, "password": pw})
	browsertest.WaitFor(t, ctx, `!document.querySelector('#nav').hidden && document.querySelector('#main h1') !== null`, 10*time.Second)
}

func TestAdminConsole(t *testing.T) {
	env, token := startWithConsole(t)
	def := env.App().SDKAppID
	admin := env.Browser(t, "admin")

	// First start: the printed link, a password, then a login.
	browsertest.Do(t, admin, chromedp.Navigate(env.BaseURL()+"/admin/#setup="+token))
	browsertest.WaitFor(t, admin, `document.querySelector('#auth-form') !== null`, 10*time.Second)
	browsertest.Screenshot(t, admin, "setup")
	fill(t, admin, "#auth-form", map[string]string{"user": "root", "password": "short"})
	browsertest.WaitFor(t, admin, `/at least 10 characters/.test(document.querySelector('#auth-form .error').textContent)`, 10*time.Second)
	fill(t, admin, "#auth-form", map[string]string{"user": "root", "password": "correct horse battery"})
	browsertest.WaitFor(t, admin, `!document.querySelector('#nav').hidden && document.querySelector('#apps') !== null`, 10*time.Second)
	if h := browsertest.Eval[string](t, admin, `location.hash`); strings.Contains(h, "setup") {
		t.Errorf("the setup token stays in the address bar: %q", h)
	}
	click(t, admin, "#logout")
	fill(t, admin, "#auth-form", map[string]string{"user": "root", "password": "wrong password"})
	browsertest.WaitFor(t, admin, `/wrong user name or password/.test(document.querySelector('#auth-form .error').textContent)`, 10*time.Second)
	consoleLogin(t, admin, "root", "correct horse battery")

	// Create an app.
	fill(t, admin, "#create-app", map[string]string{"name": "Team app"})
	browsertest.WaitFor(t, admin, `[...document.querySelectorAll('#apps td.name')].some((td) => td.textContent === 'Team app')`, 10*time.Second)
	browsertest.Screenshot(t, admin, "apps")
	team := browsertest.Eval[string](t, admin, `[...document.querySelectorAll('#apps tr[data-app]')].find((tr) => tr.querySelector('td.name').textContent === 'Team app').dataset.app`)
	row := fmt.Sprintf(`#apps tr[data-app=%q]`, team)
	// Rename it: an over-long name is refused with the server's message,
	// then a good one shows.
	click(t, admin, row+" button.rename")
	fill(t, admin, row+" td.name form", map[string]string{"rename": strings.Repeat("n", 65)})
	browsertest.WaitFor(t, admin, fmt.Sprintf(`/1 to 64 characters/.test(document.querySelector('%s td.name .error').textContent)`, row), 10*time.Second)
	fill(t, admin, row+" td.name form", map[string]string{"rename": "Sales"})
	browsertest.WaitFor(t, admin, fmt.Sprintf(`(() => { const td = document.querySelector('%s td.name'); return td && td.textContent === 'Sales'; })()`, row), 10*time.Second)
	// Delete it, after the confirmation; cancelling first keeps it.
	click(t, admin, row+" button.delete")
	browsertest.WaitFor(t, admin, `document.querySelector('#confirm').open`, 5*time.Second)
	click(t, admin, `#confirm button[value=cancel]`)
	browsertest.WaitFor(t, admin, `!document.querySelector('#confirm').open`, 5*time.Second)
	click(t, admin, row+" button.delete")
	browsertest.WaitFor(t, admin, `document.querySelector('#confirm').open && /records stay/.test(document.querySelector('#confirm-body').textContent)`, 5*time.Second)
	click(t, admin, "#confirm-ok")
	browsertest.WaitFor(t, admin, fmt.Sprintf(`document.querySelector('%s') === null && document.querySelectorAll('#apps tr[data-app]').length === 1`, row), 10*time.Second)

	// Invite links for bob and carol in the default app, made on the
	// users page (with the QR code) and opened in browsers of their own:
	// the web app signs each in.
	browsertest.Do(t, admin, chromedp.Navigate(env.BaseURL()+"/admin/#users"))
	browsertest.WaitFor(t, admin, `document.querySelector('#issue') !== null`, 10*time.Second)
	browsertest.Eval[chromedp.Void](t, admin, fmt.Sprintf(`(() => { const s = document.querySelector('select[name=app]'); s.value = '%d'; s.dispatchEvent(new Event('change')); })()`, def))
	invite := func(user string) string {
		browsertest.Eval[chromedp.Void](t, admin, `document.querySelector('#issued').replaceChildren()`)
		fill(t, admin, "#issue", map[string]string{"user": user, "expire": "3600"})
		browsertest.WaitFor(t, admin, `document.querySelector('#invite-qr') && document.querySelector('#invite-qr').naturalWidth > 0`, 10*time.Second)
		link := text(t, admin, "#invite-link")
		u, err := url.Parse(link)
		q, _ := url.ParseQuery(u.Fragment)
		if err != nil || u.Path != "/join" || q.Get("user") != user || q.Get("sdkappid") != strconv.Itoa(int(def)) || q.Get("sig") == "" {
			t.Fatalf("invite link for %s: %q", user, link)
		}
		return link
	}
	// A bare UserSig, which verifies with the app's key.
	browsertest.Eval[chromedp.Void](t, admin, `document.querySelector('#issue [name=user]').value = 'erin'`)
	click(t, admin, "#issue button[name=usersig]")
	browsertest.WaitFor(t, admin, `document.querySelector('#usersig') !== null`, 10*time.Second)
	app := env.App()
	keyFor := func(uint32) (string, error) { return app.Key, nil }
	if _, err := usersig.Verify(text(t, admin, "#usersig"), def, "erin", keyFor, time.Now()); err != nil {
		t.Errorf("the console's UserSig for erin: %v", err)
	}
	bobLink := invite("bob")
	browsertest.Screenshot(t, admin, "invite")
	carolLink := invite("carol")
	bob := openLink(t, env, "bob", bobLink, desktop)
	carol := openLink(t, env, "carol", carolLink, desktop)
	for _, p := range []*person{bob, carol} {
		p.wait(t, `document.body.dataset.screen === 'signin' && !document.getElementById('join-form').hidden`)
		p.click(t, "#join-btn")
		p.screen(t, "main")
	}
	// Both are online on the users page.
	browsertest.WaitFor(t, admin, `['bob', 'carol'].every((u) => [...document.querySelectorAll('#online li')].some((li) => li.textContent === u))`, 10*time.Second)

	// bob calls carol, who accepts; the console shows the call live.
	bob.contact(t, "carol", "online")
	bob.click(t, `#contact-list li[data-user="carol"] .call-btn.audio`)
	carol.screen(t, "incoming")
	carol.click(t, "#in-audio")
	bob.screen(t, "incall")
	carol.screen(t, "incall")
	browsertest.Do(t, admin, chromedp.Navigate(env.BaseURL()+"/admin/#calls"))
	browsertest.WaitFor(t, admin, `(() => { const r = document.querySelector('#calls tbody tr[data-call]');
		return r && /bob/.test(r.textContent) && /carol/.test(r.textContent) && /audio/.test(r.textContent) && /active/.test(r.textContent); })()`, 10*time.Second)
	callID := browsertest.Eval[string](t, admin, `document.querySelector('#calls tbody tr[data-call]').dataset.call`)
	browsertest.WaitFor(t, admin, `/^0:0[1-9]|^0:[1-5]\d/.test(document.querySelector('#calls td.duration').textContent)`, 10*time.Second)
	browsertest.Screenshot(t, admin, "live-call")
	// The server page shows the call's room with both participants'
	// audio tracks.
	browsertest.Do(t, admin, chromedp.Navigate(env.BaseURL()+"/admin/#server"))
	browsertest.WaitFor(t, admin, `(() => { const r = document.querySelector('#rooms'); return r && /bob/.test(r.textContent) && /carol/.test(r.textContent) && /audio/.test(r.textContent); })()`, 10*time.Second)
	browsertest.WaitFor(t, admin, `[...document.querySelectorAll('#rooms .bitrate')].some((d) => /kbit/.test(d.textContent))`, 15*time.Second)
	browsertest.Screenshot(t, admin, "server-in-call")
	browsertest.Do(t, admin, chromedp.Navigate(env.BaseURL()+"/admin/#calls"))
	browsertest.WaitFor(t, admin, `document.querySelector('#calls button.end') !== null`, 10*time.Second)

	// End it from the console, after the confirmation.
	click(t, admin, "#calls button.end")
	browsertest.WaitFor(t, admin, `document.querySelector('#confirm').open`, 5*time.Second)
	click(t, admin, "#confirm-ok")
	// Both got CALL_END: their apps leave the call screen.
	bob.screen(t, "main")
	carol.screen(t, "main")
	browsertest.WaitFor(t, admin, `document.querySelector('#calls tbody tr[data-call]') === null`, 10*time.Second)

	// The record under the right filter, not under another.
	browsertest.Do(t, admin, chromedp.Navigate(env.BaseURL()+"/admin/#records"))
	browsertest.WaitFor(t, admin, `document.querySelector('#filter') !== null`, 10*time.Second)
	rowSel := fmt.Sprintf(`#records tr[data-call=%q]`, callID)
	browsertest.Eval[chromedp.Void](t, admin, fmt.Sprintf(`(() => { const s = document.querySelector('#filter select[name=app]'); s.value = '%d'; })()`, def))
	fill(t, admin, "#filter", map[string]string{"user": "carol", "result": "reject"})
	browsertest.WaitFor(t, admin, `/No record matches/.test(document.querySelector('#records').textContent)`, 10*time.Second)
	fill(t, admin, "#filter", map[string]string{"user": "carol", "result": ""})
	browsertest.WaitFor(t, admin, fmt.Sprintf(`document.querySelector(%q) !== null`, rowSel), 10*time.Second)
	click(t, admin, rowSel)
	browsertest.WaitFor(t, admin, `(() => { const d = document.querySelector('#record-detail'); return d && d.querySelectorAll('.participants tbody tr').length === 2; })()`, 10*time.Second)
	if n := browsertest.Eval[int](t, admin, `[...document.querySelectorAll('#record-detail .participants td')].filter((td) => /\d{1,2}:\d{2}:\d{2}/.test(td.textContent)).length`); n < 4 {
		t.Errorf("the record's detail shows %d participant timestamps, want joined and left of both at least", n)
	}
	browsertest.Screenshot(t, admin, "record")

	// Rotate the default app's key, confirmed; a UserSig of the old key
	// no longer logs in.
	browsertest.Do(t, admin, chromedp.Navigate(env.BaseURL()+"/admin/#apps"))
	rotate := fmt.Sprintf(`#apps tr[data-app="%d"] button.rotate`, def)
	click(t, admin, rotate)
	browsertest.WaitFor(t, admin, `document.querySelector('#confirm').open`, 5*time.Second)
	if body := text(t, admin, "#confirm-body"); !strings.Contains(body, "signed out") || !strings.Contains(body, "stops working") {
		t.Errorf("the rotation's confirmation says %q", body)
	}
	browsertest.Screenshot(t, admin, "rotate-confirm")
	click(t, admin, "#confirm-ok")
	browsertest.WaitFor(t, admin, `/New key/.test(document.querySelector('#toast').textContent)`, 10*time.Second)
	if _, code := open(t, env, "dave", "", false); code == 0 {
		t.Errorf("a UserSig signed with the old key still logs in")
	}
	// The refused password and login are logged by Chromium as failed
	// loads (400, 401); nothing else may be.
	for _, e := range browsertest.ConsoleErrors(admin) {
		if !strings.Contains(e, "status of 400") && !strings.Contains(e, "status of 401") {
			t.Errorf("the console logged an error: %q", e)
		}
	}
}
