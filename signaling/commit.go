package signaling

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"callbox/signaling/call"
	"callbox/signaling/call/record"
)

// The commit pipeline (group commit). An engine operation runs under s.mu
// and queues its transition with enqueueLocked; after unlocking, the caller
// calls flush. The first flusher to get commitMu takes every queued
// transition, stores them all in one transaction (record + webhook outbox,
// DESIGN "Store"), and only then, in engine order, runs each one's before
// (the requester's reply) and applies it (room joins/leaves, events). When
// flush returns, everything queued before the call has been stored and
// delivered. One fsync thus serves many concurrent requests, and nobody
// hears of a change that is not on disk, with one exception: a new call's
// invitation goes out while its commit is in flight (stepStart). A batch
// that cannot be stored is taken back whole (rollback).

// commitItem is one queued transition.
type commitItem struct {
	tr     call.Transition
	now    time.Time
	noJoin string // a participant signaling must not join to the room
	// before runs after the batch is stored (err nil) or failed to be (err
	// set), before the transition's events: it queues the requester's
	// reply. It runs under commitMu and must not take s.mu.
	before func(rec record.Call, err error)
	// undo runs, with s.mu held, after a failed commit has put the engine
	// back: it takes back what the item changed outside the engine (a
	// login's registration), or queues again work that has no requester
	// to retry it (a dropped connection going offline).
	undo func(now time.Time)
}

// enqueueLocked queues an item; called with s.mu held.
func (s *Server) enqueueLocked(it commitItem) {
	s.pending = append(s.pending, it)
}

// commitRetry is how long Run waits after a failed commit before it
// tries again the work that failure put back (expiries, offlines).
const commitRetry = time.Second

// flush stores and delivers everything queued (see above). When the store
// fails, the engine is put back as it was before the batch, and so is
// everything queued after it (it was built on the batch): every requester
// gets CodeInternal, nobody hears of any of it, and a retry works
// (docs/protocol.md §2). It reports the store's error.
func (s *Server) flush() error {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	s.mu.Lock()
	batch := s.pending
	s.pending = nil
	journal := s.engine.Checkpoint()
	s.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	t0 := time.Now()
	err := s.persist(batch)
	if s.cfg.OnCommit != nil {
		s.cfg.OnCommit(len(batch), time.Since(t0))
	}
	if err != nil {
		batch = s.rollback(batch, journal, err)
	}
	for _, it := range batch {
		if it.before != nil {
			it.before(it.tr.Call, err)
		}
		if err == nil {
			// Counted before the events go out: whoever hears of a
			// call's end finds it counted.
			s.cfg.Metrics.applied(it.tr, it.now, s.cfg.Now())
			s.apply(it.tr, it.noJoin)
		}
	}
	return err
}

// rollback undoes a batch that could not be stored and everything queued
// since, and returns all of those items for their requesters to be told.
// Called under commitMu.
func (s *Server) rollback(batch []commitItem, journal *call.Journal, err error) []commitItem {
	s.mu.Lock()
	defer s.mu.Unlock()
	later := s.pending
	s.pending = nil
	s.engine.Undo(s.engine.Checkpoint()) // what was built on the batch
	s.engine.Undo(journal)
	s.engine.Checkpoint() // the undo itself is no change to take back
	all := append(batch, later...)
	s.log.Error("call transitions not stored; undone, and nobody hears of them", "err", err, "count", len(all))
	now := s.cfg.Now()
	for i := len(all) - 1; i >= 0; i-- {
		if u := all[i].undo; u != nil {
			u(now)
		}
	}
	s.retryAt = now.Add(commitRetry)
	s.Kick()
	return all
}

// persist hands a batch's transitions to the Committer (records and
// webhook outbox entries, one transaction).
func (s *Server) persist(batch []commitItem) error {
	trs := make([]call.Transition, 0, len(batch))
	for _, it := range batch {
		if !it.tr.IsZero() {
			trs = append(trs, it.tr)
		}
	}
	if len(trs) == 0 {
		return nil
	}
	if err := s.cfg.Committer.Commit(context.Background(), trs); err != nil {
		return &Error{Code: CodeInternal, Msg: "internal error", Err: err}
	}
	return nil
}

