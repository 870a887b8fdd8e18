package call_test

import (
	"testing"
	"time"

	"callbox/signaling/call"
	"callbox/signaling/call/record"
)

func TestInterrupt(t *testing.T) {
	start := time.Unix(1700000000, 0)
	rec := record.Call{SDKAppID: 1400000000, CallID: "c1", RoomID: "42", MediaType: "video", CallType: "group",
		Caller: "a", State: record.CallActive, StartAt: start, AcceptAt: start.Add(5 * time.Second),
		Participants: []record.Participant{
			{UserID: "a", Role: "caller", State: record.PartJoined},
			{UserID: "b", Role: "callee", State: record.PartJoined},
			{UserID: "c", Role: "callee", State: record.PartRinging},
			{UserID: "d", Role: "callee", State: record.PartRejected},
			{UserID: "e", Role: "callee", State: record.PartInvited},
		}}
	now := start.Add(time.Minute)
	tr := call.Interrupt(rec, now)
	got := tr.Hooks
	want := []string{"caller_call_interrupted", "callee_call_interrupted", "callee_call_canceled", "callee_call_canceled"}
	if len(got) != len(want) {
		t.Fatalf("got %d hooks %+v, want %v", len(got), got, want)
	}
	for i, h := range got {
		b := h.Body
		if h.Command != want[i] || b.CallResult != record.ResultInterrupt || b.EndTs != now.Unix() ||
			b.AcceptTs != start.Unix()+5 || b.TotalNum != 5 || b.RoomId != "42" || b.Role+"_"+b.Event != h.Command {
			t.Errorf("hook %d = %+v, want %s", i, h, want[i])
		}
	}
	if tr.Call.State != record.CallEnded || tr.Call.Result != record.ResultInterrupt || !tr.Call.EndAt.Equal(now) {
		t.Errorf("record = %+v, want ended interrupt at %v", tr.Call, now)
	}
	wantStates := []string{record.PartLeft, record.PartLeft, record.PartCancelled, record.PartRejected, record.PartCancelled}
	for i, p := range tr.Call.Participants {
		if p.State != wantStates[i] || (p.State == record.PartLeft) != p.Interrupted {
			t.Errorf("participant %s = %+v, want %s", p.UserID, p, wantStates[i])
		}
	}
	if rec.Participants[0].State != record.PartJoined {
		t.Errorf("Interrupt changed its input: %+v", rec.Participants[0])
	}
}
