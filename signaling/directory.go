package signaling

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"callbox/signaling/call/record"
	"callbox/signaling/usersig"
)

// Directory is what the web app reads besides calls (docs/protocol.md
// §4.15–4.18): each app's user directory (the userIDs that signed in, with
// display names), each user's added contacts, and a user's call records.
// appliance implements it over the store. Every write is stored before
// the request that made it is answered.
type Directory interface {
	// SignedIn records that user signed in to app; a non-empty name
	// replaces the display name. It returns the stored name.
	SignedIn(ctx context.Context, app uint32, user, name string, at time.Time) (string, error)
	// Contacts returns the app's directory joined with owner's added
	// contacts, by userID.
	Contacts(ctx context.Context, app uint32, owner string) ([]DirEntry, error)
	// AddContact adds contact to owner's list, refusing with
	// ErrContactsFull when owner already has max other added contacts.
	AddContact(ctx context.Context, app uint32, owner, contact string, max int, at time.Time) (DirEntry, error)
	// History returns user's call records started before before (zero:
	// any), newest first, at most limit.
	History(ctx context.Context, app uint32, user string, before time.Time, limit int) ([]record.Call, error)
}

// DirEntry is one user as a contact list shows it.
type DirEntry struct {
	UserID   string
	Name     string // "" when the user has not chosen one
	SignedIn bool   // in the app's directory: has signed in at least once
	Added    bool   // the owner added this userID
}

// ErrContactsFull is AddContact's refusal when the list is full.
var ErrContactsFull = errors.New("contact list full")

// Limits of the directory requests (docs/protocol.md §4.15–4.18).
const (
	MaxNameLen       = 64   // bytes of a display name
	MaxContacts      = 500  // added contacts per user
	MaxContactsReply = 1000 // users in a contacts reply (about 100 KiB)
	DefaultHistory   = 50   // records per history reply
	MaxHistory       = 200
	directoryTimeout = 5 * time.Second
)

// Presence states of onUserStatus and the contacts reply.
const (
	StatusOnline  = "online"
	StatusOffline = "offline"
	StatusBusy    = "busy" // joined to a live call or being rung: a call now would get busy
)

// validName checks a display name: 1..MaxNameLen bytes of UTF-8 with no
// control or format characters and no leading or trailing space.
func validName(name string) error {
	switch {
	case name == "":
		return errors.New("name is empty")
	case len(name) > MaxNameLen:
		return errors.New("name is longer than " + strconv.Itoa(MaxNameLen) + " bytes")
	case !utf8.ValidString(name):
		return errors.New("name is not UTF-8")
	case strings.TrimSpace(name) != name:
		return errors.New("name starts or ends with a space")
	}
	for _, r := range name {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == unicode.ReplacementChar {
			return errors.New("name has a control character")
		}
	}
	return nil
}

func (s *Server) dirCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), directoryTimeout)
}

func (c *session) directory() (Directory, error) {
	if c.srv.cfg.Directory == nil {
		return nil, errorf(CodeUnknownType, "this server keeps no user directory")
	}
	return c.srv.cfg.Directory, nil
}

// contactMsg is a contact on the wire (§4.13).
type contactMsg struct {
	UserID   string `json:"userID"`
	Name     string `json:"name,omitempty"`
	Status   string `json:"status"`
	SignedIn bool   `json:"signedIn"`
	Added    bool   `json:"added"`
}

