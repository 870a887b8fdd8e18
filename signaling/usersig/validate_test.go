package usersig_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"callbox/signaling/usersig"
)

func TestValidUserID(t *testing.T) {
	tests := []struct {
		name string
		id   string
		ok   bool
	}{
		{"empty", "", false},
		{"one byte", "a", true},
		{"typical", "user_01-a.b@c", true},
		{"punctuation", "!\"#$%&'()*+-./:;<=>?@[\\]^_`{|}~", true},
		{"32 bytes", strings.Repeat("x", 32), true},
		{"33 bytes", strings.Repeat("x", 33), false},
		{"space", "a b", false},
		{"leading space", " ab", false},
		{"comma", "a,b", false},
		{"non-ASCII", "joão", false},
		{"CJK", "小军", false},
		{"tab", "a\tb", false},
		{"newline", "a\n", false},
		{"NUL", "a\x00b", false},
		{"DEL", "a\x7f", false},
		{"invalid UTF-8", "a\xff", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := usersig.ValidUserID(tc.id)
			if (err == nil) != tc.ok {
				t.Fatalf("ValidUserID(%q) = %v, want ok=%v", tc.id, err, tc.ok)
			}
		})
	}
}

func TestValidKey(t *testing.T) {
	tests := []struct {
		name string
		key  string
		ok   bool
	}{
		{"empty", "", false},
		{"console hex", vecKey, true},
		{"short", "k", true},
		{"256 bytes", strings.Repeat("k", 256), true},
		{"257 bytes", strings.Repeat("k", 257), false},
		{"space", "my key", false},
		{"trailing newline", vecKey + "\n", false},
		{"non-ASCII", "clé", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := usersig.ValidKey(tc.key)
			if (err == nil) != tc.ok {
				t.Fatalf("ValidKey(%q) = %v, want ok=%v", tc.key, err, tc.ok)
			}
			if err != nil && len(tc.key) > 3 && strings.Contains(err.Error(), tc.key) {
				t.Errorf("error %q echoes the key", err)
			}
		})
	}
}

func TestIssueRejects(t *testing.T) {
	now := time.Unix(vecTime, 0)
	tests := []struct {
		name    string
		app     uint32
		key     string
		user    string
		expire  time.Duration
		now     time.Time
		userbuf []byte
	}{
		{name: "sdkappid 0", app: 0, key: vecKey, user: vecUser, expire: time.Hour, now: now},
		{name: "bad user", app: vecApp, key: vecKey, user: "a,b", expire: time.Hour, now: now},
		{name: "empty user", app: vecApp, key: vecKey, user: "", expire: time.Hour, now: now},
		{name: "empty key", app: vecApp, key: "", user: vecUser, expire: time.Hour, now: now},
		{name: "key with space", app: vecApp, key: "a b", user: vecUser, expire: time.Hour, now: now},
		{name: "zero expire", app: vecApp, key: vecKey, user: vecUser, expire: 0, now: now},
		{name: "sub-second expire", app: vecApp, key: vecKey, user: vecUser, expire: 999 * time.Millisecond, now: now},
		{name: "negative expire", app: vecApp, key: vecKey, user: vecUser, expire: -time.Hour, now: now},
		{name: "expire too long", app: vecApp, key: vecKey, user: vecUser, expire: 1<<33*time.Second + time.Second, now: now},
		{name: "zero time", app: vecApp, key: vecKey, user: vecUser, expire: time.Hour, now: time.Time{}},
		{name: "before 1970", app: vecApp, key: vecKey, user: vecUser, expire: time.Hour, now: time.Unix(-5, 0)},
		{name: "after 9999", app: vecApp, key: vecKey, user: vecUser, expire: time.Hour, now: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{name: "userbuf too big", app: vecApp, key: vecKey, user: vecUser, expire: time.Hour, now: now, userbuf: make([]byte, 16<<10+1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sig, err := usersig.IssueWithBuf(tc.app, tc.key, tc.user, tc.expire, tc.now, tc.userbuf)
			if err == nil {
				t.Fatalf("issued %q", sig)
			}
			var e *usersig.Error
			if errors.As(err, &e) {
				t.Errorf("bad input gave a verification error: %v", err)
			}
			if tc.userbuf == nil {
				if _, err2 := usersig.Issue(tc.app, tc.key, tc.user, tc.expire, tc.now); err2 == nil {
					t.Errorf("Issue accepted what IssueWithBuf refused")
				}
			}
		})
	}
	// The largest accepted values still verify.
	big, err := usersig.IssueWithBuf(vecApp, vecKey, strings.Repeat("~", 32), 1<<33*time.Second, now, make([]byte, 16<<10))
	if err != nil {
		t.Fatal(err)
	}
	info, err := usersig.Verify(big, vecApp, strings.Repeat("~", 32), fixedKey(vecKey), now.Add(200*365*24*time.Hour))
	if err != nil || info.Expire != 1<<33*time.Second || len(info.UserBuf) != 16<<10 {
		t.Fatalf("largest sig: %v (expire %v)", err, info.Expire)
	}
}
