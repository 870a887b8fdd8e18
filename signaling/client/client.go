// Package client is a Go client of callbox's signaling protocol
// (docs/protocol.md): login, the call actions and the server's events as a
// channel. Tests, the robot and the benchmark use it. It speaks only the
// documented wire format and imports nothing of the server, so it also
// checks that the document is enough to write a client.
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// DefaultEventBuffer is the capacity of the Events channel. When it is
// full the client stops reading, and the server eventually drops it as too
// slow, as it would a real client that cannot keep up.
const DefaultEventBuffer = 256

// Options tune Dial. The zero value is ready to use.
type Options struct {
	Header      http.Header // e.g. Origin
	EventBuffer int         // default DefaultEventBuffer
	Presence    bool        // subscribe to onUserOnline / onUserOffline
}

// Event is a server event, or a reply that answers no pending request
// (Reply set, Name "reply"): an error about a frame the server could not
// parse, for example.
type Event struct {
	Name   string
	CallID string
	Data   json.RawMessage
	Reply  *Reply
	At     time.Time // when the client read it
}

// Reply is the server's answer to one request.
type Reply struct {
	ID    uint64          `json:"id"`
	OK    bool            `json:"ok"`
	Code  int             `json:"code"`
	Error string          `json:"error"`
	Data  json.RawMessage `json:"data"`
}

// Error is a request the server refused (docs/protocol.md §6).
type Error struct {
	Code int
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("signaling error %d: %s", e.Code, e.Msg) }

// ErrClosed is returned by requests once the connection has ended.
var ErrClosed = errors.New("signaling connection closed")

// Client is one connection. Its methods are safe for concurrent use.
type Client struct {
	conn     *websocket.Conn
	events   chan Event
	nextID   atomic.Uint64
	done     chan struct{}
	quit     chan struct{} // closed by Close: stop delivering events
	quitOnce sync.Once
	wg       sync.WaitGroup

	mu          sync.Mutex
	pending     map[uint64]chan Reply
	closeStatus websocket.StatusCode
	closeReason string
}

// DialRaw connects without logging in.
func DialRaw(ctx context.Context, url string, opts *Options) (*Client, error) {
	if opts == nil {
		opts = &Options{}
	}
	conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: opts.Header})
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	conn.SetReadLimit(1 << 20)
	n := opts.EventBuffer
	if n <= 0 {
		n = DefaultEventBuffer
	}
	c := &Client{
		conn:    conn,
		events:  make(chan Event, n),
		done:    make(chan struct{}),
		quit:    make(chan struct{}),
		pending: make(map[uint64]chan Reply),
	}
	c.wg.Add(1)
	go func() { defer c.wg.Done(); c.readLoop() }()
	return c, nil
}

// Dial connects and logs in.
func Dial(ctx context.Context, url string, sdkappid uint32, userID, userSig string, opts *Options) (*Client, LoginReply, error) {
	c, err := DialRaw(ctx, url, opts)
	if err != nil {
		return nil, LoginReply{}, err
	}
	presence := opts != nil && opts.Presence
	rep, err := c.Login(ctx, LoginArgs{SDKAppID: sdkappid, UserID: userID, UserSig: userSig, Presence: presence})
	if err != nil {
		c.Close()
		return nil, LoginReply{}, err
	}
	return c, rep, nil
}

// Events delivers server events in order. It is closed when the
// connection ends.
func (c *Client) Events() <-chan Event { return c.events }

// Done is closed when the connection has ended.
func (c *Client) Done() <-chan struct{} { return c.done }

// CloseStatus returns the close code and reason the server sent, valid
// after Done is closed (-1 when the connection ended without one).
func (c *Client) CloseStatus() (websocket.StatusCode, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeStatus, c.closeReason
}

// Close closes the connection and waits for the reader.
func (c *Client) Close() error {
	c.quitOnce.Do(func() { close(c.quit) })
	err := c.conn.Close(websocket.StatusNormalClosure, "")
	c.wg.Wait()
	return err
}

// CloseNow drops the connection without a close handshake (a vanished
// client, for tests of the reconnect grace).
func (c *Client) CloseNow() {
	c.quitOnce.Do(func() { close(c.quit) })
	c.conn.CloseNow()
	c.wg.Wait()
}

