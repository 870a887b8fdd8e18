package browsertest_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"callbox/appliance"
	"callbox/appliance/invite"
	"callbox/signaling/usersig"
	"callbox/ui/browsertest"
)

// TestAppSignInErrors: every bad invite link gets a sentence saying what
// happened and what to do, and nothing is stored: a tampered sig, an
// expired one, a wrong SDKAppID, a user ID the server refuses, a link cut
// short, and a remembered sign-in that has expired since.
func TestAppSignInErrors(t *testing.T) {
	env := browsertest.Start(t, nil)
	app := env.App()
	good := inviteLink(t, env, "erin")
	p := openLink(t, env, "erin", good, phone)
	p.wait(t, `!document.getElementById('join-form').hidden`)
	p.shot(t, "signin")

	sig := func(user string, issued time.Time) string {
		s, err := usersig.Issue(app.SDKAppID, app.Key, user, time.Hour, issued)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	l, err := invite.Parse(good)
	if err != nil {
		t.Fatal(err)
	}
	tampered := []byte(l.Sig)
	tampered[len(tampered)/2] ^= 1
	base := env.BaseURL()
	for _, tc := range []struct {
		name, link string
		join       bool // the server judges it: after Join
		want       string
	}{
		{"tampered sig", invite.URL(base, app.SDKAppID, "erin", string(tampered)), true, "damaged or was changed"},
		{"expired sig", invite.URL(base, app.SDKAppID, "erin", sig("erin", time.Now().Add(-2*time.Hour))), true, "Your sign-in link has expired. Ask whoever sent it for a new invite link."},
		{"sig of another user", invite.URL(base, app.SDKAppID, "erin", sig("mallory", time.Now())), true, "made for another user"},
		{"wrong sdkappid", invite.URL(base, 12345, "erin", l.Sig), true, "no app 12345"},
		{"user ID with a space", invite.URL(base, app.SDKAppID, "erin smith", l.Sig), false, "which the server refuses"},
		{"user ID too long", invite.URL(base, app.SDKAppID, strings.Repeat("e", 33), l.Sig), false, "which the server refuses"},
		{"cut short", base + "/join#sdkappid=" + fmt.Sprint(app.SDKAppID) + "&user=erin", false, "incomplete or damaged"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			browsertest.Do(t, p.ctx, chromedp.Navigate(base+"/"), chromedp.Navigate(tc.link))
			if tc.join {
				p.click(t, "#join-btn")
			}
			p.wait(t, fmt.Sprintf(`document.body.dataset.screen === 'signin' && document.getElementById('signin-msg').textContent.includes(%q)`, tc.want))
			p.wait(t, `!document.getElementById('need-link').hidden && localStorage.getItem('callbox.session') === null`)
			if tc.name == "expired sig" {
				p.shot(t, "signin-expired")
			}
		})
	}

	// Signed in elsewhere: this tab says so.
	browsertest.Do(t, p.ctx, chromedp.Navigate(good))
	p.click(t, "#join-btn")
	p.screen(t, "main")
	q := openLink(t, env, "erin-2", good, desktop)
	q.click(t, "#join-btn")
	q.screen(t, "main")
	p.wait(t, `document.body.dataset.screen === 'signin' && document.getElementById('signin-msg').textContent.includes('You signed in on another tab or device')`)

	// A sig that expires while signed in: the app says to ask for a new link.
	short := openLink(t, env, "gus", inviteLink(t, env, "gus", "--expire", "2"), phone)
	short.click(t, "#join-btn")
	short.screen(t, "main")
	short.wait(t, `document.body.dataset.screen === 'signin' && document.getElementById('signin-msg').textContent.includes('Your sign-in has expired. Ask your team for a new invite link.') && localStorage.getItem('callbox.session') === null`)

	// A remembered sign-in whose sig has expired since.
	browsertest.Do(t, p.ctx, chromedp.Navigate(good))
	p.click(t, "#join-btn")
	p.screen(t, "main")
	p.run(t, `localStorage.setItem('callbox.session', JSON.stringify({...JSON.parse(localStorage.getItem('callbox.session')), expiresAt: Math.floor(Date.now() / 1000) - 60}))`)
	browsertest.Do(t, p.ctx, chromedp.Navigate(base+"/"))
	p.wait(t, `document.getElementById('signin-msg').textContent.includes('Your sign-in has expired. Ask your team for a new invite link.')`)
	p.fits(t, "button")
}

