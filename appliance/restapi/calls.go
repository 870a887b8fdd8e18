package restapi

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"callbox/signaling/call"
	"callbox/signaling/usersig"
)

// MaxTimeout bounds start_call_by_robot's Timeout (milliseconds).
const MaxTimeout = 24 * time.Hour

// Callee result codes of start_call_by_robot's CallResult.
const (
	CalleeInvited = 0 // ringing, or waiting for the callee to log in
	CalleeBusy    = 1 // in another call: answered line busy at once
)

// startCallReq is start_call_by_robot's body (§2, seed
// start-call-by-robot.txt). RobotMedia is callbox's extension.
type startCallReq struct {
	Robot    string      `json:"Robot_Account"`
	Callees  []string    `json:"CalleeList_Account"`
	Timeout  json.Number `json:"Timeout"` // ms
	UserData string      `json:"UserData"`
	CallInfo struct {
		MediaType  string          `json:"MediaType"`
		RoomID     json.RawMessage `json:"RoomId"`
		RoomIDType json.Number     `json:"RoomIdType"`
	} `json:"CallInfo"`
	OfflinePushInfo json.RawMessage `json:"OfflinePushInfo"` // accepted, ignored: no offline push
	RobotMedia      struct {
		Audio string `json:"Audio"`
		Video string `json:"Video"`
	} `json:"RobotMedia"`
}

type calleeResult struct {
	Callee     string `json:"Callee_Account"`
	ResultCode int    `json:"ResultCode"`
}

type startCallResp struct {
	CallID     string         `json:"CallId"`
	CallResult []calleeResult `json:"CallResult"`
}

// parseStartCall decodes and validates a start_call_by_robot body into
// the engine's Invite (all but SDKAppID) and the robot's media.
func (a *API) parseStartCall(body []byte) (call.Invite, RobotMedia, error) {
	var req startCallReq
	if err := decodeBody(body, &req); err != nil {
		return call.Invite{}, RobotMedia{}, err
	}
	if err := usersig.ValidUserID(req.Robot); err != nil {
		return call.Invite{}, RobotMedia{}, badParam("Robot_Account: %v", err)
	}
	n := len(req.Callees)
	if n == 0 || n > a.cfg.MaxInvitees {
		return call.Invite{}, RobotMedia{}, badParam("CalleeList_Account: want 1 to %d callees, got %d", a.cfg.MaxInvitees, n)
	}
	seen := make(map[string]bool, n)
	callees := make([]string, 0, n)
	for _, u := range req.Callees {
		if err := usersig.ValidUserID(u); err != nil {
			return call.Invite{}, RobotMedia{}, badParam("CalleeList_Account %.40q: %v", u, err)
		}
		if u == req.Robot {
			return call.Invite{}, RobotMedia{}, badParam("CalleeList_Account: the robot %q cannot call itself", u)
		}
		if !seen[u] {
			seen[u] = true
			callees = append(callees, u)
		}
	}
	inv := call.Invite{Caller: req.Robot, Callees: callees, Group: len(callees) > 1, UserData: req.UserData}
	if len(req.UserData) > 4096 {
		return call.Invite{}, RobotMedia{}, badParam("UserData longer than 4096 bytes")
	}
	if req.Timeout != "" {
		ms, err := strconv.ParseInt(string(req.Timeout), 10, 64)
		if err != nil || ms < 0 || ms > MaxTimeout.Milliseconds() {
			return call.Invite{}, RobotMedia{}, badParam("Timeout: want an integer of milliseconds, 0 to %d", MaxTimeout.Milliseconds())
		}
		if ms > 0 { // 0 = the default, as when absent
			d := time.Duration(ms) * time.Millisecond
			inv.Timeout = &d
		}
	}
	switch strings.ToLower(req.CallInfo.MediaType) {
	case "audio":
		inv.Media = call.MediaAudio
	case "video":
		inv.Media = call.MediaVideo
	default:
		return call.Invite{}, RobotMedia{}, badParam("CallInfo.MediaType: want Audio or Video")
	}
	room, typ, err := roomOf(req.CallInfo.RoomID, req.CallInfo.RoomIDType)
	if err != nil {
		return call.Invite{}, RobotMedia{}, err
	}
	inv.RoomID, inv.RoomIDType = room, typ
	media := RobotMedia{Audio: req.RobotMedia.Audio, Video: req.RobotMedia.Video}
	for _, name := range []string{media.Audio, media.Video} {
		if name != "" && !ValidMediaName(name) {
			return call.Invite{}, RobotMedia{}, badParam("RobotMedia: bad file name %.70q", name)
		}
	}
	return inv, media, nil
}

