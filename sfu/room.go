package sfu

import (
	"encoding/json"
	"sync"

	"github.com/pion/webrtc/v4"
)

// room is a set of peers that see each other's tracks. Its mu guards only
// the membership; calls out to peers happen after unlocking (Galène's
// getClientsUnlocked habit).
type room struct {
	s    *Server
	name string

	mu    sync.Mutex
	peers map[string]*Peer
	// loud is set while any volume was non-zero at the last tick, so one
	// all-zero event follows the end of speech. Touched by Run only.
	loud bool
}

func newRoom(s *Server, name string) *room {
	return &room{s: s, name: name, peers: make(map[string]*Peer)}
}

func (r *room) add(p *Peer) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.peers[p.id] != nil {
		return ErrDuplicate
	}
	r.peers[p.id] = p
	return nil
}

func (r *room) remove(p *Peer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.peers[p.id] == p {
		delete(r.peers, p.id)
	}
}

func (r *room) empty() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.peers) == 0
}

func (r *room) peerList() []*Peer { return r.appendPeers(nil) }

// appendPeers appends the room's peers to dst.
func (r *room) appendPeers(dst []*Peer) []*Peer {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.peers {
		dst = append(dst, p)
	}
	return dst
}

// others lists the peers other than p.
func (r *room) others(p *Peer) []*Peer {
	ps := r.peerList()
	out := ps[:0]
	for _, q := range ps {
		if q != p {
			out = append(out, q)
		}
	}
	return out
}

// subscribeNewcomer gives p every track already published in the room,
// and the availability of each publisher.
func (r *room) subscribeNewcomer(p *Peer) {
	for _, q := range r.others(p) {
		q.mu.Lock()
		ts := make([]*pubTrack, 0, len(q.tracks))
		for _, t := range q.tracks {
			ts = append(ts, t)
		}
		q.mu.Unlock()
		for _, t := range ts {
			p.subscribe(t)
		}
		for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
			if q.hasKind(k) {
				p.emit(availability(q, k))
			}
		}
	}
}

// published subscribes everyone else to t and announces it.
func (r *room) published(t *pubTrack) {
	for _, q := range r.others(t.peer) {
		q.subscribe(t)
	}
	r.announce(t.peer, t.kind)
}

// announce tells the others whether p's audio or video is available.
func (r *room) announce(p *Peer, kind webrtc.RTPCodecType) {
	msg := availability(p, kind)
	for _, q := range r.others(p) {
		q.emit(msg)
	}
}

func availability(p *Peer, kind webrtc.RTPCodecType) json.RawMessage {
	if kind == webrtc.RTPCodecTypeAudio {
		return mustJSON(eventMsg{Type: msgEvent, Event: evAudioAvailable,
			Data: audioAvailable{UserID: p.id, IsAudioAvailable: p.available(kind)}})
	}
	return mustJSON(eventMsg{Type: msgEvent, Event: evVideoAvailable,
		Data: videoAvailable{UserID: p.id, IsVideoAvailable: p.available(kind)}})
}
