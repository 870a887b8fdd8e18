package appliance

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"callbox/store"
)

// The admin console's side of the admin API (docs/admin.md §2): accounts
// log in for a session, which a cookie names; every admin API request
// under /admin/api/ needs a live session and its CSRF token.

// Console limits.
const (
	// SessionIdle ends a session this long after its last request.
	SessionIdle = 12 * time.Hour
	// SetupLinkTTL is how long the first start's setup link works.
	SetupLinkTTL = time.Hour
	// sessionTouch is how stale a session's Seen may get before a
	// request writes it again: not a commit per request.
	sessionTouch  = time.Minute
	sessionCookie = "callbox_admin"
	csrfHeader    = "X-CSRF-Token"
	// settingSetup holds the setup link's setupToken JSON.
	settingSetup = "admin_setup"
	// argonSlots bounds the password hashes computed at once: each takes
	// 19 MiB and a core for tens of ms.
	argonSlots = 2
)

// console serves the console's login, setup and session routes and
// guards the admin API.
type console struct {
	st      *store.Store
	now     func() time.Time
	log     *slog.Logger
	limiter *loginLimiter
	hashing chan struct{}
}

func newConsole(st *store.Store, now func() time.Time, log *slog.Logger) *console {
	return &console{st: st, now: now, log: log.With("component", "console"),
		limiter: newLoginLimiter(now), hashing: make(chan struct{}, argonSlots)}
}

// routes mounts the console's own routes and the admin API under
// /admin/api/ on mux.
func (c *console) routes(mux *http.ServeMux, api http.Handler) {
	mux.HandleFunc("POST /admin/api/login", c.handleLogin)
	mux.HandleFunc("POST /admin/api/setup", c.handleSetup)
	mux.HandleFunc("GET /admin/api/session", c.handleSession)
	mux.Handle("POST /admin/api/logout", c.guard(http.HandlerFunc(c.handleLogout)))
	guarded := c.guard(http.StripPrefix("/admin/api", api))
	// Per method: a method-less pattern would conflict with "GET /".
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		mux.Handle(m+" /admin/api/", guarded)
	}
}

// apiError writes one of the console's refusals.
func apiError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, controlError{msg, code})
}

// sessionKey is what the store keeps for a cookie's id.
func sessionKey(id string) []byte {
	h := sha256.Sum256([]byte(id))
	return h[:]
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// session returns the request's live session and its store key. An
// expired one is deleted and reported as such.
func (c *console) session(r *http.Request) (store.Session, []byte, error) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil || ck.Value == "" || len(ck.Value) > 100 {
		return store.Session{}, nil, errNoSession
	}
	key := sessionKey(ck.Value)
	var s store.Session
	err = c.st.View(func(tx *store.Tx) error {
		s, err = tx.Session(key)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return s, nil, errNoSession
	}
	if err != nil {
		return s, nil, err
	}
	if c.now().Sub(s.Seen) > SessionIdle {
		c.st.Update(func(tx *store.Tx) error { return tx.DeleteSession(key) })
		return s, nil, errSessionExpired
	}
	return s, key, nil
}

var (
	errNoSession      = errors.New("not logged in")
	errSessionExpired = errors.New("the session has expired: log in again")
)

// guard lets a request through with a live session and its CSRF token
// in the X-CSRF-Token header, on every method: a cross-site page can
// send neither the header (without a CORS preflight we never answer)
// nor, SameSite=Strict, the cookie.
func (c *console) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if !sameOrigin(r) {
			apiError(w, http.StatusForbidden, "forbidden", "cross-origin request refused")
			return
		}
		s, key, err := c.session(r)
		if err != nil {
			if errors.Is(err, errNoSession) || errors.Is(err, errSessionExpired) {
				apiError(w, http.StatusUnauthorized, "unauthorized", err.Error())
			} else {
				c.log.Error("read session", "err", err)
				apiError(w, http.StatusInternalServerError, "internal", "internal error")
			}
			return
		}
		tok := r.Header.Get(csrfHeader)
		if tok == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(s.CSRF)) != 1 {
			apiError(w, http.StatusForbidden, "forbidden", "missing or wrong CSRF token")
			return
		}
		if now := c.now(); now.Sub(s.Seen) > sessionTouch {
			s.Seen = now.UTC()
			if err := c.st.Update(func(tx *store.Tx) error { return tx.PutSession(key, s) }); err != nil {
				c.log.Warn("touch session", "err", err)
			}
		}
		next.ServeHTTP(w, r)
	})
}

// sameOrigin refuses a request whose Origin header names another host:
// browsers send Origin on every POST, and on cross-origin requests.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

// sessionInfo is what the page learns of its session.
type sessionInfo struct {
	Admin string `json:"admin"`
	CSRF  string `json:"csrf"`
}

