package sfu_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"callbox/sfu/sfuclient"

	"github.com/pion/rtcp"
)

// vp8Payload is a VP8 packet whose payload names its layer. A keyframe
// carries the frame size in its header (RFC 6386 §9.1).
func vp8Payload(rid string, seq uint16, key bool, w, h int) []byte {
	p := []byte{0x10} // S=1, PID=0
	if key {
		p = append(p, 0x00, 0, 0, 0x9d, 0x01, 0x2a, byte(w), byte(w>>8), byte(h), byte(h>>8))
	} else {
		p = append(p, 0x01, 0, 0)
	}
	p = append(p, fmt.Sprintf("layer=%s seq=%d ", rid, seq)...)
	// Layers differ in bitrate as real ones do: q < h < f.
	return append(p, make([]byte, map[string]int{"q": 50, "h": 300, "f": 900}[rid])...)
}

func TestSimulcastLayerSwitch(t *testing.T) {
	e := newEnv(t)
	a := e.join("r", "alice", sfuclient.Config{})
	b := e.join("r", "bob", sfuclient.Config{})
	rids := []string{"q", "h", "f"}
	sizes := map[string][2]int{"q": {320, 180}, "h": {640, 360}, "f": {1280, 720}}
	layers, err := a.AddVideo(rids...)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Offer(false); err != nil {
		t.Fatal(err)
	}
	a.PrepareSimulcast(layers)

	ctx, stop := context.WithCancel(e.ctx)
	var wg sync.WaitGroup
	defer func() { stop(); a.Close(); b.Close(); wg.Wait() }()
	plis := map[string]*atomic.Int32{}
	for _, l := range layers {
		l := l
		rid := l.Local.RID()
		plis[rid] = &atomic.Int32{}
		wg.Add(1)
		go func() { // one sender per layer; keyframes only when asked
			defer wg.Done()
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			for seq := uint16(100 * (1 + len(rid))); ; seq++ {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				key := false
				select {
				case <-l.PLI:
					key = true
					plis[rid].Add(1)
				default:
				}
				_ = l.Write(seq, uint32(seq)*3000, vp8Payload(rid, seq, key, sizes[rid][0], sizes[rid][1]), -1)
			}
		}()
	}

	r := e.waitRemotes(b, "alice/video")["alice/video"]
	type got struct {
		seq     uint16
		payload []byte
	}
	recv := make(chan got, 4096)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			p, _, err := r.Track.ReadRTP()
			if err != nil {
				return
			}
			select {
			case recv <- got{p.SequenceNumber, p.Payload}:
			default:
			}
		}
	}()

	// waitLayer reads until packets of rid arrive and checks that the
	// switch kept sequence numbers contiguous and began with a keyframe.
	waitLayer := func(rid string, first bool) {
		t.Helper()
		var last uint16
		haveLast := false
		for {
			select {
			case g := <-recv:
				if bytes.Contains(g.payload, []byte("layer="+rid+" ")) {
					if haveLast && g.seq != last+1 {
						t.Errorf("switch to %s: seq %d after %d", rid, g.seq, last)
					}
					// Before DTLS is up pion drops writes, so the very
					// first keyframe may be lost (the SFU asks again on
					// connect); later switches must start with one.
					if !first && g.payload[1]&0x01 != 0 {
						t.Errorf("switch to %s began with an interframe", rid)
					}
					return
				}
				last, haveLast = g.seq, true
			case <-e.ctx.Done():
				t.Fatalf("no packet of layer %s; plis q=%d h=%d f=%d", rid, plis["q"].Load(), plis["h"].Load(), plis["f"].Load())
			}
		}
	}
	waitLayer("f", true) // no size preference: the top layer
	if err := b.Send(map[string]any{"type": "layer", "track": r.TrackID, "maxWidth": 320, "maxHeight": 180}); err != nil {
		t.Fatal(err)
	}
	waitLayer("q", false)
	if plis["q"].Load() == 0 {
		t.Errorf("switching to q sent no keyframe request to q")
	}
	if err := b.Send(map[string]any{"type": "layer", "track": r.TrackID, "maxWidth": 600, "maxHeight": 340}); err != nil {
		t.Fatal(err)
	}
	waitLayer("h", false)

	// Bandwidth: with a REMB of 150 kbit/s only q (~100 kbit/s here) fits,
	// whatever the rendered size.
	if err := b.Send(map[string]any{"type": "layer", "track": r.TrackID, "maxWidth": 1280, "maxHeight": 720}); err != nil {
		t.Fatal(err)
	}
	waitLayer("f", false)
	remb := &rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: 150_000, SSRCs: []uint32{uint32(r.Track.SSRC())}}
	if err := b.Sub.WriteRTCP([]rtcp.Packet{remb}); err != nil {
		t.Fatal(err)
	}
	waitLayer("q", false)
}
