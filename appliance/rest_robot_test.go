package appliance_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp/codecs"

	"callbox/appliance"
	"callbox/appliance/robot"
	"callbox/sfu/sfuclient"
	"callbox/signaling/call/record"
	"callbox/store"
)

// hookReceiver is an app backend that records the call-status callbacks
// it gets: command and body.
type hookReceiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []hookEvent
	new chan struct{}
}

type hookEvent struct {
	Command    string
	UserID     string `json:"UserId"`
	Role       string `json:"Role"`
	CallID     string `json:"CallId"`
	CallResult string `json:"CallResult"`
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{new: make(chan struct{}, 1)}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev hookEvent
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &ev)
		ev.Command = r.URL.Query().Get("command")
		h.mu.Lock()
		h.got = append(h.got, ev)
		h.mu.Unlock()
		select {
		case h.new <- struct{}{}:
		default:
		}
		io.WriteString(w, `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// wait waits for a callback of callID with command, and returns it.
func (h *hookReceiver) wait(t *testing.T, ctx context.Context, callID, command string) hookEvent {
	t.Helper()
	for {
		h.mu.Lock()
		for _, ev := range h.got {
			if ev.CallID == callID && ev.Command == command {
				h.mu.Unlock()
				return ev
			}
		}
		h.mu.Unlock()
		select {
		case <-h.new:
		case <-ctx.Done():
			t.Fatalf("no %s callback for %s", command, callID)
		}
	}
}

// roomPeers lists the SFU's rooms and their participants, from the
// control socket's server stats.
func roomPeers(t *testing.T, s *server) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for room, peers := range roomTracks(t, s) {
		for p := range peers {
			out[room] = append(out[room], p)
		}
		slices.Sort(out[room])
	}
	return out
}

// roomTracks lists the kinds of track each participant of each room
// publishes, from the control socket's server stats.
func roomTracks(t *testing.T, s *server) map[string]map[string][]string {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", filepath.Join(s.a.DataDir(), appliance.ControlSocketName))
	}}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get("http://callbox/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		SFU struct {
			Rooms []struct {
				Name  string `json:"name"`
				Peers []struct {
					Participant string `json:"participant"`
					Tracks      []struct {
						Kind string `json:"kind"`
					} `json:"tracks"`
				} `json:"peers"`
			} `json:"rooms"`
		} `json:"sfu"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string][]string{}
	for _, r := range st.SFU.Rooms {
		out[r.Name] = map[string][]string{}
		for _, p := range r.Peers {
			kinds := []string{}
			for _, tr := range p.Tracks {
				kinds = append(kinds, tr.Kind)
			}
			slices.Sort(kinds)
			out[r.Name][p.Participant] = kinds
		}
	}
	return out
}