func (c *session) contactsReq(Request) (any, error) {
	dir, err := c.directory()
	if err != nil {
		return nil, err
	}
	ctx, cancel := c.srv.dirCtx()
	defer cancel()
	entries, err := dir.Contacts(ctx, c.app, c.user)
	if err != nil {
		return nil, &Error{Code: CodeInternal, Msg: "internal error", Err: err}
	}
	out := make([]contactMsg, 0, len(entries))
	c.srv.regMu.RLock()
	for _, e := range entries {
		if e.UserID == c.user {
			continue
		}
		out = append(out, contactMsg{UserID: e.UserID, Name: e.Name, SignedIn: e.SignedIn, Added: e.Added,
			Status: c.srv.statusRLocked(userKey{c.app, e.UserID})})
	}
	c.srv.regMu.RUnlock()
	rep := map[string]any{"contacts": out}
	if len(out) > MaxContactsReply {
		// A big app (the SDK's users sign in too): the added, then the
		// reachable, come first.
		rank := func(m contactMsg) int {
			r := 0
			if !m.Added {
				r += 2
			}
			if m.Status == StatusOffline {
				r++
			}
			return r
		}
		slices.SortStableFunc(out, func(a, b contactMsg) int { return rank(a) - rank(b) })
		out = out[:MaxContactsReply]
		slices.SortFunc(out, func(a, b contactMsg) int { return strings.Compare(a.UserID, b.UserID) })
		rep["contacts"], rep["truncated"] = out, true
	}
	return rep, nil
}

type addContactData struct {
	UserID string `json:"userID"`
}

func (c *session) addContact(req Request) (any, error) {
	var d addContactData
	if err := decodeData(req, &d); err != nil {
		return nil, err
	}
	if err := usersig.ValidUserID(d.UserID); err != nil {
		return nil, &Error{Code: CodeInvalidUser, Msg: err.Error()}
	}
	if d.UserID == c.user {
		return nil, errorf(CodeInvalidUser, "you cannot add yourself")
	}
	dir, err := c.directory()
	if err != nil {
		return nil, err
	}
	ctx, cancel := c.srv.dirCtx()
	defer cancel()
	e, err := dir.AddContact(ctx, c.app, c.user, d.UserID, MaxContacts, c.srv.cfg.Now())
	if errors.Is(err, ErrContactsFull) {
		return nil, errorf(CodeBadRequest, "your contact list is full (%d added)", MaxContacts)
	}
	if err != nil {
		return nil, &Error{Code: CodeInternal, Msg: "internal error", Err: err}
	}
	c.srv.regMu.RLock()
	st := c.srv.statusRLocked(userKey{c.app, e.UserID})
	c.srv.regMu.RUnlock()
	return contactMsg{UserID: e.UserID, Name: e.Name, SignedIn: e.SignedIn, Added: true, Status: st}, nil
}

type nameData struct {
	Name string `json:"name"`
}

func (c *session) setName(req Request) (any, error) {
	var d nameData
	if err := decodeData(req, &d); err != nil {
		return nil, err
	}
	if err := validName(d.Name); err != nil {
		return nil, &Error{Code: CodeBadRequest, Msg: err.Error()}
	}
	dir, err := c.directory()
	if err != nil {
		return nil, err
	}
	ctx, cancel := c.srv.dirCtx()
	defer cancel()
	name, err := dir.SignedIn(ctx, c.app, c.user, d.Name, c.srv.cfg.Now())
	if err != nil {
		return nil, &Error{Code: CodeInternal, Msg: "internal error", Err: err}
	}
	c.srv.mu.Lock()
	c.name = name
	c.srv.mu.Unlock()
	c.srv.regMu.RLock()
	c.srv.notifyStatusRLocked(c.app, c.user, name)
	c.srv.regMu.RUnlock()
	return map[string]string{"name": name}, nil
}

type historyData struct {
	Before string `json:"before"`
	Limit  int    `json:"limit"`
}

// historyCall is one call record as its participant sees it (§4.16).
type historyCall struct {
	CallID       string        `json:"callID"`
	MediaType    string        `json:"mediaType"`
	Group        bool          `json:"group"`
	Caller       string        `json:"caller"`
	Result       string        `json:"result"`
	StartAt      int64         `json:"startAt"`
	AcceptAt     int64         `json:"acceptAt,omitempty"`
	EndAt        int64         `json:"endAt,omitempty"`
	Duration     int64         `json:"duration"`
	Role         string        `json:"role"`
	State        string        `json:"state"`
	Participants []historyPart `json:"participants"`
}

type historyPart struct {
	UserID string `json:"userID"`
	Role   string `json:"role"`
	State  string `json:"state"`
}

