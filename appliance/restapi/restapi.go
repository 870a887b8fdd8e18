// Package restapi is callbox's Tencent-compatible server REST API
// (spec/tencent-compat.md §2): POST /v4/<servicename>/<command> with the
// query authentication (sdkappid, identifier = an admin account of the
// app, usersig, random, contenttype=json), one JSON envelope for every
// answer (HTTP 200, errors in the body) and a unique RequestId, logged
// with the request. docs/rest.md documents every command.
//
// It owns the wire format and its validation only. It reaches the call
// engine, the records, the callback configuration and the apps through
// the small interfaces of Config, which the appliance implements with the
// same call service, store and webhook code that signaling and the CLI
// use. It must not import pion or the SFU (the robot's media lives in
// appliance/robot), nor write to the store itself.
package restapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"callbox/signaling/call"
	"callbox/signaling/call/record"
	"callbox/store"
)

// Calls is the call service as REST sees it (signaling's Calls, with the
// robot behind StartRobotCall).
type Calls interface {
	// StartRobotCall places a call whose caller is the robot inv.Caller,
	// which plays media into the call once a callee accepts. media names
	// the robot's clips ("" = the app's, else the built-in ones); an
	// unknown name is an error before anything is written.
	StartRobotCall(ctx context.Context, inv call.Invite, media RobotMedia) (record.Call, error)
	// Get returns a live call.
	Get(app uint32, callID string) (record.Call, bool)
	// End ends a live call for everyone; call.ErrNoCall when none.
	End(ctx context.Context, app uint32, callID string) error
}

// RobotMedia names the robot's clips for one call (callbox's extension
// of start_call_by_robot); empty fields mean the app's configured clip or
// the built-in one.
type RobotMedia struct {
	Audio string // an Ogg/Opus file in the media directory
	Video string // an IVF/VP8 file in the media directory
}

// ErrUnknownMedia is what StartRobotCall wraps for a clip name it does
// not know (101002, nothing written).
var ErrUnknownMedia = errors.New("unknown robot media file")

// Records reads stored call records.
type Records interface {
	// Record returns one record (live or ended); store.ErrNotFound.
	Record(ctx context.Context, app uint32, callID string) (record.Call, error)
	Records(ctx context.Context, f store.CallFilter) ([]record.Call, error)
}

// Callbacks is the app's call-status callback configuration: the same
// implementation as `callbox webhook set|get|delete`.
type Callbacks interface {
	// SetCallback changes the fields u sets and keeps the others, as the
	// CLI's flags do; it returns the stored configuration. Invalid
	// values are a *BadParamError.
	SetCallback(ctx context.Context, app uint32, u CallbackUpdate) (store.Webhook, error)
	// Callback returns the configuration; store.ErrNotFound when none.
	Callback(ctx context.Context, app uint32) (store.Webhook, error)
	// DeleteCallback removes it; store.ErrNotFound when none.
	DeleteCallback(ctx context.Context, app uint32) error
}

// CallbackUpdate is set_callback's request: nil fields keep their value.
type CallbackUpdate struct {
	URL            *string
	Token          *string
	Events         *string // "all", "none" or a comma-separated list (CLI --events)
	StatusCallback *bool
}

// BadParamError is an invalid value refused by a backend (101002).
type BadParamError struct{ Msg string }

func (e *BadParamError) Error() string { return e.Msg }

// Apps answers the authentication's questions about an app.
type Apps interface {
	// Key is the app's secret key; store.ErrNotFound for no such app.
	Key(app uint32) (string, error)
	// Admins are the app's REST admin accounts (default "administrator").
	Admins(app uint32) ([]string, error)
}

// Config configures the API. Every interface is required.
type Config struct {
	Calls     Calls
	Records   Records
	Callbacks Callbacks
	Apps      Apps
	// MaxInvitees caps CalleeList_Account (the engine's limit).
	MaxInvitees int
	Now         func() time.Time
	Logger      *slog.Logger
}

