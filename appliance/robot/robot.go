// Package robot is the server-side caller of REST start_call_by_robot
// (tencent-compat.md §2, "input media stream"): once a callee accepts,
// it joins the call's media room as a participant and publishes an Opus
// audio track and a VP8 video track from clips (Ogg/Opus and IVF/VP8
// files, or the built-in ones), each looped, paced by the clips'
// timestamps, until its context ends.
//
// It owns the robot's media only: the call (ringing, timeout, records,
// webhooks) is the call service's, and it reaches the SFU through the
// Rooms seam like any participant, with the pion client of
// sfu/sfuclient. It must not know of signaling, REST or the store.
package robot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"callbox/sfu/sfuclient"
)

// Rooms is the SFU as the robot joins it (docs/media.md §2).
type Rooms interface {
	Join(room, user string, send func(json.RawMessage)) (Peer, error)
}

// Peer is the robot's presence in a room.
type Peer interface {
	Handle(msg json.RawMessage) error
	Leave()
}

// Config configures one robot in one call.
type Config struct {
	Rooms Rooms
	Room  string // the call's media room
	User  string // the robot's userID (Robot_Account)
	Media Media  // at least one of Audio and Video
	// SFUAddr, when valid, is the SFU's ICE UDP port as this host reaches
	// it (127.0.0.1:7882): it is given to the robot's PCs as an extra
	// candidate, so the robot connects even when the SFU's own candidates
	// carry a public address (--public-ip) that this host cannot reach.
	SFUAddr netip.AddrPort
	Logger  *slog.Logger
}

// maxLag is how far the robot may fall behind its clips' clock (a loaded
// machine, a stopped process) before it skips ahead rather than bursting.
const maxLag = time.Second

// Robot is one robot publishing into one room.
type Robot struct {
	cfg    Config
	log    *slog.Logger
	client *sfuclient.Client
	peer   Peer
	audio  *webrtc.TrackLocalStaticSample
	video  *webrtc.TrackLocalStaticSample
	pli    atomic.Bool // a keyframe was asked for
	cancel context.CancelFunc
	wg     sync.WaitGroup
	done   chan struct{}
}

// Start joins cfg.Room and publishes until ctx ends or Close; then the
// robot leaves the room. Close must be called to wait for it.
func Start(ctx context.Context, cfg Config) (*Robot, error) {
	if cfg.Rooms == nil || cfg.Room == "" || cfg.User == "" {
		return nil, errors.New("robot: Rooms, Room and User are required")
	}
	if cfg.Media.Audio == nil && cfg.Media.Video == nil {
		return nil, errors.New("robot: no media")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c, err := sfuclient.New(sfuclient.Config{})
	if err != nil {
		return nil, fmt.Errorf("robot: media client: %w", err)
	}
	r := &Robot{cfg: cfg, client: c, done: make(chan struct{}),
		log: cfg.Logger.With("component", "robot", "room_id", cfg.Room, "user_id", cfg.User)}
	if err := r.addTracks(); err != nil {
		c.Close()
		return nil, err
	}
	peer, err := cfg.Rooms.Join(cfg.Room, cfg.User, r.deliver)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("robot: join room %s: %w", cfg.Room, err)
	}
	r.peer = peer
	c.Start(peer)
	if err := c.Offer(false); err != nil {
		peer.Leave()
		c.Close()
		return nil, fmt.Errorf("robot: publish offer: %w", err)
	}
	ctx, r.cancel = context.WithCancel(ctx)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer close(r.done)
		r.run(ctx)
	}()
	r.log.Info("robot publishing")
	return r, nil
}

func (r *Robot) addTracks() error {
	id := "robot-" + r.cfg.User
	if r.cfg.Media.Audio != nil {
		t, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", id)
		if err != nil {
			return err
		}
		s, err := r.client.Pub.AddTrack(t)
		if err != nil {
			return fmt.Errorf("robot: add audio: %w", err)
		}
		r.audio = t
		r.readRTCP(s, nil)
	}
	if r.cfg.Media.Video != nil {
		t, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", id)
		if err != nil {
			return err
		}
		s, err := r.client.Pub.AddTrack(t)
		if err != nil {
			return fmt.Errorf("robot: add video: %w", err)
		}
		r.video = t
		r.readRTCP(s, &r.pli)
	}
	return nil
}

