package turn

import (
	"errors"
	"reflect"
	"strconv"
	"testing"
	"time"
)

// The check value of spec §5.
func TestCredentialsSpecVector(t *testing.T) {
	user, pass := Credentials("north", "alice", time.Unix(1700003600, 0))
	if user != "1700003600:alice" || pass != "wjwSXO2ch1B6VaLTLMy2Avn5O9o=" {
		t.Fatalf("Credentials = %q, %q; want 1700003600:alice, wjwSXO2ch1B6VaLTLMy2Avn5O9o=", user, pass)
	}
}

func TestICEServers(t *testing.T) {
	now := time.Unix(1700000000, 0)
	got := ICEServers(Endpoint{Host: "turn.example.com", Port: 3478, TLSPort: 5349, Secret: "north"}, "alice", now, time.Hour)
	if len(got) != 2 {
		t.Fatalf("got %d servers, want 2", len(got))
	}
	if len(got[0].URLs) != 1 || got[0].URLs[0] != "stun:turn.example.com:3478" || got[0].Username != "" {
		t.Errorf("stun entry = %+v", got[0])
	}
	want := []string{
		"turn:turn.example.com:3478?transport=udp",
		"turn:turn.example.com:3478?transport=tcp",
		"turns:turn.example.com:5349?transport=tcp",
	}
	turn := got[1]
	if len(turn.URLs) != len(want) {
		t.Fatalf("turn urls = %v, want %v", turn.URLs, want)
	}
	for i := range want {
		if turn.URLs[i] != want[i] {
			t.Errorf("url[%d] = %q, want %q", i, turn.URLs[i], want[i])
		}
	}
	if turn.Username != "1700003600:alice" || turn.Credential != "wjwSXO2ch1B6VaLTLMy2Avn5O9o=" || turn.TTL != 3600 {
		t.Errorf("turn creds = %q %q ttl %d", turn.Username, turn.Credential, turn.TTL)
	}

	noTLS := ICEServers(Endpoint{Host: "::1", Port: 3478, Secret: "north"}, "bob", now, 0)
	if n := len(noTLS[1].URLs); n != 2 {
		t.Errorf("without TLS: %d turn urls, want 2", n)
	}
	if noTLS[0].URLs[0] != "stun:[::1]:3478" {
		t.Errorf("ipv6 host not bracketed: %q", noTLS[0].URLs[0])
	}
	if noTLS[1].TTL != int(DefaultCredentialTTL/time.Second) {
		t.Errorf("default ttl = %d", noTLS[1].TTL)
	}
}

// An external server (--turn-external) is handed out as given, next to a
// STUN URI on its host and port, with the same spec §5 credentials.
func TestICEServersExternal(t *testing.T) {
	now := time.Unix(1700000000, 0)
	tests := []struct {
		name     string
		external string
		stun     string
	}{
		{"turn with transport", "turn:turn.example.com:3478?transport=udp", "stun:turn.example.com:3478"},
		{"turn without port", "turn:turn.example.com", "stun:turn.example.com"},
		{"turns", "turns:turn.example.com:5349?transport=tcp", "stun:turn.example.com:5349"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Host and ports are unused with External.
			got := ICEServers(Endpoint{Host: "ignored", Port: 1, TLSPort: 2, External: tt.external, Secret: "north"}, "alice", now, time.Hour)
			want := []ICEServer{
				{URLs: []string{tt.stun}},
				{URLs: []string{tt.external}, Username: "1700003600:alice", Credential: "wjwSXO2ch1B6VaLTLMy2Avn5O9o=", TTL: 3600},
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("ICEServers = %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestCheckUsername(t *testing.T) {
	now := time.Unix(1700000000, 0)
	tests := []struct {
		name     string
		username string
		wantUser string
		wantErr  error
	}{
		{"good", "1700003600:alice", "alice", nil},
		{"expires this second", "1700000000:alice", "alice", nil},
		{"user with colon", "1700003600:a:b", "a:b", nil},
		{"expired", "1699999999:alice", "alice", ErrExpired},
		{"no colon", "1700003600", "", ErrMalformedUsername},
		{"empty user", "1700003600:", "", ErrMalformedUsername},
		{"empty expiry", ":alice", "", ErrMalformedUsername},
		{"signed expiry", "+1700003600:alice", "", ErrMalformedUsername},
		{"negative expiry", "-1:alice", "", ErrMalformedUsername},
		{"hex expiry", "0x65:alice", "", ErrMalformedUsername},
		{"overflow", "99999999999999999999:alice", "", ErrMalformedUsername},
		{"empty", "", "", ErrMalformedUsername},
		{"too long", "1700003600:" + string(make([]byte, 600)), "", ErrMalformedUsername},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			user, err := checkUsername(tt.username, now)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if user != tt.wantUser {
				t.Errorf("user = %q, want %q", user, tt.wantUser)
			}
		})
	}
}

// FuzzParseUsername: no panic, and whatever parses re-issues to the same
// expiry and user.
func FuzzParseUsername(f *testing.F) {
	for _, s := range []string{"1700003600:alice", "1:a:b", ":", "", "-1:x", "99999999999999999999:a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		exp, user, err := parseUsername(s)
		if err != nil {
			return
		}
		u2, _ := Credentials("k", user, time.Unix(exp, 0))
		exp2, user2, err := parseUsername(u2)
		if err != nil || exp2 != exp || user2 != user {
			t.Fatalf("%q -> (%d,%q) -> %q -> (%d,%q,%v)", s, exp, user, u2, exp2, user2, err)
		}
		if u2 != strconv.FormatInt(exp, 10)+":"+user {
			t.Fatalf("reissued %q", u2)
		}
	})
}
