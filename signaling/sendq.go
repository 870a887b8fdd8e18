package signaling

import "sync"

// sendq is a session's bounded outgoing queue. Producers (any goroutine)
// never block: push fails when the queue holds limit messages, and the
// caller then drops the session as too slow (docs/protocol.md §1). An idle
// queue holds no buffer, which keeps idle connections cheap.
type sendq struct {
	notify chan struct{} // capacity 1: "something to write"
	limit  int           // messages

	mu       sync.Mutex
	maxBytes int // bytes; a connection's budget grows at login
	bytes    int // queued
	items    [][]byte
	ping     bool // a keep-alive ping is wanted
	closed   bool
}

func newSendq(limit, maxBytes int) *sendq {
	return &sendq{notify: make(chan struct{}, 1), limit: limit, maxBytes: maxBytes}
}

// setMaxBytes changes the byte budget.
func (q *sendq) setMaxBytes(n int) {
	q.mu.Lock()
	q.maxBytes = n
	q.mu.Unlock()
}

// push queues b. It reports false when the queue is full (in messages or
// in bytes) or closed.
func (q *sendq) push(b []byte) bool {
	q.mu.Lock()
	if q.closed || len(q.items) >= q.limit || q.bytes+len(b) > q.maxBytes {
		q.mu.Unlock()
		return false
	}
	q.items = append(q.items, b)
	q.bytes += len(b)
	q.mu.Unlock()
	q.wake()
	return true
}

// wantPing asks the writer to send a ping frame.
func (q *sendq) wantPing() {
	q.mu.Lock()
	q.ping = true
	q.mu.Unlock()
	q.wake()
}

func (q *sendq) wake() {
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// take returns everything queued and whether a ping is wanted. The
// returned slice is the writer's; the queue starts a fresh one so a
// drained queue holds no memory.
func (q *sendq) take() ([][]byte, bool) {
	q.mu.Lock()
	items, ping := q.items, q.ping
	q.items, q.ping, q.bytes = nil, false, 0
	q.mu.Unlock()
	return items, ping
}

// close makes later pushes fail and returns what was still queued.
func (q *sendq) close() [][]byte {
	q.mu.Lock()
	items := q.items
	q.items, q.closed, q.bytes = nil, true, 0
	q.mu.Unlock()
	return items
}
