package turn

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // HMAC-SHA1 is what the TURN REST convention (spec §5) mandates.
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Credentials returns the ephemeral TURN credentials of spec §5 (the TURN
// REST convention that coturn's use-auth-secret also accepts):
//
//	username = "<expiry unix s>:<userID>"
//	password = base64std(HMAC-SHA1(secret, username))
//
// It needs no running Server, so it also serves --turn-external.
func Credentials(secret, userID string, expiry time.Time) (username, password string) {
	username = strconv.FormatInt(expiry.Unix(), 10) + ":" + userID
	return username, password64(secret, username)
}

func password64(secret, username string) string {
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// ICEServer is one entry of RTCConfiguration.iceServers (the RTCIceServer
// JSON shape) as handed to a client in its login reply. TTL is the number of
// seconds the credential stays valid.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
	TTL        int      `json:"ttl,omitempty"`
}

// Endpoint is where clients reach a TURN server, and the secret its
// credentials are made with (spec §5).
type Endpoint struct {
	// Host (a name or IP; an IPv6 literal is bracketed here), Port (UDP
	// and TCP) and TLSPort (0 = no turns: URI) locate a server of this
	// package; (*Server).Endpoint fills the ports in.
	Host    string
	Port    int
	TLSPort int
	// External, when set, is an external server's turn: or turns: URI
	// (callbox serve --turn-external), handed out as given next to a
	// stun: URI on its host and port; Host and the ports are then unused.
	External string
	Secret   string
}

// ICEServers returns the RTCIceServer list for userID at ep: a STUN entry
// (no credential) and one TURN entry carrying the spec §5 credentials
// valid for ttl from now (ttl <= 0: DefaultCredentialTTL). For a server of
// this package the TURN entry has UDP and TCP URIs on Port and a turns:
// URI on TLSPort when TLSPort > 0. It is the one place the list is built:
// login replies, the control socket and `callbox turn creds` all call it.
func ICEServers(ep Endpoint, userID string, now time.Time, ttl time.Duration) []ICEServer {
	if ttl <= 0 {
		ttl = DefaultCredentialTTL
	}
	user, pass := Credentials(ep.Secret, userID, now.Add(ttl))
	creds := ICEServer{Username: user, Credential: pass, TTL: int(ttl / time.Second)}
	if ep.External != "" {
		hostport := strings.SplitN(ep.External, "?", 2)[0]
		hostport = strings.TrimPrefix(strings.TrimPrefix(hostport, "turn:"), "turns:")
		creds.URLs = []string{ep.External}
		return []ICEServer{{URLs: []string{"stun:" + hostport}}, creds}
	}
	hp := net.JoinHostPort(ep.Host, strconv.Itoa(ep.Port))
	creds.URLs = []string{
		"turn:" + hp + "?transport=udp",
		"turn:" + hp + "?transport=tcp",
	}
	if ep.TLSPort > 0 {
		creds.URLs = append(creds.URLs, "turns:"+net.JoinHostPort(ep.Host, strconv.Itoa(ep.TLSPort))+"?transport=tcp")
	}
	return []ICEServer{{URLs: []string{"stun:" + hp}}, creds}
}

// Reasons a username is refused before the password is checked. They are
// logged as the "reason" of a refused request; the password never is.
var (
	ErrMalformedUsername = errors.New("malformed username")
	ErrExpired           = errors.New("credential expired")
)

// maxUsernameLen bounds what we parse and log; STUN allows 513 bytes.
const maxUsernameLen = 513

// parseUsername splits a spec §5 username "<expiry unix s>:<userID>". The
// expiry is a decimal number of seconds; the user part is everything after
// the first colon and must not be empty.
func parseUsername(username string) (expiry int64, userID string, err error) {
	if len(username) > maxUsernameLen {
		return 0, "", fmt.Errorf("%w: too long", ErrMalformedUsername)
	}
	ts, user, ok := strings.Cut(username, ":")
	if !ok || user == "" || ts == "" || ts[0] == '+' || ts[0] == '-' {
		return 0, "", ErrMalformedUsername
	}
	expiry, err = strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return 0, "", fmt.Errorf("%w: expiry %q", ErrMalformedUsername, ts)
	}
	return expiry, user, nil
}

// checkUsername reports whether username is well formed and unexpired at now.
func checkUsername(username string, now time.Time) (userID string, err error) {
	expiry, user, err := parseUsername(username)
	if err != nil {
		return "", err
	}
	if expiry < now.Unix() {
		return user, ErrExpired
	}
	return user, nil
}

// userOf returns the user part of a username, or the whole username when it
// is not in the spec §5 form (pion only hands us names we authenticated).
func userOf(username string) string {
	if _, user, err := parseUsername(username); err == nil {
		return user
	}
	return username
}
