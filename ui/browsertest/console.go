package browsertest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// catchUpTimeout bounds how long ConsoleErrors waits for messages that
// the browser sent but the recorder has not formatted yet.
const catchUpTimeout = 2 * time.Second

// console records the console of one Browser tab. chromedp.Console formats
// the messages but delivers them from a queue of its own, later than the
// replies to commands; a listener in the tab's read loop counts them in
// order. So once an Eval returned, seen counts what the page logged during
// it, and catchUp waits for msgs to reach that count.
type console struct {
	mu      sync.Mutex
	changed *sync.Cond // msgs grew, or the recorder ended
	seen    int        // console events the tab's read loop passed
	msgs    []chromedp.ConsoleMessage
	ended   bool
	done    chan struct{} // the recorder ended
}

type consoleKey struct{}

// watchConsole starts recording the console of the tab of ctx until ctx
// ends; wait waits for that.
func watchConsole(ctx context.Context) (*console, error) {
	c := &console{done: make(chan struct{})}
	c.changed = sync.NewCond(&c.mu)
	messages := chromedp.Console(ctx)
	err := chromedp.Listen(ctx, func(ev any) {
		switch ev.(type) {
		case *runtime.EventConsoleAPICalled, *runtime.EventExceptionThrown, *log.EventEntryAdded:
			c.mu.Lock()
			c.seen++
			c.mu.Unlock()
		}
	})
	if err != nil {
		return nil, err
	}
	go func() {
		defer close(c.done)
		for m, err := range messages {
			if err != nil {
				break // the tab closed
			}
			c.mu.Lock()
			c.msgs = append(c.msgs, m)
			c.mu.Unlock()
			c.changed.Broadcast()
		}
		c.mu.Lock()
		c.ended = true
		c.mu.Unlock()
		c.changed.Broadcast()
	}()
	return c, nil
}

// wait waits for the recorder to end (after its tab's context ended).
func (c *console) wait() { <-c.done }

// catchUp waits up to catchUpTimeout until every message the tab's read
// loop passed is recorded, and returns the messages.
func (c *console) catchUp() []chromedp.ConsoleMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	expired := false
	timer := time.AfterFunc(catchUpTimeout, func() {
		c.mu.Lock()
		expired = true
		c.mu.Unlock()
		c.changed.Broadcast()
	})
	defer timer.Stop()
	for len(c.msgs) < c.seen && !c.ended && !expired {
		c.changed.Wait()
	}
	return c.msgs[:len(c.msgs):len(c.msgs)]
}

// report fails t for each exception of the tab, and after a failure logs
// the whole console.
func (c *console) report(t *testing.T, name string) {
	msgs := c.catchUp()
	for _, m := range msgs {
		if m.IsException() {
			t.Errorf("%s: uncaught in the page: %s (%s:%d)", name, m.Text, m.URL, m.Line+1)
		}
	}
	if t.Failed() {
		for _, m := range msgs {
			t.Logf("%s console: %s", name, m)
		}
	}
}

// ConsoleErrors returns what the tab's pages logged as errors until now
// (up to the last Do or Eval that returned): console.error calls,
// exceptions and the browser's own error entries (a failed request, a
// refused WebSocket).
func ConsoleErrors(ctx context.Context) []string {
	c, _ := ctx.Value(consoleKey{}).(*console)
	if c == nil {
		return nil
	}
	var errs []string
	for _, m := range c.catchUp() {
		if m.Type == chromedp.ConsoleError || m.IsException() {
			errs = append(errs, m.Text)
		}
	}
	return errs
}
