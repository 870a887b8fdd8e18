package command

import (
	"bytes"
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

	"callbox/appliance"
	"callbox/store"
)

// runIn is run with stdin.
func runIn(t *testing.T, dir, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	app := New(&out, &errb, Build{})
	app.Reader = strings.NewReader(stdin)
	err := app.Run(append([]string{"callbox", "--data", dir}, args...))
	r := result{out: out.String(), err: errb.String(), failed: err != nil}
	if err != nil {
		r.err += err.Error()
	}
	return r
}

// adminAccounts runs the admin commands' life cycle on dir, with or
// without a server: each bad input is refused and changes nothing.
func adminAccounts(t *testing.T, dir string) {
	t.Helper()
	for _, tc := range []struct {
		name, stdin string
		args        []string
		want        string
	}{
		{"short password", "short\n", []string{"admin", "create", "--user", "root", "--password-stdin"}, "at least 10 characters"},
		{"bad name", "long enough pw\n", []string{"admin", "create", "--user", "ro ot", "--password-stdin"}, "invalid admin name"},
		{"no terminal", "", []string{"admin", "create", "--user", "root"}, "stdin is not a terminal"},
	} {
		if r := runIn(t, dir, tc.stdin, tc.args...); !r.failed || !strings.Contains(r.err, tc.want) {
			t.Errorf("%s: failed=%v %q, want %q", tc.name, r.failed, r.err, tc.want)
		}
	}
	if r := runIn(t, dir, "correct horse\n", "admin", "create", "--user", "root", "--password-stdin"); r.failed || !strings.Contains(r.out, "created admin root") {
		t.Fatalf("create: %+v", r)
	}
	if r := runIn(t, dir, "correct horse\n", "admin", "create", "--user", "root", "--password-stdin"); !r.failed || !strings.Contains(r.err, "exists already") {
		t.Errorf("create twice: %+v", r)
	}
	if r := runIn(t, dir, "long enough pw\n", "admin", "passwd", "--user", "nobody", "--password-stdin"); !r.failed || !strings.Contains(r.err, `no admin "nobody"`) {
		t.Errorf("passwd of nobody: %+v", r)
	}
	if r := run(t, dir, "admin", "delete", "--user", "root"); !r.failed || !strings.Contains(r.err, "cannot delete the last admin") {
		t.Errorf("delete the last admin: %+v", r)
	}
	mustRunIn := func(stdin string, args ...string) string {
		t.Helper()
		r := runIn(t, dir, stdin, args...)
		if r.failed {
			t.Fatalf("callbox %v: %s", args, r.err)
		}
		return r.out
	}
	mustRunIn("second password\n", "admin", "create", "--user", "ops", "--password-stdin")
	if out := mustRunIn("a third password\n", "admin", "passwd", "--user", "ops", "--password-stdin"); !strings.Contains(out, "password of ops changed") {
		t.Errorf("passwd: %q", out)
	}
	var list []appliance.AdminInfo
	json.Unmarshal([]byte(mustRun(t, dir, "admin", "list", "--json")), &list)
	if len(list) != 2 || list[0].Name != "ops" || list[1].Name != "root" || !list[0].PasswordChanged.After(list[0].Created) {
		t.Fatalf("list = %+v", list)
	}
	if out := mustRun(t, dir, "admin", "list"); !strings.Contains(out, "NAME") || strings.Contains(out, "argon2") {
		t.Errorf("list:\n%s", out)
	}
	mustRun(t, dir, "admin", "delete", "--user", "ops")
	if r := run(t, dir, "admin", "delete", "--user", "ops"); !r.failed || !strings.Contains(r.err, `no admin "ops"`) {
		t.Errorf("delete twice: %+v", r)
	}
}

// Without a server, on the store file.
func TestAdminCommandsWithoutServer(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	adminAccounts(t, dir)
	st, err := store.Open(filepath.Join(dir, store.FileName), store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.View(func(tx *store.Tx) error {
		a, err := tx.Admin("root")
		if err != nil || !strings.HasPrefix(a.Hash, "$argon2id$") || strings.Contains(a.Hash, "correct horse") {
			t.Errorf("stored root = %+v, %v", a, err)
		}
		return nil
	})
}

// Through a running server's control socket; a server with an admin
// prints no setup link.
func TestAdminCommandsThroughServer(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "callbox", "--data", dir, "serve", "--http", "127.0.0.1:0", "--log-format", "json",
		"--rtc-udp", "0", "--rtc-tcp", "-1", "--turn=false")
	cmd.Env = append(os.Environ(), "CALLBOX_TEST_MAIN=1")
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitForLog(t, stderr, "callbox serving")
	go io.Copy(io.Discard, stderr)
	adminAccounts(t, dir)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve exited with %v", err)
	}
	if !strings.Contains(stdout.String(), "/admin/#setup=") {
		t.Errorf("the first start printed no setup link:\n%s", stdout.String())
	}
	// Started again with an admin, it prints no link.
	stdout.Reset()
	cmd = exec.CommandContext(ctx, os.Args[0], "callbox", "--data", dir, "serve", "--http", "127.0.0.1:0", "--log-format", "json",
		"--rtc-udp", "0", "--rtc-tcp", "-1", "--turn=false")
	cmd.Env = append(os.Environ(), "CALLBOX_TEST_MAIN=1")
	cmd.Stdout = &stdout
	if stderr, err = cmd.StderrPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitForLog(t, stderr, "callbox serving")
	go io.Copy(io.Discard, stderr)
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	if strings.Contains(stdout.String(), "setup") {
		t.Errorf("a start with an admin printed:\n%s", stdout.String())
	}
}

// `app rename` goes through the admin API's rename: bad names are
// refused and change nothing.
func TestAppRename(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	var app appJSON
	json.Unmarshal([]byte(mustRun(t, dir, "app", "create", "--name", "team", "--json")), &app)
	id := itoa(app.SDKAppID)
	for _, bad := range []string{"", "   ", strings.Repeat("n", 65), "a\tb"} {
		if r := run(t, dir, "app", "rename", "--sdkappid", id, "--name", bad); !r.failed || !strings.Contains(r.err, "invalid app name") {
			t.Errorf("rename to %q: %+v", bad, r)
		}
	}
	if r := run(t, dir, "app", "rename", "--sdkappid", "1400000000", "--name", "x"); !r.failed || !strings.Contains(r.err, "no app with SDKAppID 1400000000") {
		t.Errorf("rename a missing app: %+v", r)
	}
	var renamed appJSON
	json.Unmarshal([]byte(mustRun(t, dir, "app", "rename", "--sdkappid", id, "--name", " Sales team ", "--json")), &renamed)
	if renamed.Name != "Sales team" || renamed.Key != app.Key || renamed.SDKAppID != app.SDKAppID {
		t.Errorf("renamed %+v from %+v", renamed, app)
	}
}
