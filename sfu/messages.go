package sfu

import (
	"encoding/json"

	"github.com/pion/webrtc/v4"
)

// Wire messages between the SFU and one client (docs/media.md). Every
// message is a JSON object with a "type"; the caller relays them verbatim.

// inMsg is any client→SFU message; which fields apply depends on Type.
type inMsg struct {
	Type      string                   `json:"type"`
	SDP       string                   `json:"sdp,omitempty"`
	PC        string                   `json:"pc,omitempty"`
	Candidate *webrtc.ICECandidateInit `json:"candidate,omitempty"`
	Kind      string                   `json:"kind,omitempty"`
	Muted     *bool                    `json:"muted,omitempty"`
	Track     string                   `json:"track,omitempty"`
	MaxWidth  int                      `json:"maxWidth,omitempty"`
	MaxHeight int                      `json:"maxHeight,omitempty"`
}

// Message types.
const (
	msgPublishOffer    = "publish-offer"
	msgPublishAnswer   = "publish-answer"
	msgSubscribeOffer  = "subscribe-offer"
	msgSubscribeAnswer = "subscribe-answer"
	msgCandidate       = "candidate"
	msgRestart         = "restart"
	msgMute            = "mute"
	msgLayer           = "layer"
	msgTracks          = "tracks"
	msgLayers          = "layers"
	msgEvent           = "event"

	pcPublish   = "publish"
	pcSubscribe = "subscribe"
)

// Event names (spec tencent-compat.md §4).
const (
	evVideoAvailable = "onUserVideoAvailable"
	evAudioAvailable = "onUserAudioAvailable"
	evVoiceVolume    = "onUserVoiceVolume"
	evNetworkQuality = "onUserNetworkQualityChanged"
)

type sdpMsg struct {
	Type string `json:"type"`
	SDP  string `json:"sdp"`
}

type candidateMsg struct {
	Type      string                  `json:"type"`
	PC        string                  `json:"pc"`
	Candidate webrtc.ICECandidateInit `json:"candidate"`
}

// TrackInfo maps a track the subscriber receives to the participant who
// publishes it. StreamID and TrackID are the msid in the subscribe offer;
// Mid is the transceiver's mid in that offer.
type TrackInfo struct {
	Participant string `json:"participant"`
	StreamID    string `json:"streamId"`
	TrackID     string `json:"trackId"`
	Mid         string `json:"mid"`
	Kind        string `json:"kind"`
	Simulcast   bool   `json:"simulcast,omitempty"`
}

// layersMsg tells a publisher which simulcast encodings of its track (the
// publish transceiver's mid) somebody watches; it pauses the others.
type layersMsg struct {
	Type string   `json:"type"`
	Mid  string   `json:"mid"`
	RIDs []string `json:"rids"`
}

type tracksMsg struct {
	Type   string      `json:"type"`
	Tracks []TrackInfo `json:"tracks"`
}

type eventMsg struct {
	Type  string `json:"type"`
	Event string `json:"event"`
	Data  any    `json:"data"`
}

type audioAvailable struct {
	UserID           string `json:"userID"`
	IsAudioAvailable bool   `json:"isAudioAvailable"`
}

type videoAvailable struct {
	UserID           string `json:"userID"`
	IsVideoAvailable bool   `json:"isVideoAvailable"`
}

// UserVolume is one entry of onUserVoiceVolume: volume is 0-100.
type UserVolume struct {
	UserID string `json:"userID"`
	Volume int    `json:"volume"`
}

type voiceVolume struct {
	UserVolumes []UserVolume   `json:"userVolumes"`
	VolumeMap   map[string]int `json:"volumeMap"`
}

// Network quality levels (spec §4: Unknown, Excellent, Good, Poor, Bad, Vbad, Down).
const (
	QualityUnknown = iota
	QualityExcellent
	QualityGood
	QualityPoor
	QualityBad
	QualityVbad
	QualityDown
)

// UserQuality is one entry of onUserNetworkQualityChanged.
type UserQuality struct {
	UserID  string `json:"userID"`
	Quality int    `json:"quality"`
}

type networkQuality struct {
	LocalQuality  int           `json:"localQuality"`
	RemoteQuality []UserQuality `json:"remoteQuality"`
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own fixed types go through here.
		panic("sfu: marshal: " + err.Error())
	}
	return b
}
