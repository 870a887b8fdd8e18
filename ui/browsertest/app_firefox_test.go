package browsertest_test

import (
	"testing"

	"callbox/ui/browsertest"
)

// TestAppFirefox: the web app in Firefox ESR, with a Chromium user on the
// other end. Fern (Firefox) signs in with an invite link, calls Chris
// (Chromium) with video; both videos play; her mute and camera reach him;
// her settings list her devices; he hangs up and her history shows the
// call. Then he calls her for audio and she answers and hangs up.
func TestAppFirefox(t *testing.T) {
	env := browsertest.Start(t, nil)
	fern := joinFirefox(t, env, "fern", "Fern Oxley")
	chris := join(t, env, "chris", "Chris Ray", desktop)
	fern.contact(t, "chris", "online")
	chris.contact(t, "fern", "online")
	fern.fits(t, "button")

	fern.click(t, `#contact-list li[data-user="chris"] .call-btn.video`)
	fern.screen(t, "outgoing")
	chris.screen(t, "incoming")
	chris.click(t, "#in-video")
	fern.screen(t, "incall")
	chris.screen(t, "incall")
	fern.videoPlays(t, "chris")
	chris.videoPlays(t, "fern")
	fern.wait(t, `/^0:0[1-9]$/.test(document.getElementById('call-timer').textContent)`)

	fern.click(t, "#c-mic")
	chris.wait(t, `document.querySelector('.tile[data-user="fern"]').dataset.muted === 'true'`)
	fern.click(t, "#c-mic")
	chris.wait(t, `document.querySelector('.tile[data-user="fern"]').dataset.muted !== 'true'`)
	fern.click(t, "#c-cam")
	chris.wait(t, `document.querySelector('.tile[data-user="fern"]').dataset.video === 'off'`)
	fern.click(t, "#c-cam")
	chris.videoPlays(t, "fern")

	fern.click(t, "#c-settings")
	fern.wait(t, `document.getElementById('settings').open && document.querySelectorAll('#set-cam option').length > 0 && document.querySelectorAll('#set-mic option').length > 0`)
	fern.click(t, `#settings button[value="close"]`)
	fern.wait(t, `!document.getElementById('settings').open`)
	fern.fits(t, "#incall button")
	fern.shot(t, "call")

	chris.click(t, "#c-hangup")
	fern.screen(t, "main")
	chris.screen(t, "main")
	fern.historyRow(t, "Chris Ray", `li.dataset.result === 'normal_end'`)

	chris.click(t, `#contact-list li[data-user="fern"] .call-btn.audio`)
	fern.screen(t, "incoming")
	fern.wait(t, `document.getElementById('in-title').textContent === 'Chris Ray is calling'`)
	fern.click(t, "#in-audio")
	fern.screen(t, "incall")
	chris.screen(t, "incall")
	fern.wait(t, `document.getElementById('call-title').textContent.startsWith('Audio call')`)
	fern.click(t, "#c-hangup")
	fern.screen(t, "main")
	chris.screen(t, "main")
	fern.historyRow(t, "Chris Ray", `li.dataset.result === 'normal_end' && li.querySelector('.meta').textContent.includes('Audio')`)
	if errs := fern.ff.ConsoleErrors(); len(errs) > 0 {
		t.Errorf("fern (firefox): console errors: %q", errs)
	}
}
