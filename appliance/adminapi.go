package appliance

import (
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"callbox/appliance/invite"
	"callbox/signaling/call"
	"callbox/signaling/call/record"
	"callbox/signaling/usersig"
	"callbox/store"
)

// The admin API is one set of JSON handlers, each the one implementation
// of an admin action. The control socket serves it as it is (the socket
// is reachable only by the data directory's owner); the console serves it
// under /admin/api/ behind a session and a CSRF token (console.go).
// docs/admin.md §3 lists the routes.

// maxJSONBody bounds every request body of the admin API.
const maxJSONBody = 1 << 16

// controlError is the body of every failed admin API request.
type controlError struct {
	Error string `json:"error"`
	// Code is "not_found", "no_server", "bad_request", "unauthorized",
	// "forbidden", "rate_limited", "gone" or "internal".
	Code string `json:"code"`
}

// routeMux is a ServeMux that remembers its patterns, so that a test can
// check every route (the console's refusals) and none is forgotten.
type routeMux struct {
	*http.ServeMux
	patterns []string
}

func (m *routeMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.HandleFunc(pattern, h)
}

// adminAPI returns the admin API's routes.
func (a *Appliance) adminAPI() *routeMux {
	mux := &routeMux{ServeMux: http.NewServeMux()}
	local := &localAdmin{st: a.store, now: a.cfg.Now}
	handle := func(pattern string, fn func(r *http.Request) (any, error)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			v, err := fn(r)
			if err != nil {
				writeControlError(w, err)
				return
			}
			writeJSON(w, http.StatusOK, v)
		})
	}
	handle("GET /health", func(r *http.Request) (any, error) { return a.health(), nil })
	handle("GET /stats", func(r *http.Request) (any, error) { return a.serverStats(), nil })
	a.appRoutes(handle, local)
	handle("GET /calls", func(r *http.Request) (any, error) { return a.calls.Live(), nil })
	handle("POST /calls/{app}/{id}/end", func(r *http.Request) (any, error) {
		app, err := pathUint32(r, "app")
		if err != nil {
			return nil, err
		}
		return struct{}{}, a.endCall(r.Context(), app, r.PathValue("id"))
	})
	handle("POST /records", func(r *http.Request) (any, error) {
		f, err := decodeFilter(r)
		if err != nil {
			return nil, err
		}
		return local.Records(r.Context(), f)
	})
	mux.HandleFunc("POST /records/csv", func(w http.ResponseWriter, r *http.Request) {
		f, err := decodeFilter(r)
		var recs []record.Call
		if err == nil {
			recs, err = local.Records(r.Context(), f)
		}
		if err != nil {
			writeControlError(w, err)
			return
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="callbox-records.csv"`)
		if err := writeRecordsCSV(w, recs); err != nil {
			a.log.Warn("records csv", "err", err)
		}
	})
	handle("GET /records/{app}/{id}", func(r *http.Request) (any, error) {
		app, err := pathUint32(r, "app")
		if err != nil {
			return nil, err
		}
		var rec record.Call
		err = a.store.View(func(tx *store.Tx) error {
			rec, err = tx.Call(app, r.PathValue("id"))
			return err
		})
		return rec, err
	})
	handle("GET /ice-servers", func(r *http.Request) (any, error) {
		ttl, err := time.ParseDuration(r.URL.Query().Get("ttl"))
		if err != nil {
			return nil, badRequest("bad ttl: %v", err)
		}
		if err := usersig.ValidUserID(r.URL.Query().Get("user")); err != nil {
			return nil, badRequest("bad user: %v", err)
		}
		if a.ice == nil {
			return nil, badRequest("TURN is off on this server (--turn=false)")
		}
		return a.iceServers(r.URL.Query().Get("user"), a.cfg.Now(), ttl), nil
	})
	a.webhookRoutes(handle)
	a.adminAccountRoutes(handle)
	a.restAdminRoutes(handle, local)
	mux.HandleFunc("GET /backup", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", `attachment; filename="callbox-backup.db"`)
		if _, err := local.Backup(r.Context(), w); err != nil {
			a.log.Error("backup over the admin API", "err", err)
		}
	})
	return mux
}

// appRoutes are the apps' routes.
func (a *Appliance) appRoutes(handle func(string, func(*http.Request) (any, error)), local *localAdmin) {
	handle("GET /apps", func(r *http.Request) (any, error) { return local.Apps(r.Context()) })
	handle("POST /apps", func(r *http.Request) (any, error) {
		return local.CreateApp(r.Context(), r.URL.Query().Get("name"))
	})
	handle("GET /apps/{id}", func(r *http.Request) (any, error) {
		id, err := pathAppID(r)
		if err != nil {
			return nil, err
		}
		return local.App(r.Context(), id)
	})
	handle("PATCH /apps/{id}", func(r *http.Request) (any, error) {
		id, err := pathAppID(r)
		if err != nil {
			return nil, err
		}
		return local.RenameApp(r.Context(), id, r.URL.Query().Get("name"))
	})
	handle("POST /apps/{id}/rotate-key", func(r *http.Request) (any, error) {
		id, err := pathAppID(r)
		if err != nil {
			return nil, err
		}
		app, err := local.RotateKey(r.Context(), id)
		if err == nil {
			// Sessions whose sig the old key signed end now, not when
			// their sig would have expired (up to 7 days later).
			n := a.sig.AppKeyChanged(id)
			a.log.Info("app key rotated", "app_id", id, "sessions_closed", n)
		}
		return app, err
	})
	handle("DELETE /apps/{id}", func(r *http.Request) (any, error) {
		id, err := pathAppID(r)
		if err != nil {
			return nil, err
		}
		if err := local.DeleteApp(r.Context(), id); err != nil {
			return nil, err
		}
		a.sig.AppDeleted(id)
		a.hooks.appDeleted(r.Context(), id, a.log)
		a.log.Info("app deleted", "app_id", id)
		return struct{}{}, nil
	})
	handle("GET /apps/{id}/online", func(r *http.Request) (any, error) {
		id, err := pathAppID(r)
		if err != nil {
			return nil, err
		}
		if _, err := local.App(r.Context(), id); err != nil {
			return nil, err
		}
		users := a.calls.OnlineUsers(id)
		if users == nil {
			users = []string{}
		}
		return users, nil
	})
	handle("POST /apps/{id}/usersig", func(r *http.Request) (any, error) {
		id, err := pathAppID(r)
		if err != nil {
			return nil, err
		}
		var req UserSigRequest
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		return local.IssueUserSig(r.Context(), id, req)
	})
	handle("POST /apps/{id}/invite", func(r *http.Request) (any, error) {
		id, err := pathAppID(r)
		if err != nil {
			return nil, err
		}
		var req InviteRequest
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		return a.invite(r.Context(), local, id, req)
	})
}

// InviteRequest asks for an invite link to the web app for User, valid
// Expire seconds, on the server at Base ("" = the server's public URL).
type InviteRequest struct {
	User   string `json:"user"`
	Expire int64  `json:"expire"`
	Base   string `json:"base,omitempty"`
}

// Invite is an invite link and its QR code (an SVG data: URL).
type Invite struct {
	URL       string    `json:"url"`
	QR        string    `json:"qr"`
	ExpiresAt time.Time `json:"expiresAt"`
}

func (a *Appliance) invite(ctx context.Context, local *localAdmin, app uint32, req InviteRequest) (Invite, error) {
	base := a.cfg.publicURL()
	if req.Base != "" {
		var err error
		if base, err = ParsePublicURL(req.Base); err != nil {
			return Invite{}, badRequest("invalid base: %v", err)
		}
	}
	sig, err := local.IssueUserSig(ctx, app, UserSigRequest{User: req.User, Expire: req.Expire})
	if err != nil {
		return Invite{}, err
	}
	link := invite.URL(base, app, req.User, sig.Sig)
	svg, err := invite.SVG(link)
	if err != nil {
		return Invite{}, fmt.Errorf("invite qr code: %w", err)
	}
	return Invite{URL: link, QR: "data:image/svg+xml;base64," + base64.StdEncoding.EncodeToString(svg), ExpiresAt: sig.ExpiresAt}, nil
}

// adminAccountRoutes are the console accounts' routes.
func (a *Appliance) adminAccountRoutes(handle func(string, func(*http.Request) (any, error))) {
	ac := accounts{a.store, a.cfg.Now}
	handle("GET /admins", func(r *http.Request) (any, error) { return ac.list() })
	handle("POST /admins", func(r *http.Request) (any, error) {
		var req struct{ Name, Password string }
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		info, err := ac.create(req.Name, req.Password, nil)
		if err == nil {
			a.log.Info("admin created", "admin", req.Name)
		}
		return info, err
	})
	handle("POST /admins/{name}/password", func(r *http.Request) (any, error) {
		var req struct{ Password string }
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		n, err := ac.setPassword(r.PathValue("name"), req.Password)
		if err == nil {
			a.log.Info("admin password changed", "admin", r.PathValue("name"), "sessions_revoked", n)
		}
		return revoked{n}, err
	})
	handle("DELETE /admins/{name}", func(r *http.Request) (any, error) {
		err := ac.delete(r.PathValue("name"))
		if err == nil {
			a.log.Info("admin deleted", "admin", r.PathValue("name"))
		}
		return struct{}{}, err
	})
}

type revoked struct {
	Revoked int `json:"revoked"`
}

func (a *Appliance) endCall(ctx context.Context, app uint32, callID string) error {
	err := a.calls.End(ctx, app, callID)
	if errors.Is(err, call.ErrNoCall) {
		return fmt.Errorf("call %s: %w", callID, store.ErrNotFound)
	}
	return err
}

// decodeBody reads a JSON request body into v, refusing unknown fields
// and trailing data.
func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxJSONBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("bad request body: %v", err)
	}
	if dec.More() {
		return badRequest("bad request body: data after the JSON object")
	}
	return nil
}

// Record results a filter may ask for.
var recordResults = []string{record.ResultCancel, record.ResultReject, record.ResultNotAnswer,
	record.ResultBusy, record.ResultNormalEnd, record.ResultInterrupt}

func decodeFilter(r *http.Request) (store.CallFilter, error) {
	var f store.CallFilter
	if err := decodeBody(r, &f); err != nil {
		return f, err
	}
	if f.User != "" {
		if err := usersig.ValidUserID(f.User); err != nil {
			return f, badRequest("bad user filter: %v", err)
		}
		if f.SDKAppID == 0 {
			return f, badRequest("a user filter needs an SDKAppID")
		}
	}
	if f.Result != "" && !contains(recordResults, f.Result) {
		return f, badRequest("bad result filter %q: want one of %s", f.Result, strings.Join(recordResults, ", "))
	}
	if f.Limit < 0 {
		return f, badRequest("bad limit %d", f.Limit)
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return f, badRequest("the time range is empty: since must be before until")
	}
	return f, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// writeRecordsCSV writes one row per participant of each record, so a
// spreadsheet holds every timestamp of the detail view.
func writeRecordsCSV(w io.Writer, recs []record.Call) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"SDKAppID", "CallId", "RoomId", "CallType", "MediaType", "Caller", "State", "CallResult",
		"StartAt", "AcceptAt", "EndAt", "UserId", "Role", "ParticipantState", "InvitedAt", "RingingAt", "JoinedAt", "LeftAt", "Interrupted"})
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	for _, rec := range recs {
		for _, p := range rec.Participants {
			cw.Write([]string{strconv.FormatUint(uint64(rec.SDKAppID), 10), csvSafe(rec.CallID), csvSafe(rec.RoomID),
				rec.CallType, rec.MediaType, csvSafe(rec.Caller), rec.State, rec.Result,
				ts(rec.StartAt), ts(rec.AcceptAt), ts(rec.EndAt), csvSafe(p.UserID), p.Role, p.State,
				ts(p.InvitedAt), ts(p.RingingAt), ts(p.JoinedAt), ts(p.LeftAt), strconv.FormatBool(p.Interrupted)})
		}
	}
	cw.Flush()
	return cw.Error()
}

// csvSafe keeps a user-chosen value from being read as a formula by a
// spreadsheet (CSV injection): a leading = + - @ gets a quote.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

type badRequestError struct{ msg string }

func (e badRequestError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return badRequestError{fmt.Sprintf(format, args...)}
}

func pathAppID(r *http.Request) (uint32, error) { return pathUint32(r, "id") }

func pathUint32(r *http.Request, name string) (uint32, error) {
	id, err := strconv.ParseUint(r.PathValue(name), 10, 32)
	if err != nil || id == 0 {
		return 0, badRequest("bad sdkappid %q", r.PathValue(name))
	}
	return uint32(id), nil
}

func writeControlError(w http.ResponseWriter, err error) {
	var br badRequestError
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeJSON(w, http.StatusNotFound, controlError{err.Error(), "not_found"})
	case errors.Is(err, ErrNoServer):
		writeJSON(w, http.StatusConflict, controlError{err.Error(), "no_server"})
	case errors.As(err, &br):
		writeJSON(w, http.StatusBadRequest, controlError{err.Error(), "bad_request"})
	default:
		writeJSON(w, http.StatusInternalServerError, controlError{err.Error(), "internal"})
	}
}

// App names: what `app create --name` accepts.
const maxAppNameLen = 64

func validAppName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > maxAppNameLen || !utf8.ValidString(name) {
		return "", badRequest("invalid app name: want 1 to %d characters", maxAppNameLen)
	}
	if strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", badRequest("invalid app name: control characters")
	}
	return name, nil
}

// UserSigRequest asks for a UserSig valid for Expire seconds.
type UserSigRequest struct {
	User   string `json:"user"`
	Expire int64  `json:"expire"`
}

// UserSig is an issued UserSig.
type UserSig struct {
	SDKAppID  uint32    `json:"sdkAppId"`
	User      string    `json:"user"`
	Sig       string    `json:"sig"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// maxSigExpire is `usersig issue --expire`'s limit.
const maxSigExpire = 100 * 365 * 86400

func (l *localAdmin) IssueUserSig(_ context.Context, app uint32, req UserSigRequest) (UserSig, error) {
	if err := usersig.ValidUserID(req.User); err != nil {
		return UserSig{}, badRequest("invalid user: %v", err)
	}
	if req.Expire <= 0 || req.Expire > maxSigExpire {
		return UserSig{}, badRequest("invalid expire %d: want 1 to %d seconds", req.Expire, maxSigExpire)
	}
	key, err := l.st.AppKey(app)
	if err != nil {
		return UserSig{}, err
	}
	now := l.now()
	ttl := time.Duration(req.Expire) * time.Second
	sig, err := usersig.Issue(app, key, req.User, ttl, now)
	if err != nil {
		return UserSig{}, err
	}
	return UserSig{SDKAppID: app, User: req.User, Sig: sig, ExpiresAt: now.Add(ttl).UTC()}, nil
}
