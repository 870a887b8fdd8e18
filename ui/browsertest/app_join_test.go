package browsertest_test

import (
	"testing"

	"callbox/ui/browsertest"
)

// TestAppJoinGroupCall: someone who declined a group call finds it in the
// history while it goes on, joins it from there (the SDK's join), and the
// others see them come in; once the call is over the row offers a call
// back instead.
func TestAppJoinGroupCall(t *testing.T) {
	env := browsertest.Start(t, nil)
	ann := join(t, env, "ann", "Ann Lee", desktop)
	ben := join(t, env, "ben", "Ben Ito", desktop)
	cal := join(t, env, "cal", "Cal Ross", phone)
	ann.contact(t, "ben", "online")
	ann.contact(t, "cal", "online")

	ann.click(t, "#group-btn")
	for _, u := range []string{"ben", "cal"} {
		ann.click(t, `#contact-list li[data-user="`+u+`"] input[type=checkbox]`)
	}
	ann.click(t, "#group-audio")
	ben.screen(t, "incoming")
	ben.click(t, "#in-audio")
	cal.screen(t, "incoming")
	cal.click(t, "#in-reject")
	cal.screen(t, "main")
	for _, p := range []*person{ann, ben} {
		p.screen(t, "incall")
		p.wait(t, `document.getElementById('grid').dataset.count === '2'`)
	}

	cal.click(t, "#tab-history")
	cal.historyRow(t, "Ann Lee", `li.querySelector('.call-btn.join')`)
	cal.fits(t, "#history button")
	cal.shot(t, "history-join")
	cal.click(t, "#history-list li.hist .call-btn.join")
	cal.screen(t, "incall")
	for _, p := range []*person{ann, ben, cal} {
		p.wait(t, `document.getElementById('grid').dataset.count === '3'`)
	}
	browsertest.Screenshot(t, cal.ctx, "cal-joined")

	// The call ends; the row offers a call back, no join.
	for _, p := range []*person{cal, ben} {
		p.click(t, "#c-hangup")
		p.screen(t, "main")
	}
	ann.screen(t, "main")
	cal.click(t, "#tab-history")
	cal.historyRow(t, "Ann Lee", `!li.querySelector('.call-btn.join') && li.querySelector('.call-btn.audio')`)
}
