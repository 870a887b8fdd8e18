package command

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"callbox/appliance/invite"
	"callbox/signaling/usersig"
)

// checkInvite parses the first line of out as an invite link and checks
// its base, app, user and that its sig verifies with key.
func checkInvite(t *testing.T, out, base string, app uint32, user, key string) {
	t.Helper()
	link, _, _ := strings.Cut(out, "\n")
	if !strings.HasPrefix(link, base+"/join#") {
		t.Fatalf("link %q does not start with %s/join#", link, base)
	}
	l, err := invite.Parse(link)
	if err != nil || l.SDKAppID != app || l.User != user {
		t.Fatalf("link %q: %+v, %v", link, l, err)
	}
	keyFor := func(uint32) (string, error) { return key, nil }
	info, err := usersig.Verify(l.Sig, app, user, keyFor, time.Now())
	if err != nil {
		t.Fatalf("the link's sig: %v", err)
	}
	if d := time.Until(info.ExpiresAt); d < 29*24*time.Hour || d > 31*24*time.Hour {
		t.Errorf("sig expires in %v, want the default 30 days", d)
	}
}

func TestUserInvite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	var app appJSON
	mustJSON(t, mustRun(t, dir, "app", "create", "--name", "team", "--json"), &app)
	id := itoa(app.SDKAppID)

	// No server: the default address, and a note on stderr saying so.
	r := run(t, dir, "user", "invite", "--sdkappid", id, "--user", "alice@team")
	if r.failed || !strings.Contains(r.err, "no server running") {
		t.Fatalf("invite: %+v", r)
	}
	checkInvite(t, r.out, "http://127.0.0.1:8080", app.SDKAppID, "alice@team", app.Key)

	out := mustRun(t, dir, "user", "invite", "--sdkappid", id, "--user", "bob", "--url", "https://call.example.com/", "--qr")
	checkInvite(t, out, "https://call.example.com", app.SDKAppID, "bob", app.Key)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 15 || !strings.Contains(lines[1], "█") {
		t.Errorf("--qr printed %d lines: %q", len(lines), out)
	}

	// --key needs no data directory.
	absent := filepath.Join(t.TempDir(), "absent")
	out = mustRun(t, absent, "user", "invite", "--sdkappid", id, "--user", "carol", "--key", app.Key, "--url", "http://10.0.0.2:8080")
	checkInvite(t, out, "http://10.0.0.2:8080", app.SDKAppID, "carol", app.Key)
	if _, err := os.Stat(absent); err == nil {
		t.Error("--key created the data directory")
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--sdkappid", id, "--user", "a b"}, "invalid --user"},
		{[]string{"--sdkappid", id, "--user", strings.Repeat("u", 33)}, "invalid --user"},
		{[]string{"--sdkappid", id, "--user", "a", "--expire", "0"}, "invalid --expire"},
		{[]string{"--sdkappid", id, "--user", "a", "--url", "ftp://x"}, "invalid --url"},
		{[]string{"--sdkappid", id, "--user", "a", "--url", "https://x/?q=1"}, "invalid --url"},
		{[]string{"--sdkappid", "12", "--user", "a"}, "no app with SDKAppID 12"},
		{[]string{"--sdkappid", "x", "--user", "a"}, "sdkappid"},
		{[]string{"--user", "a"}, "sdkappid"},
		{[]string{"--sdkappid", id, "--user", "a", "stray"}, "unexpected argument"},
	} {
		r := run(t, dir, append([]string{"user", "invite"}, tc.args...)...)
		// A missing required flag prints the help (urfave/cli); no link, ever.
		if !r.failed || !strings.Contains(r.err, tc.want) || strings.Contains(r.out, "&sig=eJ") {
			t.Errorf("invite %v: failed=%v out=%q err=%q, want %q", tc.args, r.failed, r.out, r.err, tc.want)
		}
	}
}

// With a server running, the link starts with its --public-url.
func TestUserInviteFromServer(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if r := run(t, dir, "serve", "--public-url", "call.example.com"); !r.failed || !strings.Contains(r.err, "invalid --public-url") {
		t.Fatalf("serve with a bad --public-url: %+v", r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "callbox", "--data", dir, "serve", "--http", "127.0.0.1:0", "--log-format", "json",
		"--rtc-udp", "0", "--rtc-tcp", "0", "--turn-port", "0", "--public-url", "https://call.example.com/team/")
	cmd.Env = append(os.Environ(), "CALLBOX_TEST_MAIN=1")
	cmd.Stdout = nil
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	waitForLog(t, stderr, "callbox serving")
	go io.Copy(io.Discard, stderr)
	var apps []appJSON
	mustJSON(t, mustRun(t, dir, "app", "list", "--json"), &apps)
	r := run(t, dir, "user", "invite", "--sdkappid", itoa(apps[0].SDKAppID), "--user", "dave")
	if r.failed || r.err != "" {
		t.Fatalf("invite: %+v", r)
	}
	checkInvite(t, r.out, "https://call.example.com/team", apps[0].SDKAppID, "dave", apps[0].Key)
}

func mustJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("%v: %s", err, s)
	}
}
