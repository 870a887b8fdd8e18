package restapi

import (
	"strconv"
	"testing"

	"callbox/signaling/call"
	"callbox/signaling/usersig"
)

// FuzzParse feeds any body to every command's parser: none may panic,
// and whatever one accepts must hold what the handlers rely on.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"Robot_Account":"robot","CalleeList_Account":["jack"],"Timeout":300000,"UserData":"userdata-12345687","CallInfo":{"MediaType":"Video","RoomId":"roomid-test","RoomIdType":2},"OfflinePushInfo":{"PushFlag":0,"Title":"t","Desc":"d","Ext":"{\"entity\":{}}"}}`))
	f.Add([]byte(`{"Robot_Account":"r","CalleeList_Account":["a","b","a"],"CallInfo":{"MediaType":"audio","RoomId":42},"RobotMedia":{"Audio":"a.ogg"}}`))
	f.Add([]byte(`{"CallId":"35fd577d-1d10-4201-a40d-6d7316560986"}`))
	f.Add([]byte(`{"StartTime":1,"EndTime":2,"User_Account":"u","CallResult":"NOT_ANSWER","Offset":3,"Limit":4}`))
	f.Add([]byte(`{"CallbackUrl":"http://x/","Token":"t","EventList":["all"],"StatusCallback":true}`))
	f.Add([]byte(`[[[[[[[[[[[[[[[[[[{}]]]]]]]]]]]]]]]]]]`))
	f.Add([]byte("{\"a\":\"\\\"{[\"}"))
	a := New(Config{})
	f.Fuzz(func(t *testing.T, body []byte) {
		if inv, media, err := a.parseStartCall(body); err == nil {
			checkInvite(t, a, inv, media)
		}
		if id, err := parseCallID(body); err == nil && len(id) != 36 {
			t.Fatalf("CallId %q accepted", id)
		}
		if f, offset, limit, err := parseFilter(7, body); err == nil {
			if f.SDKAppID != 7 || offset < 0 || offset > MaxOffset || limit < 1 || limit > MaxPageSize || f.Limit != offset+limit+1 {
				t.Fatalf("filter %+v offset %d limit %d", f, offset, limit)
			}
			if f.User != "" && usersig.ValidUserID(f.User) != nil {
				t.Fatalf("user %q accepted", f.User)
			}
		}
		if u, err := parseSetCallback(body); err == nil && u == (CallbackUpdate{}) {
			t.Fatal("an empty set_callback accepted")
		}
		if err := decodeBody(body, &struct{}{}); err == nil && depth(body) > MaxDepth {
			t.Fatalf("depth %d accepted", depth(body))
		}
	})
}

func checkInvite(t *testing.T, a *API, inv call.Invite, media RobotMedia) {
	t.Helper()
	if usersig.ValidUserID(inv.Caller) != nil {
		t.Fatalf("robot %q accepted", inv.Caller)
	}
	if n := len(inv.Callees); n < 1 || n > a.cfg.MaxInvitees || inv.Group != (n > 1) {
		t.Fatalf("%d callees, group %v", n, inv.Group)
	}
	seen := map[string]bool{}
	for _, u := range inv.Callees {
		if usersig.ValidUserID(u) != nil || u == inv.Caller || seen[u] {
			t.Fatalf("callee %q accepted (robot %q)", u, inv.Caller)
		}
		seen[u] = true
	}
	if inv.Media != call.MediaAudio && inv.Media != call.MediaVideo {
		t.Fatalf("media %d", inv.Media)
	}
	switch inv.RoomIDType {
	case 1:
		if inv.RoomID != "" {
			if n, err := strconv.ParseUint(inv.RoomID, 10, 32); err != nil || n == 0 {
				t.Fatalf("int room %q", inv.RoomID)
			}
		}
	case 2:
		if inv.RoomID == "" || len(inv.RoomID) > 64 || !printable(inv.RoomID) {
			t.Fatalf("string room %q", inv.RoomID)
		}
	default:
		t.Fatalf("room type %d", inv.RoomIDType)
	}
	if inv.Timeout != nil && (*inv.Timeout <= 0 || *inv.Timeout > MaxTimeout) {
		t.Fatalf("timeout %s", *inv.Timeout)
	}
	for _, n := range []string{media.Audio, media.Video} {
		if n != "" && !ValidMediaName(n) {
			t.Fatalf("media name %q", n)
		}
	}
	if len(inv.UserData) > 4096 {
		t.Fatal("long UserData accepted")
	}
}
