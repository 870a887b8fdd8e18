package appliance_test

import (
	"fmt"
	"testing"
	"time"
)

// TestRESTRecordFilter: get_record_by_filter by time range, user, result
// and pages, newest first.
func TestRESTRecordFilter(t *testing.T) {
	s := startServer(t, nil)
	rc := newRESTClient(s)
	before := time.Now().Add(-time.Second).Unix()
	var ids []string
	for i := range 5 {
		var r startResp
		rc.do("call_engine_http_srv/start_call_by_robot", map[string]any{
			"Robot_Account": fmt.Sprintf("robot%d", i), "CalleeList_Account": []string{fmt.Sprintf("u%d", i)},
			"CallInfo": map[string]any{"MediaType": "Audio"},
		}).ok(t, &r)
		ids = append(ids, r.CallID)
	}
	for _, id := range ids[:3] { // ended while ringing: cancel
		rc.do("call_engine_http_srv/end_call", map[string]string{"CallId": id}).ok(t, nil)
	}
	type page struct {
		RecordList []struct {
			CallId, CallResult string
		}
		HasMore    bool
		NextOffset int
	}
	query := func(body map[string]any) page {
		t.Helper()
		var p page
		rc.do("call_record_http_srv/get_record_by_filter", body).ok(t, &p)
		return p
	}
	callIDs := func(p page) []string {
		var out []string
		for _, r := range p.RecordList {
			out = append(out, r.CallId)
		}
		return out
	}
	newestFirst := []string{ids[4], ids[3], ids[2], ids[1], ids[0]}
	after := time.Now().Add(time.Second).Unix()
	for _, tc := range []struct {
		name     string
		body     map[string]any
		want     []string
		more     bool
		nextFrom int
	}{
		{"all", map[string]any{}, newestFirst, false, 0},
		{"in the range", map[string]any{"StartTime": before, "EndTime": after}, newestFirst, false, 0},
		{"before the range", map[string]any{"EndTime": before}, nil, false, 0},
		{"after the range", map[string]any{"StartTime": after}, nil, false, 0},
		{"user", map[string]any{"User_Account": "u1"}, []string{ids[1]}, false, 0},
		{"robot user", map[string]any{"User_Account": "robot3"}, []string{ids[3]}, false, 0},
		{"result cancel", map[string]any{"CallResult": "cancel"}, []string{ids[2], ids[1], ids[0]}, false, 0},
		{"result any case", map[string]any{"CallResult": "CANCEL", "User_Account": "u0"}, []string{ids[0]}, false, 0},
		{"first page", map[string]any{"Limit": 2}, newestFirst[:2], true, 2},
		{"second page", map[string]any{"Limit": 2, "Offset": 2}, newestFirst[2:4], true, 4},
		{"last page", map[string]any{"Limit": 2, "Offset": 4}, newestFirst[4:], false, 0},
		{"past the end", map[string]any{"Offset": 9}, nil, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := query(tc.body)
			got := callIDs(p)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) || p.HasMore != tc.more || p.NextOffset != tc.nextFrom {
				t.Fatalf("got %v more %v next %d, want %v more %v next %d", got, p.HasMore, p.NextOffset, tc.want, tc.more, tc.nextFrom)
			}
		})
	}
}
