package browsertest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"callbox/appliance/command"
	"callbox/store"
	"callbox/ui/browsertest"
)

// The web app at / (issue 12) in Chromium against a real server: people
// sign in with invite links the CLI makes, see each other, call, and read
// their history. The app is driven as a person would: clicks on its
// buttons and keys; the tests read the DOM.

// docShotsEnv names a directory for the README's screenshots
// (docs/screenshots): CALLBOX_DOC_SCREENSHOTS=docs/screenshots.
const docShotsEnv = "CALLBOX_DOC_SCREENSHOTS"

const appWait = 20 * time.Second

// person is one user's tab of the app, in Chromium (ctx) or in Firefox
// (ff).
type person struct {
	user string
	ctx  context.Context
	ff   *browsertest.FirefoxTab
}

// inviteLink runs `callbox user invite` against the running server, as
// an admin would, and returns the link it printed.
func inviteLink(t *testing.T, env *browsertest.Env, user string, extra ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	args := append([]string{"callbox", "--data", env.Appliance().DataDir(), "user", "invite",
		"--sdkappid", fmt.Sprint(env.App().SDKAppID), "--user", user, "--url", env.BaseURL()}, extra...)
	if err := command.New(&out, &errb, command.Build{}).Run(args); err != nil {
		t.Fatalf("user invite %s: %v %s", user, err, errb.String())
	}
	link := strings.TrimSpace(out.String())
	if !strings.HasPrefix(link, env.BaseURL()+"/join#") {
		t.Fatalf("user invite printed %q", link)
	}
	return link
}

// viewport sizes: a phone and a desktop.
var (
	phone   = [2]int64{390, 844}
	desktop = [2]int64{1440, 900}
)

// open loads link in a new browser context of the given size.
func openLink(t *testing.T, env *browsertest.Env, name, link string, size [2]int64) *person {
	t.Helper()
	ctx := env.Browser(t, name)
	opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
	if size == phone {
		opts = append(opts, chromedp.EmulateMobile)
	}
	browsertest.Do(t, ctx, chromedp.EmulateViewport(size[0], size[1], opts...), chromedp.Navigate(link))
	return &person{user: name, ctx: ctx}
}

// dark makes p's page prefer the dark colour scheme, as a system set to
// dark would.
func (p *person) dark(t *testing.T) {
	t.Helper()
	browsertest.Do(t, p.ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}})
		return err
	}))
	p.wait(t, `matchMedia('(prefers-color-scheme: dark)').matches && getComputedStyle(document.body).backgroundColor === 'rgb(15, 18, 22)'`)
}

// join opens user's invite link, types a display name and joins.
func join(t *testing.T, env *browsertest.Env, user, name string, size [2]int64) *person {
	t.Helper()
	p := openLink(t, env, user, inviteLink(t, env, user), size)
	p.signIn(t, name)
	return p
}

// joinFirefox is join in a Firefox tab (its default window size).
func joinFirefox(t *testing.T, env *browsertest.Env, user, name string) *person {
	t.Helper()
	p := &person{user: user, ff: env.Firefox(t, user)}
	p.ff.Navigate(t, inviteLink(t, env, user))
	p.signIn(t, name)
	return p
}

func (p *person) signIn(t *testing.T, name string) {
	t.Helper()
	user := p.user
	p.wait(t, `document.body.dataset.screen === 'signin' && !document.getElementById('join-form').hidden`)
	if got := p.eval(t, `location.href`); strings.Contains(got, "sig=") {
		t.Errorf("%s: the sig stayed in the address bar: %s", user, got)
	}
	p.run(t, fmt.Sprintf(`document.getElementById('join-name').value = %q`, name))
	p.click(t, "#join-btn")
	p.wait(t, `document.body.dataset.screen === 'main'`)
}

func (p *person) wait(t *testing.T, cond string) {
	t.Helper()
	if p.ff != nil {
		p.ff.WaitFor(t, cond, appWait)
		return
	}
	browsertest.WaitFor(t, p.ctx, cond, appWait)
}

