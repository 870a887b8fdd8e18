package command

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tencentyun/tls-sig-api-v2-golang/tencentyun"
	"github.com/urfave/cli/v2"

	"callbox/appliance"
	"callbox/signaling"
	"callbox/signaling/call/record"
	"callbox/signaling/usersig"
	"callbox/store"
)

// TestMain lets a test run the real binary's main in a child process.
func TestMain(m *testing.M) {
	if os.Getenv("CALLBOX_TEST_MAIN") == "1" {
		// Run as the callbox binary would (main.go does no more than this).
		if err := New(os.Stdout, os.Stderr, Build{}).Run(os.Args[1:]); err != nil {
			fmt.Fprintln(os.Stderr, "callbox:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type result struct {
	out, err string
	failed   bool
}

// run executes the CLI in-process with --data dir.
func run(t *testing.T, dir string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	argv := append([]string{"callbox", "--data", dir}, args...)
	err := New(&out, &errb, Build{}).Run(argv)
	r := result{out: out.String(), err: errb.String(), failed: err != nil}
	if err != nil {
		r.err += err.Error()
	}
	return r
}

func mustRun(t *testing.T, dir string, args ...string) string {
	t.Helper()
	r := run(t, dir, args...)
	if r.failed {
		t.Fatalf("callbox %v: %s", args, r.err)
	}
	return r.out
}

func TestAppLifecycle(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	var app appJSON
	if err := json.Unmarshal([]byte(mustRun(t, dir, "app", "create", "--name", "team", "--json")), &app); err != nil {
		t.Fatal(err)
	}
	if app.SDKAppID < store.MinSDKAppID || app.SDKAppID > store.MaxSDKAppID || len(app.Key) != 64 || app.Name != "team" {
		t.Fatalf("created %+v", app)
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("data dir mode: %v, %v", st, err)
	}
	var list []appJSON
	json.Unmarshal([]byte(mustRun(t, dir, "app", "list", "--json")), &list)
	if len(list) != 1 || list[0] != app {
		t.Fatalf("list = %+v, want [%+v]", list, app)
	}
	var rotated appJSON
	json.Unmarshal([]byte(mustRun(t, dir, "app", "rotate-key", "--sdkappid", itoa(app.SDKAppID), "--json")), &rotated)
	if rotated.SDKAppID != app.SDKAppID || rotated.Key == app.Key || len(rotated.Key) != 64 {
		t.Fatalf("rotated %+v from %+v", rotated, app)
	}
	mustRun(t, dir, "app", "delete", "--sdkappid", itoa(app.SDKAppID))
	if out := mustRun(t, dir, "app", "list", "--json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("list after delete = %s", out)
	}
}

func itoa(n uint32) string { return jsonNum(n) }

func jsonNum(n uint32) string { b, _ := json.Marshal(n); return string(b) }

// Sigs issued by the CLI verify with Tencent's official library, and the
// CLI verifies the library's sigs.
func TestUserSigInteropThroughCLI(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	var app appJSON
	json.Unmarshal([]byte(mustRun(t, dir, "app", "create", "--name", "t", "--json")), &app)
	sig := strings.TrimSpace(mustRun(t, dir, "usersig", "issue", "--sdkappid", itoa(app.SDKAppID), "--user", "alice", "--expire", "3600"))
	if err := tencentyun.VerifyUserSig(uint64(app.SDKAppID), app.Key, "alice", sig, time.Now()); err != nil {
		t.Fatalf("official library rejects the CLI's sig: %v (app %+v, sig %s)", err, app, sig)
	}
	official, err := tencentyun.GenUserSig(int(app.SDKAppID), app.Key, "bob", 600)
	if err != nil {
		t.Fatal(err)
	}
	var res verifyResult
	json.Unmarshal([]byte(mustRun(t, dir, "usersig", "verify", "--sdkappid", itoa(app.SDKAppID), "--user", "bob", "--sig", official)), &res)
	if !res.OK || res.ExpiresAt < time.Now().Unix()+590 {
		t.Fatalf("verify official sig = %+v", res)
	}
	// --key needs no data directory at all.
	nodir := filepath.Join(t.TempDir(), "absent")
	sig = strings.TrimSpace(mustRun(t, nodir, "usersig", "issue", "--sdkappid", "1400000000", "--user", "x", "--key", app.Key))
	if err := tencentyun.VerifyUserSig(1400000000, app.Key, "x", sig, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(nodir); !os.IsNotExist(err) {
		t.Fatalf("--key created the data directory")
	}
}

func TestVerifyFailureCodes(t *testing.T) {
	const key = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
	dir := t.TempDir()
	good, _ := tencentyun.GenUserSig(1400000000, key, "alice", 600)
	expired, err := usersig.Issue(1400000000, key, "alice", time.Hour, time.Now().Add(-2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"expired", []string{"--user", "alice", "--sig", expired}, 70001},
		{"garbage", []string{"--user", "alice", "--sig", "not-a-sig"}, 70003},
		{"wrong key", []string{"--user", "alice", "--sig", good, "--key", strings.Repeat("0", 64)}, 70009},
		{"other user", []string{"--user", "bob", "--sig", good}, 70013},
		{"other app", []string{"--user", "alice", "--sig", good, "--sdkappid", "1400000001"}, 70014},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"usersig", "verify", "--sdkappid", "1400000000", "--key", key}, tc.args...)
			r := run(t, dir, args...)
			var res verifyResult
			if err := json.Unmarshal([]byte(r.out), &res); err != nil {
				t.Fatalf("output %q: %v", r.out, err)
			}
			if !r.failed || res.OK || res.Code != tc.code || res.Error == "" {
				t.Fatalf("got failed=%v %+v, want code %d", r.failed, res, tc.code)
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	var app appJSON
	json.Unmarshal([]byte(mustRun(t, dir, "app", "create", "--name", "t", "--json")), &app)
	id := itoa(app.SDKAppID)
	corrupt := filepath.Join(t.TempDir(), "corrupt")
	os.MkdirAll(corrupt, 0o700)
	os.WriteFile(filepath.Join(corrupt, store.FileName), []byte("not a database at all"), 0o600)
	tests := []struct {
		name string
		dir  string
		args []string
		want string
	}{
		{"unknown flag", dir, []string{"app", "create", "--nme", "x"}, "flag provided but not defined"},
		{"unknown command flag", dir, []string{"serve", "--htp", "x"}, "flag provided but not defined"},
		{"malformed sdkappid", dir, []string{"usersig", "issue", "--sdkappid", "14e9", "--user", "a"}, "invalid --sdkappid"},
		{"negative sdkappid", dir, []string{"app", "delete", "--sdkappid", "-1"}, "invalid --sdkappid"},
		{"empty user", dir, []string{"usersig", "issue", "--sdkappid", id, "--user", ""}, "invalid --user"},
		{"long user", dir, []string{"usersig", "issue", "--sdkappid", id, "--user", strings.Repeat("u", 33)}, "invalid --user"},
		{"user with comma", dir, []string{"usersig", "issue", "--sdkappid", id, "--user", "a,b"}, "invalid --user"},
		{"bad expire", dir, []string{"usersig", "issue", "--sdkappid", id, "--user", "a", "--expire", "0"}, "invalid --expire"},
		{"no such app", dir, []string{"usersig", "issue", "--sdkappid", "1400000000", "--user", "a"}, "no app with SDKAppID 1400000000"},
		{"rotate missing app", dir, []string{"app", "rotate-key", "--sdkappid", "1400000000"}, "no app with SDKAppID 1400000000"},
		{"empty name", dir, []string{"app", "create", "--name", " "}, "invalid --name"},
		{"corrupt database", corrupt, []string{"app", "list"}, "not a callbox database"},
		{"corrupt database on create", corrupt, []string{"app", "create", "--name", "x"}, "not a callbox database"},
		{"stray argument", dir, []string{"serve", "now"}, "unexpected argument"},
		{"bad log level", dir, []string{"serve", "--log-level", "loud"}, "invalid --log-level"},
		{"bad since", dir, []string{"record", "list", "--since", "yesterday"}, "invalid --since"},
		{"bad record retention", dir, []string{"serve", "--record-retention", "1.5d"}, "invalid --record-retention"},
		{"negative record retention", dir, []string{"serve", "--record-retention", "-1h"}, "invalid --record-retention"},
		{"stray compact argument", dir, []string{"compact", "now"}, "unexpected argument"},
		{"compact without data", filepath.Join(t.TempDir(), "absent"), []string{"compact"}, "no callbox data in"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := filepath.Join(tc.dir, store.FileName)
			before, _ := os.ReadFile(db)
			r := run(t, tc.dir, tc.args...)
			if !r.failed || !strings.Contains(r.err, tc.want) {
				t.Fatalf("got failed=%v stderr %q, want error containing %q", r.failed, r.err, tc.want)
			}
			if strings.Count(strings.TrimSpace(r.err), "\n") > 0 {
				t.Errorf("error is not one line: %q", r.err)
			}
			if after, _ := os.ReadFile(db); !bytes.Equal(before, after) {
				t.Errorf("a failed command changed %s", db)
			}
		})
	}
}

// TestServe runs the real binary's serve in a child process: first start
// prints the default app, /healthz answers, the CLI works through the
// control socket while the store is locked, and SIGTERM shuts down cleanly.
func TestServe(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "callbox", "--data", dir, "serve", "--http", "127.0.0.1:0", "--metrics-addr", "off", "--log-format", "json",
		"--rtc-udp", "0", "--rtc-tcp", "0", "--turn-port", "0")
	cmd.Env = append(os.Environ(), "CALLBOX_TEST_MAIN=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The first start prints the default app on stdout before serving.
	banner := bufio.NewScanner(stdout)
	for banner.Scan() && !strings.HasPrefix(banner.Text(), "  SDKAppID:") {
	}
	if !strings.HasPrefix(banner.Text(), "  SDKAppID:") {
		t.Fatalf("first start did not print the default app")
	}
	go io.Copy(io.Discard, stdout)
	addr := waitForLog(t, stderr, "callbox serving")["http"].(string)
	go io.Copy(io.Discard, stderr)

	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if len(h) != 1 || h["status"] != "ok" {
		t.Fatalf("healthz = %v, want only the status", h)
	}
	// The details are for the owner: `status` over the control socket.
	var status appliance.Health
	json.Unmarshal([]byte(mustRun(t, dir, "status", "--json")), &status)
	if status.Status != "ok" || status.Version != "dev" || status.GoVersion == "" || status.StartedAt == "" {
		t.Fatalf("status --json = %+v", status)
	}
	if out := mustRun(t, dir, "status"); !strings.Contains(out, "version: dev (commit unknown, go1.") || !strings.Contains(out, "(up ") {
		t.Fatalf("status = %q", out)
	}
	// The server holds the store; the CLI goes through the control socket.
	var apps []appJSON
	json.Unmarshal([]byte(mustRun(t, dir, "app", "list", "--json")), &apps)
	if len(apps) != 1 || apps[0].Name != "default" {
		t.Fatalf("apps via control socket = %+v", apps)
	}
	created := mustRun(t, dir, "app", "create", "--name", "second", "--json")
	if !strings.Contains(created, "second") {
		t.Fatalf("create via control socket: %s", created)
	}
	var creds turnREST
	json.Unmarshal([]byte(mustRun(t, dir, "turn", "creds", "--user", "alice", "--ttl", "60", "--json")), &creds)
	if !strings.HasSuffix(creds.Username, ":alice") || creds.Password == "" || creds.TTL != 60 || len(creds.URIs) < 2 {
		t.Fatalf("turn creds via control socket = %+v", creds)
	}
	backup := filepath.Join(t.TempDir(), "backup.db")
	mustRun(t, dir, "backup", "--out", backup)
	// Compaction is offline: refused while the server runs.
	if r := run(t, dir, "compact"); !r.failed || !strings.Contains(r.err, "stop it first") {
		t.Fatalf("compact while serving: failed=%v %q", r.failed, r.err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Fatalf("compact while serving left files: %v", entries)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve exited with %v", err)
	}
	if r := run(t, dir, "status"); !r.failed || !strings.Contains(r.err, "no callbox server is running") {
		t.Fatalf("status with no server: failed=%v %q", r.failed, r.err)
	}
	// Closed cleanly: the store opens at once, and holds what was made.
	st, err := store.Open(filepath.Join(dir, store.FileName), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.View(func(tx *store.Tx) error {
		if all, _ := tx.Apps(); len(all) != 2 {
			t.Errorf("after shutdown: %d apps, want 2", len(all))
		}
		return nil
	})
	if _, err := os.Stat(filepath.Join(dir, "callbox.sock")); !os.IsNotExist(err) {
		t.Errorf("control socket left behind: %v", err)
	}
	b, err := store.Open(backup, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("backup does not open: %v", err)
	}
	b.Close()
}

// TestServePortInUse: serve on a taken HTTP port fails, prints no default
// app and leaves none in the store.
func TestServePortInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := filepath.Join(t.TempDir(), "data")
	r := run(t, dir, "serve", "--http", busy.Addr().String(), "--rtc-udp", "0", "--rtc-tcp", "0", "--turn-port", "0")
	if !r.failed || !strings.Contains(r.err, "listen http") {
		t.Fatalf("serve on a busy port: failed=%v %q", r.failed, r.err)
	}
	if r.out != "" {
		t.Fatalf("serve printed %q", r.out)
	}
	st, err := store.Open(filepath.Join(dir, store.FileName), store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.View(func(tx *store.Tx) error {
		if apps, _ := tx.Apps(); len(apps) != 0 {
			t.Errorf("apps after a failed serve: %+v", apps)
		}
		return nil
	})
}

// waitForLog reads JSON log lines until one has the message msg.
func waitForLog(t *testing.T, r io.Reader, msg string) map[string]any {
	t.Helper()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec["msg"] == msg {
			return rec
		}
	}
	t.Fatalf("process ended before logging %q", msg)
	return nil
}

func TestVersion(t *testing.T) {
	out := mustRun(t, t.TempDir(), "version")
	if !strings.HasPrefix(out, "callbox dev (commit unknown, go1.") {
		t.Fatalf("version = %q", out)
	}
}

func TestParseRetention(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{in: "90d", want: 90 * 24 * time.Hour},
		{in: "1d", want: 24 * time.Hour},
		{in: "36h", want: 36 * time.Hour},
		{in: "90m", want: 90 * time.Minute},
		{in: "0", want: appliance.KeepRecordsForever},
		{in: "0d", want: appliance.KeepRecordsForever},
		{in: "0s", want: appliance.KeepRecordsForever},
		{in: "-1h", bad: true},
		{in: "-3d", bad: true},
		{in: "1.5d", bad: true},
		{in: "d", bad: true},
		{in: "", bad: true},
		{in: "forever", bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseRetention(tc.in)
			if tc.bad {
				if err == nil {
					t.Fatalf("got %v, want an error", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// serveConfigOf runs `callbox serve args...` up to the appliance.Config it
// would start, without starting it.
func serveConfigOf(t *testing.T, args ...string) (appliance.Config, error) {
	t.Helper()
	app := New(io.Discard, io.Discard, Build{})
	var cfg appliance.Config
	for _, cmd := range app.Commands {
		if cmd.Name == "serve" {
			cmd.Action = func(c *cli.Context) (err error) {
				cfg, err = serveConfig(c, Build{})
				return err
			}
		}
	}
	err := app.Run(append([]string{"callbox", "--data", t.TempDir(), "serve"}, args...))
	return cfg, err
}

// TestServeFlagsReachConfig: the browser-facing, rate and media fast path
// flags, and their environment variables, end up in appliance.Config.
func TestServeFlagsReachConfig(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		args  []string
		check func(t *testing.T, cfg appliance.Config)
		err   string
	}{
		{name: "defaults", check: func(t *testing.T, cfg appliance.Config) {
			if cfg.AllowedOrigins != nil || cfg.AllowedHosts != nil {
				t.Errorf("origins %q, hosts %q; want none", cfg.AllowedOrigins, cfg.AllowedHosts)
			}
			// The flags' defaults are signaling's limits, to the letter.
			if cfg.LoginRate != signaling.DefaultLoginRate || cfg.CallRate != signaling.DefaultCallRate {
				t.Errorf("LoginRate %+v, CallRate %+v; want signaling's defaults %+v, %+v",
					cfg.LoginRate, cfg.CallRate, signaling.DefaultLoginRate, signaling.DefaultCallRate)
			}
			if cfg.NoMediaFastPath {
				t.Error("NoMediaFastPath by default; want the fast path on")
			}
		}},
		{name: "media fast path off", args: []string{"--no-media-fastpath"}, check: func(t *testing.T, cfg appliance.Config) {
			if !cfg.NoMediaFastPath {
				t.Error("--no-media-fastpath: NoMediaFastPath = false")
			}
		}},
		{name: "media fast path off from the environment", env: map[string]string{"CALLBOX_NO_MEDIA_FASTPATH": "true"},
			check: func(t *testing.T, cfg appliance.Config) {
				if !cfg.NoMediaFastPath {
					t.Error("CALLBOX_NO_MEDIA_FASTPATH=true: NoMediaFastPath = false")
				}
			}},
		{name: "media fast path flag beats the environment", env: map[string]string{"CALLBOX_NO_MEDIA_FASTPATH": "true"},
			args: []string{"--no-media-fastpath=false"}, check: func(t *testing.T, cfg appliance.Config) {
				if cfg.NoMediaFastPath {
					t.Error("--no-media-fastpath=false over CALLBOX_NO_MEDIA_FASTPATH=true: NoMediaFastPath = true")
				}
			}},
		{name: "media fast path switch not a bool", env: map[string]string{"CALLBOX_NO_MEDIA_FASTPATH": "maybe"}, err: "CALLBOX_NO_MEDIA_FASTPATH"},
		{name: "rates", args: []string{"--login-rate", "120", "--call-rate", "6"}, check: func(t *testing.T, cfg appliance.Config) {
			if want := (signaling.Rate{Burst: 120, Every: 500 * time.Millisecond}); cfg.LoginRate != want {
				t.Errorf("LoginRate = %+v, want %+v", cfg.LoginRate, want)
			}
			if want := (signaling.Rate{Burst: 3, Every: 10 * time.Second}); cfg.CallRate != want {
				t.Errorf("CallRate = %+v, want %+v", cfg.CallRate, want)
			}
		}},
		{name: "one call a minute", args: []string{"--call-rate", "1"}, check: func(t *testing.T, cfg appliance.Config) {
			if want := (signaling.Rate{Burst: 1, Every: time.Minute}); cfg.CallRate != want {
				t.Errorf("CallRate = %+v, want %+v", cfg.CallRate, want)
			}
		}},
		{name: "rates off", env: map[string]string{"CALLBOX_LOGIN_RATE": "0"}, args: []string{"--call-rate", "0"},
			check: func(t *testing.T, cfg appliance.Config) {
				if cfg.LoginRate.Burst >= 0 || cfg.CallRate.Burst >= 0 {
					t.Errorf("LoginRate %+v, CallRate %+v; want both off (negative Burst)", cfg.LoginRate, cfg.CallRate)
				}
			}},
		{name: "negative rate", args: []string{"--call-rate", "-1"}, err: "invalid --call-rate -1"},
		{name: "rate beyond the clock", args: []string{"--login-rate", "100000000000"}, err: "invalid --login-rate 100000000000"},
		{name: "origins and hosts", args: []string{"--allowed-origin", "https://app.example.com", "--allowed-origin", "http://localhost:3000",
			"--allowed-host", "callbox.example.com", "--allowed-host", "callbox.internal."},
			check: func(t *testing.T, cfg appliance.Config) {
				if !slices.Equal(cfg.AllowedOrigins, []string{"https://app.example.com", "http://localhost:3000"}) {
					t.Errorf("AllowedOrigins = %q", cfg.AllowedOrigins)
				}
				if !slices.Equal(cfg.AllowedHosts, []string{"callbox.example.com", "callbox.internal."}) {
					t.Errorf("AllowedHosts = %q", cfg.AllowedHosts)
				}
			}},
		{name: "origins and hosts from the environment",
			env: map[string]string{"CALLBOX_ALLOWED_ORIGIN": "https://a.example.com,https://b.example.com", "CALLBOX_ALLOWED_HOST": "callbox.example.com"},
			check: func(t *testing.T, cfg appliance.Config) {
				if !slices.Equal(cfg.AllowedOrigins, []string{"https://a.example.com", "https://b.example.com"}) || !slices.Equal(cfg.AllowedHosts, []string{"callbox.example.com"}) {
					t.Errorf("AllowedOrigins = %q, AllowedHosts = %q", cfg.AllowedOrigins, cfg.AllowedHosts)
				}
			}},
		{name: "origin without scheme", args: []string{"--allowed-origin", "app.example.com"}, err: `invalid --allowed-origin "app.example.com"`},
		{name: "origin with path", args: []string{"--allowed-origin", "https://app.example.com/app"}, err: "invalid --allowed-origin"},
		{name: "host with port", args: []string{"--allowed-host", "callbox.example.com:8080"}, err: `invalid --allowed-host "callbox.example.com:8080"`},
		{name: "host as URL", args: []string{"--allowed-host", "https://callbox.example.com"}, err: "invalid --allowed-host"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			cfg, err := serveConfigOf(t, tc.args...)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, cfg)
		})
	}
}

// The environment variable is read like the flag, and checked the same way.
func TestRecordRetentionFromEnv(t *testing.T) {
	t.Setenv("CALLBOX_RECORD_RETENTION", "soon")
	// --turn-quota 0 is refused after the retention: serve never starts.
	r := run(t, filepath.Join(t.TempDir(), "data"), "serve", "--turn-quota", "0")
	if !r.failed || !strings.Contains(r.err, `invalid --record-retention "soon"`) {
		t.Fatalf("got failed=%v %q", r.failed, r.err)
	}
}

func TestCompact(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	var app appJSON
	json.Unmarshal([]byte(mustRun(t, dir, "app", "create", "--name", "t", "--json")), &app)
	// A few megabytes of records, then all but the newest five pruned:
	// the file keeps its size until compacted.
	db := filepath.Join(dir, store.FileName)
	st, err := store.Open(db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	err = st.Update(func(tx *store.Tx) error {
		for i := range 3000 {
			at := start.Add(time.Duration(i) * time.Second)
			err := tx.PutCall(record.Call{SDKAppID: app.SDKAppID, CallID: fmt.Sprintf("c%04d", i), State: record.CallEnded,
				StartAt: at, EndAt: at, UserData: strings.Repeat("x", 1024),
				Participants: []record.Participant{{UserID: "alice", Role: "caller", State: record.PartLeft}}})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		err = st.Update(func(tx *store.Tx) error {
			_, err := tx.PruneCalls(start.Add(2995*time.Second), 3000, store.PruneCursor{})
			return err
		})
	}
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(db)

	copyPath := filepath.Join(t.TempDir(), "copy.db")
	if out := mustRun(t, dir, "compact", "--out", copyPath); !strings.HasPrefix(out, "compacted "+copyPath+": ") {
		t.Fatalf("compact --out printed %q", out)
	}
	if st, _ := os.Stat(db); st.Size() != before.Size() {
		t.Fatalf("compact --out changed the database")
	}
	out := mustRun(t, dir, "compact")
	after, _ := os.Stat(db)
	if want := fmt.Sprintf("(%d -> %d bytes)", before.Size(), after.Size()); !strings.Contains(out, want) || after.Size()*4 > before.Size() {
		t.Fatalf("compact printed %q; file %d -> %d bytes, want at least 4x smaller", out, before.Size(), after.Size())
	}
	// The copy is a data directory of its own once named callbox.db.
	copyDir := filepath.Dir(copyPath)
	if err := os.Rename(copyPath, filepath.Join(copyDir, store.FileName)); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, copyDir} {
		var recs []record.Call
		json.Unmarshal([]byte(mustRun(t, d, "record", "list", "--user", "alice", "--json")), &recs)
		if len(recs) != 5 || recs[0].CallID != "c2999" || recs[4].CallID != "c2995" || len(recs[0].UserData) != 1024 {
			t.Errorf("%s: records after compact = %d, first %+v", d, len(recs), recs)
		}
		if apps := mustRun(t, d, "app", "list", "--json"); !strings.Contains(apps, app.Key) {
			t.Errorf("%s: apps after compact = %s", d, apps)
		}
	}
}
