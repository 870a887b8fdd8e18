package signaling

import (
	"encoding/json"
	"fmt"
	"time"

	"callbox/signaling/call"
	"callbox/signaling/call/record"
	"callbox/store"
)

// The commit pipeline (group commit). An engine operation runs under s.mu
// and queues its transition with enqueueLocked; after unlocking, the caller
// calls flush. The first flusher to get commitMu takes every queued
// transition, stores them all in one transaction (record + webhook outbox,
// DESIGN "Store"), and only then, in engine order, runs each one's before
// (the requester's reply) and applies it (room joins/leaves, events). When
// flush returns, everything queued before the call has been stored and
// delivered. One fsync thus serves many concurrent requests, and nobody
// hears of a change that is not on disk.

// commitItem is one queued transition.
type commitItem struct {
	tr     call.Transition
	now    time.Time
	noJoin string // a participant signaling must not join to the room
	// before runs after the batch is stored (err nil) or failed to be (err
	// set), before the transition's events: it queues the requester's
	// reply. It runs under commitMu and must not take s.mu.
	before func(rec record.Call, err error)
}

// enqueueLocked queues an item; called with s.mu held.
func (s *Server) enqueueLocked(it commitItem) {
	s.pending = append(s.pending, it)
}

// flush stores and delivers everything queued (see above).
func (s *Server) flush() {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	s.mu.Lock()
	batch := s.pending
	s.pending = nil
	s.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	t0 := time.Now()
	err := s.persist(batch)
	if s.cfg.OnCommit != nil {
		s.cfg.OnCommit(len(batch), time.Since(t0))
	}
	if err != nil {
		s.log.Error("call transitions not stored; their events are dropped", "err", err, "count", len(batch))
	}
	for _, it := range batch {
		if it.before != nil {
			it.before(it.tr.Call, err)
		}
		if err == nil {
			s.apply(it.tr, it.noJoin)
		}
	}
}

// persist writes the records and webhook outbox entries of a batch in one
// transaction.
func (s *Server) persist(batch []commitItem) error {
	n := 0
	for _, it := range batch {
		if !it.tr.IsZero() {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	err := s.cfg.Store.Update(func(tx *store.Tx) error {
		for _, it := range batch {
			if it.tr.IsZero() {
				continue
			}
			if err := tx.PutCall(it.tr.Call); err != nil {
				return err
			}
			for _, h := range it.tr.Hooks {
				body, err := json.Marshal(h.Body)
				if err != nil {
					return fmt.Errorf("encode hook %s: %w", h.Command, err)
				}
				if _, err := tx.AppendOutbox(store.OutboxEntry{
					SDKAppID: it.tr.Call.SDKAppID, Command: h.Command, Body: body, Created: it.now,
				}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return &Error{Code: CodeInternal, Msg: "internal error", Err: fmt.Errorf("persist %d call transitions: %w", n, err)}
	}
	return nil
}

// apply acts on a stored transition: media room leaves and joins, then the
// events, each to its recipient's current session. Called under commitMu.
func (s *Server) apply(tr call.Transition, noJoin string) {
	if tr.IsZero() {
		return
	}
	rec := tr.Call
	if s.cfg.Rooms != nil {
		for _, u := range tr.Left {
			k := peerKey{rec.SDKAppID, u, rec.CallID}
			s.peersMu.Lock()
			p := s.peers[k]
			delete(s.peers, k)
			s.peersMu.Unlock()
			if p != nil {
				p.Leave()
			}
		}
		for _, u := range tr.Joined {
			if u != noJoin {
				s.joinRoom(rec, u)
			}
		}
	}
	for _, ev := range tr.Events {
		b, err := encodeEvent(ev.Name, ev.CallID, ev.Data)
		if err != nil {
			s.log.Error("encode event", "event", ev.Name, "call_id", ev.CallID, "err", err)
			continue
		}
		if c := s.current(userKey{rec.SDKAppID, ev.To}); c != nil {
			c.send(b)
		}
	}
}

// joinRoom puts a joined participant into the call's media room. The send
// func routes SFU messages to whatever session is the user's current one,
// so a resumed session gets them. Called under commitMu.
func (s *Server) joinRoom(rec record.Call, user string) {
	k := peerKey{rec.SDKAppID, user, rec.CallID}
	s.peersMu.Lock()
	exists := s.peers[k] != nil
	s.peersMu.Unlock()
	if exists {
		return
	}
	room := fmt.Sprintf("%d/%s", rec.SDKAppID, rec.RoomID)
	uk := userKey{rec.SDKAppID, user}
	p, err := s.cfg.Rooms.Join(room, user, func(msg json.RawMessage) {
		b, err := encodeEvent("media", "", msg)
		if err != nil {
			return
		}
		if c := s.current(uk); c != nil {
			c.send(b)
		}
	})
	if err != nil {
		s.log.Warn("room join", "room_id", room, "user_id", user, "err", err)
		return
	}
	s.peersMu.Lock()
	s.peers[k] = p
	s.peersMu.Unlock()
}

// peerOf returns the user's room peer in any of its calls, or nil.
func (s *Server) peerOf(app uint32, user string, callIDs []string) RoomPeer {
	s.peersMu.Lock()
	defer s.peersMu.Unlock()
	for _, id := range callIDs {
		if p := s.peers[peerKey{app, user, id}]; p != nil {
			return p
		}
	}
	return nil
}

// engineDo runs fn (engine work that enqueues) under s.mu, then flushes.
func (s *Server) engineDo(fn func(now time.Time) error) error {
	now := s.cfg.Now()
	s.mu.Lock()
	err := fn(now)
	s.rearmLocked()
	s.mu.Unlock()
	s.flush()
	return err
}

// step queues a request's transition with a before that queues its reply
// ahead of its events and joins the requester's media room (so "media"
// may follow the reply at once). Called with s.mu held.
func (c *session) step(req Request, now time.Time, tr call.Transition, err error, reply func(record.Call) any) error {
	if err != nil {
		return err
	}
	s := c.srv
	s.enqueueLocked(commitItem{tr: tr, now: now, before: func(rec record.Call, err error) {
		if err != nil {
			c.send(encodeReply(req.ID, nil, err))
			return
		}
		var data any
		if reply != nil {
			data = reply(rec)
		}
		c.send(encodeReply(req.ID, data, nil))
		// Join after queuing the reply: the SFU may send the joiner media
		// messages from inside Join, and the requester's own events come
		// after its reply (docs/protocol.md §2). The requester's next
		// "media" is handled only after this flush, so it finds the peer.
		if s.cfg.Rooms != nil {
			for _, u := range tr.Joined {
				s.joinRoom(rec, u)
			}
		}
	}})
	c.replied = true
	return nil
}
