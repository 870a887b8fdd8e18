package browsertest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"callbox/ui/browsertest"
)

// TestSDKRobotCall: a call placed with REST start_call_by_robot rings the
// browser SDK in Chromium; the page accepts, and the robot's video (the
// built-in 320x240 test pattern) plays in it, with its audio track; the
// call's end through REST end_call reaches the page.
func TestSDKRobotCall(t *testing.T) {
	env := browsertest.Start(t, nil)
	jack := login(t, env, "jack", true)
	jack.waitEvent(t, "sdkReady", "")

	// The REST client is the test process, on the host (the browser's
	// name for the server resolves only in its namespace).
	port := env.BaseURL()[strings.LastIndex(env.BaseURL(), ":")+1:]
	q := fmt.Sprintf("sdkappid=%d&identifier=administrator&usersig=%s&random=7&contenttype=json",
		env.App().SDKAppID, url.QueryEscape(env.Sig("administrator")))
	rest := func(cmd, body string) json.RawMessage {
		t.Helper()
		resp, err := http.Post(fmt.Sprintf("http://%s:%s/v4/%s?%s", env.ServerIP(), port, cmd, q), "application/json", bytes.NewReader([]byte(body)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var env struct {
			ErrorCode int
			ErrorInfo string
			Response  json.RawMessage
		}
		if err := json.NewDecoder(resp.Body).Decode(&env); err != nil || env.ErrorCode != 0 {
			t.Fatalf("%s: %d %s %v", cmd, env.ErrorCode, env.ErrorInfo, err)
		}
		return env.Response
	}
	var started struct{ CallId string }
	json.Unmarshal(rest("call_engine_http_srv/start_call_by_robot",
		`{"Robot_Account":"robot","CalleeList_Account":["jack"],"Timeout":30000,"CallInfo":{"MediaType":"Video","RoomId":"robot-room","RoomIdType":2}}`), &started)
	jack.waitEvent(t, "onInvited", `d.sponsor === 'robot' && d.inviteData.callType === 2`)
	jack.waitEvent(t, "onUserEnter", `d.userID === 'robot'`)
	jack.waitEvent(t, "onUserVideoAvailable", `d.userID === 'robot' && d.isVideoAvailable`)
	jack.waitEvent(t, "onUserAudioAvailable", `d.userID === 'robot' && d.isAudioAvailable`)
	v := jack.checkVideoPlays(t)
	if v.Width != 320 {
		t.Errorf("the robot's video is %d px wide, want the clip's 320", v.Width)
	}
	browsertest.Screenshot(t, jack.ctx, "jack-robot-call")

	rest("call_engine_http_srv/end_call", `{"CallId":"`+started.CallId+`"}`)
	jack.waitEvent(t, "onCallEnd", "")
	browsertest.WaitFor(t, jack.ctx, `trtcCalling.getCallStatus() === 'idle'`, 10*time.Second)
}
