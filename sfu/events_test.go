package sfu_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"callbox/sfu/sfuclient"
)

func TestNACKRecovery(t *testing.T) {
	e := newEnv(t)
	a := e.join("r", "alice", sfuclient.Config{})
	b := e.join("r", "bob", sfuclient.Config{DropEvery: 7})
	aa, av := e.publishAV(a)
	ctx, stop := context.WithCancel(e.ctx)
	var wg sync.WaitGroup
	defer func() { stop(); a.Close(); b.Close(); wg.Wait() }()
	pump(ctx, &wg, "alice", map[string]*sfuclient.Track{"audio": aa, "video": av})
	r := e.waitRemotes(b, "alice/video")["alice/video"]
	rc := e.readRemote(r, &wg)
	// Every 7th datagram is dropped on bob's socket; a gap-free run of 200
	// sequence numbers is only possible through retransmissions.
	e.gapFree(rc, "bob<-alice video")
	if st := e.s.Stats(); st.Retransmitted == 0 {
		t.Errorf("no retransmission counted: %+v", st)
	}
}

func TestMuteAndVolumeEvents(t *testing.T) {
	e := newEnv(t)
	a := e.join("r", "alice", sfuclient.Config{})
	b := e.join("r", "bob", sfuclient.Config{})
	aa, av := e.publishAV(a)
	ctx, stop := context.WithCancel(e.ctx)
	var wg sync.WaitGroup
	defer func() { stop(); a.Close(); b.Close(); wg.Wait() }()
	pump(ctx, &wg, "alice", map[string]*sfuclient.Track{"audio": aa, "video": av})

	is := func(want string) func(json.RawMessage) bool {
		return func(d json.RawMessage) bool { return string(d) == want }
	}
	e.waitEvent(b, "onUserVideoAvailable", is(`{"userID":"alice","isVideoAvailable":true}`))
	e.waitEvent(b, "onUserAudioAvailable", is(`{"userID":"alice","isAudioAvailable":true}`))

	// pump sends an RFC 6464 level of 30 (-30 dBov): volume (70-30)*100/70.
	e.waitEvent(b, "onUserVoiceVolume", func(d json.RawMessage) bool {
		var v struct {
			VolumeMap   map[string]int `json:"volumeMap"`
			UserVolumes []struct {
				UserID string `json:"userID"`
				Volume int    `json:"volume"`
			} `json:"userVolumes"`
		}
		return json.Unmarshal(d, &v) == nil && v.VolumeMap["alice"] == 57 &&
			len(v.UserVolumes) == 1 && v.UserVolumes[0].UserID == "alice" && v.UserVolumes[0].Volume == 57
	})
	e.waitEvent(a, "onUserVoiceVolume", func(d json.RawMessage) bool { return true }) // the speaker sees itself too

	if err := a.Send(map[string]any{"type": "mute", "kind": "video", "muted": true}); err != nil {
		t.Fatal(err)
	}
	e.waitEvent(b, "onUserVideoAvailable", is(`{"userID":"alice","isVideoAvailable":false}`))
	if err := a.Send(map[string]any{"type": "mute", "kind": "audio", "muted": true}); err != nil {
		t.Fatal(err)
	}
	e.waitEvent(b, "onUserAudioAvailable", is(`{"userID":"alice","isAudioAvailable":false}`))
	e.waitEvent(b, "onUserVoiceVolume", func(d json.RawMessage) bool {
		var v struct{ VolumeMap map[string]int }
		return json.Unmarshal(d, &v) == nil && v.VolumeMap["alice"] == 0
	})
	if err := a.Send(map[string]any{"type": "mute", "kind": "video", "muted": false}); err != nil {
		t.Fatal(err)
	}
	e.waitEvent(b, "onUserVideoAvailable", is(`{"userID":"alice","isVideoAvailable":true}`))

	// Network quality: alice publishes without loss (Excellent); bob
	// publishes nothing and his pion client sends no reports (Unknown).
	e.waitEvent(a, "onUserNetworkQualityChanged", is(`{"localQuality":1,"remoteQuality":[{"userID":"bob","quality":0}]}`))
	e.waitEvent(b, "onUserNetworkQualityChanged", is(`{"localQuality":0,"remoteQuality":[{"userID":"alice","quality":1}]}`))
}

// gapFree waits until rc holds 200 consecutive sequence numbers.
func (e *env) gapFree(rc *received, what string) {
	e.t.Helper()
	for {
		rc.mu.Lock()
		first, ok := uint16(0), false
		for s := range rc.seqs {
			if !ok || int16(s-first) < 0 {
				first, ok = s, true
			}
		}
		var miss []uint16
		for i := uint16(5); ok && i < 205; i++ {
			if !rc.seqs[first+i] {
				miss = append(miss, first+i)
			}
		}
		rc.mu.Unlock()
		if ok && len(miss) == 0 {
			return
		}
		select {
		case <-rc.notify:
		case <-e.ctx.Done():
			e.t.Fatalf("%s: no gap-free run of 200 packets from %d, missing %v; stats %+v", what, first, miss, e.s.Stats())
		}
	}
}

// TestUpstreamNACK loses packets between the publisher and the SFU: the
// SFU's own NACKs (feedback.go) must get them resent.
func TestUpstreamNACK(t *testing.T) {
	e := newEnv(t)
	a := e.join("r", "alice", sfuclient.Config{DropSentEvery: 9})
	b := e.join("r", "bob", sfuclient.Config{NoNACK: true})
	aa, av := e.publishAV(a)
	ctx, stop := context.WithCancel(e.ctx)
	var wg sync.WaitGroup
	defer func() { stop(); a.Close(); b.Close(); wg.Wait() }()
	pump(ctx, &wg, "alice", map[string]*sfuclient.Track{"audio": aa, "video": av})
	rc := e.readRemote(e.waitRemotes(b, "alice/video")["alice/video"], &wg)
	e.gapFree(rc, "bob<-alice video")
}
