package browsertest_test

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"callbox/ui/browsertest"
)

// TestAdminAccounts: the console's admins page creates an account (a
// short password refused), a new password for it ends its session in
// the other browser, and deleting it logs that browser out; the last
// admin cannot be deleted.
func TestAdminAccounts(t *testing.T) {
	env, token := startWithConsole(t)
	root := env.Browser(t, "root")
	browsertest.Do(t, root, chromedp.Navigate(env.BaseURL()+"/admin/#setup="+token))
	fill(t, root, "#auth-form", map[string]string{"user": "root", "password": "correct horse battery"})
	browsertest.WaitFor(t, root, `document.querySelector('#apps') !== null`, 10*time.Second)

	browsertest.Do(t, root, chromedp.Navigate(env.BaseURL()+"/admin/#admins"))
	browsertest.WaitFor(t, root, `document.querySelector('#admins tr[data-admin="root"] button.delete') !== null`, 10*time.Second)
	if !browsertest.Eval[bool](t, root, `document.querySelector('#admins tr[data-admin="root"] button.delete').disabled`) {
		t.Error("the last admin's Delete is enabled")
	}
	fill(t, root, "#create-admin", map[string]string{"name": "ops", "password": "short"})
	// The browser's own check (minlength) stops it; the server's message
	// shows for what passes it.
	fill(t, root, "#create-admin", map[string]string{"name": "o p s", "password": "ops password 1"})
	browsertest.WaitFor(t, root, `/invalid admin name/.test(document.querySelector('.card .error').textContent)`, 10*time.Second)
	fill(t, root, "#create-admin", map[string]string{"name": "ops", "password": "ops password 1"})
	browsertest.WaitFor(t, root, `document.querySelector('#admins tr[data-admin="ops"]') !== null`, 10*time.Second)
	browsertest.Screenshot(t, root, "admins")

	ops := env.Browser(t, "ops")
	browsertest.Do(t, ops, chromedp.Navigate(env.BaseURL()+"/admin/"))
	consoleLogin(t, ops, "ops", "ops password 1")

	// root sets ops's password: ops's session ends.
	click(t, root, `#admins tr[data-admin="ops"] button.passwd`)
	fill(t, root, `#admins tr[data-admin="ops"] td.changed form`, map[string]string{"password": "ops password 2"})
	browsertest.WaitFor(t, root, `/1 session\(s\) ended/.test(document.querySelector('#toast').textContent)`, 10*time.Second)
	browsertest.Do(t, ops, chromedp.Navigate(env.BaseURL()+"/admin/#calls"))
	browsertest.WaitFor(t, ops, `document.querySelector('#auth-form') !== null && document.querySelector('#nav').hidden`, 10*time.Second)
	consoleLogin(t, ops, "ops", "ops password 2")

	// root deletes ops, confirmed: ops is out at its next request.
	click(t, root, `#admins tr[data-admin="ops"] button.delete`)
	browsertest.WaitFor(t, root, `document.querySelector('#confirm').open`, 5*time.Second)
	click(t, root, "#confirm-ok")
	browsertest.WaitFor(t, root, `document.querySelector('#admins tr[data-admin="ops"]') === null`, 10*time.Second)
	browsertest.Do(t, ops, chromedp.Navigate(env.BaseURL()+"/admin/#records"))
	browsertest.WaitFor(t, ops, `document.querySelector('#auth-form') !== null`, 10*time.Second)
}
