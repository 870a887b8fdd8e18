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
	// The stream bob receives is checked as any other (sfuclient/check.go):
	// its sequence numbers run on across switches, so it has no gap, no
	// reordering and no more loss than the default; each payload is one
	// alice sent, and within a layer's run the SFU's sequence offset holds.
	chk := b.Check(r, simulcastPayloads(sizes))
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			p, _, err := r.Track.ReadRTP()
			if err != nil {
				return
			}
			chk.Add(p.SequenceNumber, p.Payload)
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
	e.waitStream(chk, chk.Span(), "bob<-alice video")
	// f (the first layer, no switch), then q, h, f, q: four switches at
	// least (congestion control may add its own).
	if st := e.s.Stats(); st.LayerSwitches < 4 {
		t.Errorf("Stats().LayerSwitches = %d, want at least 4", st.LayerSwitches)
	}
}

// simulcastPayloads checks that each packet bob receives is a vp8Payload
// alice sent (its layer and sequence number read from it), and that the
// SFU's sequence offset (alice's number minus bob's) stays the same within
// a layer's run: it changes only at a switch, which begins on a keyframe.
func simulcastPayloads(sizes map[string][2]int) func(uint16, []byte) error {
	offsets := map[string]uint16{} // by layer, for its current run
	return func(seq uint16, p []byte) error {
		if len(p) < 4 {
			return fmt.Errorf("short payload %x", p)
		}
		key, text := p[1]&0x01 == 0, p[4:]
		if key {
			if len(p) < 11 {
				return fmt.Errorf("short keyframe %x", p)
			}
			text = p[11:]
		}
		var rid string
		var in uint16
		if _, err := fmt.Sscanf(string(text), "layer=%s seq=%d ", &rid, &in); err != nil {
			return fmt.Errorf("payload %.40q: %v", p, err)
		}
		sz, ok := sizes[rid]
		if !ok {
			return fmt.Errorf("unknown layer %q", rid)
		}
		if want := vp8Payload(rid, in, key, sz[0], sz[1]); !bytes.Equal(p, want) {
			return fmt.Errorf("payload %.40q, want %.40q", p, want)
		}
		off, seen := offsets[rid]
		if seen && off != in-seq && !key {
			return fmt.Errorf("layer %s seq %d arrives as %d: offset %d, was %d in this run", rid, in, seq, in-seq, off)
		}
		offsets[rid] = in - seq
		return nil
	}
}
