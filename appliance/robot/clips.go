package robot

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"
)

// The built-in clips: a 440 Hz tone (Ogg/Opus, 20 ms pages) and ffmpeg's
// moving test pattern (IVF/VP8, 320x240, 15 fps), 3 s each; made by
// scripts/robot-clips.sh.
//
//go:embed clips/tone.ogg clips/pattern.ivf
var builtin embed.FS

// Size limits of a clip file: enough for a minute of either.
const (
	MaxClipBytes = 8 << 20
	maxFrames    = 1 << 16
)

// Frame is one Opus packet or one VP8 frame and how long it plays.
type Frame struct {
	Data     []byte
	Duration time.Duration
}

// Audio is an Opus clip: one packet per frame.
type Audio struct{ Frames []Frame }

// Video is a VP8 clip; its first frame is a keyframe.
type Video struct {
	Frames        []Frame
	Width, Height int
}

// Media is what the robot plays, each looped.
type Media struct {
	Audio *Audio
	Video *Video
}

// Builtin returns the built-in clips.
func Builtin() (Media, error) {
	ab, err := builtin.ReadFile("clips/tone.ogg")
	if err != nil {
		return Media{}, err
	}
	vb, err := builtin.ReadFile("clips/pattern.ivf")
	if err != nil {
		return Media{}, err
	}
	a, err := ParseOgg(ab)
	if err != nil {
		return Media{}, fmt.Errorf("built-in audio: %w", err)
	}
	v, err := ParseIVF(vb)
	if err != nil {
		return Media{}, fmt.Errorf("built-in video: %w", err)
	}
	return Media{Audio: a, Video: v}, nil
}

// ParseOgg reads an Ogg/Opus file whose every data page holds exactly
// one Opus packet, the layout WebRTC players stream from (ffmpeg
// -page_duration 20000; pion's oggreader returns pages, not packets). A
// page whose granule step is not its packet's duration holds several
// packets and is refused with a clear error.
func ParseOgg(b []byte) (*Audio, error) {
	if len(b) > MaxClipBytes {
		return nil, fmt.Errorf("ogg: file over %d bytes", MaxClipBytes)
	}
	r, head, err := oggreader.NewWith(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("ogg: not an Ogg/Opus file: %w", err)
	}
	if head.SampleRate == 0 {
		return nil, errors.New("ogg: Opus header without a sample rate")
	}
	a := &Audio{}
	var granules []uint64
	pages := 0
	for {
		page, hdr, err := r.ParseNextPage()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("ogg: page %d: %w", pages, err)
		}
		pages++
		if _, isHeader := hdr.HeaderType(page); isHeader || len(page) == 0 {
			continue
		}
		samples, err := opusSamples(page)
		if err != nil {
			return nil, fmt.Errorf("ogg: page %d: %w", pages, err)
		}
		a.Frames = append(a.Frames, Frame{Data: page, Duration: time.Duration(samples) * time.Second / 48000})
		granules = append(granules, hdr.GranulePosition)
		if len(a.Frames) > maxFrames {
			return nil, fmt.Errorf("ogg: more than %d packets", maxFrames)
		}
	}
	if len(a.Frames) == 0 {
		return nil, errors.New("ogg: no Opus packets")
	}
	// The first data page's granule counts the pre-skip too, and the last
	// may be trimmed: check the steps between them.
	for i := 1; i < len(granules)-1; i++ {
		step := granules[i] - granules[i-1]
		if want := uint64(a.Frames[i].Duration * 48000 / time.Second); step != want {
			return nil, fmt.Errorf("ogg: data page %d holds more than one Opus packet (granule step %d, packet %d samples): encode one packet per page (ffmpeg -page_duration 20000)", i+1, step, want)
		}
	}
	return a, nil
}

