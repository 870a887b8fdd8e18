package usersig_test

import (
	"bytes"
	"compress/zlib"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"callbox/signaling/usersig"
)

// Spec tencent-compat.md §1 test vector (Tencent's public demo key).
const (
	vecApp    = 1400000000
	vecKey    = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
	vecUser   = "xiaojun"
	vecTime   = 1700000000
	vecExpire = 15552000
	vecSig    = "LvA7d/Iw7gSsnskvVzBDPOCCDbuNCw4GHwTC0bip+B4="
)

var tokenEnc = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789*-").WithPadding('_')

// decodeDoc undoes the token encoding independently of the package.
func decodeDoc(t *testing.T, sig string) string {
	t.Helper()
	raw, err := tokenEnc.DecodeString(sig)
	if err != nil {
		t.Fatalf("base64: %v", err)
	}
	zr, err := zlib.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("zlib: %v", err)
	}
	doc, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("zlib: %v", err)
	}
	return string(doc)
}

// encodeDoc turns any bytes into a token: zlib, then the Tencent base64.
func encodeDoc(doc string) string {
	var b bytes.Buffer
	zw := zlib.NewWriter(&b)
	zw.Write([]byte(doc))
	zw.Close()
	return tokenEnc.EncodeToString(b.Bytes())
}