func (c *session) history(req Request) (any, error) {
	var d historyData
	if err := decodeData(req, &d); err != nil {
		return nil, err
	}
	var before time.Time
	if d.Before != "" {
		n, err := strconv.ParseInt(d.Before, 10, 64)
		if err != nil || n <= 0 {
			return nil, errorf(CodeBadRequest, "before must be the next cursor of an earlier history reply")
		}
		before = time.Unix(0, n)
	}
	switch {
	case d.Limit == 0:
		d.Limit = DefaultHistory
	case d.Limit < 0 || d.Limit > MaxHistory:
		return nil, errorf(CodeBadRequest, "limit must be 1 to %d", MaxHistory)
	}
	dir, err := c.directory()
	if err != nil {
		return nil, err
	}
	ctx, cancel := c.srv.dirCtx()
	defer cancel()
	recs, err := dir.History(ctx, c.app, c.user, before, d.Limit+1)
	if err != nil {
		return nil, &Error{Code: CodeInternal, Msg: "internal error", Err: err}
	}
	out := map[string]any{}
	if len(recs) > d.Limit {
		recs = recs[:d.Limit]
		out["next"] = strconv.FormatInt(recs[len(recs)-1].StartAt.UnixNano(), 10)
	}
	calls := make([]historyCall, 0, len(recs))
	for _, r := range recs {
		calls = append(calls, historyOf(r, c.user))
	}
	out["calls"] = calls
	return out, nil
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func historyOf(r record.Call, user string) historyCall {
	h := historyCall{CallID: r.CallID, MediaType: r.MediaType, Group: r.CallType == "group", Caller: r.Caller,
		Result: r.Result, StartAt: r.StartAt.Unix(), AcceptAt: unixOrZero(r.AcceptAt), EndAt: unixOrZero(r.EndAt)}
	if !r.AcceptAt.IsZero() && !r.EndAt.IsZero() {
		h.Duration = int64(r.EndAt.Sub(r.AcceptAt).Round(time.Second) / time.Second)
	}
	for _, p := range r.Participants {
		h.Participants = append(h.Participants, historyPart{UserID: p.UserID, Role: p.Role, State: p.State})
		if p.UserID == user {
			h.Role, h.State = p.Role, p.State
		}
	}
	return h
}

// Presence with call state (§5 onUserStatus). inCall holds the users
// joined to a live call or being rung by one, as the stored transitions
// say: the engine answers a call to either busy. An invitee who is offline
// (invited, not yet rung) stays offline. regMu guards it.

// statusRLocked is a user's presence; called with regMu held.
func (s *Server) statusRLocked(k userKey) string {
	switch {
	case s.inCall[k]:
		return StatusBusy
	case s.users[k] != nil:
		return StatusOnline
	}
	return StatusOffline
}

// notifyStatusRLocked tells the app's status subscribers (login with
// status:true) a user's presence, and its display name when not "".
// Called with regMu held.
func (s *Server) notifyStatusRLocked(app uint32, user, name string) {
	if len(s.watchers[app]) == 0 {
		return
	}
	ev, err := encodeEvent("onUserStatus", "", struct {
		UserID string `json:"userID"`
		Status string `json:"status"`
		Name   string `json:"name,omitempty"`
	}{user, s.statusRLocked(userKey{app, user}), name})
	if err != nil {
		return
	}
	for w := range s.watchers[app] {
		if w.status && w.user != user {
			w.send(ev)
		}
	}
}

// trackCalls updates inCall from a stored transition and tells the
// subscribers of every change. Called under commitMu.
func (s *Server) trackCalls(rec record.Call) {
	s.regMu.Lock()
	defer s.regMu.Unlock()
	for _, p := range rec.Participants {
		k := userKey{rec.SDKAppID, p.UserID}
		joined := rec.State != record.CallEnded && (p.State == record.PartJoined || p.State == record.PartRinging)
		if s.inCall[k] == joined {
			continue
		}
		if joined {
			s.inCall[k] = true
		} else {
			delete(s.inCall, k)
		}
		s.notifyStatusRLocked(rec.SDKAppID, p.UserID, "")
	}
}