// opusSamples is the duration of an Opus packet in 48 kHz samples, from
// its TOC byte (RFC 6716 §3.1); it refuses what is not an Opus packet.
func opusSamples(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, errors.New("empty Opus packet")
	}
	toc := p[0]
	cfg := toc >> 3
	var tenths int // frame duration in 0.1 ms
	switch {
	case cfg < 12: // SILK
		tenths = []int{100, 200, 400, 600}[cfg%4]
	case cfg < 16: // hybrid
		tenths = []int{100, 200}[cfg%2]
	default: // CELT
		tenths = []int{25, 50, 100, 200}[cfg%4]
	}
	frames := 1
	switch toc & 3 {
	case 1, 2:
		frames = 2
	case 3:
		if len(p) < 2 {
			return 0, errors.New("Opus packet of code 3 without a frame count")
		}
		frames = int(p[1] & 0x3f)
		if frames == 0 {
			return 0, errors.New("Opus packet with 0 frames")
		}
	}
	samples := frames * tenths * 48 / 10
	if samples > 5760 { // 120 ms, RFC 6716 §3.2.5
		return 0, fmt.Errorf("Opus packet of %d samples, over 120 ms", samples)
	}
	return samples, nil
}

// ParseIVF reads an IVF file of VP8 frames; the first must be a keyframe.
func ParseIVF(b []byte) (*Video, error) {
	if len(b) > MaxClipBytes {
		return nil, fmt.Errorf("ivf: file over %d bytes", MaxClipBytes)
	}
	r, head, err := ivfreader.NewWith(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("ivf: not an IVF file: %w", err)
	}
	if head.FourCC != "VP80" {
		return nil, fmt.Errorf("ivf: codec %q, want VP80", head.FourCC)
	}
	if head.TimebaseDenominator == 0 || head.TimebaseNumerator == 0 {
		return nil, errors.New("ivf: zero time base")
	}
	unit := time.Second * time.Duration(head.TimebaseNumerator) / time.Duration(head.TimebaseDenominator)
	v := &Video{Width: int(head.Width), Height: int(head.Height)}
	var stamps []uint64
	for {
		frame, fh, err := r.ParseNextFrame()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("ivf: frame %d: %w", len(v.Frames), err)
		}
		if len(v.Frames) == 0 && !IsVP8Keyframe(frame) {
			return nil, errors.New("ivf: the first frame is not a VP8 keyframe")
		}
		v.Frames = append(v.Frames, Frame{Data: frame})
		// pion's Timestamp is the frame's pts scaled by den/num; undo it.
		stamps = append(stamps, fh.Timestamp*uint64(head.TimebaseNumerator)/uint64(head.TimebaseDenominator))
		if len(v.Frames) > maxFrames {
			return nil, fmt.Errorf("ivf: more than %d frames", maxFrames)
		}
	}
	if len(v.Frames) == 0 {
		return nil, errors.New("ivf: no frames")
	}
	// A frame lasts until the next one; the last as long as the average.
	for i := range v.Frames[:len(v.Frames)-1] {
		if stamps[i+1] <= stamps[i] {
			return nil, fmt.Errorf("ivf: frame %d: timestamps not increasing", i+1)
		}
		v.Frames[i].Duration = time.Duration(stamps[i+1]-stamps[i]) * unit
	}
	last := unit
	if n := len(v.Frames); n > 1 {
		last = time.Duration(stamps[n-1]-stamps[0]) * unit / time.Duration(n-1)
	}
	v.Frames[len(v.Frames)-1].Duration = last
	for _, f := range v.Frames {
		if f.Duration <= 0 || f.Duration > 5*time.Second {
			return nil, fmt.Errorf("ivf: a frame lasts %s", f.Duration)
		}
	}
	return v, nil
}

// IsVP8Keyframe reports whether a VP8 frame is a keyframe: P bit clear
// and the start code 9d 01 2a (RFC 6386 §9.1).
func IsVP8Keyframe(f []byte) bool {
	return len(f) >= 10 && f[0]&1 == 0 && f[3] == 0x9d && f[4] == 0x01 && f[5] == 0x2a
}