// API is the http.Handler of /v4/.
type API struct {
	cfg    Config
	log    *slog.Logger
	prefix string // random per process: RequestIds are unique across restarts
	seq    atomic.Uint64
}

// New returns the API.
func New(cfg Config) *API {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxInvitees <= 0 {
		cfg.MaxInvitees = call.DefaultMaxInvitees
	}
	var b [16]byte
	rand.Read(b[:])
	return &API{cfg: cfg, log: cfg.Logger.With("component", "rest"), prefix: "Id-" + hex.EncodeToString(b[:]) + "-O-Seq-"}
}

// envelope is every answer (§2); field order as Tencent's sample.
type envelope struct {
	ErrorCode    int    `json:"ErrorCode"`
	ErrorInfo    string `json:"ErrorInfo"`
	ActionStatus string `json:"ActionStatus"`
	RequestID    string `json:"RequestId"`
	Response     any    `json:"Response,omitempty"`
}

// handler is one command: it decodes body itself (decodeBody) and
// returns the Response data, or an error that writeResult maps.
type handler func(a *API, ctx context.Context, app uint32, body []byte) (any, error)

// command returns the handler of "servicename/command", or nil.
func command(name string) handler {
	switch name {
	case "call_engine_http_srv/start_call_by_robot":
		return (*API).startCallByRobot
	case "call_engine_http_srv/get_call_info":
		return (*API).getCallInfo
	case "call_engine_http_srv/end_call":
		return (*API).endCall
	case "call_record_http_srv/get_record_by_callid":
		return (*API).getRecordByCallID
	case "call_record_http_srv/get_record_by_filter":
		return (*API).getRecordByFilter
	case "call_config/set_callback":
		return (*API).setCallback
	case "call_config/get_callback":
		return (*API).getCallback
	case "call_config/delete_callback":
		return (*API).deleteCallback
	}
	return nil
}

// ServeHTTP answers every request under /v4/ with the envelope.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := a.prefix + strconv.FormatUint(a.seq.Add(1), 10)
	cmd := strings.TrimPrefix(r.URL.Path, "/v4/")
	logCmd := cmd // the client's text: bounded in the log
	if len(logCmd) > 64 {
		logCmd = logCmd[:64] + "..."
	}
	var app uint32
	resp, err := func() (any, error) {
		if r.Method != http.MethodPost {
			return nil, badParam("method %s: the REST API takes POST", r.Method)
		}
		h := command(cmd)
		if h == nil {
			return nil, badParam("unknown command v4/%.64s", cmd)
		}
		var err error
		if app, err = a.authenticate(r); err != nil {
			return nil, err
		}
		body, err := readBody(w, r)
		if err != nil {
			return nil, err
		}
		return h(a, r.Context(), app, body)
	}()
	e := a.envelopeOf(id, resp, err)
	b, merr := json.Marshal(e)
	if merr != nil {
		e = a.envelopeOf(id, nil, merr)
		b, _ = json.Marshal(e)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK) // errors are in the body (§2)
	w.Write(append(b, '\n'))
	level := slog.LevelInfo
	if e.ErrorCode == CodeInternal {
		level = slog.LevelError
	}
	attrs := []any{"request_id", id, "command", logCmd, "app_id", app, "code", e.ErrorCode, "ms", time.Since(start).Milliseconds()}
	if err != nil {
		attrs = append(attrs, "err", err)
	}
	a.log.Log(r.Context(), level, "rest request", attrs...)
}

// envelopeOf turns a handler's outcome into the envelope; internal
// detail stays in the log.
func (a *API) envelopeOf(id string, resp any, err error) envelope {
	if err == nil {
		return envelope{ActionStatus: "OK", RequestID: id, Response: resp}
	}
	e := toError(err)
	return envelope{ErrorCode: e.Code, ErrorInfo: e.Msg, ActionStatus: "FAIL", RequestID: id}
}
