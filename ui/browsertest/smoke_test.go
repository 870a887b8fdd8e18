package browsertest_test

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"callbox/ui/browsertest"
)

func TestMain(m *testing.M) { os.Exit(browsertest.Main(m)) }

// aliceAt starts a server and opens alice's browser at path on it.
func aliceAt(t *testing.T, path string) (*browsertest.Env, context.Context) {
	t.Helper()
	env := browsertest.Start(t, nil)
	alice := env.Browser(t, "alice")
	browsertest.Do(t, alice, chromedp.Navigate(env.BaseURL()+path))
	return env, alice
}

// loginJS defines login(sdkappid, userID, userSig) in the page: it opens a
// WebSocket to the page's own /ws, sends a login (docs/protocol.md §4.1)
// and resolves with the reply.
const loginJS = `window.login = (sdkappid, userID, userSig) => new Promise((resolve, reject) => {
	const ws = new WebSocket(location.origin.replace(/^http/, "ws") + "/ws");
	ws.onopen = () => ws.send(JSON.stringify({id: 1, type: "login", data: {version: 1, sdkappid, userID, userSig}}));
	ws.onmessage = (ev) => {
		const m = JSON.parse(ev.data);
		if (m.type === "reply" && m.id === 1) { ws.close(); resolve(m); }
	};
	ws.onclose = (ev) => reject(new Error("closed before the reply: " + ev.code + " " + ev.reason));
})`

type loginReply struct {
	OK   bool `json:"ok"`
	Code int  `json:"code"`
	Data struct {
		UserID     string `json:"userID"`
		SDKAppID   uint32 `json:"sdkappid"`
		ICEServers []struct {
			URLs []string `json:"urls"`
		} `json:"iceServers"`
	} `json:"data"`
}

// A page served by the real server logs in over the server's /ws.
func TestBrowserLogsInOverWebSocket(t *testing.T) {
	t.Parallel()
	env, alice := aliceAt(t, "/")
	browsertest.Eval[chromedp.Void](t, alice, loginJS)
	app := env.App()
	tests := []struct {
		name     string
		user     string
		sig      string
		wantCode int // 0: ok
	}{
		{"own sig", "alice", env.Sig("alice"), 0},
		{"someone else's sig", "alice", env.Sig("bob"), 70013},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := browsertest.Eval[loginReply](t, alice,
				fmt.Sprintf("login(%d, %q, %q)", app.SDKAppID, tc.user, tc.sig))
			if tc.wantCode != 0 {
				if r.OK || r.Code != tc.wantCode {
					t.Fatalf("reply ok=%v code=%d, want code %d", r.OK, r.Code, tc.wantCode)
				}
				return
			}
			if !r.OK || r.Data.UserID != tc.user || r.Data.SDKAppID != app.SDKAppID {
				t.Fatalf("reply %+v, want ok for %s in %d", r, tc.user, app.SDKAppID)
			}
			// The browser is sent TURN on the server's address.
			if len(r.Data.ICEServers) == 0 || !strings.Contains(strings.Join(r.Data.ICEServers[0].URLs, " "), env.ServerIP()) {
				t.Errorf("iceServers %+v do not name %s", r.Data.ICEServers, env.ServerIP())
			}
		})
	}
}

// Two browsers of one test share no storage: each is its own browser
// context.
func TestBrowsersAreIsolated(t *testing.T) {
	t.Parallel()
	env := browsertest.Start(t, nil)
	alice := env.Browser(t, "alice")
	bob := env.Browser(t, "bob")
	for _, tab := range []context.Context{alice, bob} {
		browsertest.Do(t, tab, chromedp.Navigate(env.BaseURL()+"/healthz"))
	}
	browsertest.Eval[chromedp.Void](t, alice, `localStorage.setItem("who", "alice"); document.cookie = "who=alice"`)
	if got := browsertest.Eval[string](t, bob, `localStorage.getItem("who") + " " + document.cookie`); got != "null " {
		t.Errorf("bob sees %q, want nothing of alice's", got)
	}
	if got := browsertest.Eval[string](t, alice, `localStorage.getItem("who") + " " + document.cookie`); got != "alice who=alice" {
		t.Errorf("alice sees %q, want her own storage", got)
	}
}

