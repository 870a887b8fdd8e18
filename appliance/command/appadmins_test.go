package command

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAppAdminsAndRobotMedia: `callbox app admins` manages an app's REST
// admin accounts (administrator by default, never none) and `app
// robot-media` names clips only when they are in DATA/robot-media and
// parse; both work with no server running (store) as with one (tested
// over the control socket by the appliance tests).
func TestAppAdminsAndRobotMedia(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	var app appJSON
	if err := json.Unmarshal([]byte(mustRun(t, dir, "app", "create", "--name", "team", "--json")), &app); err != nil {
		t.Fatal(err)
	}
	id := itoa(app.SDKAppID)
	if out := mustRun(t, dir, "app", "admins", "--sdkappid", id); !strings.Contains(out, "REST admins of app "+id+": administrator") {
		t.Fatalf("default admins: %q", out)
	}
	mustRun(t, dir, "app", "admins", "--sdkappid", id, "--add", "ops", "--add", "backend")
	var got struct{ Admins []string }
	json.Unmarshal([]byte(mustRun(t, dir, "app", "admins", "--sdkappid", id, "--remove", "administrator", "--json")), &got)
	if strings.Join(got.Admins, ",") != "ops,backend" {
		t.Fatalf("admins %v", got.Admins)
	}
	for _, bad := range [][]string{
		{"--remove", "ops", "--remove", "backend"}, // none left
		{"--add", "a b"},
		{"--add", strings.Repeat("x", 33)},
	} {
		if r := run(t, dir, append([]string{"app", "admins", "--sdkappid", id}, bad...)...); !r.failed {
			t.Errorf("admins %v accepted: %s", bad, r.out)
		}
	}
	if r := run(t, dir, "app", "admins", "--sdkappid", "1499999998", "--add", "x"); !r.failed || !strings.Contains(r.err, "no app") {
		t.Errorf("unknown app: %+v", r)
	}

	// Robot clips: only files of DATA/robot-media that parse.
	if r := run(t, dir, "app", "robot-media", "--sdkappid", id, "--audio", "tone.ogg"); !r.failed {
		t.Fatal("a missing clip was accepted")
	}
	media := filepath.Join(dir, "robot-media")
	os.MkdirAll(media, 0o700)
	copyFile(t, "../robot/clips/tone.ogg", filepath.Join(media, "tone.ogg"))
	copyFile(t, "../robot/clips/tone.ogg", filepath.Join(media, "tone.ivf")) // not IVF
	for _, bad := range [][]string{
		{"--video", "tone.ivf"},
		{"--audio", "../callbox.db"},
		{"--audio", ".hidden"},
		{},
	} {
		if r := run(t, dir, append([]string{"app", "robot-media", "--sdkappid", id}, bad...)...); !r.failed {
			t.Errorf("robot-media %v accepted: %s", bad, r.out)
		}
	}
	if out := mustRun(t, dir, "app", "robot-media", "--sdkappid", id, "--audio", "tone.ogg"); !strings.Contains(out, "audio tone.ogg, video built-in") {
		t.Fatalf("robot-media: %q", out)
	}
	if out := mustRun(t, dir, "app", "robot-media", "--sdkappid", id, "--audio", ""); !strings.Contains(out, "audio built-in") {
		t.Fatalf("robot-media reset: %q", out)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
