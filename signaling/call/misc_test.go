package call

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestDefaults checks New's defaults: uuid call ids, integer room ids,
// 30 s timeout, 15 s grace.
func TestDefaults(t *testing.T) {
	e := New(Config{})
	e.Online(t0, app, "B")
	tr, err := e.Call(t0, Invite{SDKAppID: app, Caller: "A", Callees: []string{"B"}, Media: MediaAudio})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := uuid.Parse(tr.Call.CallID); err != nil {
		t.Errorf("call id %q: %v", tr.Call.CallID, err)
	}
	if n, err := strconv.ParseUint(tr.Call.RoomID, 10, 32); err != nil || n == 0 || tr.Call.RoomIDType != 1 {
		t.Errorf("room id %q type %d", tr.Call.RoomID, tr.Call.RoomIDType)
	}
	if d, _ := e.NextDeadline(); !d.Equal(t0.Add(30 * s)) {
		t.Errorf("deadline %v", d)
	}
	e.Accept(t0, app, "B", tr.Call.CallID)
	e.Offline(t0.Add(s), app, "B")
	if d, _ := e.NextDeadline(); !d.Equal(t0.Add(16 * s)) {
		t.Errorf("grace deadline %v", d)
	}
	if tr.Call.MediaType != "audio" || MediaType(9).String() != "unknown" {
		t.Errorf("media %q", tr.Call.MediaType)
	}
}

// TestStringRoomAndLive checks a RoomIdType 2 call on the wire and Live's
// order.
func TestStringRoomAndLive(t *testing.T) {
	e := newTestEngine(Config{})
	e.Online(t0, app, "B")
	tr, err := e.Call(t0.Add(s), Invite{SDKAppID: app, Caller: "A", Callees: []string{"B"}, Media: MediaVideo, RoomIDType: 2, RoomID: "r-1"})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(tr.Events[0].Data)
	var inv struct {
		InviteData struct{ RoomID any } `json:"inviteData"`
	}
	json.Unmarshal(raw, &inv)
	if inv.InviteData.RoomID != "r-1" {
		t.Errorf("roomID %v in %s", inv.InviteData.RoomID, raw)
	}
	if _, err := e.Call(t0, Invite{SDKAppID: app, Caller: "C", Callees: []string{"D"}, Media: MediaVideo}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Call(t0, Invite{SDKAppID: app - 1, Caller: "C", Callees: []string{"D"}, Media: MediaVideo}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range e.Live() {
		ids = append(ids, r.CallID)
	}
	if want := []string{"call-3", "call-2", "call-1"}; !slices.Equal(ids, want) {
		t.Errorf("Live order %v, want %v", ids, want)
	}
	// A generator that keeps colliding gives up with ErrRoomInUse.
	e.cfg.NewRoomID = func() string { return "1001" }
	if _, err := e.Call(t0, Invite{SDKAppID: app, Caller: "E", Callees: []string{"F"}, Media: MediaVideo}); !errors.Is(err, ErrRoomInUse) {
		t.Errorf("colliding room generator: %v", err)
	}
}

// TestTombstones: a late answer is ErrNotRinging for a while, then the
// ended call is forgotten entirely (ErrNoCall).
func TestTombstones(t *testing.T) {
	e := newTestEngine(Config{})
	e.Call(t0, Invite{SDKAppID: app, Caller: "A", Callees: []string{"B"}, Media: MediaVideo})
	e.Hangup(t0, app, "A", "call-1")
	if _, err := e.Accept(t0.Add(tombstoneTTL), app, "B", "call-1"); !errors.Is(err, ErrNotRinging) {
		t.Errorf("late accept: %v", err)
	}
	if _, err := e.Accept(t0.Add(tombstoneTTL), app, "X", "call-1"); !errors.Is(err, ErrNoCall) {
		t.Errorf("stranger's accept: %v", err)
	}
	if _, err := e.Reject(t0.Add(tombstoneTTL+time.Second), app, "B", "call-1"); !errors.Is(err, ErrNoCall) {
		t.Errorf("accept after the tombstone: %v", err)
	}
	if len(e.ended) != 0 || len(e.endedFIFO) != 0 {
		t.Errorf("tombstones left: %v", e.ended)
	}
	for _, f := range []func() (Transition, error){
		func() (Transition, error) { return e.Online(t0, app, "a b") },
		func() (Transition, error) { return e.Offline(t0, app, "") },
		func() (Transition, error) { return e.KickedOut(t0, app, "x,y") },
	} {
		if _, err := f(); !errors.Is(err, ErrBadParam) {
			t.Errorf("bad user id: %v", err)
		}
	}
}

// TestRoomMoves checks Transition.Joined and Left, which the signaling
// layer applies (Left first) to the media rooms.
func TestRoomMoves(t *testing.T) {
	e := newTestEngine(Config{})
	e.Online(t0, app, "B")
	check := func(what string, tr Transition, err error, joined, left []string) {
		t.Helper()
		if err != nil || !slices.Equal(tr.Joined, joined) || !slices.Equal(tr.Left, left) {
			t.Errorf("%s: Joined %v Left %v err %v; want %v %v", what, tr.Joined, tr.Left, err, joined, left)
		}
	}
	tr, err := e.Call(t0, Invite{SDKAppID: app, Caller: "A", Callees: []string{"B"}, Media: MediaVideo})
	check("call", tr, err, []string{"A"}, nil)
	tr, err = e.Accept(t0, app, "B", "call-1")
	check("accept", tr, err, []string{"B"}, nil)
	// C calls busy B: C's call ends at once, C never stays in a room.
	tr, err = e.Call(t0, Invite{SDKAppID: app, Caller: "C", Callees: []string{"B"}, Media: MediaVideo})
	check("busy call", tr, err, nil, nil)
	tr, err = e.Call(t0, Invite{SDKAppID: app, Caller: "D", Callees: []string{"A", "B"}, Media: MediaVideo, Group: true})
	check("all-busy group", tr, err, nil, nil)
	tr, err = e.Hangup(t0, app, "B", "call-1")
	check("hangup", tr, err, nil, []string{"B", "A"})
}
