package restapi

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"callbox/signaling/usersig"
	"callbox/store"
)

// authenticate checks the query of §2 and returns the app:
//
//	?sdkappid=<u32>&identifier=<admin>&usersig=<sig>&random=<u32>&contenttype=json
//
// sdkappid missing, malformed or unknown: 70020. usersig missing: 70002;
// otherwise the UserSig codes of §1 (70001 expired, 70003 unparseable,
// 70009 bad signature, 70013 another user's, 70014 another app's).
// A valid sig of a user who is not an admin of the app: 70403. random
// and contenttype are optional (Tencent's clients always send them) but
// checked when present.
func (a *API) authenticate(r *http.Request) (uint32, error) {
	q := r.URL.Query()
	for _, k := range []string{"sdkappid", "identifier", "usersig", "random", "contenttype"} {
		if len(q[k]) > 1 {
			return 0, badParam("query parameter %s given %d times", k, len(q[k]))
		}
	}
	n, err := strconv.ParseUint(q.Get("sdkappid"), 10, 32)
	if err != nil || n == 0 {
		return 0, &Error{Code: CodeNoApp, Msg: "sdkappid missing or not an unsigned 32-bit number"}
	}
	app := uint32(n)
	if v := q.Get("random"); v != "" {
		if _, err := strconv.ParseUint(v, 10, 32); err != nil {
			return 0, badParam("random must be an unsigned 32-bit number")
		}
	}
	if v := q.Get("contenttype"); v != "" && !strings.EqualFold(v, "json") {
		return 0, badParam("contenttype must be json")
	}
	user := q.Get("identifier")
	if err := usersig.ValidUserID(user); err != nil {
		return 0, &Error{Code: CodeNotAdmin, Msg: "identifier must be an admin account of the app"}
	}
	sig := q.Get("usersig")
	if sig == "" {
		return 0, &Error{Code: CodeNoSig, Msg: "usersig is empty"}
	}
	keyFor := func(id uint32) (string, error) {
		k, err := a.cfg.Apps.Key(id)
		if errors.Is(err, store.ErrNotFound) {
			return "", usersig.ErrNoApp
		}
		return k, err
	}
	if _, err := usersig.Verify(sig, app, user, keyFor, a.cfg.Now()); err != nil {
		return 0, err
	}
	admins, err := a.cfg.Apps.Admins(app)
	if err != nil {
		return 0, err
	}
	if !slices.Contains(admins, user) {
		return 0, &Error{Code: CodeNotAdmin, Msg: "identifier " + strconv.Quote(user) + " is not an admin account of the app"}
	}
	return app, nil
}