// hmacB64 computes TLS.sig from the spec's content string, independently of the package.
func hmacB64(key, content string) string {
	h := hmac.New(sha256.New, []byte(key))
	h.Write([]byte(content))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

func content(user string, app uint32, tm, expire int64, userbuf64 *string) string {
	s := fmt.Sprintf("TLS.identifier:%s\nTLS.sdkappid:%d\nTLS.time:%d\nTLS.expire:%d\n", user, app, tm, expire)
	if userbuf64 != nil {
		s += "TLS.userbuf:" + *userbuf64 + "\n"
	}
	return s
}

func fixedKey(key string) usersig.KeyFunc {
	return func(uint32) (string, error) { return key, nil }
}

func TestVector(t *testing.T) {
	if got := hmacB64(vecKey, content(vecUser, vecApp, vecTime, vecExpire, nil)); got != vecSig {
		t.Fatalf("spec content string gives %s, want %s", got, vecSig)
	}
	now := time.Unix(vecTime, 0)
	sig, err := usersig.Issue(vecApp, vecKey, vecUser, vecExpire*time.Second, now)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(sig, "+/=") {
		t.Errorf("token %q uses standard base64 characters", sig)
	}
	// Field order and types exactly as spec §1.
	want := `{"TLS.ver":"2.0","TLS.identifier":"xiaojun","TLS.sdkappid":1400000000,"TLS.expire":15552000,"TLS.time":1700000000,"TLS.sig":"` + vecSig + `"}`
	if doc := strings.TrimSpace(decodeDoc(t, sig)); doc != want {
		t.Fatalf("token JSON\n got %s\nwant %s", doc, want)
	}
	info, err := usersig.Verify(sig, vecApp, vecUser, fixedKey(vecKey), now)
	if err != nil {
		t.Fatal(err)
	}
	wantInfo := usersig.Info{
		SDKAppID:  vecApp,
		UserID:    vecUser,
		Time:      time.Unix(vecTime, 0).UTC(),
		Expire:    180 * 24 * time.Hour,
		ExpiresAt: time.Unix(vecTime+vecExpire, 0).UTC(),
	}
	if fmt.Sprint(info) != fmt.Sprint(wantInfo) || info.UserBuf != nil {
		t.Errorf("info = %+v, want %+v", info, wantInfo)
	}
	// A fractional expire keeps whole seconds only.
	sig2, err := usersig.Issue(vecApp, vecKey, vecUser, vecExpire*time.Second+900*time.Millisecond, now.Add(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if sig2 != sig {
		t.Errorf("sub-second parts changed the token")
	}
}

func TestVectorUserBuf(t *testing.T) {
	now := time.Unix(vecTime, 0)
	userbuf := []byte{0, 7, 'x', 'i', 'a', 'o', 'j', 'u', 'n', 0xff, 0xfe, '\n'}
	sig, err := usersig.IssueWithBuf(vecApp, vecKey, vecUser, vecExpire*time.Second, now, userbuf)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString(userbuf)
	mac := hmacB64(vecKey, content(vecUser, vecApp, vecTime, vecExpire, &b64))
	want := `{"TLS.ver":"2.0","TLS.identifier":"xiaojun","TLS.sdkappid":1400000000,"TLS.expire":15552000,"TLS.time":1700000000,"TLS.sig":"` + mac + `","TLS.userbuf":"` + b64 + `"}`
	if doc := strings.TrimSpace(decodeDoc(t, sig)); doc != want {
		t.Fatalf("token JSON\n got %s\nwant %s", doc, want)
	}
	info, err := usersig.Verify(sig, vecApp, vecUser, fixedKey(vecKey), now)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(info.UserBuf, userbuf) {
		t.Errorf("userbuf = %x, want %x", info.UserBuf, userbuf)
	}
	// An empty userbuf is no userbuf.
	plain, _ := usersig.Issue(vecApp, vecKey, vecUser, vecExpire*time.Second, now)
	for _, empty := range [][]byte{nil, {}} {
		s, err := usersig.IssueWithBuf(vecApp, vecKey, vecUser, vecExpire*time.Second, now, empty)
		if err != nil || s != plain {
			t.Errorf("IssueWithBuf(%#v) = %v, %v; want the plain token", empty, s, err)
		}
	}
}

// Hand-made tokens in the shapes other official libraries write: PHP
// escapes '/' as "\/", the Go library adds a newline and uses no
// compression, fields may come in any order, padding may be dropped.
func TestForeignShapes(t *testing.T) {
	now := time.Unix(vecTime, 0)
	phpSig := strings.ReplaceAll(vecSig, "/", `\/`)
	docs := map[string]string{
		"php escapes":  `{"TLS.ver":"2.0","TLS.identifier":"xiaojun","TLS.sdkappid":1400000000,"TLS.expire":15552000,"TLS.time":1700000000,"TLS.sig":"` + phpSig + `"}`,
		"node order":   `{"TLS.ver":"2.0","TLS.identifier":"xiaojun","TLS.sdkappid":1400000000,"TLS.time":1700000000,"TLS.expire":15552000,"TLS.sig":"` + vecSig + "\"}\n",
		"unicode esc":  `{"TLS.ver":"2.0","TLS.identifier":"\u0078iaojun","TLS.sdkappid":1400000000,"TLS.time":1700000000,"TLS.expire":15552000,"TLS.sig":"` + vecSig + `"}`,
		"extra fields": `{"TLS.ver":"2.0","TLS.new":[1,2],"TLS.identifier":"xiaojun","TLS.sdkappid":1400000000,"TLS.time":1700000000,"TLS.expire":15552000,"TLS.sig":"` + vecSig + `", "TLS.userbuf":null}`,
	}
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			sig := encodeDoc(doc)
			if _, err := usersig.Verify(sig, vecApp, vecUser, fixedKey(vecKey), now); err != nil {
				t.Fatal(err)
			}
			if trimmed := strings.TrimRight(sig, "_"); trimmed != sig {
				if _, err := usersig.Verify(trimmed, vecApp, vecUser, fixedKey(vecKey), now); err != nil {
					t.Fatalf("unpadded: %v", err)
				}
			}
		})
	}
	// Uncompressed zlib, as the official Go library writes by default.
	var b bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&b, zlib.NoCompression)
	zw.Write([]byte(docs["node order"]))
	zw.Close()
	if _, err := usersig.Verify(tokenEnc.EncodeToString(b.Bytes()), vecApp, vecUser, fixedKey(vecKey), now); err != nil {
		t.Fatalf("stored zlib: %v", err)
	}
}

func TestExpiryBoundary(t *testing.T) {
	issued := time.Unix(vecTime, 0)
	sig, err := usersig.Issue(vecApp, vecKey, vecUser, 60*time.Second, issued)
	if err != nil {
		t.Fatal(err)
	}
	end := issued.Add(60 * time.Second)
	for _, now := range []time.Time{issued.Add(-time.Hour), issued, end, end.Add(999 * time.Millisecond)} {
		info, err := usersig.Verify(sig, vecApp, vecUser, fixedKey(vecKey), now)
		if err != nil {
			t.Errorf("at %v: %v", now.Sub(issued), err)
		} else if !info.ExpiresAt.Equal(end) {
			t.Errorf("ExpiresAt = %v, want %v", info.ExpiresAt, end)
		}
	}
	_, err = usersig.Verify(sig, vecApp, vecUser, fixedKey(vecKey), end.Add(time.Second))
	var e *usersig.Error
	if !errors.Is(err, usersig.ErrExpired) || !errors.As(err, &e) || e.Code != 70001 {
		t.Fatalf("one second after expiry: %v, want 70001", err)
	}
}
