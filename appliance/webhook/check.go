package webhook

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"callbox/store"
)

// Defaults for the zero fields of a store.Webhook.
const (
	DefaultConcurrency = 8
	DefaultTimeout     = 3 * time.Second
	DefaultRetryFor    = 24 * time.Hour
	MaxConcurrency     = 64
	MaxTimeout         = 30 * time.Second
	MaxRetryFor        = 7 * 24 * time.Hour
)

// StatusCommand is the call status callback's command (§3): one per
// participant when a call ends. Every other command is a per-event one.
const StatusCommand = "call_end"

// Events are the Event values of tencent-compat.md §3 (the seed's tables)
// by role; a command is role + "_" + event. invite_user and
// join_in_group_call may come with either role.
var (
	CallerEvents = []string{"start_call", "call_accepted", "call_missed", "call_rejected", "call_busy",
		"cancel_call", "call_failed", "call_end", "call_interrupted", "invite_user", "join_in_group_call"}
	CalleeEvents = []string{"receive_call", "accept_call", "not_answer_call", "reject_call", "ignore_call",
		"call_canceled", "call_end", "call_interrupted", "invite_user", "join_in_group_call"}
)

// Commands lists every per-event command.
func Commands() []string {
	var out []string
	for _, e := range CallerEvents {
		out = append(out, "caller_"+e)
	}
	for _, e := range CalleeEvents {
		out = append(out, "callee_"+e)
	}
	return out
}

// CheckURL accepts an absolute http or https URL with a host and no
// fragment, at most 2048 bytes.
func CheckURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("no URL")
	}
	if len(raw) > 2048 {
		return nil, errors.New("URL longer than 2048 bytes")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("URL %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("URL %q: want http:// or https://", raw)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("URL %q: no host", raw)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return nil, fmt.Errorf("URL %q: a fragment (#...) is never sent", raw)
	}
	return u, nil
}

// CheckToken accepts 1 to 128 printable ASCII characters without spaces:
// the token is hashed exactly as typed, and a space that a shell or a
// console added or dropped would make every Sign wrong.
func CheckToken(tok string) error {
	if len(tok) > 128 {
		return errors.New("token longer than 128 characters")
	}
	for i := 0; i < len(tok); i++ {
		if c := tok[i]; c <= ' ' || c > '~' {
			if c == ' ' {
				return errors.New("token contains a space: use printable characters without spaces")
			}
			return fmt.Errorf("token contains byte %#02x: use printable ASCII characters without spaces", c)
		}
	}
	return nil
}

// ParseEvents reads --events: "all", "none", or a comma-separated list of
// event names (call_end: both roles) or commands (caller_call_end). It
// returns whether per-event callbacks are on and the filter (nil = all).
func ParseEvents(s string) (bool, []string, error) {
	switch strings.TrimSpace(s) {
	case "", "all":
		return true, nil, nil
	case "none":
		return false, nil, nil
	}
	known := Commands()
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !slices.Contains(known, f) && !slices.Contains(CallerEvents, f) && !slices.Contains(CalleeEvents, f) {
			return false, nil, fmt.Errorf("unknown event %q: want all, none, or names like start_call,call_end or commands like caller_start_call", f)
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		return false, nil, errors.New("empty event list: want all, none, or event names")
	}
	return true, out, nil
}

// Check validates a configuration: URL, token and bounds.
func Check(w store.Webhook) error {
	if _, err := CheckURL(w.URL); err != nil {
		return fmt.Errorf("invalid --url: %w", err)
	}
	if err := CheckToken(w.Token); err != nil {
		return fmt.Errorf("invalid --token: %w", err)
	}
	if w.EventCallbacks && len(w.Events) > 0 {
		if _, _, err := ParseEvents(strings.Join(w.Events, ",")); err != nil {
			return fmt.Errorf("invalid --events: %w", err)
		}
	}
	switch {
	case w.Concurrency < 0 || w.Concurrency > MaxConcurrency:
		return fmt.Errorf("invalid --concurrency %d: want 1 to %d", w.Concurrency, MaxConcurrency)
	case w.Timeout != 0 && (w.Timeout < 100*time.Millisecond || w.Timeout > MaxTimeout):
		return fmt.Errorf("invalid --timeout %s: want 100ms to %s", w.Timeout, MaxTimeout)
	case w.RetryFor != 0 && (w.RetryFor < time.Minute || w.RetryFor > MaxRetryFor):
		return fmt.Errorf("invalid --retry-for %s: want 1m to %s", w.RetryFor, MaxRetryFor)
	}
	return nil
}

// withDefaults fills the zero fields of a configuration.
func withDefaults(w store.Webhook) store.Webhook {
	if w.Concurrency <= 0 {
		w.Concurrency = DefaultConcurrency
	}
	if w.Timeout <= 0 {
		w.Timeout = DefaultTimeout
	}
	if w.RetryFor <= 0 {
		w.RetryFor = DefaultRetryFor
	}
	return w
}

// Wants reports whether the configuration sends an event with this
// command.
func Wants(w store.Webhook, command string) bool {
	if command == StatusCommand {
		return w.StatusCallback
	}
	if !w.EventCallbacks {
		return false
	}
	if len(w.Events) == 0 {
		return true
	}
	_, event, _ := strings.Cut(command, "_")
	return slices.Contains(w.Events, command) || slices.Contains(w.Events, event)
}
