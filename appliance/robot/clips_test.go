package robot_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"callbox/appliance/robot"
)

func total(fs []robot.Frame) time.Duration {
	var d time.Duration
	for _, f := range fs {
		d += f.Duration
	}
	return d
}

// TestBuiltin: the embedded clips parse, last 3 s each, are small, and
// the video starts on a keyframe with another one inside.
func TestBuiltin(t *testing.T) {
	m, err := robot.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	// 3 s of 20 ms packets, and one for the encoder's pre-skip.
	if n := len(m.Audio.Frames); n != 151 {
		t.Errorf("%d Opus packets, want 151", n)
	}
	if d := total(m.Audio.Frames); d != 3020*time.Millisecond {
		t.Errorf("audio lasts %s", d)
	}
	if d := total(m.Video.Frames); d < 2900*time.Millisecond || d > 3100*time.Millisecond {
		t.Errorf("video lasts %s", d)
	}
	keys := 0
	for _, f := range m.Video.Frames {
		if robot.IsVP8Keyframe(f.Data) {
			keys++
		}
	}
	if keys < 2 || m.Video.Width != 320 || m.Video.Height != 240 {
		t.Errorf("%d keyframes, %dx%d", keys, m.Video.Width, m.Video.Height)
	}
	for _, name := range []string{"clips/tone.ogg", "clips/pattern.ivf"} {
		if fi, err := os.Stat(name); err != nil || fi.Size() > 100<<10 {
			t.Errorf("%s: %v, want under 100 KB", name, err)
		}
	}
}

// TestBadClips: what is not a clip the robot can stream is refused with
// a clear error.
func TestBadClips(t *testing.T) {
	ogg, _ := os.ReadFile("clips/tone.ogg")
	ivf, _ := os.ReadFile("clips/pattern.ivf")
	multi, _ := os.ReadFile("testdata/multipacket.ogg")
	for _, tc := range []struct {
		name string
		fn   func([]byte) error
		in   []byte
		want string
	}{
		{"ogg empty", parseOgg, nil, "not an Ogg/Opus file"},
		{"ogg is ivf", parseOgg, ivf, "not an Ogg/Opus file"},
		{"ogg truncated", parseOgg, ogg[:len(ogg)/2], "page"},
		{"ogg pages of many packets", parseOgg, multi, "more than one Opus packet"},
		{"ivf empty", parseIVF, nil, "not an IVF file"},
		{"ivf is ogg", parseIVF, ogg, "not an IVF file"},
		{"ivf truncated", parseIVF, ivf[:len(ivf)/2], "frame"},
		{"ivf headers only", parseIVF, ivf[:32], "no frames"},
		{"ivf starts on a delta frame", parseIVF, dropFirstFrame(ivf), "not a VP8 keyframe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.fn(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func parseOgg(b []byte) error { _, err := robot.ParseOgg(b); return err }
func parseIVF(b []byte) error { _, err := robot.ParseIVF(b); return err }

// dropFirstFrame removes the first frame (a keyframe) of an IVF file.
func dropFirstFrame(ivf []byte) []byte {
	n := int(ivf[32]) | int(ivf[33])<<8 | int(ivf[34])<<16 | int(ivf[35])<<24
	return append(append([]byte{}, ivf[:32]...), ivf[32+12+n:]...)
}