func (c *console) handleSession(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	s, _, err := c.session(r)
	if err != nil {
		apiError(w, http.StatusUnauthorized, "unauthorized", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, sessionInfo{s.Admin, s.CSRF})
}

// newSession stores a session for admin and sets its cookie.
func (c *console) newSession(w http.ResponseWriter, r *http.Request, admin string) (sessionInfo, error) {
	id := randomToken()
	now := c.now().UTC()
	s := store.Session{Admin: admin, CSRF: randomToken(), Created: now, Seen: now}
	err := c.st.Update(func(tx *store.Tx) error {
		// Old sessions go when someone logs in: no sweeper goroutine.
		if _, err := tx.DeleteSessionsIdle(now.Add(-SessionIdle)); err != nil {
			return err
		}
		return tx.PutSession(sessionKey(id), s)
	})
	if err != nil {
		return sessionInfo{}, err
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/admin/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	return sessionInfo{admin, s.CSRF}, nil
}

// jsonForm reads a console form: JSON only (a cross-site form cannot
// send that without a preflight), same origin, 4 KiB at most.
func jsonForm(w http.ResponseWriter, r *http.Request, v any) bool {
	w.Header().Set("Cache-Control", "no-store")
	if !sameOrigin(r) {
		apiError(w, http.StatusForbidden, "forbidden", "cross-origin request refused")
		return false
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		apiError(w, http.StatusUnsupportedMediaType, "bad_request", "want Content-Type application/json")
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := decodeBody(r, v); err != nil {
		apiError(w, http.StatusBadRequest, "bad_request", err.Error())
		return false
	}
	return true
}

type loginForm struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

func (c *console) handleLogin(w http.ResponseWriter, r *http.Request) {
	var f loginForm
	if !jsonForm(w, r, &f) {
		return
	}
	if len(f.User) > maxAdminNameLen || len(f.Password) > maxPasswordLen {
		apiError(w, http.StatusBadRequest, "bad_request", "user or password too long")
		return
	}
	ip := clientIP(r)
	if wait := c.limiter.blocked(ip, f.User); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+0.999)))
		apiError(w, http.StatusTooManyRequests, "rate_limited",
			fmt.Sprintf("too many failed logins: try again in %d minutes", int(wait.Minutes()+0.999)))
		return
	}
	var a store.Admin
	err := c.st.View(func(tx *store.Tx) error {
		var err error
		a, err = tx.Admin(f.User)
		return err
	})
	hash := a.Hash
	if err != nil {
		hash = dummyHash
	}
	ok := c.checkPassword(r, hash, f.Password)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		c.log.Error("read admin", "err", err)
		apiError(w, http.StatusInternalServerError, "internal", "internal error")
		return
	}
	if err != nil || !ok {
		// Only real accounts are counted per name: made-up names would
		// only fill the table.
		name := f.User
		if err != nil {
			name = ""
		}
		c.limiter.fail(ip, name)
		c.log.Warn("admin login refused", "admin", f.User, "ip", ip)
		apiError(w, http.StatusUnauthorized, "unauthorized", "wrong user name or password")
		return
	}
	c.limiter.succeed(ip, f.User)
	info, err := c.newSession(w, r, a.Name)
	if err != nil {
		c.log.Error("store session", "err", err)
		apiError(w, http.StatusInternalServerError, "internal", "internal error")
		return
	}
	c.log.Info("admin logged in", "admin", a.Name, "ip", ip)
	writeJSON(w, http.StatusOK, info)
}

// checkPassword hashes in one of argonSlots, or gives up with the
// request.
func (c *console) checkPassword(r *http.Request, hash, pw string) bool {
	select {
	case c.hashing <- struct{}{}:
	case <-r.Context().Done():
		return false
	}
	defer func() { <-c.hashing }()
	return checkPassword(hash, pw)
}

