package sfu_test

import (
	"encoding/json"
	"testing"

	"callbox/sfu/sfuclient"
)

func TestNACKRecovery(t *testing.T) {
	e := newEnv(t)
	a := e.join("r", "alice", sfuclient.Config{})
	b := e.join("r", "bob", sfuclient.Config{DropEvery: 7})
	wg := e.callAV([]*client{a, b}, a)
	r := e.waitRemotes(b, "alice/video")["alice/video"]
	// Every 7th datagram is dropped on bob's socket, so about one packet in
	// seven arrives only by a retransmission (allowed: 20 %); 200 sequence
	// numbers with no gap left are only possible through them.
	rc := e.readRemote(b, r, wg, func(c *sfuclient.StreamCheck) { c.SetMaxLoss(0.2) })
	e.waitStream(rc, 200, "bob<-alice video")
	if st := e.s.Stats(); st.Retransmitted == 0 {
		t.Errorf("no retransmission counted: %+v", st)
	}
}

func TestMuteAndVolumeEvents(t *testing.T) {
	e := newEnv(t)
	a := e.join("r", "alice", sfuclient.Config{})
	b := e.join("r", "bob", sfuclient.Config{})
	e.callAV([]*client{a, b}, a)

	is := func(want string) func(json.RawMessage) bool {
		return func(d json.RawMessage) bool { return string(d) == want }
	}
	e.waitEvent(b, "onUserVideoAvailable", is(`{"userID":"alice","isVideoAvailable":true}`))
	e.waitEvent(b, "onUserAudioAvailable", is(`{"userID":"alice","isAudioAvailable":true}`))

	// pump sends an RFC 6464 level of pumpLevel with every audio packet;
	// docs/media.md maps it to volume (70-level)*100/70. The first volume
	// event bob gets is alice speaking (events go out only while someone
	// is audible), and it must say so exactly.
	want := (70 - pumpLevel) * 100 / 70
	var v struct {
		VolumeMap   map[string]int `json:"volumeMap"`
		UserVolumes []struct {
			UserID string `json:"userID"`
			Volume int    `json:"volume"`
		} `json:"userVolumes"`
	}
	d := e.waitEvent(b, "onUserVoiceVolume", func(json.RawMessage) bool { return true })
	if err := json.Unmarshal(d, &v); err != nil || v.VolumeMap["alice"] != want ||
		len(v.UserVolumes) != 1 || v.UserVolumes[0].UserID != "alice" || v.UserVolumes[0].Volume != want {
		t.Fatalf("onUserVoiceVolume %s (%v), want alice at %d for level %d", d, err, want, pumpLevel)
	}
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

// TestUpstreamNACK loses packets between the publisher and the SFU: the
// SFU's own NACKs (feedback.go) must get them resent.
func TestUpstreamNACK(t *testing.T) {
	e := newEnv(t)
	a := e.join("r", "alice", sfuclient.Config{DropSentEvery: 9})
	b := e.join("r", "bob", sfuclient.Config{NoNACK: true})
	wg := e.callAV([]*client{a, b}, a)
	// Bob asks for nothing; the repairs he gets are the SFU's (one
	// datagram in nine of alice's is lost: allowed 20 %), and none may be
	// missing.
	rc := e.readRemote(b, e.waitRemotes(b, "alice/video")["alice/video"], wg, func(c *sfuclient.StreamCheck) {
		c.ExpectUpstreamRepairs()
		c.SetMaxLoss(0.2)
	})
	e.waitStream(rc, 200, "bob<-alice video")
}
