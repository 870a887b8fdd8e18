package restapi

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"callbox/signaling/call/record"
	"callbox/signaling/usersig"
	"callbox/store"
)

// Paging of get_record_by_filter.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
	MaxOffset       = 10000
)

// callInfo is a call as get_call_info and the records show it. Times are
// unix seconds, 0 until reached (as in the callbacks, §3).
type callInfo struct {
	CallID     string          `json:"CallId"`
	Caller     string          `json:"Caller_Account"`
	MediaType  string          `json:"MediaType"` // "Audio" or "Video", as start_call_by_robot takes it
	CallType   string          `json:"CallType"`  // "single" or "group"
	RoomID     json.RawMessage `json:"RoomId"`    // a number for RoomIdType 1
	RoomIDType int             `json:"RoomIdType"`
	State      string          `json:"State"` // ringing, active, ended
	CallResult string          `json:"CallResult"`
	UserData   string          `json:"UserData"`
	StartTs    int64           `json:"StartCallTs"`
	AcceptTs   int64           `json:"AcceptCallTs"`
	EndTs      int64           `json:"EndCallTs"`
}

// userInfo is one participant.
type userInfo struct {
	User        string `json:"User_Account"`
	Role        string `json:"Role"`   // caller or callee
	Status      string `json:"Status"` // invited, ringing, joined, left, rejected, no_answer, busy, cancelled
	JoinTs      int64  `json:"JoinTs"`
	LeaveTs     int64  `json:"LeaveTs"`
	Interrupted bool   `json:"Interrupted"`
}

// callRecord is a record: the call and its users.
type callRecord struct {
	callInfo
	UserList []userInfo `json:"UserList"`
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func toRecord(rec record.Call) callRecord {
	room := json.RawMessage(strconv.Quote(rec.RoomID))
	if rec.RoomIDType == 1 {
		if _, err := strconv.ParseUint(rec.RoomID, 10, 32); err == nil {
			room = json.RawMessage(rec.RoomID)
		}
	}
	media := "Audio"
	if rec.MediaType == "video" {
		media = "Video"
	}
	out := callRecord{callInfo: callInfo{
		CallID: rec.CallID, Caller: rec.Caller, MediaType: media, CallType: rec.CallType,
		RoomID: room, RoomIDType: rec.RoomIDType, State: rec.State, CallResult: rec.Result,
		UserData: rec.UserData, StartTs: unix(rec.StartAt), AcceptTs: unix(rec.AcceptAt), EndTs: unix(rec.EndAt),
	}, UserList: make([]userInfo, 0, len(rec.Participants))}
	for _, p := range rec.Participants {
		out.UserList = append(out.UserList, userInfo{User: p.UserID, Role: p.Role, Status: p.State,
			JoinTs: unix(p.JoinedAt), LeaveTs: unix(p.LeftAt), Interrupted: p.Interrupted})
	}
	return out
}

type recordResp struct {
	Record callRecord `json:"Record"`
}

func (a *API) getRecordByCallID(ctx context.Context, app uint32, body []byte) (any, error) {
	id, err := parseCallID(body)
	if err != nil {
		return nil, err
	}
	rec, err := a.cfg.Records.Record(ctx, app, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &Error{Code: CodeNoRecord, Msg: "no record of that call"}
	}
	if err != nil {
		return nil, err
	}
	return recordResp{toRecord(rec)}, nil
}

// filterReq is get_record_by_filter's body: a time range on the start
// time (unix seconds, StartTime inclusive, EndTime exclusive; 0 = open),
// a user taking part, a CallResult, and paging (newest first).
type filterReq struct {
	StartTime  json.Number `json:"StartTime"`
	EndTime    json.Number `json:"EndTime"`
	User       string      `json:"User_Account"`
	CallResult string      `json:"CallResult"`
	Offset     json.Number `json:"Offset"`
	Limit      json.Number `json:"Limit"`
}

type filterResp struct {
	RecordList []callRecord `json:"RecordList"`
	HasMore    bool         `json:"HasMore"`
	NextOffset int          `json:"NextOffset"`
}

// parseFilter validates a get_record_by_filter body.
func parseFilter(app uint32, body []byte) (store.CallFilter, int, int, error) {
	var req filterReq
	if err := decodeBody(body, &req); err != nil {
		return store.CallFilter{}, 0, 0, err
	}
	f := store.CallFilter{SDKAppID: app}
	num := func(name string, v json.Number, lo, hi, def int64) (int64, error) {
		if v == "" {
			return def, nil
		}
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil || n < lo || n > hi {
			return 0, badParam("%s: want an integer %d to %d", name, lo, hi)
		}
		return n, nil
	}
	const maxTs = 1 << 40
	since, err := num("StartTime", req.StartTime, 0, maxTs, 0)
	if err != nil {
		return f, 0, 0, err
	}
	until, err := num("EndTime", req.EndTime, 0, maxTs, 0)
	if err != nil {
		return f, 0, 0, err
	}
	if since > 0 {
		f.Since = time.Unix(since, 0)
	}
	if until > 0 {
		f.Until = time.Unix(until, 0)
	}
	if since > 0 && until > 0 && until <= since {
		return f, 0, 0, badParam("EndTime must be after StartTime")
	}
	if req.User != "" {
		if err := usersig.ValidUserID(req.User); err != nil {
			return f, 0, 0, badParam("User_Account: %v", err)
		}
		f.User = req.User
	}
	switch r := strings.ToLower(req.CallResult); r {
	case "", record.ResultCancel, record.ResultReject, record.ResultNotAnswer, record.ResultBusy, record.ResultNormalEnd, record.ResultInterrupt:
		f.Result = r
	default:
		return f, 0, 0, badParam("CallResult: want cancel, reject, not_answer, call_busy, normal_end or interrupt")
	}
	offset, err := num("Offset", req.Offset, 0, MaxOffset, 0)
	if err != nil {
		return f, 0, 0, err
	}
	limit, err := num("Limit", req.Limit, 1, MaxPageSize, DefaultPageSize)
	if err != nil {
		return f, 0, 0, err
	}
	f.Limit = int(offset + limit + 1) // one more says whether there is more
	return f, int(offset), int(limit), nil
}

func (a *API) getRecordByFilter(ctx context.Context, app uint32, body []byte) (any, error) {
	f, offset, limit, err := parseFilter(app, body)
	if err != nil {
		return nil, err
	}
	recs, err := a.cfg.Records.Records(ctx, f)
	if err != nil {
		return nil, err
	}
	resp := filterResp{RecordList: []callRecord{}}
	if offset < len(recs) {
		recs = recs[offset:]
	} else {
		recs = nil
	}
	if len(recs) > limit {
		recs, resp.HasMore = recs[:limit], true
		resp.NextOffset = offset + limit
	}
	for _, rec := range recs {
		resp.RecordList = append(resp.RecordList, toRecord(rec))
	}
	return resp, nil
}