func (c *console) handleLogout(w http.ResponseWriter, r *http.Request) {
	if ck, err := r.Cookie(sessionCookie); err == nil {
		if err := c.st.Update(func(tx *store.Tx) error { return tx.DeleteSession(sessionKey(ck.Value)) }); err != nil {
			c.log.Error("delete session", "err", err)
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/admin/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	writeJSON(w, http.StatusOK, struct{}{})
}

// setupToken is the first admin's one-time link, stored by its hash.
type setupToken struct {
	Hash    string    `json:"hash"`
	Expires time.Time `json:"expires"`
}

// setupLink makes a new setup token when there is no admin yet, valid
// for SetupLinkTTL, replacing any earlier one; "" when there are admins.
func (c *console) setupLink() (string, error) {
	tok := randomToken()
	h := sha256.Sum256([]byte(tok))
	made := false
	err := c.st.Update(func(tx *store.Tx) error {
		admins, err := tx.Admins()
		if err != nil || len(admins) > 0 {
			return err
		}
		b, _ := json.Marshal(setupToken{hex.EncodeToString(h[:]), c.now().Add(SetupLinkTTL).UTC()})
		made = true
		return tx.PutSetting(settingSetup, b)
	})
	if err != nil || !made {
		return "", err
	}
	return tok, nil
}

type setupForm struct {
	Token    string `json:"token"`
	User     string `json:"user"`
	Password string `json:"password"`
}

var errSetupUsed = errors.New("this setup link has been used or has expired: run `callbox admin create` on the server, or restart it for a new link")

// handleSetup creates the first admin from the setup link and logs it in.
// The token goes in the same transaction as the account, so a link
// works once even when two requests race.
func (c *console) handleSetup(w http.ResponseWriter, r *http.Request) {
	var f setupForm
	if !jsonForm(w, r, &f) {
		return
	}
	ip := clientIP(r)
	if wait := c.limiter.blocked(ip, ""); wait > 0 {
		apiError(w, http.StatusTooManyRequests, "rate_limited", "too many failed attempts: try again later")
		return
	}
	check := func(tx *store.Tx) error {
		b, err := tx.Setting(settingSetup)
		if errors.Is(err, store.ErrNotFound) {
			return errSetupUsed
		} else if err != nil {
			return err
		}
		var st setupToken
		h := sha256.Sum256([]byte(f.Token))
		if json.Unmarshal(b, &st) != nil || subtle.ConstantTimeCompare([]byte(hex.EncodeToString(h[:])), []byte(st.Hash)) != 1 {
			return errSetupUsed
		}
		if c.now().After(st.Expires) {
			tx.DeleteSetting(settingSetup)
			return errSetupUsed
		}
		if admins, err := tx.Admins(); err != nil || len(admins) > 0 {
			return errors.Join(err, errSetupUsed)
		}
		return tx.DeleteSetting(settingSetup)
	}
	ac := accounts{c.st, c.now}
	_, err := ac.create(f.User, f.Password, check)
	var br badRequestError
	switch {
	case errors.Is(err, errSetupUsed):
		c.limiter.fail(ip, "")
		apiError(w, http.StatusGone, "gone", errSetupUsed.Error())
		return
	case errors.As(err, &br):
		apiError(w, http.StatusBadRequest, "bad_request", br.Error())
		return
	case err != nil:
		c.log.Error("create first admin", "err", err)
		apiError(w, http.StatusInternalServerError, "internal", "internal error")
		return
	}
	c.log.Info("first admin created from the setup link", "admin", f.User, "ip", ip)
	info, err := c.newSession(w, r, f.User)
	if err != nil {
		c.log.Error("store session", "err", err)
		apiError(w, http.StatusInternalServerError, "internal", "internal error")
		return
	}
	writeJSON(w, http.StatusOK, info)
}

// clientIP is the peer's address: callbox faces browsers directly (a
// proxy's X-Forwarded-For is not trusted, so it cannot be forged).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// printSetupLink prints the one-time link to create the first admin when
// there is none, to cfg.Out (never to the log: it is a credential).
func (a *Appliance) printSetupLink(addr net.Addr) error {
	tok, err := a.console.setupLink()
	if err != nil {
		return fmt.Errorf("admin setup link: %w", err)
	}
	if tok == "" {
		return nil
	}
	a.log.Info("no admin yet: setup link printed", "valid_for", SetupLinkTTL)
	fmt.Fprintf(a.cfg.Out, "\ncallbox: no admin account yet. Open this link within %v to create the first one\n"+
		"(it works once; or run `callbox admin create --user NAME`):\n  %s/admin/#setup=%s\n\n",
		SetupLinkTTL, a.consoleBase(addr), tok)
	return nil
}

// consoleBase is how the operator most likely reaches this server: the
// public URL when set, else the TLS domain, an allowed host name, a
// public IP or the listen address (localhost for an unspecified one),
// over https when TLS is on.
func (a *Appliance) consoleBase(addr net.Addr) string {
	if a.cfg.PublicURL != "" {
		return a.cfg.PublicURL
	}
	host, port, _ := net.SplitHostPort(addr.String())
	switch {
	case a.cfg.TLS.Domain != "":
		host = a.cfg.TLS.Domain
	case len(a.cfg.AllowedHosts) > 0:
		host = a.cfg.AllowedHosts[0]
	case len(a.cfg.PublicIPs) > 0:
		host = a.cfg.PublicIPs[0]
	default:
		if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
			host = "localhost"
		}
	}
	scheme := "http"
	if a.certs != nil {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// createFirstAccounts makes what a first start needs: the default app,
// and, while there is no admin, a setup link.
func (a *Appliance) createFirstAccounts(addr net.Addr) error {
	if err := a.createDefaultApp(); err != nil {
		return err
	}
	return a.printSetupLink(addr)
}
