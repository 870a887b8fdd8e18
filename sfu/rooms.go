package sfu

import (
	"slices"
	"strings"
)

// RoomInfo describes a room for the admin console: who is in it and what
// they publish. Rooms builds it from the same locks Stats takes, away
// from the forwarding path.
type RoomInfo struct {
	Name  string     `json:"name"`
	Peers []PeerInfo `json:"peers"`
}

// PeerInfo is one participant of a room and its published tracks.
type PeerInfo struct {
	Participant string       `json:"participant"`
	AudioMuted  bool         `json:"audioMuted"`
	VideoMuted  bool         `json:"videoMuted"`
	Tracks      []TrackStats `json:"tracks"`
}

// TrackStats is one published track with its layers (one unless
// simulcast) and how many subscribers it has.
type TrackStats struct {
	ID          string      `json:"id"`
	Kind        string      `json:"kind"` // "audio" or "video"
	Codec       string      `json:"codec"`
	Subscribers int         `json:"subscribers"`
	Layers      []LayerInfo `json:"layers"`
}

// LayerInfo is one received RTP stream: its rid ("" unless simulcast),
// bitrate (bits/s, as of the last layer tick) and frame size (VP8
// keyframes; 0 when unknown).
type LayerInfo struct {
	RID     string `json:"rid"`
	Bitrate uint64 `json:"bitrate"`
	Packets uint64 `json:"packets"`
	Lost    uint64 `json:"lost"`
	Width   int    `json:"width"`
	Height  int    `json:"height"`
}

// Rooms lists the rooms by name, their peers by participant.
func (s *Server) Rooms() []RoomInfo {
	var out []RoomInfo
	for _, r := range s.roomList() {
		ri := RoomInfo{Name: r.name, Peers: []PeerInfo{}}
		for _, p := range r.peerList() {
			ri.Peers = append(ri.Peers, p.info())
		}
		slices.SortFunc(ri.Peers, func(a, b PeerInfo) int { return strings.Compare(a.Participant, b.Participant) })
		out = append(out, ri)
	}
	slices.SortFunc(out, func(a, b RoomInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (p *Peer) info() PeerInfo {
	pi := PeerInfo{Participant: p.id, AudioMuted: p.audioMuted.Load(), VideoMuted: p.videoMuted.Load(), Tracks: []TrackStats{}}
	p.mu.Lock()
	tracks := make([]*pubTrack, 0, len(p.tracks))
	for _, t := range p.tracks {
		tracks = append(tracks, t)
	}
	p.mu.Unlock()
	for _, t := range tracks {
		ti := TrackStats{ID: t.id, Kind: t.kind.String(), Codec: t.codec.MimeType, Subscribers: len(*t.downs.Load()), Layers: []LayerInfo{}}
		t.mu.Lock()
		layers := slices.Clone(t.layers)
		t.mu.Unlock()
		for _, l := range layers {
			if l == nil {
				continue
			}
			ti.Layers = append(ti.Layers, LayerInfo{RID: l.rid, Bitrate: l.bitrate.Load(), Packets: l.packets.Load(),
				Lost: l.lost.Load(), Width: int(l.width.Load()), Height: int(l.height.Load())})
		}
		pi.Tracks = append(pi.Tracks, ti)
	}
	slices.SortFunc(pi.Tracks, func(a, b TrackStats) int { return strings.Compare(a.ID, b.ID) })
	return pi
}
