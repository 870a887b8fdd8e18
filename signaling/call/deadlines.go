package call

import (
	"container/heap"
	"time"
)

// Indexes over the live calls, so that an operation costs the same with
// ten live calls as with a hundred thousand (REST start_call_by_robot
// at 1,000/s with a 30 s timeout keeps 30,000 ringing). Both are caches
// derived from e.calls, checked against it when read: they are not
// journaled, and Undo only marks what it restored.
//
//   - deadlines: a min-heap of (earliest deadline, call), refreshed for
//     every call touched since the last read (dirty), with stale entries
//     dropped lazily when they reach the top; rebuilt when it grows to
//     twice the live calls.
//   - rooms: the calls of each (app, room id); a room id never changes
//     during a call.

type deadlineEntry struct {
	at  time.Time
	key callKey
}

type deadlineHeap []deadlineEntry

func (h deadlineHeap) Len() int           { return len(h) }
func (h deadlineHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h deadlineHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *deadlineHeap) Push(x any)        { *h = append(*h, x.(deadlineEntry)) }
func (h *deadlineHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

type roomKey struct {
	app  uint32
	room string
}

// minDeadline is the call's earliest invite timeout or grace expiry.
func (c *call) minDeadline() (time.Time, bool) {
	var next time.Time
	for _, m := range []map[string]time.Time{c.ringAt, c.graceAt} {
		for _, t := range m {
			if next.IsZero() || t.Before(next) {
				next = t
			}
		}
	}
	return next, !next.IsZero()
}

// markDirty notes that call k may have changed its deadlines.
func (e *Engine) markDirty(k callKey) { e.dirty[k] = struct{}{} }

// refreshDeadlines pushes the current earliest deadline of every call
// touched since the last refresh.
func (e *Engine) refreshDeadlines() {
	if len(e.deadlines) > 2*len(e.calls)+1024 {
		e.deadlines = e.deadlines[:0]
		for k, c := range e.calls {
			if at, ok := c.minDeadline(); ok {
				e.deadlines = append(e.deadlines, deadlineEntry{at, k})
			}
		}
		heap.Init(&e.deadlines)
		clear(e.dirty)
		return
	}
	for k := range e.dirty {
		if c := e.calls[k]; c != nil {
			if at, ok := c.minDeadline(); ok {
				heap.Push(&e.deadlines, deadlineEntry{at, k})
			}
		}
	}
	clear(e.dirty)
}

// NextDeadline returns the earliest pending invite timeout or grace expiry.
func (e *Engine) NextDeadline() (time.Time, bool) {
	e.refreshDeadlines()
	for len(e.deadlines) > 0 {
		top := e.deadlines[0]
		if c := e.calls[top.key]; c != nil {
			if at, ok := c.minDeadline(); ok && at.Equal(top.at) {
				return top.at, true
			}
		}
		heap.Pop(&e.deadlines) // stale: the call ended or its deadline moved
	}
	return time.Time{}, false
}

// dueCalls pops the calls whose earliest deadline is at or before now.
// They are marked dirty, so that whatever deadline they keep is indexed
// again.
func (e *Engine) dueCalls(now time.Time) []callKey {
	e.refreshDeadlines()
	var out []callKey
	seen := map[callKey]bool{}
	for len(e.deadlines) > 0 && !e.deadlines[0].at.After(now) {
		k := heap.Pop(&e.deadlines).(deadlineEntry).key
		if !seen[k] && e.calls[k] != nil {
			seen[k] = true
			out = append(out, k)
			e.markDirty(k)
		}
	}
	return out
}

// addRoom indexes a live call's room.
func (e *Engine) addRoom(k callKey, room string) {
	rk := roomKey{k.app, room}
	if e.rooms[rk] == nil {
		e.rooms[rk] = map[string]struct{}{}
	}
	e.rooms[rk][k.id] = struct{}{}
}

// delRoom drops an ended call from the room index.
func (e *Engine) delRoom(k callKey, room string) {
	rk := roomKey{k.app, room}
	delete(e.rooms[rk], k.id)
	if len(e.rooms[rk]) == 0 {
		delete(e.rooms, rk)
	}
}

// roomInUse reports whether a live call of app uses room.
func (e *Engine) roomInUse(app uint32, room string) bool {
	rk := roomKey{app, room}
	for id := range e.rooms[rk] {
		if c := e.calls[callKey{app, id}]; c != nil && c.rec.RoomID == room {
			return true
		}
		delete(e.rooms[rk], id) // a call an Undo took back
	}
	delete(e.rooms, rk)
	return false
}
