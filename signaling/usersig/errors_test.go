package usersig_test

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"callbox/signaling/usersig"
)

// doc builds a token JSON with the given raw field values, signed with
// vecKey over the given numbers (so tampering can be tested separately).
func signedDoc(user string, app uint32, tm, expire int64) string {
	return fmt.Sprintf(`{"TLS.ver":"2.0","TLS.identifier":%q,"TLS.sdkappid":%d,"TLS.expire":%d,"TLS.time":%d,"TLS.sig":%q}`,
		user, app, expire, tm, hmacB64(vecKey, content(user, app, tm, expire, nil)))
}

func TestVerifyErrors(t *testing.T) {
	issued := time.Unix(vecTime, 0)
	valid := func(t *testing.T) string {
		t.Helper()
		s, err := usersig.Issue(vecApp, vecKey, vecUser, time.Hour, issued)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}(t)
	bufSig, err := usersig.IssueWithBuf(vecApp, vecKey, vecUser, time.Hour, issued, []byte("room=42"))
	if err != nil {
		t.Fatal(err)
	}
	bufDoc := decodeDoc(t, bufSig)
	plainDoc := decodeDoc(t, valid)
	late := issued.Add(2 * time.Hour)
	errStore := errors.New("store closed")

	var bomb bytes.Buffer
	zw := zlib.NewWriter(&bomb)
	zw.Write(bytes.Repeat([]byte(" "), 1<<20))
	zw.Close()

	// field replaces one field of a valid token's JSON.
	field := func(name, val string) string {
		return encodeDoc(strings.Replace(plainDoc, `"`+name+`":`, `"`+name+`":`+val+`,"x`+name+`":`, 1))
	}
	without := func(name string) string {
		return encodeDoc(strings.Replace(plainDoc, `"`+name+`"`, `"x`+name+`"`, 1))
	}

	tests := []struct {
		name   string
		sig    string
		app    uint32
		user   string
		keyFor usersig.KeyFunc
		now    time.Time
		want   *usersig.Error
	}{
		{name: "ok", sig: valid},
		{name: "ok padded to 60 KiB", sig: encodeDoc(plainDoc + strings.Repeat(" ", 60<<10))},
		{name: "padded past 64 KiB", sig: encodeDoc(plainDoc + strings.Repeat(" ", 64<<10)), want: usersig.ErrMalformed},
		{name: "empty", sig: "", want: usersig.ErrMalformed},
		{name: "bad base64", sig: "eJyrVkrOz!!", want: usersig.ErrMalformed},
		{name: "standard alphabet", sig: strings.NewReplacer("*", "+", "-", "/", "_", "=").Replace(valid) + "+/", want: usersig.ErrMalformed},
		{name: "truncated", sig: valid[:len(valid)-12], want: usersig.ErrMalformed},
		{name: "bit flip in stream", sig: valid[:20] + string(valid[20]^1) + valid[21:], want: usersig.ErrMalformed},
		{name: "not zlib", sig: tokenEnc.EncodeToString([]byte(plainDoc)), want: usersig.ErrMalformed},
		{name: "zlib of non-JSON", sig: encodeDoc("hello, world"), want: usersig.ErrMalformed},
		{name: "zlib bomb", sig: tokenEnc.EncodeToString(bomb.Bytes()), want: usersig.ErrMalformed},
		{name: "too long", sig: strings.Repeat("A", 65<<10), want: usersig.ErrMalformed},
		{name: "trailing garbage", sig: encodeDoc(plainDoc + "{}"), want: usersig.ErrMalformed},
		{name: "JSON array", sig: encodeDoc(`[1,2]`), want: usersig.ErrMalformed},
		{name: "string sdkappid", sig: field("TLS.sdkappid", `"1400000000"`), want: usersig.ErrMalformed},
		{name: "string time", sig: field("TLS.time", `"1700000000"`), want: usersig.ErrMalformed},
		{name: "negative time", sig: field("TLS.time", `-1`), want: usersig.ErrMalformed},
		{name: "negative expire", sig: field("TLS.expire", `-3600`), want: usersig.ErrMalformed},
		{name: "float expire", sig: field("TLS.expire", `3600.0`), want: usersig.ErrMalformed},
		{name: "exponent time", sig: field("TLS.time", `1.7e9`), want: usersig.ErrMalformed},
		{name: "huge expire", sig: field("TLS.expire", `99999999999999999999999`), want: usersig.ErrMalformed},
		{name: "expire past Duration", sig: field("TLS.expire", `9300000000`), want: usersig.ErrMalformed},
		{name: "time past 9999", sig: field("TLS.time", `253402300800`), want: usersig.ErrMalformed},
		{name: "sdkappid past uint32", sig: field("TLS.sdkappid", `4294967296`), want: usersig.ErrMalformed},
		{name: "null sdkappid", sig: field("TLS.sdkappid", `null`), want: usersig.ErrMalformed},
		{name: "numeric identifier", sig: field("TLS.identifier", `12`), want: usersig.ErrMalformed},
		{name: "sig not base64", sig: field("TLS.sig", `"not base64!"`), want: usersig.ErrMalformed},
		{name: "userbuf not base64", sig: encodeDoc(strings.Replace(bufDoc, `"TLS.userbuf":"`, `"TLS.userbuf":"%`, 1)), want: usersig.ErrMalformed},
		{name: "version 1", sig: field("TLS.ver", `"1.0"`), want: usersig.ErrMalformed},
		{name: "no version", sig: without("TLS.ver"), want: usersig.ErrMalformed},
		{name: "no identifier", sig: without("TLS.identifier"), want: usersig.ErrMalformed},
		{name: "no sdkappid", sig: without("TLS.sdkappid"), want: usersig.ErrMalformed},
		{name: "no time", sig: without("TLS.time"), want: usersig.ErrMalformed},
		{name: "no expire", sig: without("TLS.expire"), want: usersig.ErrMalformed},
		{name: "no sig", sig: without("TLS.sig"), want: usersig.ErrMalformed},
		// Order: sdkappid is checked before user, key, signature and expiry.
		{name: "app mismatch", sig: valid, app: 1400000001, want: usersig.ErrAppMismatch},
		{name: "app mismatch beats all", sig: valid, app: 1400000001, user: "other", keyFor: noApp, now: late, want: usersig.ErrAppMismatch},
		{name: "user mismatch", sig: valid, user: "xiaojun2", want: usersig.ErrUserMismatch},
		{name: "user case differs", sig: valid, user: "Xiaojun", want: usersig.ErrUserMismatch},
		{name: "user mismatch beats key", sig: valid, user: "other", keyFor: noApp, now: late, want: usersig.ErrUserMismatch},
		{name: "no app", sig: valid, keyFor: noApp, now: late, want: usersig.ErrNoApp},
		{name: "no key", sig: valid, keyFor: noKey, now: late, want: usersig.ErrNoKey},
		{name: "empty key", sig: valid, keyFor: fixedKey(""), want: usersig.ErrNoKey},
		{name: "lookup failed", sig: valid, keyFor: func(uint32) (string, error) { return "", errStore }, want: usersig.ErrNoKey},
		{name: "nil KeyFunc", sig: valid, keyFor: nil, want: usersig.ErrNoKey},
		{name: "wrong key", sig: valid, keyFor: fixedKey(strings.ToUpper(vecKey)), want: usersig.ErrBadSignature},
		{name: "bad signature beats expiry", sig: valid, keyFor: fixedKey("other"), now: late, want: usersig.ErrBadSignature},
		{name: "expire extended", sig: encodeDoc(strings.Replace(signedDoc(vecUser, vecApp, vecTime, 3600), `"TLS.expire":3600`, `"TLS.expire":7200`, 1)), want: usersig.ErrBadSignature},
		{name: "time moved", sig: encodeDoc(strings.Replace(signedDoc(vecUser, vecApp, vecTime, 3600), `"TLS.time":1700000000`, `"TLS.time":1700000001`, 1)), want: usersig.ErrBadSignature},
		{name: "userbuf stripped", sig: encodeDoc(strings.Replace(bufDoc, `"TLS.userbuf":`, `"xTLS.userbuf":`, 1)), want: usersig.ErrBadSignature},
		{name: "userbuf changed", sig: encodeDoc(strings.Replace(bufDoc, `"TLS.userbuf":"`, `"TLS.userbuf":"AAAA`, 1)), want: usersig.ErrBadSignature},
		{name: "userbuf added", sig: encodeDoc(strings.Replace(plainDoc, `}`, `,"TLS.userbuf":""}`, 1)), want: usersig.ErrBadSignature},
		{name: "sig truncated", sig: field("TLS.sig", `"AAAA"`), want: usersig.ErrBadSignature},
		{name: "expired", sig: valid, now: late, want: usersig.ErrExpired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.app == 0 {
				tc.app = vecApp
			}
			if tc.user == "" {
				tc.user = vecUser
			}
			if tc.now.IsZero() {
				tc.now = issued
			}
			if tc.keyFor == nil && tc.name != "nil KeyFunc" {
				tc.keyFor = fixedKey(vecKey)
			}
			info, err := usersig.Verify(tc.sig, tc.app, tc.user, tc.keyFor, tc.now)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			t.Log(err)
			var e *usersig.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v (%T), want *usersig.Error %d", err, err, tc.want.Code)
			}
			if e.Code != tc.want.Code || !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want code %d", err, tc.want.Code)
			}
			if info.UserID != "" || info.SDKAppID != 0 {
				t.Errorf("failed Verify returned info %+v", info)
			}
			if tc.name == "lookup failed" && !errors.Is(err, errStore) {
				t.Errorf("err = %v does not wrap the lookup error", err)
			}
		})
	}
}

