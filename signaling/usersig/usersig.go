// Package usersig issues and verifies Tencent TLSSigAPIv2 UserSigs, the
// tokens TRTC/IM clients present to log in (spec tencent-compat.md §1).
//
// It owns the token format, the signature and the order of the checks a
// presented sig must pass, with Tencent's error codes. It must not store
// keys (callers pass a KeyFunc), read the clock (callers pass now), log,
// or decide what a verified user may do.
package usersig

import (
	"bytes"
	"compress/zlib"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"
)

// Bounds on what Verify parses and Issue produces. A sig is a few hundred
// bytes; these only stop hostile input from costing memory or overflowing.
const (
	maxSigLen     = 64 << 10     // base64 characters accepted by Verify
	maxDocLen     = 64 << 10     // decompressed JSON bytes accepted by Verify
	maxUserBufLen = 16 << 10     // userbuf bytes accepted by IssueWithBuf
	maxTime       = 253402300799 // TLS.time limit: 9999-12-31T23:59:59Z
	maxExpire     = 1 << 33      // TLS.expire limit (~272 years), so Expire fits a time.Duration
	maxUserIDLen  = 32
	maxKeyLen     = 256
	version       = "2.0"
)

// Spec §1: standard base64 with '+' -> '*', '/' -> '-', '=' -> '_'.
var (
	tokenEncoding    = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789*-").WithPadding('_')
	tokenEncodingRaw = tokenEncoding.WithPadding(base64.NoPadding)
	strictStd        = base64.StdEncoding.Strict()
)

// Info is what a verified sig says.
type Info struct {
	SDKAppID  uint32
	UserID    string
	Time      time.Time     // issue time (TLS.time), UTC
	Expire    time.Duration // validity (TLS.expire), whole seconds
	ExpiresAt time.Time     // Time + Expire; the sig is valid through this second
	UserBuf   []byte        // TLS.userbuf, nil when the sig has none
}

// KeyFunc returns the key for an app. It returns an error wrapping ErrNoApp
// when the app does not exist and ErrNoKey when it has no usable key; any
// other error is reported as ErrNoKey wrapping it.
type KeyFunc func(sdkappid uint32) (string, error)

// Issue makes a UserSig without a userbuf. expire is the validity duration;
// only whole seconds are used and it must be at least one second.
func Issue(sdkappid uint32, key, userID string, expire time.Duration, now time.Time) (string, error) {
	return issue(sdkappid, key, userID, expire, now, nil)
}

// IssueWithBuf is Issue with a TLS.userbuf (e.g. a PrivateMapKey payload).
// An empty userbuf is the same as none: Tencent's libraries cannot carry
// an empty one either.
func IssueWithBuf(sdkappid uint32, key, userID string, expire time.Duration, now time.Time, userbuf []byte) (string, error) {
	return issue(sdkappid, key, userID, expire, now, userbuf)
}

// token is the JSON document of spec §1, fields in the spec's order.
type token struct {
	Ver        string `json:"TLS.ver"`
	Identifier string `json:"TLS.identifier"`
	SDKAppID   uint32 `json:"TLS.sdkappid"`
	Expire     int64  `json:"TLS.expire"`
	Time       int64  `json:"TLS.time"`
	Sig        string `json:"TLS.sig"`
	UserBuf    string `json:"TLS.userbuf,omitempty"`
}

func issue(sdkappid uint32, key, userID string, expire time.Duration, now time.Time, userbuf []byte) (string, error) {
	if sdkappid == 0 {
		return "", errors.New("issue usersig: sdkappid must not be 0")
	}
	if err := ValidUserID(userID); err != nil {
		return "", fmt.Errorf("issue usersig: %w", err)
	}
	if err := ValidKey(key); err != nil {
		return "", fmt.Errorf("issue usersig: %w", err)
	}
	secs := int64(expire / time.Second)
	if secs < 1 || secs > maxExpire {
		return "", fmt.Errorf("issue usersig: expire %v not within [1s, %ds]", expire, int64(maxExpire))
	}
	t := now.Unix()
	if t <= 0 || t > maxTime {
		return "", fmt.Errorf("issue usersig: issue time %v out of range", now)
	}
	if len(userbuf) > maxUserBufLen {
		return "", fmt.Errorf("issue usersig: userbuf is %d bytes, more than %d", len(userbuf), maxUserBufLen)
	}

	tok := token{Ver: version, Identifier: userID, SDKAppID: sdkappid, Expire: secs, Time: t}
	var buf64 *string
	if len(userbuf) > 0 {
		tok.UserBuf = base64.StdEncoding.EncodeToString(userbuf)
		buf64 = &tok.UserBuf
	}
	tok.Sig = base64.StdEncoding.EncodeToString(sign(key, userID, sdkappid, t, secs, buf64))

	var out bytes.Buffer
	zw, ok := deflaters.Get().(*zlib.Writer)
	if ok {
		zw.Reset(&out)
	} else {
		zw = zlib.NewWriter(&out)
	}
	defer deflaters.Put(zw)
	enc := json.NewEncoder(zw)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(tok); err != nil {
		return "", fmt.Errorf("issue usersig: encode: %w", err)
	}
	if err := zw.Close(); err != nil {
		return "", fmt.Errorf("issue usersig: compress: %w", err)
	}
	return tokenEncoding.EncodeToString(out.Bytes()), nil
}

