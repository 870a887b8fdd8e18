package sfu_test

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"callbox/sfu/sfuclient"
)

// twccID is the transport-wide-cc extension id of an SDP, 0 if none.
func twccID(sdp string) uint8 {
	m := regexp.MustCompile(`a=extmap:(\d+) http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01`).FindStringSubmatch(sdp)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return uint8(n)
}

// TestSubscriberTransportCC: a subscriber that negotiates transport-wide-cc
// (as browsers do) gets a transport-wide sequence number on every packet,
// one sequence for its subscribe PC, and its feedback drives the SFU's
// estimate towards it. A small view takes q at once; when the view grows
// and the larger layers come up, the estimate (started at 300 kbit/s from
// q's traffic) does not cover h, so the SFU probes with padding-only
// packets between frames until it does, then steps up on h's keyframe.
func TestSubscriberTransportCC(t *testing.T) {
	e := newEnv(t)
	a := e.join("r", "alice", sfuclient.Config{})
	b := e.join("r", "bob", sfuclient.Config{TWCC: true})
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
	upper := make(chan struct{}) // h and f start when closed
	for _, l := range layers {
		l := l
		rid := l.Local.RID()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if rid != "q" {
				select {
				case <-upper:
				case <-ctx.Done():
					return
				}
			}
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
				default:
				}
				_ = l.Write(seq, uint32(seq)*3000, vp8Payload(rid, seq, key, sizes[rid][0], sizes[rid][1]), -1)
			}
		}()
	}

	r := e.waitRemotes(b, "alice/video")["alice/video"]
	id := twccID(b.Sub.RemoteDescription().SDP)
	if id == 0 {
		t.Fatalf("the subscribe offer negotiates no transport-wide-cc:\n%s", b.Sub.RemoteDescription().SDP)
	}
	var padding, stamped, media atomic.Int64
	var bad atomic.Value
	layerOf := make(chan string, 4096)
	wg.Add(1)
	go func() {
		defer wg.Done()
		var last uint16
		have := false
		for {
			p, _, err := r.Track.ReadRTP()
			if err != nil {
				return
			}
			ext := p.GetExtension(id)
			if len(ext) != 2 {
				bad.CompareAndSwap(nil, "packet "+strconv.Itoa(int(p.SequenceNumber))+" has no transport-wide sequence number")
				continue
			}
			tw := uint16(ext[0])<<8 | uint16(ext[1])
			// One sequence per subscribe PC, bob's only stream here: it
			// only grows (gaps are loss, or RTCP-less reordering on
			// loopback, both rare).
			if have && int16(tw-last) <= 0 {
				bad.CompareAndSwap(nil, "transport-wide sequence "+strconv.Itoa(int(tw))+" after "+strconv.Itoa(int(last)))
			}
			last, have = tw, true
			stamped.Add(1)
			if len(p.Payload) == 0 {
				if !p.Padding {
					bad.CompareAndSwap(nil, "empty packet without padding")
				}
				padding.Add(1)
				continue
			}
			media.Add(1)
			for _, rid := range rids {
				if bytes.Contains(p.Payload, []byte("layer="+rid+" ")) {
					select {
					case layerOf <- rid:
					default:
					}
				}
			}
		}
	}()
	waitLayer := func(rid string) {
		t.Helper()
		for {
			select {
			case got := <-layerOf:
				if got == rid {
					return
				}
			case <-e.ctx.Done():
				t.Fatalf("no packet of layer %s; %d media and %d padding packets stamped", rid, media.Load(), padding.Load())
			}
		}
	}
	if err := b.Send(map[string]any{"type": "layer", "track": r.TrackID, "maxWidth": 1280, "maxHeight": 720}); err != nil {
		t.Fatal(err)
	}
	waitLayer("q")
	close(upper)
	waitLayer("h")
	if padding.Load() == 0 {
		t.Errorf("stepped up to h with no probe: the estimate from q's traffic should not have covered it")
	}
	if v := bad.Load(); v != nil {
		t.Error(v)
	}
	t.Logf("%d media and %d padding packets, all with transport-wide sequence numbers", media.Load(), padding.Load())
}

// TestPauseUnwatchedLayers (issue 11.3): the SFU tells a simulcast
// publisher which encodings somebody watches. A subscriber with a small
// view leaves only q wanted (after the 2 s a layer must stay unwanted);
// a large view wants all three again at once.
func TestPauseUnwatchedLayers(t *testing.T) {
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
	for _, l := range layers {
		l := l
		rid := l.Local.RID()
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for seq := uint16(1); ; seq++ {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				key := false
				select {
				case <-l.PLI:
					key = true
				default:
				}
				_ = l.Write(seq, uint32(seq)*3000, vp8Payload(rid, seq, key, sizes[rid][0], sizes[rid][1]), -1)
			}
		}()
	}
	mid := ""
	for _, tr := range a.Pub.GetTransceivers() {
		if tr.Sender() != nil && tr.Sender().Track() != nil && tr.Sender().Track().Kind().String() == "video" {
			mid = tr.Mid()
		}
	}
	r := e.waitRemotes(b, "alice/video")["alice/video"]
	want := func(rids ...string) time.Duration {
		t.Helper()
		start := time.Now()
		for {
			select {
			case m := <-a.Layers():
				if m.Mid != mid {
					t.Fatalf("layers for mid %q, alice's video is %q", m.Mid, mid)
				}
				if strings.Join(m.RIDs, ",") == strings.Join(rids, ",") {
					return time.Since(start)
				}
			case <-e.ctx.Done():
				t.Fatalf("alice was never told to send %v", rids)
			}
		}
	}
	if err := b.Send(map[string]any{"type": "layer", "track": r.TrackID, "maxWidth": 320, "maxHeight": 180}); err != nil {
		t.Fatal(err)
	}
	if d := want("q"); d < 1500*time.Millisecond {
		t.Errorf("h and f paused %v after the view became small, before the 2 s hold", d)
	}
	if err := b.Send(map[string]any{"type": "layer", "track": r.TrackID, "maxWidth": 640, "maxHeight": 360}); err != nil {
		t.Fatal(err)
	}
	if d := want("q", "h"); d > time.Second {
		t.Errorf("h resumed %v after the view grew, want at the next tick", d)
	}
	if err := b.Send(map[string]any{"type": "layer", "track": r.TrackID, "maxWidth": 0, "maxHeight": 0}); err != nil {
		t.Fatal(err)
	}
	want("q", "h", "f")
	// bob leaves: nobody watches; only q stays.
	b.peer.Leave()
	want("q")
}