// roomOf reads CallInfo's RoomId and RoomIdType (§2): RoomId is a JSON
// string or number whatever the type says; type 1 (int) requires a
// decimal integer 1..4294967295, type 2 (string) 1-64 printable ASCII
// bytes. No RoomId: the engine picks one (type 1). A RoomIdType missing
// beside a RoomId follows the RoomId's JSON type.
func roomOf(raw json.RawMessage, typRaw json.Number) (string, int, error) {
	typ := 0
	if typRaw != "" {
		t, err := strconv.Atoi(string(typRaw))
		if err != nil || t < 1 || t > 2 {
			return "", 0, badParam("CallInfo.RoomIdType: want 1 (int) or 2 (string)")
		}
		typ = t
	}
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		if typ == 2 {
			return "", 0, badParam("CallInfo.RoomId: RoomIdType 2 needs a RoomId")
		}
		return "", 1, nil
	}
	var room string
	if s[0] == '"' {
		if err := json.Unmarshal(raw, &room); err != nil {
			return "", 0, badParam("CallInfo.RoomId: bad string")
		}
		if typ == 0 {
			typ = 2
		}
	} else {
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return "", 0, badParam("CallInfo.RoomId: want a string or a number")
		}
		room = n.String()
		if typ == 0 {
			typ = 1
		}
	}
	switch typ {
	case 1:
		n, err := strconv.ParseUint(room, 10, 32)
		if err != nil || n == 0 || strconv.FormatUint(n, 10) != room {
			return "", 0, badParam("CallInfo.RoomId %.70q disagrees with RoomIdType 1: want a decimal integer 1..4294967295", room)
		}
	case 2:
		if room == "" || len(room) > 64 || !printable(room) {
			return "", 0, badParam("CallInfo.RoomId: want 1 to 64 printable ASCII bytes")
		}
	}
	return room, typ, nil
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// ValidMediaName reports whether name can name a robot clip: 1 to 64
// bytes of letters, digits, '.', '_' and '-', not starting with '.'
// (a plain file name in the media directory, never a path).
func ValidMediaName(name string) bool {
	if name == "" || len(name) > 64 || name[0] == '.' {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

func (a *API) startCallByRobot(ctx context.Context, app uint32, body []byte) (any, error) {
	inv, media, err := a.parseStartCall(body)
	if err != nil {
		return nil, err
	}
	inv.SDKAppID = app
	rec, err := a.cfg.Calls.StartRobotCall(ctx, inv, media)
	if err != nil {
		return nil, err
	}
	resp := startCallResp{CallID: rec.CallID, CallResult: []calleeResult{}}
	for _, p := range rec.Participants {
		if p.Role != "callee" {
			continue
		}
		code := CalleeInvited
		if p.State == "busy" {
			code = CalleeBusy
		}
		resp.CallResult = append(resp.CallResult, calleeResult{Callee: p.UserID, ResultCode: code})
	}
	return resp, nil
}

// callRef is the body of the commands that name one call.
type callRef struct {
	CallID string `json:"CallId"`
}

// parseCallID reads {"CallId": "<uuid>"}: a malformed id is a bad
// parameter, a well-formed unknown one "no such call" (§2).
func parseCallID(body []byte) (string, error) {
	var req callRef
	if err := decodeBody(body, &req); err != nil {
		return "", err
	}
	if req.CallID == "" {
		return "", badParam("CallId is required")
	}
	if _, err := uuid.Parse(req.CallID); err != nil || len(req.CallID) != 36 {
		return "", badParam("CallId %.40q is not a UUID", req.CallID)
	}
	return strings.ToLower(req.CallID), nil
}

type callInfoResp struct {
	CallInfo callInfo   `json:"CallInfo"`
	UserList []userInfo `json:"UserList"`
}

func (a *API) getCallInfo(_ context.Context, app uint32, body []byte) (any, error) {
	id, err := parseCallID(body)
	if err != nil {
		return nil, err
	}
	rec, ok := a.cfg.Calls.Get(app, id)
	if !ok {
		return nil, &Error{Code: CodeNoCall, Msg: "no such call"}
	}
	info := toRecord(rec)
	return callInfoResp{CallInfo: info.callInfo, UserList: info.UserList}, nil
}

func (a *API) endCall(ctx context.Context, app uint32, body []byte) (any, error) {
	id, err := parseCallID(body)
	if err != nil {
		return nil, err
	}
	return nil, a.cfg.Calls.End(ctx, app, id)
}
