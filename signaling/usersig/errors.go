package usersig

import "fmt"

// Error is a UserSig verification failure carrying the code Tencent
// returns for it (spec tencent-compat.md §1), so transports can pass the
// number on unchanged. errors.Is matches any *Error with the same Code,
// so errors.Is(err, ErrExpired) works whatever the message.
type Error struct {
	Code int    // Tencent error code, e.g. 70001
	Msg  string // human text; safe to show to the client
	Err  error  // underlying cause, if any; not meant for clients
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("usersig %d: %s: %v", e.Code, e.Msg, e.Err)
	}
	return fmt.Sprintf("usersig %d: %s", e.Code, e.Msg)
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same Code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t != nil && t.Code == e.Code
}

// Sentinels, one per code of spec §1. Compare with errors.Is.
var (
	ErrExpired      = &Error{Code: 70001, Msg: "UserSig expired"}
	ErrMalformed    = &Error{Code: 70003, Msg: "UserSig cannot be parsed"}
	ErrBadSignature = &Error{Code: 70009, Msg: "UserSig signature does not match"}
	ErrUserMismatch = &Error{Code: 70013, Msg: "UserSig userID does not match"}
	ErrAppMismatch  = &Error{Code: 70014, Msg: "UserSig sdkappid does not match"}
	ErrNoKey        = &Error{Code: 70016, Msg: "no key for this sdkappid"}
	ErrNoApp        = &Error{Code: 70020, Msg: "sdkappid not found"}
)

// fail builds a fresh *Error with the code and base message of sentinel
// plus detail, so callers never mutate or share the sentinels.
func fail(sentinel *Error, detail string, cause error) *Error {
	msg := sentinel.Msg
	if detail != "" {
		msg += ": " + detail
	}
	return &Error{Code: sentinel.Code, Msg: msg, Err: cause}
}
