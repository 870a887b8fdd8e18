package signaling

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ProtocolVersion is the version this server speaks (docs/protocol.md §7).
const ProtocolVersion = 1

// Error codes of replies (docs/protocol.md §6). The 700xx codes come from
// usersig.Error and 60001/60002 from the call engine; these are ours.
const (
	CodeBadRequest      = 4000
	CodeUnknownType     = 4001
	CodeNotLoggedIn     = 4002
	CodeTooLarge        = 4003
	CodeInvalidUser     = 4004
	CodeNoCall          = 4005
	CodeTooManyInvitees = 4006
	CodeBusy            = 4007
	CodeVersion         = 4008
	CodeAlreadyLoggedIn = 4009
	CodeNoMedia         = 4010
	CodeRateLimited     = 4011
	CodeSigExpired      = 70001
	CodeSwitchAudio     = 60001
	CodeSwitchVideo     = 60002
	CodeInternal        = 5000
)

// Error is a failed request as the client sees it: a code from
// docs/protocol.md §6 and text safe to show. Internal causes stay in Err
// for the log and never reach the wire.
type Error struct {
	Code int
	Msg  string
	Err  error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("signaling %d: %s: %v", e.Code, e.Msg, e.Err)
	}
	return fmt.Sprintf("signaling %d: %s", e.Code, e.Msg)
}

func (e *Error) Unwrap() error { return e.Err }

func errorf(code int, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// Request is one decoded client message (docs/protocol.md §2).
type Request struct {
	ID   uint64
	Type string
	Data json.RawMessage // nil when absent or null; otherwise a JSON object
}

// DecodeRequest parses one text frame. Every failure is an *Error with
// CodeBadRequest; the returned Request still carries the id when one could
// be read, so the error reply can echo it.
func DecodeRequest(b []byte) (Request, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return Request{}, errorf(CodeBadRequest, "message is not a JSON object")
	}
	// Keys are matched exactly, as a JavaScript client reads them, not
	// case-insensitively as encoding/json would into a struct: "ID" or
	// "Type" is an unknown key, not a second id that overrides "id".
	// A repeated key keeps its last value, as JSON.parse does.
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&raw); err != nil {
		return Request{}, &Error{Code: CodeBadRequest, Msg: "malformed JSON", Err: err}
	}
	if dec.More() {
		return Request{}, errorf(CodeBadRequest, "trailing data after the JSON object")
	}
	var req Request
	// The id stays raw so that only a bare integer is accepted (not "7",
	// 7.0 or 1e3).
	if id := raw["id"]; len(id) > 0 && string(id) != "null" {
		n, err := strconv.ParseUint(string(id), 10, 64)
		if err != nil {
			return Request{}, errorf(CodeBadRequest, "id must be a non-negative integer")
		}
		req.ID = n
	}
	if t := raw["type"]; len(t) > 0 && string(t) != "null" {
		if err := json.Unmarshal(t, &req.Type); err != nil {
			return req, errorf(CodeBadRequest, "type must be a string")
		}
	}
	if req.Type == "" {
		return req, errorf(CodeBadRequest, "missing type")
	}
	data := bytes.TrimSpace(raw["data"])
	switch {
	case len(data) == 0 || bytes.Equal(data, []byte("null")):
	case data[0] == '{':
		req.Data = data
	default:
		return req, errorf(CodeBadRequest, "data must be an object")
	}
	return req, nil
}

// decodeData unmarshals a request's data into v; absent data leaves v zero.
func decodeData(req Request, v any) error {
	if req.Data == nil {
		return nil
	}
	if err := json.Unmarshal(req.Data, v); err != nil {
		return &Error{Code: CodeBadRequest, Msg: "bad data for " + req.Type + ": " + jsonProblem(err), Err: err}
	}
	return nil
}

// jsonProblem turns a json error into short text naming the field.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q must be %s", te.Field, te.Type)
	}
	return "malformed JSON"
}

// Wire shapes of server messages (docs/protocol.md §2).
type replyMsg struct {
	ID    uint64 `json:"id"`
	Type  string `json:"type"` // "reply"
	OK    bool   `json:"ok"`
	Data  any    `json:"data,omitempty"`
	Code  int    `json:"code,omitempty"`
	Error string `json:"error,omitempty"`
}

type eventMsg struct {
	Type   string `json:"type"` // "event"
	Event  string `json:"event"`
	CallID string `json:"callID,omitempty"`
	Data   any    `json:"data"`
}

// maxErrorText bounds an error reply's text. Messages quote client input
// (a callID, a userID); the cap keeps a reply small whatever was sent.
const maxErrorText = 160

func encodeReply(id uint64, data any, err error) []byte {
	m := replyMsg{ID: id, Type: "reply", OK: err == nil, Data: data}
	if err != nil {
		m.Data = nil
		m.Code, m.Error = wireError(err)
		if len(m.Error) > maxErrorText {
			m.Error = strings.ToValidUTF8(m.Error[:maxErrorText], "") + "..."
		}
	}
	b, merr := json.Marshal(m)
	if merr != nil {
		b, _ = json.Marshal(replyMsg{ID: id, Type: "reply", Code: CodeInternal, Error: "internal error"})
	}
	return b
}

func encodeEvent(name, callID string, data any) ([]byte, error) {
	if data == nil {
		data = struct{}{}
	}
	return json.Marshal(eventMsg{Type: "event", Event: name, CallID: callID, Data: data})
}

// Request data shapes (docs/protocol.md §4).

type loginData struct {
	Version  int    `json:"version"`
	SDKAppID uint32 `json:"sdkappid"`
	UserID   string `json:"userID"`
	UserSig  string `json:"userSig"`
	Presence bool   `json:"presence"`
	// Name, when set, becomes the user's display name in the app's
	// directory (§4.1).
	Name string `json:"name"`
	// Status subscribes to onUserStatus (presence with call state and
	// names, §5); it implies Presence.
	Status bool `json:"status"`
	// Resume: this is the same client coming back on a new connection
	// (docs/protocol.md §3.6); a session of the user still registered is
	// taken over, not kicked out, and its call goes on.
	Resume bool `json:"resume"`
}

type renewData struct {
	UserSig string `json:"userSig"`
}

type callData struct {
	UserID   string          `json:"userID"`
	Type     int             `json:"type"`
	Timeout  *float64        `json:"timeout"`
	RoomID   json.RawMessage `json:"roomID"`
	UserData string          `json:"userData"`
}

type groupCallData struct {
	UserIDList []string        `json:"userIDList"`
	Type       int             `json:"type"`
	GroupID    string          `json:"groupID"`
	Timeout    *float64        `json:"timeout"`
	RoomID     json.RawMessage `json:"roomID"`
	UserData   string          `json:"userData"`
	CallID     string          `json:"callID"`
}

type callRef struct {
	CallID string `json:"callID"`
}

// roomIDOf accepts a room id as a JSON string or integer (as the REST API
// does, tencent-compat.md §2). It returns "" when absent.
func roomIDOf(raw json.RawMessage) (string, int, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", 0, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil || s == "" || len(s) > 64 {
			return "", 0, errorf(CodeBadRequest, "roomID must be a non-empty string of at most 64 bytes or an integer")
		}
		return s, 2, nil
	}
	n, err := strconv.ParseUint(string(raw), 10, 32)
	if err != nil {
		return "", 0, errorf(CodeBadRequest, "roomID must be a string or an integer 0..4294967295")
	}
	return strconv.FormatUint(n, 10), 1, nil
}