func (p *person) run(t *testing.T, js string) {
	t.Helper()
	if p.ff != nil {
		p.ff.Eval(t, "void ("+js+"\n)")
		return
	}
	browsertest.Eval[chromedp.Void](t, p.ctx, js)
}

func (p *person) eval(t *testing.T, js string) string {
	t.Helper()
	if p.ff != nil {
		var s string
		if err := json.Unmarshal(p.ff.Eval(t, "String("+js+"\n)"), &s); err != nil {
			t.Fatalf("%s (firefox): %s: %v", p.user, js, err)
		}
		return s
	}
	return browsertest.Eval[string](t, p.ctx, "String("+js+")")
}

// click clicks the element sel once it is there and enabled.
func (p *person) click(t *testing.T, sel string) {
	t.Helper()
	q := fmt.Sprintf(`document.querySelector(%q)`, sel)
	p.wait(t, q+` && !`+q+`.disabled && !`+q+`.closest('[hidden]')`)
	p.run(t, q+`.click()`)
}

// key presses a key in the page (Enter "\r", Escape "\x1b").
func (p *person) key(t *testing.T, k string) {
	t.Helper()
	if p.ff != nil {
		t.Fatalf("%s: key presses are not driven in Firefox; click instead", p.user)
	}
	browsertest.Do(t, p.ctx, chromedp.KeyEvent(k))
}

func (p *person) screen(t *testing.T, s string) {
	t.Helper()
	p.wait(t, fmt.Sprintf(`document.body.dataset.screen === %q`, s))
}

// toast waits for a message on screen containing text.
func (p *person) toast(t *testing.T, text string) {
	t.Helper()
	p.wait(t, fmt.Sprintf(`[...document.querySelectorAll('.toast, #signin-msg, #banner, #call-note')].some((e) => !e.hidden && e.textContent.includes(%q))`, text))
}

func (p *person) contact(t *testing.T, user, status string) {
	t.Helper()
	p.wait(t, fmt.Sprintf(`document.querySelector('#contact-list li[data-user=%q][data-status=%q]')`, user, status))
}

// videoPlays waits until the tile of user plays video: a size, and a
// clock that advances.
func (p *person) videoPlays(t *testing.T, user string) {
	t.Helper()
	v := fmt.Sprintf(`document.querySelector('.tile[data-user=%q][data-video="on"] video')`, user)
	p.wait(t, fmt.Sprintf(`(() => { const v = %s; return v && v.videoWidth > 0 && v.readyState >= 2 && !v.paused && v.currentTime > 0; })()`, v))
	at, err := strconv.ParseFloat(p.eval(t, v+`.currentTime`), 64)
	if err != nil {
		t.Fatalf("%s: currentTime: %v", p.user, err)
	}
	p.wait(t, fmt.Sprintf(`%s.currentTime > %f`, v, at+0.5))
}

// fits checks the page has no horizontal scroll and that every visible
// button of sel lies inside the viewport.
func (p *person) fits(t *testing.T, sel string) {
	t.Helper()
	bad := p.eval(t, fmt.Sprintf(`(() => {
		const out = [];
		if (document.documentElement.scrollWidth > innerWidth) out.push('scrolls sideways: ' + document.documentElement.scrollWidth + ' > ' + innerWidth);
		for (const b of document.querySelectorAll(%q)) {
			if (b.closest('[hidden]') || b.offsetParent === null) continue;
			const r = b.getBoundingClientRect();
			if (r.left < 0 || r.right > innerWidth + 0.5 || r.top < 0 || r.bottom > innerHeight + 0.5 || r.width < 24 || r.height < 24)
				out.push((b.getAttribute('aria-label') || b.id || b.textContent.trim()) + ' at ' + [r.left, r.top, r.right, r.bottom].map(Math.round));
			if (!b.getAttribute('aria-label') && !b.textContent.trim()) out.push('a button without a name: ' + b.outerHTML.slice(0, 80));
		}
		return out.join('; ');
	})()`, sel))
	if bad != "" {
		t.Errorf("%s (%s): %s", p.user, sel, bad)
	}
}