// ConsoleErrors sees what a page logs as an error, and only that.
func TestConsoleErrors(t *testing.T) {
	t.Parallel()
	_, alice := aliceAt(t, "/healthz")
	browsertest.Eval[chromedp.Void](t, alice, `console.log("fine"); console.error("boom", 42)`)
	errs := browsertest.ConsoleErrors(alice)
	if !slices.Contains(errs, "boom 42") || slices.Contains(errs, "fine") {
		t.Errorf("console errors %q, want \"boom 42\" and no console.log", errs)
	}
}

// gatherJS gets the fake camera and microphone, then gathers the ICE
// candidates of an offer with their tracks, for at most 5 s (a browser
// with only loopback never finishes).
const gatherJS = `(async () => {
	const stream = await navigator.mediaDevices.getUserMedia({audio: true, video: true});
	const video = stream.getVideoTracks().map((t) => t.readyState);
	const pc = new RTCPeerConnection();
	for (const track of stream.getTracks()) pc.addTrack(track, stream);
	const candidates = [];
	const gathered = new Promise((resolve) => {
		pc.onicecandidate = (ev) => ev.candidate ? candidates.push(ev.candidate.candidate) : resolve();
	});
	await pc.setLocalDescription(await pc.createOffer());
	await Promise.race([gathered, new Promise((resolve) => setTimeout(resolve, 5000))]);
	const gathering = pc.iceGatheringState;
	pc.close();
	for (const track of stream.getTracks()) track.stop();
	return {videoTracks: video.length, videoState: video.join(), gathering, candidates};
})()`

type gathered struct {
	VideoTracks int      `json:"videoTracks"`
	VideoState  string   `json:"videoState"`
	Gathering   string   `json:"gathering"`
	Candidates  []string `json:"candidates"`
}

// The browser has a camera and gathers a host candidate on its namespace
// address: what it needs to reach the SFU, which loopback alone does not give.
func TestBrowserGathersCandidateInNamespace(t *testing.T) {
	t.Parallel()
	env, alice := aliceAt(t, "/")
	r := browsertest.Eval[gathered](t, alice, gatherJS)
	if r.VideoTracks != 1 || r.VideoState != "live" {
		t.Errorf("getUserMedia: %d video tracks, state %q; want 1 live", r.VideoTracks, r.VideoState)
	}
	found := false
	for _, c := range r.Candidates {
		// candidate:<foundation> <component> <proto> <priority> <address> <port> typ <type> ...
		f := strings.Fields(c)
		if len(f) >= 8 && f[4] == env.BrowserIP() && f[7] == "host" {
			found = true
		}
	}
	if !found {
		t.Errorf("no host candidate on %s among %q (gathering %s)", env.BrowserIP(), r.Candidates, r.Gathering)
	}
}

// showCameraJS plays the fake camera in a video element on the page.
const showCameraJS = `(async () => {
	const v = document.createElement("video");
	v.id = "camera";
	v.muted = true;
	v.srcObject = await navigator.mediaDevices.getUserMedia({video: {width: 640, height: 360}});
	document.body.append(v);
	await v.play();
})()`

// A screenshot of a page with the camera playing is a PNG with something
// on it.
func TestScreenshot(t *testing.T) {
	t.Parallel()
	_, alice := aliceAt(t, "/")
	browsertest.Eval[chromedp.Void](t, alice, showCameraJS)
	browsertest.WaitFor(t, alice, `document.getElementById("camera").videoWidth > 0`, 5*time.Second)
	path := browsertest.Screenshot(t, alice, "camera")

	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if s := img.Bounds().Size(); s.X < 640 || s.Y < 360 {
		t.Errorf("screenshot %v, smaller than the video", s)
	}
	// The page's text and the camera's test pattern give many colours; a
	// blank or failed render gives a handful.
	colours := map[[4]uint32]bool{}
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y += 4 {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x += 4 {
			r, g, b, a := img.At(x, y).RGBA()
			colours[[4]uint32{r, g, b, a}] = true
		}
	}
	if len(colours) < 16 {
		t.Errorf("screenshot has %d colours: blank?", len(colours))
	}
}
