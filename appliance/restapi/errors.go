package restapi

import (
	"context"
	"errors"
	"fmt"

	"callbox/signaling/call"
	"callbox/signaling/usersig"
	"callbox/store"
)

// Error codes of the envelope (tencent-compat.md §2; the UserSig ones of
// §1 come from package usersig).
const (
	CodeInternal = 101001 // internal error
	CodeBadParam = 101002 // bad parameter: body, field, unknown command
	CodeNoCall   = 101004 // no such call (also a well-formed id that never existed)
	CodeNoRecord = 101050 // no record
	CodeNoSig    = 70002  // Tencent's "UserSig length is 0"
	CodeNotAdmin = 70403  // Tencent's "requires App admin permissions"
	CodeNoApp    = 70020  // sdkappid not found (as usersig.ErrNoApp)
)

// Error is an envelope error: a stable code and a message safe to show.
// The cause, if any, is for the log only.
type Error struct {
	Code int
	Msg  string
	Err  error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s (%d): %v", e.Msg, e.Code, e.Err)
	}
	return fmt.Sprintf("%s (%d)", e.Msg, e.Code)
}

func (e *Error) Unwrap() error { return e.Err }

func badParam(format string, args ...any) *Error {
	return &Error{Code: CodeBadParam, Msg: fmt.Sprintf(format, args...)}
}

// toError maps any handler error to its envelope code, once, here.
func toError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var se *usersig.Error
	if errors.As(err, &se) {
		return &Error{Code: se.Code, Msg: se.Msg, Err: err}
	}
	var bp *BadParamError
	if errors.As(err, &bp) {
		return &Error{Code: CodeBadParam, Msg: bp.Msg}
	}
	if errors.Is(err, ErrUnknownMedia) {
		return &Error{Code: CodeBadParam, Msg: err.Error()}
	}
	var ce *call.Error
	if errors.As(err, &ce) {
		// The engine's refusals are bad parameters to a REST client
		// (busy robot, room in use, self-invite, too many callees), but
		// for "no such call".
		if ce.Code == CodeNoCall {
			return &Error{Code: CodeNoCall, Msg: "no such call"}
		}
		return &Error{Code: CodeBadParam, Msg: ce.Msg, Err: err}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &Error{Code: CodeInternal, Msg: "request cancelled", Err: err}
	}
	if errors.Is(err, store.ErrNotFound) {
		return &Error{Code: CodeNoRecord, Msg: "no record", Err: err}
	}
	return &Error{Code: CodeInternal, Msg: "internal error", Err: err}
}
