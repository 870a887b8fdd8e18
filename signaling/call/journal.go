package call

import (
	"maps"
)

// Journal holds what the engine looked like before the changes made
// since a Checkpoint: for every call, user slot and online flag changed,
// its first prior value. Undo puts them back. The signaling layer undoes a
// batch of transitions that could not be stored, so that the engine never
// holds a call that is in no record (issue: a failed commit left a ghost
// ringing call and the caller's retry got "busy").
type Journal struct {
	calls  map[callKey]*call // nil: the call did not exist
	users  map[userKey]userSlot
	online map[userKey]bool
}

type userSlot struct {
	id string
	ok bool
}

func newJournal() *Journal {
	return &Journal{
		calls:  make(map[callKey]*call),
		users:  make(map[userKey]userSlot),
		online: make(map[userKey]bool),
	}
}

// Checkpoint ends the current journal and starts a new one. The returned
// journal covers the changes since the previous Checkpoint (none before
// the first). Recently ended calls remembered for error texts are not
// journaled: after an Undo a late request may at worst be told "no call".
func (e *Engine) Checkpoint() *Journal {
	j := e.j
	if j == nil {
		j = newJournal()
	}
	e.j = newJournal()
	return j
}

// Undo restores the engine to its state before j's changes. Undo the
// journals of several checkpoints newest first.
func (e *Engine) Undo(j *Journal) {
	for k, c := range j.calls {
		if c == nil {
			delete(e.calls, k)
		} else {
			e.calls[k] = c
			e.addRoom(k, c.rec.RoomID)
		}
		e.markDirty(k)
	}
	for k, s := range j.users {
		if s.ok {
			e.users[k] = s.id
		} else {
			delete(e.users, k)
		}
	}
	for k, on := range j.online {
		if on {
			e.online[k] = true
		} else {
			delete(e.online, k)
		}
	}
}

// touch records call k's state before its first change in this journal.
// Every path that changes a call reaches it through touch.
func (e *Engine) touch(k callKey) *call {
	c := e.calls[k]
	e.markDirty(k) // its deadlines may change (deadlines.go)
	if e.j != nil {
		if _, ok := e.j.calls[k]; !ok {
			e.j.calls[k] = c.clone()
		}
	}
	return c
}

func (c *call) clone() *call {
	if c == nil {
		return nil
	}
	cp := *c
	cp.rec = c.snapshot()
	cp.idx = maps.Clone(c.idx)
	cp.ringAt = maps.Clone(c.ringAt)
	cp.graceAt = maps.Clone(c.graceAt)
	return &cp
}

// setUser and delUser change the user -> live call map, journaled.
func (e *Engine) setUser(k userKey, id string) {
	e.saveUser(k)
	e.users[k] = id
}

func (e *Engine) delUser(k userKey) {
	e.saveUser(k)
	delete(e.users, k)
}

func (e *Engine) saveUser(k userKey) {
	if e.j == nil {
		return
	}
	if _, ok := e.j.users[k]; !ok {
		id, was := e.users[k]
		e.j.users[k] = userSlot{id, was}
	}
}

// setOnline changes a user's online flag, journaled.
func (e *Engine) setOnline(k userKey, on bool) {
	if e.j != nil {
		if _, ok := e.j.online[k]; !ok {
			e.j.online[k] = e.online[k]
		}
	}
	if on {
		e.online[k] = true
	} else {
		delete(e.online, k)
	}
}