// readRTCP reads a sender's RTCP (pion needs it read for its
// interceptors) until the PC closes, noting PLI and FIR in pli.
func (r *Robot) readRTCP(s *webrtc.RTPSender, pli *atomic.Bool) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			pkts, _, err := s.ReadRTCP()
			if err != nil {
				return
			}
			for _, p := range pkts {
				switch p.(type) {
				case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
					if pli != nil {
						pli.Store(true)
					}
				}
			}
		}
	}()
}

// deliver passes the SFU's messages to the client and, after each
// description, the extra local candidate of Config.SFUAddr.
func (r *Robot) deliver(msg json.RawMessage) {
	r.client.Deliver(msg)
	if !r.cfg.SFUAddr.IsValid() {
		return
	}
	var m struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(msg, &m) != nil {
		return
	}
	pc := map[string]string{"publish-answer": "publish", "subscribe-offer": "subscribe"}[m.Type]
	if pc == "" {
		return
	}
	zero := uint16(0)
	cand := webrtc.ICECandidateInit{
		Candidate:     fmt.Sprintf("candidate:robot 1 udp 2130706431 %s %d typ host", r.cfg.SFUAddr.Addr(), r.cfg.SFUAddr.Port()),
		SDPMLineIndex: &zero,
	}
	if b, err := json.Marshal(map[string]any{"type": "candidate", "pc": pc, "candidate": cand}); err == nil {
		r.client.Deliver(b)
	}
}

// run plays the clips until ctx ends, then leaves the room.
func (r *Robot) run(ctx context.Context) {
	defer func() {
		r.peer.Leave()
		r.client.Close()
		r.log.Info("robot left")
	}()
	a, v := r.cfg.Media.Audio, r.cfg.Media.Video
	start := time.Now()
	var ai, vi int
	var at, vt time.Duration // play position of each track
	if a == nil {
		at = 1<<63 - 1
	}
	if v == nil {
		vt = 1<<63 - 1
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-r.client.Remotes(): // callees' tracks: the robot does not listen
			continue
		case err := <-r.client.Errors():
			r.log.Warn("robot media", "err", err)
			continue
		}
		now := time.Since(start)
		if v != nil && r.pli.Swap(false) {
			vi = nextKeyframe(v, vi) // a new viewer decodes from here
		}
		for a != nil && at <= now {
			if now-at > maxLag {
				at = now
			}
			f := a.Frames[ai]
			if err := r.audio.WriteSample(media.Sample{Data: f.Data, Duration: f.Duration}); err != nil && !errors.Is(err, context.Canceled) {
				r.log.Debug("robot audio write", "err", err)
			}
			at += f.Duration
			ai = (ai + 1) % len(a.Frames)
		}
		for v != nil && vt <= now {
			if now-vt > maxLag {
				vt = now
			}
			f := v.Frames[vi]
			if err := r.video.WriteSample(media.Sample{Data: f.Data, Duration: f.Duration}); err != nil {
				r.log.Debug("robot video write", "err", err)
			}
			vt += f.Duration
			vi = (vi + 1) % len(v.Frames)
		}
		timer.Reset(min(at, vt) - now)
	}
}

// nextKeyframe is the index of the first keyframe at or after i.
func nextKeyframe(v *Video, i int) int {
	for k := range len(v.Frames) {
		j := (i + k) % len(v.Frames)
		if IsVP8Keyframe(v.Frames[j].Data) {
			return j
		}
	}
	return i
}

// Done is closed once the robot has left the room.
func (r *Robot) Done() <-chan struct{} { return r.done }

// Close stops the robot and waits until it has left the room.
func (r *Robot) Close() {
	r.cancel()
	r.wg.Wait()
}