// TestRESTRobotCall: start_call_by_robot rings a Go client (signaling
// client + pion); it accepts and receives the robot's Opus and VP8 from
// the built-in clips through the SFU: every audio payload one of the
// clip's Opus packets, video VP8 with a keyframe, in order, under 1 %
// lost. get_call_info shows both joined; end_call ends it for everyone
// and the robot leaves the room; the record and the callbacks name the
// robot as caller.
func TestRESTRobotCall(t *testing.T) {
	s := startServer(t, nil)
	ctx := s.ctx
	rc := newRESTClient(s)
	hooks := newHookReceiver(t)
	rc.do("call_config/set_callback", map[string]any{"CallbackUrl": hooks.srv.URL + "/cb"}).ok(t, nil)
	bob := s.login("bob", sfuclient.Config{})

	var started startResp
	rc.do("call_engine_http_srv/start_call_by_robot", map[string]any{
		"Robot_Account": "robot", "CalleeList_Account": []string{"bob"}, "Timeout": 60000,
		"CallInfo": map[string]any{"MediaType": "Video", "RoomId": 7788, "RoomIdType": 1},
	}).ok(t, &started)
	bob.waitEvent(ctx, "onInvited")
	if _, err := bob.sig.Accept(ctx, started.CallID); err != nil {
		t.Fatal(err)
	}

	clips, err := robot.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	opus := map[string]bool{}
	for _, f := range clips.Audio.Frames {
		opus[string(f.Data)] = true
	}
	var keyframe sync.Once
	sawKey := make(chan struct{})
	expect := map[string]func(uint16, []byte) error{
		"audio": func(_ uint16, p []byte) error {
			if len(p) == 0 || !opus[string(p)] {
				return fmt.Errorf("audio payload of %d bytes is none of the clip's Opus packets", len(p))
			}
			return nil
		},
		"video": func(_ uint16, p []byte) error {
			var vp8 codecs.VP8Packet
			if _, err := vp8.Unmarshal(p); err != nil {
				return fmt.Errorf("not a VP8 payload: %w", err)
			}
			if vp8.S == 1 && vp8.PID == 0 && robot.IsVP8Keyframe(vp8.Payload) {
				keyframe.Do(func() { close(sawKey) })
			}
			return nil
		},
	}
	// 2 s of audio (20 ms packets) and 60 video packets: more than a
	// loop of the 3 s clip, so a keyframe passes.
	want := map[string]int{"audio": 100, "video": 60}
	errs := make(chan error, 2)
	var wg sync.WaitGroup
	for range want {
		var r *sfuclient.Remote
		select {
		case r = <-bob.media.Remotes():
		case err := <-bob.media.Errors():
			t.Fatal(err)
		case <-ctx.Done():
			t.Fatal("bob got no tracks from the robot")
		}
		if r.Participant != "robot" || want[r.Kind] == 0 {
			t.Fatalf("track %s/%s", r.Participant, r.Kind)
		}
		chk := bob.media.Check(r, expect[r.Kind])
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- chk.Read(ctx, r.Track, want[r.Kind])
		}()
	}
	for range want {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	select {
	case <-sawKey:
	default:
		t.Fatal("no VP8 keyframe from the robot")
	}

	var info struct {
		CallInfo struct {
			State  string
			RoomId json.Number
		}
		UserList []struct{ User_Account, Status string }
	}
	rc.do("call_engine_http_srv/get_call_info", map[string]string{"CallId": started.CallID}).ok(t, &info)
	if info.CallInfo.State != "active" || info.CallInfo.RoomId != "7788" || len(info.UserList) != 2 ||
		info.UserList[0].Status != "joined" || info.UserList[1].Status != "joined" {
		t.Fatalf("get_call_info %+v", info)
	}
	room := fmt.Sprintf("%d/7788", s.app.SDKAppID)
	if peers := roomPeers(t, s)[room]; !slices.Contains(peers, "robot") || !slices.Contains(peers, "bob") {
		t.Fatalf("room %s has %v", room, peers)
	}

	rc.do("call_engine_http_srv/end_call", map[string]string{"CallId": started.CallID}).ok(t, nil)
	bob.waitEvent(ctx, "onCallEnd")
	rc.do("call_engine_http_srv/get_call_info", map[string]string{"CallId": started.CallID}).fail(t, 101004)
	rc.do("call_engine_http_srv/end_call", map[string]string{"CallId": started.CallID}).fail(t, 101004)
	for peers := roomPeers(t, s)[room]; len(peers) > 0; peers = roomPeers(t, s)[room] {
		select {
		case <-ctx.Done():
			t.Fatalf("room %s still has %v after end_call", room, peers)
		case <-time.After(20 * time.Millisecond): // polling the control socket; no event tells the room emptied
		}
	}

	var rec struct {
		Record struct {
			Caller_Account, CallResult, State string
			UserList                          []struct{ User_Account, Role, Status string }
		}
	}
	rc.do("call_record_http_srv/get_record_by_callid", map[string]string{"CallId": started.CallID}).ok(t, &rec)
	if r := rec.Record; r.Caller_Account != "robot" || r.CallResult != "normal_end" || r.State != "ended" ||
		len(r.UserList) != 2 || r.UserList[0].Role != "caller" || r.UserList[0].User_Account != "robot" {
		t.Fatalf("record %+v", r)
	}
	if ev := hooks.wait(t, ctx, started.CallID, "caller_start_call"); ev.UserID != "robot" || ev.Role != "caller" {
		t.Fatalf("caller_start_call %+v", ev)
	}
	hooks.wait(t, ctx, started.CallID, "callee_accept_call")
	if ev := hooks.wait(t, ctx, started.CallID, "caller_call_end"); ev.UserID != "robot" || ev.CallResult != "normal_end" {
		t.Fatalf("caller_call_end %+v", ev)
	}
	var page struct {
		RecordList []struct{ CallId string }
	}
	rc.do("call_record_http_srv/get_record_by_filter", map[string]any{"User_Account": "robot", "CallResult": "normal_end"}).ok(t, &page)
	if len(page.RecordList) != 1 || page.RecordList[0].CallId != started.CallID {
		t.Fatalf("records of robot %+v", page.RecordList)
	}
}