// TestAppTrouble: a camera or microphone refused, and the server's
// connection lost in the middle of a call: each gets a sentence on screen,
// nothing rings on, and the app comes back.
func TestAppTrouble(t *testing.T) {
	env := browsertest.Start(t, nil)
	erin := join(t, env, "erin", "Erin", desktop)
	frank := join(t, env, "frank", "Frank", phone)
	erin.contact(t, "frank", "online")

	// No microphone allowed: the call is not placed, and Frank hears nothing.
	erin.run(t, `(() => { const md = navigator.mediaDevices; const gum = md.getUserMedia.bind(md);
		window.denyMedia = true;
		md.getUserMedia = (c) => window.denyMedia ? Promise.reject(new DOMException('denied by the test', 'NotAllowedError')) : gum(c); })()`)
	erin.click(t, `#contact-list li[data-user="frank"] .call-btn.video`)
	erin.toast(t, "Camera or microphone access is blocked. Allow it for this page")
	erin.screen(t, "main")
	erin.wait(t, `!document.body.dataset.ringing`)
	if s := frank.eval(t, `document.body.dataset.screen`); s != "main" {
		t.Errorf("frank's screen after a call that was not placed: %s", s)
	}

	// Frank's microphone refused as he accepts: he is told why, and Erin
	// is not left calling.
	erin.run(t, `window.denyMedia = false`)
	frank.run(t, `(() => { const md = navigator.mediaDevices; const gum = md.getUserMedia.bind(md);
		window.denyMedia = true;
		md.getUserMedia = (c) => window.denyMedia ? Promise.reject(new DOMException('denied by the test', 'NotAllowedError')) : gum(c); })()`)
	erin.click(t, `#contact-list li[data-user="frank"] .call-btn.audio`)
	frank.click(t, "#in-audio")
	frank.toast(t, "Camera or microphone access is blocked")
	frank.screen(t, "main")
	erin.toast(t, "Frank declined the call.")
	erin.screen(t, "main")
	frank.run(t, `window.denyMedia = false`)

	// The connection drops mid-call: both say so, and it comes back.
	erin.click(t, `#contact-list li[data-user="frank"] .call-btn.audio`)
	frank.click(t, "#in-audio")
	erin.screen(t, "incall")
	frank.screen(t, "incall")
	env.SetLink(t, false)
	for _, p := range []*person{erin, frank} {
		browsertest.WaitFor(t, p.ctx, `!document.getElementById('banner').hidden && document.getElementById('banner').textContent.includes('Reconnecting')`, 40*time.Second)
	}
	env.SetLink(t, true)
	for _, p := range []*person{erin, frank} {
		browsertest.WaitFor(t, p.ctx, `document.getElementById('banner').hidden`, 40*time.Second)
		// Within the reconnect grace the call goes on; past it, it ended with a sentence.
		p.wait(t, `document.body.dataset.screen === 'incall' || [...document.querySelectorAll('.toast')].some((e) => e.textContent.includes('connection was lost'))`)
	}
	if erin.eval(t, `document.body.dataset.screen`) == "incall" {
		erin.click(t, "#c-hangup")
	}
	erin.screen(t, "main")
	frank.screen(t, "main")
	frank.contact(t, "erin", "online")
}

// TestAppDevSignIn: on a server started with --dev anyone signs in with a
// name, and the name becomes the user ID the server accepts.
func TestAppDevSignIn(t *testing.T) {
	env := browsertest.Start(t, func(c *appliance.Config) { c.Dev = true })
	p := openLink(t, env, "zoe", env.BaseURL()+"/", desktop)
	p.wait(t, `!document.getElementById('dev-form').hidden`)
	browsertest.Do(t, p.ctx, chromedp.SendKeys(chromedp.CSS(`#dev-name`), "Zoë Smith"))
	p.wait(t, `document.getElementById('dev-userid').textContent === 'Your user ID: zoe.smith'`)
	browsertest.Do(t, p.ctx, chromedp.KeyEvent("\r"))
	p.screen(t, "main")
	if got := p.eval(t, `document.getElementById('me-name').textContent + '/' + callboxApp.me.userID`); got != "Zoë Smith/zoe.smith" {
		t.Errorf("signed in as %q", got)
	}
	// Someone who has not signed in yet, added by user ID; a bad one refused.
	browsertest.Do(t, p.ctx, chromedp.SendKeys(chromedp.CSS(`#add-id`), "new,person\r"))
	p.toast(t, "is not a user ID")
	p.run(t, `document.getElementById('add-id').value = ''`)
	browsertest.Do(t, p.ctx, chromedp.SendKeys(chromedp.CSS(`#add-id`), "yves@team\r"))
	p.wait(t, `(() => { const li = document.querySelector('#contact-list li[data-user="yves@team"]'); return li && li.textContent.includes('Not signed in yet'); })()`)
	// Rename: everyone sees the new name.
	p.click(t, "#me-name")
	p.run(t, `document.getElementById('rename-input').value = 'Zoë S.'`)
	p.click(t, "#rename-ok")
	p.wait(t, `document.getElementById('me-name').textContent === 'Zoë S.'`)
	// A production server says only that it is not in dev mode.
	env2 := browsertest.Start(t, nil)
	q := openLink(t, env2, "yan", env2.BaseURL()+"/", desktop)
	q.wait(t, `!document.getElementById('need-link').hidden && document.getElementById('dev-form').hidden`)
}