type wireMsg struct {
	ID     uint64          `json:"id"`
	Type   string          `json:"type"`
	OK     bool            `json:"ok"`
	Code   int             `json:"code"`
	Error  string          `json:"error"`
	Event  string          `json:"event"`
	CallID string          `json:"callID"`
	Data   json.RawMessage `json:"data"`
}

func (c *Client) readLoop() {
	defer func() {
		c.mu.Lock()
		for id, ch := range c.pending {
			close(ch)
			delete(c.pending, id)
		}
		c.mu.Unlock()
		close(c.events)
		close(c.done)
	}()
	for {
		_, b, err := c.conn.Read(context.Background())
		if err != nil {
			c.mu.Lock()
			c.closeStatus = websocket.CloseStatus(err)
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				c.closeReason = ce.Reason
			}
			c.mu.Unlock()
			return
		}
		at := time.Now()
		var m wireMsg
		if err := json.Unmarshal(b, &m); err != nil {
			continue // not ours to judge; the server never sends this
		}
		switch m.Type {
		case "reply":
			r := Reply{ID: m.ID, OK: m.OK, Code: m.Code, Error: m.Error, Data: m.Data}
			c.mu.Lock()
			ch := c.pending[m.ID]
			delete(c.pending, m.ID)
			c.mu.Unlock()
			if ch != nil {
				ch <- r
				continue
			}
			if !c.deliver(Event{Name: "reply", Reply: &r, At: at}) {
				return
			}
		case "event":
			if !c.deliver(Event{Name: m.Event, CallID: m.CallID, Data: m.Data, At: at}) {
				return
			}
		}
	}
}

func (c *Client) deliver(ev Event) bool {
	select {
	case c.events <- ev:
		return true
	case <-c.quit:
		return false
	}
}

// Request sends a request and waits for its reply; a refusal is an *Error.
func (c *Client) Request(ctx context.Context, typ string, data any) (json.RawMessage, error) {
	id := c.nextID.Add(1)
	msg := struct {
		ID   uint64 `json:"id"`
		Type string `json:"type"`
		Data any    `json:"data,omitempty"`
	}{id, typ, data}
	b, err := json.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", typ, err)
	}
	r, err := c.Exchange(ctx, id, b)
	if err != nil {
		return nil, err
	}
	if !r.OK {
		return nil, &Error{Code: r.Code, Msg: r.Error}
	}
	return r.Data, nil
}

// Exchange sends a raw text frame and waits for the reply carrying id. It
// is for tests of malformed input; the reply is returned even when not ok.
func (c *Client) Exchange(ctx context.Context, id uint64, frame []byte) (Reply, error) {
	ch := make(chan Reply, 1)
	c.mu.Lock()
	c.pending[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		if c.pending[id] == ch {
			delete(c.pending, id)
		}
		c.mu.Unlock()
	}()
	if err := c.Send(ctx, websocket.MessageText, frame); err != nil {
		return Reply{}, err
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return Reply{}, ErrClosed
		}
		return r, nil
	case <-ctx.Done():
		return Reply{}, fmt.Errorf("wait for reply %d: %w", id, ctx.Err())
	}
}

// Send writes one raw frame.
func (c *Client) Send(ctx context.Context, typ websocket.MessageType, frame []byte) error {
	if err := c.conn.Write(ctx, typ, frame); err != nil {
		select {
		case <-c.done:
			return ErrClosed
		default:
		}
		return fmt.Errorf("send: %w", err)
	}
	return nil
}

// WaitFor reads events until match accepts one and returns it; events
// before it are discarded. It fails when ctx ends or the connection does.
func (c *Client) WaitFor(ctx context.Context, match func(Event) bool) (Event, error) {
	for {
		select {
		case ev, ok := <-c.events:
			if !ok {
				return Event{}, ErrClosed
			}
			if match(ev) {
				return ev, nil
			}
		case <-ctx.Done():
			return Event{}, fmt.Errorf("wait for event: %w", ctx.Err())
		}
	}
}

// Named matches an event by name.
func Named(name string) func(Event) bool {
	return func(ev Event) bool { return ev.Name == name }
}

// Decode unmarshals an event's data.
func (ev Event) Decode(v any) error { return json.Unmarshal(ev.Data, v) }