func noApp(app uint32) (string, error) { return "", fmt.Errorf("app %d: %w", app, usersig.ErrNoApp) }
func noKey(app uint32) (string, error) { return "", fmt.Errorf("app %d: %w", app, usersig.ErrNoKey) }

func TestErrorType(t *testing.T) {
	sentinels := []*usersig.Error{usersig.ErrExpired, usersig.ErrMalformed, usersig.ErrBadSignature,
		usersig.ErrUserMismatch, usersig.ErrAppMismatch, usersig.ErrNoKey, usersig.ErrNoApp}
	codes := []int{70001, 70003, 70009, 70013, 70014, 70016, 70020}
	for i, s := range sentinels {
		if s.Code != codes[i] {
			t.Errorf("%v: code %d, want %d", s, s.Code, codes[i])
		}
		e := &usersig.Error{Code: s.Code, Msg: "x", Err: io.ErrUnexpectedEOF}
		wrapped := fmt.Errorf("login: %w", e)
		for j, other := range sentinels {
			if got := errors.Is(wrapped, other); got != (i == j) {
				t.Errorf("errors.Is(code %d, code %d) = %v", s.Code, other.Code, got)
			}
		}
		if !errors.Is(wrapped, io.ErrUnexpectedEOF) {
			t.Errorf("Unwrap lost the cause")
		}
		if msg := e.Error(); !strings.Contains(msg, fmt.Sprint(s.Code)) || !strings.Contains(msg, "unexpected EOF") {
			t.Errorf("Error() = %q lacks code or cause", msg)
		}
	}
	if errors.Is(usersig.ErrExpired, errors.New("usersig 70001: UserSig expired")) {
		t.Errorf("Is matched a non-*Error")
	}
}