// deflaters recycles zlib writers, which cost about 800 KiB each.
var deflaters sync.Pool

// sign computes the HMAC of spec §1. The key's bytes are the HMAC key as
// they are (a console key is 64 hex characters and is not hex-decoded).
// userbuf64 is the base64 userbuf as carried in the token, nil for none.
func sign(key, userID string, sdkappid uint32, t, expire int64, userbuf64 *string) []byte {
	h := hmac.New(sha256.New, []byte(key))
	var num [20]byte
	io.WriteString(h, "TLS.identifier:")
	io.WriteString(h, userID)
	io.WriteString(h, "\nTLS.sdkappid:")
	h.Write(strconv.AppendUint(num[:0], uint64(sdkappid), 10))
	io.WriteString(h, "\nTLS.time:")
	h.Write(strconv.AppendInt(num[:0], t, 10))
	io.WriteString(h, "\nTLS.expire:")
	h.Write(strconv.AppendInt(num[:0], expire, 10))
	io.WriteString(h, "\n")
	if userbuf64 != nil {
		io.WriteString(h, "TLS.userbuf:")
		io.WriteString(h, *userbuf64)
		io.WriteString(h, "\n")
	}
	return h.Sum(nil)
}

// Verify checks sig for (sdkappid, userID) at now. The checks run in a
// fixed order, so a sig failing several reports the first: parse (70003),
// sdkappid (70014), userID (70013), key lookup (70016/70020), signature
// (70009), expiry (70001). A sig is expired only when now > time+expire,
// at whole-second resolution (spec §1). Every error is an *Error.
//
// Verify does not check userID against ValidUserID; callers that accept
// user-chosen IDs should.
func Verify(sig string, sdkappid uint32, userID string, keyFor KeyFunc, now time.Time) (Info, error) {
	p, err := parse(sig)
	if err != nil {
		return Info{}, err
	}
	if p.sdkappid != sdkappid {
		return Info{}, fail(ErrAppMismatch, fmt.Sprintf("sig is for %d, not %d", p.sdkappid, sdkappid), nil)
	}
	if p.identifier != userID {
		return Info{}, fail(ErrUserMismatch, "", nil)
	}
	key, err := lookupKey(keyFor, sdkappid)
	if err != nil {
		return Info{}, err
	}
	want := sign(key, p.identifier, p.sdkappid, p.time, p.expire, p.userbuf64)
	if !hmac.Equal(want, p.mac) {
		return Info{}, fail(ErrBadSignature, "", nil)
	}
	info := Info{
		SDKAppID:  p.sdkappid,
		UserID:    p.identifier,
		Time:      time.Unix(p.time, 0).UTC(),
		Expire:    time.Duration(p.expire) * time.Second,
		ExpiresAt: time.Unix(p.time+p.expire, 0).UTC(),
		UserBuf:   p.userbuf,
	}
	if now.Unix() > p.time+p.expire {
		return Info{}, fail(ErrExpired, "valid until "+info.ExpiresAt.Format(time.RFC3339), nil)
	}
	return info, nil
}

// lookupKey calls keyFor and makes sure its failures carry a code.
func lookupKey(keyFor KeyFunc, sdkappid uint32) (string, error) {
	if keyFor == nil {
		return "", fail(ErrNoKey, "no key source", nil)
	}
	key, err := keyFor(sdkappid)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return "", &Error{Code: e.Code, Msg: e.Msg, Err: err}
		}
		return "", fail(ErrNoKey, "", err)
	}
	if key == "" {
		return "", fail(ErrNoKey, "empty key", nil)
	}
	return key, nil
}

// ValidUserID reports whether id is a userID Tencent accepts: 1 to 32
// bytes of printable ASCII other than space and ','.
func ValidUserID(id string) error {
	if id == "" {
		return errors.New("userID is empty")
	}
	if len(id) > maxUserIDLen {
		return fmt.Errorf("userID is %d bytes, more than %d", len(id), maxUserIDLen)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c > '~' || c == ',' {
			return fmt.Errorf("userID has byte %q at offset %d (allowed: printable ASCII except space and ',')", c, i)
		}
	}
	return nil
}

// ValidKey reports whether key can sign UserSigs. The console shows keys
// as 64 hex characters; other keys are accepted if they are 1 to 256 bytes
// of printable ASCII without spaces (a space is most likely a paste error).
func ValidKey(key string) error {
	if key == "" {
		return errors.New("key is empty")
	}
	if len(key) > maxKeyLen {
		return fmt.Errorf("key is %d bytes, more than %d", len(key), maxKeyLen)
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c <= ' ' || c > '~' {
			// Do not echo the byte: this is a secret.
			return fmt.Errorf("key has a byte that is not printable ASCII at offset %d", i)
		}
	}
	return nil
}