// TestRESTRobotTimeout: a robot call nobody answers ends at its Timeout
// (milliseconds) with not_answer in the record and the callbacks; the
// robot never joined a room.
func TestRESTRobotTimeout(t *testing.T) {
	s := startServer(t, nil)
	ctx := s.ctx
	rc := newRESTClient(s)
	hooks := newHookReceiver(t)
	rc.do("call_config/set_callback", map[string]any{"CallbackUrl": hooks.srv.URL + "/cb"}).ok(t, nil)
	carol := s.login("carol", sfuclient.Config{})
	var started startResp
	rc.do("call_engine_http_srv/start_call_by_robot", map[string]any{
		"Robot_Account": "robot", "CalleeList_Account": []string{"carol"}, "Timeout": 1200,
		"CallInfo": map[string]any{"MediaType": "audio"},
	}).ok(t, &started)
	carol.waitEvent(ctx, "onInvited")
	carol.waitEvent(ctx, "onCallingTimeout")
	if ev := hooks.wait(t, ctx, started.CallID, "callee_not_answer_call"); ev.UserID != "carol" || ev.CallResult != "not_answer" {
		t.Fatalf("callee_not_answer_call %+v", ev)
	}
	if ev := hooks.wait(t, ctx, started.CallID, "caller_call_missed"); ev.UserID != "robot" || ev.CallResult != "not_answer" {
		t.Fatalf("caller_call_missed %+v", ev)
	}
	var rec struct {
		Record struct{ Caller_Account, CallResult, State string }
	}
	rc.do("call_record_http_srv/get_record_by_callid", map[string]string{"CallId": started.CallID}).ok(t, &rec)
	if rec.Record.CallResult != "not_answer" || rec.Record.Caller_Account != "robot" || rec.Record.State != "ended" {
		t.Fatalf("record %+v", rec.Record)
	}
	if rooms := roomPeers(t, s); len(rooms) != 0 {
		t.Fatalf("rooms %v: the robot joined a call nobody answered", rooms)
	}
	// The robot is free again: a second call from it rings, with a clip
	// of the data directory's robot-media/ named by the request.
	media := filepath.Join(s.a.DataDir(), appliance.RobotMediaDir)
	if err := os.MkdirAll(media, 0o700); err != nil {
		t.Fatal(err)
	}
	clip, _ := os.ReadFile("robot/clips/tone.ogg")
	if err := os.WriteFile(filepath.Join(media, "hello.ogg"), clip, 0o600); err != nil {
		t.Fatal(err)
	}
	rc.do("call_engine_http_srv/start_call_by_robot", map[string]any{
		"Robot_Account": "robot", "CalleeList_Account": []string{"carol"}, "CallInfo": map[string]any{"MediaType": "audio"},
		"RobotMedia": map[string]string{"Audio": "hello.ogg"},
	}).ok(t, &started)
	// A second call while the first rings: the robot is busy.
	r := rc.do("call_engine_http_srv/start_call_by_robot", map[string]any{
		"Robot_Account": "robot", "CalleeList_Account": []string{"dave"}, "CallInfo": map[string]any{"MediaType": "audio"},
	})
	r.fail(t, 101002)
}