// apply acts on a stored transition: media room joins, the events, each
// to its recipient's current session, then room leaves. Leaves come last
// because the SFU tells the remaining peers at once (tracks, a new
// subscribe offer), and they should hear who left (onUserLeave, onCallEnd)
// before they hear of its media going. Called under commitMu.
func (s *Server) apply(tr call.Transition, noJoin string) {
	if tr.IsZero() {
		return
	}
	rec := tr.Call
	if s.cfg.Rooms != nil {
		for _, u := range tr.Joined {
			if u != noJoin {
				s.joinRoom(rec, u)
			}
		}
	}
	for _, ev := range tr.Events {
		s.deliver(rec.SDKAppID, ev)
	}
	s.trackCalls(rec)
	if tr.Ended() {
		s.serverCallEnded(rec)
	}
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
	}
}

// deliver sends an engine event to its recipient's current session, if
// any. It only queues, so it may run under s.mu or commitMu.
func (s *Server) deliver(app uint32, ev call.Event) {
	if sc := s.serverCallerOf(userKey{app, ev.To}, ev.CallID); sc != nil {
		sc.Event(ev)
		return
	}
	b, err := encodeEvent(ev.Name, ev.CallID, ev.Data)
	if err != nil {
		s.log.Error("encode event", "event", ev.Name, "call_id", ev.CallID, "err", err)
		return
	}
	if c := s.current(userKey{app, ev.To}); c != nil {
		c.send(b)
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
	room := RoomName(rec)
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

// RoomName is the media room of a call: the SFU's rooms are per app and
// RoomId, so two apps' rooms never meet. A server-side caller (the robot)
// joins this room itself.
func RoomName(rec record.Call) string {
	return fmt.Sprintf("%d/%s", rec.SDKAppID, rec.RoomID)
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
	return c.stepItem(req, now, tr, err, reply, nil)
}

// stepStart is step for a transition that creates a call: the invitations
// go out at once, while the commit is in flight, since a callee waiting
// for a disk write hears its phone ring later (issue 9, a decision). The
// caller's reply and every other event still wait for the commit. If it
// fails, the invitees told are sent the cancel a caller's hang-up would
// send them (docs/protocol.md §2). Called with s.mu held.
func (c *session) stepStart(req Request, now time.Time, tr call.Transition, err error, reply func(record.Call) any) error {
	if err != nil {
		return err
	}
	s := c.srv
	var told []string
	var rest []call.Event
	for _, ev := range tr.Events {
		if ev.To == c.user || (ev.Name != call.EvInvited && ev.Name != call.EvCallReceived) {
			rest = append(rest, ev)
			continue
		}
		s.deliver(tr.Call.SDKAppID, ev)
		if ev.Name == call.EvInvited {
			told = append(told, ev.To)
			s.cfg.Metrics.invited(now, s.cfg.Now())
		}
	}
	tr.Events = rest
	caller, app, callID := tr.Call.Caller, tr.Call.SDKAppID, tr.Call.CallID
	return c.stepItem(req, now, tr, nil, reply, func(time.Time) {
		d := call.CancelData{CallerID: caller}
		for _, u := range told {
			s.deliver(app, call.Event{To: u, Name: call.EvCallingCancel, CallID: callID, Data: d})
			s.deliver(app, call.Event{To: u, Name: call.EvCallCancelled, CallID: callID, Data: d})
		}
	})
}

func (c *session) stepItem(req Request, now time.Time, tr call.Transition, err error, reply func(record.Call) any, undo func(time.Time)) error {
	if err != nil {
		return err
	}
	s := c.srv
	s.enqueueLocked(commitItem{tr: tr, now: now, undo: undo, before: func(rec record.Call, err error) {
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
