package appliance

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"callbox/appliance/restapi"
	"callbox/appliance/robot"
	"callbox/store"
)

// TestRobotMediaChoice: a robot call's clips are the request's, else the
// app's (`callbox app robot-media`), else the built-in ones; a clip that
// went missing since it was named is refused before the call exists.
func TestRobotMediaChoice(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, store.FileName), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	app, err := st.CreateApp("t", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	media := filepath.Join(dir, RobotMediaDir)
	os.MkdirAll(media, 0o700)
	beep, _ := os.ReadFile("testdata/beep.ogg") // 1 s, 660 Hz
	os.WriteFile(filepath.Join(media, "beep.ogg"), beep, 0o600)
	r := &robots{dataDir: dir, st: st, builtin: sync.OnceValues(robot.Builtin)}
	builtin, _ := robot.Builtin()

	m, err := r.media(app.SDKAppID, restapi.RobotMedia{})
	if err != nil || len(m.Audio.Frames) != len(builtin.Audio.Frames) || m.Video == nil {
		t.Fatalf("no names: %v, %d packets", err, len(m.Audio.Frames))
	}
	if _, err := setRobotMedia(st, app.SDKAppID, ptr("beep.ogg"), nil); err != nil {
		t.Fatal(err)
	}
	m, err = r.media(app.SDKAppID, restapi.RobotMedia{})
	if err != nil || len(m.Audio.Frames) != 51 || len(m.Video.Frames) != len(builtin.Video.Frames) {
		t.Fatalf("the app's audio: %v, %d packets, want 51", err, len(m.Audio.Frames))
	}
	if cached, _ := r.builtin(); len(cached.Audio.Frames) != len(builtin.Audio.Frames) {
		t.Fatal("choosing the app's clip changed the cached built-in one")
	}
	os.WriteFile(filepath.Join(media, "tone.ogg"), mustRead(t, "robot/clips/tone.ogg"), 0o600)
	m, err = r.media(app.SDKAppID, restapi.RobotMedia{Audio: "tone.ogg"})
	if err != nil || len(m.Audio.Frames) != len(builtin.Audio.Frames) {
		t.Fatalf("the request's audio over the app's: %v, %d packets", err, len(m.Audio.Frames))
	}
	os.Remove(filepath.Join(media, "beep.ogg"))
	if _, err := r.media(app.SDKAppID, restapi.RobotMedia{}); !errors.Is(err, restapi.ErrUnknownMedia) {
		t.Fatalf("the app's clip gone: %v, want ErrUnknownMedia", err)
	}
	for _, name := range []string{"../" + store.FileName, "nope.ogg", "tone.ogg/x"} {
		if _, err := r.media(app.SDKAppID, restapi.RobotMedia{Audio: name}); !errors.Is(err, restapi.ErrUnknownMedia) {
			t.Errorf("%q: %v, want ErrUnknownMedia", name, err)
		}
	}
	if _, err := r.media(app.SDKAppID, restapi.RobotMedia{Video: "tone.ogg"}); !errors.Is(err, restapi.ErrUnknownMedia) {
		t.Errorf("Ogg as video: %v", err)
	}
}

func ptr(s string) *string { return &s }

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