// TestRESTRobotGroupCallAndShutdown: a robot's group call plays into the
// room once, for every callee who accepts; stopping the server ends the
// call (normal_end, stored) and the robot with it, and leaves no
// goroutine behind.
func TestRESTRobotGroupCallAndShutdown(t *testing.T) {
	before := runtime.NumGoroutine()
	s := startServer(t, nil)
	ctx := s.ctx
	rc := newRESTClient(s)
	bob := s.login("bob", sfuclient.Config{})
	carol := s.login("carol", sfuclient.Config{})
	var started startResp
	rc.do("call_engine_http_srv/start_call_by_robot", map[string]any{
		"Robot_Account": "robot", "CalleeList_Account": []string{"bob", "carol"},
		"CallInfo": map[string]any{"MediaType": "Video"},
	}).ok(t, &started)
	if len(started.CallResult) != 2 {
		t.Fatalf("CallResult %+v", started.CallResult)
	}
	clips, _ := robot.Builtin()
	opus := map[string]bool{}
	for _, f := range clips.Audio.Frames {
		opus[string(f.Data)] = true
	}
	errs := make(chan error, 2)
	for _, u := range []*user{bob, carol} {
		u.waitEvent(ctx, "onInvited")
		if _, err := u.sig.Accept(ctx, started.CallID); err != nil {
			t.Fatal(err)
		}
		go func() {
			for {
				var r *sfuclient.Remote
				select {
				case r = <-u.media.Remotes():
				case <-ctx.Done():
					errs <- fmt.Errorf("%s: no audio from the robot", u.name)
					return
				}
				if r.Kind != "audio" {
					continue
				}
				chk := u.media.Check(r, func(_ uint16, p []byte) error {
					if !opus[string(p)] {
						return fmt.Errorf("not the clip's Opus")
					}
					return nil
				})
				errs <- chk.Read(ctx, r.Track, 50)
				return
			}
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	room := ""
	for name, peers := range roomPeers(t, s) {
		if slices.Contains(peers, "robot") {
			if room != "" || len(peers) != 3 {
				t.Fatalf("rooms %v: want one room of robot, bob and carol", roomPeers(t, s))
			}
			room = name
		}
	}
	s.close()
	var rec record.Call
	st, err := store.Open(filepath.Join(s.a.DataDir(), store.FileName), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.View(func(tx *store.Tx) (err error) { rec, err = tx.Call(s.app.SDKAppID, started.CallID); return err })
	st.Close()
	if rec.State != record.CallEnded || rec.Result != record.ResultNormalEnd || rec.Caller != "robot" {
		t.Fatalf("record after shutdown: %s %q caller %q", rec.State, rec.Result, rec.Caller)
	}
	bob.leave()
	carol.leave()
	waitGoroutines(t, before)
}

// TestRESTRobotAudioCall: in an audio call the robot publishes its audio
// clip only.
func TestRESTRobotAudioCall(t *testing.T) {
	s := startServer(t, nil)
	ctx := s.ctx
	rc := newRESTClient(s)
	bob := s.login("bob", sfuclient.Config{})
	var started startResp
	rc.do("call_engine_http_srv/start_call_by_robot", map[string]any{
		"Robot_Account": "robot", "CalleeList_Account": []string{"bob"},
		"CallInfo": map[string]any{"MediaType": "Audio", "RoomId": 99, "RoomIdType": 1},
	}).ok(t, &started)
	bob.waitEvent(ctx, "onInvited")
	if _, err := bob.sig.Accept(ctx, started.CallID); err != nil {
		t.Fatal(err)
	}
	var r *sfuclient.Remote
	select {
	case r = <-bob.media.Remotes():
	case <-ctx.Done():
		t.Fatal("no track from the robot")
	}
	if r.Participant != "robot" || r.Kind != "audio" {
		t.Fatalf("track %s/%s", r.Participant, r.Kind)
	}
	if err := bob.media.Check(r, func(uint16, []byte) error { return nil }).Read(ctx, r.Track, 25); err != nil {
		t.Fatal(err)
	}
	room := fmt.Sprintf("%d/99", s.app.SDKAppID)
	if kinds := roomTracks(t, s)[room]["robot"]; fmt.Sprint(kinds) != "[audio]" {
		t.Fatalf("the robot publishes %v in an audio call, want [audio]", kinds)
	}
}