// shot saves a screenshot: into $CALLBOX_DOC_SCREENSHOTS/<name>.png for
// the README when set, else as the harness's.
func (p *person) shot(t *testing.T, name string) {
	t.Helper()
	if p.ff != nil {
		p.ff.Screenshot(t, name)
		return
	}
	dir := os.Getenv(docShotsEnv)
	if dir == "" {
		browsertest.Screenshot(t, p.ctx, name)
		return
	}
	// Let the last frame paint (a headless tab paints on demand).
	p.run(t, `new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))`)
	png, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// history waits for a row of p's history for a call with other.
func (p *person) historyRow(t *testing.T, other, cond string) {
	t.Helper()
	p.wait(t, fmt.Sprintf(`[...document.querySelectorAll('#history-list li.hist')].some((li) => li.querySelector('.name').textContent.includes(%q) && ((li) => %s)(li))`, other, cond))
}

// TestAppCalls: two people sign in with invite links made by the CLI, one
// on a phone and one on a desktop; they see each other online, call with
// video (ring, accept with Enter, both videos play, the timer runs, mute
// shows on the other side), hang up, and both histories show the call with
// its duration. Then the ways a call does not happen: no answer (missed for
// the callee), a rejection with Esc, busy, and a group call of four from
// the contact picker with every tile playing.
func TestAppCalls(t *testing.T) {
	env := browsertest.Start(t, nil)
	alice := join(t, env, "alice", "Alice Martin", desktop)
	bob := join(t, env, "bob", "Bob Chen", phone)
	bob.dark(t) // the phone's screenshots show the dark scheme

	alice.contact(t, "bob", "online")
	bob.contact(t, "alice", "online")
	alice.wait(t, `document.querySelector('#contact-list li[data-user="bob"] .name').textContent === 'Bob Chen'`)
	alice.fits(t, "button")
	bob.fits(t, "button")
	alice.shot(t, "contacts")
	bob.shot(t, "contacts-phone")

	// A 1:1 video call, accepted with the keyboard.
	alice.click(t, `#contact-list li[data-user="bob"] .call-btn.video`)
	alice.screen(t, "outgoing")
	bob.screen(t, "incoming")
	bob.wait(t, `document.body.dataset.ringing === 'incoming' && callboxApp.call.ringer.playing`)
	if got := bob.eval(t, `document.getElementById('in-title').textContent`); got != "Alice Martin is calling" {
		t.Errorf("incoming title %q", got)
	}
	bob.wait(t, `document.activeElement && document.activeElement.id === 'in-video'`)
	bob.fits(t, "#incoming button")
	bob.shot(t, "incoming")
	bob.key(t, "\r")
	alice.screen(t, "incall")
	bob.screen(t, "incall")
	bob.wait(t, `!document.body.dataset.ringing`)
	alice.videoPlays(t, "bob")
	bob.videoPlays(t, "alice")
	alice.wait(t, `/^0:0[2-9]$/.test(document.getElementById('call-timer').textContent)`)
	bob.click(t, "#c-mic")
	alice.wait(t, `document.querySelector('.tile[data-user="bob"]').dataset.muted === 'true'`)
	// Camera off shows bob's avatar on alice's side; on again, his video.
	bob.click(t, "#c-cam")
	alice.wait(t, `document.querySelector('.tile[data-user="bob"]').dataset.video === 'off'`)
	bob.click(t, "#c-cam")
	alice.videoPlays(t, "bob")
	// Devices and quality: the lists are filled, a lower quality reopens
	// the camera and alice still sees bob.
	bob.click(t, "#c-settings")
	bob.wait(t, `document.getElementById('settings').open && document.querySelectorAll('#set-cam option').length > 0 && document.querySelectorAll('#set-mic option').length > 0`)
	bob.run(t, `(() => { const q = document.getElementById('set-quality'); q.value = '360p'; q.dispatchEvent(new Event('change')); })()`)
	bob.click(t, `#settings button[value="close"]`)
	bob.wait(t, `!document.getElementById('settings').open`)
	alice.videoPlays(t, "bob")
	bob.fits(t, "#incall button")
	alice.fits(t, "#incall button")
	alice.shot(t, "call-1to1")
	bob.shot(t, "call-1to1-phone")
	// Audio only, for both, and back to video.
	alice.click(t, "#c-switch")
	for _, p := range []*person{alice, bob} {
		p.wait(t, `document.getElementById('call-title').textContent.startsWith('Audio call') && !document.querySelector('.tile[data-video="on"]')`)
	}
	bob.click(t, "#c-switch")
	alice.videoPlays(t, "bob")
	bob.videoPlays(t, "alice")
	alice.click(t, "#c-hangup")
	alice.screen(t, "main")
	bob.screen(t, "main")
	alice.contact(t, "bob", "online")
	bob.contact(t, "alice", "online")
	for _, p := range []*person{alice, bob} {
		other := map[string]string{"alice": "Bob Chen", "bob": "Alice Martin"}[p.user]
		p.historyRow(t, other, `li.dataset.result === 'normal_end' && /· 0:[0-5][2-9]$/.test(li.querySelector('.meta').textContent)`)
	}
	var rec store.CallFilter
	rec.SDKAppID = env.App().SDKAppID
	err := env.Appliance().Store().View(func(tx *store.Tx) error {
		calls, err := tx.Calls(rec)
		if err != nil || len(calls) != 1 || calls[0].Result != "normal_end" || calls[0].EndAt.Sub(calls[0].AcceptAt) < 2*time.Second {
			t.Errorf("records: %+v, %v", calls, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("no answer", func(t *testing.T) {
		// Bob's tab is in the background, with notifications allowed: a
		// stand-in Notification records what the app shows.
		bob.run(t, `Object.defineProperty(document, 'hidden', {configurable: true, get: () => true});
			document.dispatchEvent(new Event('visibilitychange'));
			window.shown = [];
			window.Notification = class { constructor(title, o) { shown.push(title + ' | ' + o.body); } close() { shown.push('closed'); } static get permission() { return 'granted'; } }`)
		alice.run(t, `callboxApp.call.start(['bob'], 1, {timeout: 2})`)
		bob.screen(t, "incoming")
		bob.wait(t, `shown[0] === 'Alice Martin is calling | Audio call' && document.title.includes('Alice Martin is calling')`)
		alice.toast(t, "Bob Chen did not answer.")
		bob.toast(t, "Missed call from Alice Martin")
		bob.screen(t, "main")
		bob.wait(t, `!document.body.dataset.ringing`)
		bob.wait(t, `document.title === 'callbox' && shown.includes('closed')`)
		bob.run(t, `delete document.hidden; document.dispatchEvent(new Event('visibilitychange'))`)
		bob.historyRow(t, "Alice Martin", `li.dataset.missed === 'true' && li.dataset.result === 'not_answer'`)
		alice.historyRow(t, "Bob Chen", `li.dataset.missed === 'false' && li.querySelector('.meta').textContent.endsWith('No answer')`)
		bob.wait(t, `document.getElementById('missed-count').textContent === '1' && !document.getElementById('missed-count').hidden`)
	})

	t.Run("rejected", func(t *testing.T) {
		alice.click(t, `#contact-list li[data-user="bob"] .call-btn.audio`)
		bob.screen(t, "incoming")
		bob.wait(t, `document.getElementById('in-video-wrap').hidden`)
		bob.key(t, "\x1b")
		bob.screen(t, "main")
		alice.toast(t, "Bob Chen declined the call.")
		alice.screen(t, "main")
		alice.historyRow(t, "Bob Chen", `li.dataset.result === 'reject'`)
	})

	carol := join(t, env, "carol", "Carol Diaz", desktop)
	dave := join(t, env, "dave", "Dave Okafor", desktop)

	t.Run("busy", func(t *testing.T) {
		alice.click(t, `#contact-list li[data-user="bob"] .call-btn.audio`)
		bob.click(t, "#in-audio")
		alice.screen(t, "incall")
		carol.contact(t, "bob", "busy")
		carol.click(t, `#contact-list li[data-user="bob"] .call-btn.audio`)
		carol.toast(t, "Bob Chen is in another call. Try again later.")
		carol.screen(t, "main")
		carol.wait(t, `!document.body.dataset.ringing`)
		bob.screen(t, "incall")
		bob.click(t, "#c-hangup")
		alice.screen(t, "main")
		bob.screen(t, "main")
	})

	t.Run("search", func(t *testing.T) {
		alice.contact(t, "dave", "online")
		alice.run(t, `(() => { const s = document.getElementById('search'); s.value = 'DIA'; s.dispatchEvent(new Event('input')); })()`)
		alice.wait(t, `[...document.querySelectorAll('#contact-list li')].map((li) => li.dataset.user).join() === 'carol'`)
		alice.run(t, `(() => { const s = document.getElementById('search'); s.value = 'nobody'; s.dispatchEvent(new Event('input')); })()`)
		alice.wait(t, `!document.querySelector('#contact-list li') && document.getElementById('contacts-empty').textContent.includes('No one matches')`)
		alice.run(t, `(() => { const s = document.getElementById('search'); s.value = ''; s.dispatchEvent(new Event('input')); })()`)
		alice.wait(t, `document.querySelectorAll('#contact-list li').length === 3`)
	})

	// Four from the contact picker; one leaves and is invited back from
	// the call.
	t.Run("group of four", func(t *testing.T) {
		alice.click(t, "#group-btn")
		for _, u := range []string{"bob", "carol", "dave"} {
			alice.click(t, fmt.Sprintf(`#contact-list li[data-user=%q] input[type=checkbox]`, u))
		}
		alice.click(t, "#group-video")
		for _, p := range []*person{bob, carol, dave} {
			p.screen(t, "incoming")
			p.wait(t, `document.getElementById('in-sub').textContent.startsWith('Group video call with')`)
			p.click(t, "#in-video")
		}
		everyone := func() {
			for _, p := range []*person{alice, bob, carol, dave} {
				p.screen(t, "incall")
				p.wait(t, `document.getElementById('grid').dataset.count === '4'`)
				for _, q := range []string{"alice", "bob", "carol", "dave"} {
					if q != p.user {
						p.videoPlays(t, q)
					}
				}
			}
		}
		everyone()
		bob.click(t, "#c-hangup")
		bob.screen(t, "main")
		alice.wait(t, `document.getElementById('grid').dataset.count === '3'`)
		bob.contact(t, "alice", "busy")
		alice.contact(t, "bob", "online")
		alice.click(t, "#c-invite")
		alice.click(t, `#picker-list input[value="bob"]`)
		alice.click(t, "#picker-ok")
		bob.screen(t, "incoming")
		bob.click(t, "#in-video")
		everyone()
		alice.fits(t, "#incall button")
		bob.fits(t, "#incall button")
		alice.shot(t, "call-group")
		bob.shot(t, "call-group-phone")
		// Alice leaves first; the others go on, and her history says so
		// until the call ends.
		for _, p := range []*person{alice, bob, carol} {
			p.click(t, "#c-hangup")
			p.screen(t, "main")
			if p == alice {
				bob.wait(t, `document.getElementById('grid').dataset.count === '3'`)
			}
		}
		// Alone, Dave's call ends by itself.
		dave.screen(t, "main")
		dave.toast(t, "Call ended")
		alice.historyRow(t, "Bob Chen, Carol Diaz and Dave Okafor", `li.dataset.result === 'normal_end'`)
	})
	alice.shot(t, "history")
	bob.click(t, "#tab-history")
	bob.shot(t, "history-phone")
	// Nothing the CSP refused, no error of the app's own.
	for _, p := range []*person{alice, bob, carol, dave} {
		if errs := browsertest.ConsoleErrors(p.ctx); len(errs) > 0 {
			t.Errorf("%s's console errors: %q", p.user, errs)
		}
	}
}
