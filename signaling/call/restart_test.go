package call_test

import (
	"testing"
	"time"

	"callbox/signaling/call"
	"callbox/store"
)

func TestInterruptHooks(t *testing.T) {
	start := time.Unix(1700000000, 0)
	rec := store.CallRecord{SDKAppID: 1400000000, CallID: "c1", RoomID: "42", MediaType: "video", CallType: "group",
		Caller: "a", State: store.CallActive, StartAt: start, AcceptAt: start.Add(5 * time.Second),
		Participants: []store.Participant{
			{UserID: "a", Role: "caller", State: store.PartJoined},
			{UserID: "b", Role: "callee", State: store.PartJoined},
			{UserID: "c", Role: "callee", State: store.PartRinging},
			{UserID: "d", Role: "callee", State: store.PartRejected},
			{UserID: "e", Role: "callee", State: store.PartInvited},
		}}
	now := start.Add(time.Minute)
	got := call.InterruptHooks(rec, now)
	want := []string{"caller_call_interrupted", "callee_call_interrupted", "callee_call_canceled", "callee_call_canceled"}
	if len(got) != len(want) {
		t.Fatalf("got %d hooks %+v, want %v", len(got), got, want)
	}
	for i, h := range got {
		b := h.Body
		if h.Command != want[i] || b.CallResult != store.ResultInterrupt || b.EndTs != now.Unix() ||
			b.AcceptTs != start.Unix()+5 || b.TotalNum != 5 || b.RoomId != "42" || b.Role+"_"+b.Event != h.Command {
			t.Errorf("hook %d = %+v, want %s", i, h, want[i])
		}
	}
}
