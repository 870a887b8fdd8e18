package appliance

import (
	"time"

	"callbox/appliance/webhook"
	"callbox/store"
)

// WebhookUpdate changes some fields of an app's webhook; nil fields keep
// their value. It is what `callbox webhook set` and REST set_callback
// both send (docs/webhooks.md, docs/rest.md).
type WebhookUpdate struct {
	URL            *string
	Token          *string
	Events         *string // all, none, or a list (webhook.ParseEvents)
	StatusCallback *bool
	Concurrency    *int
	Timeout        *time.Duration
	RetryFor       *time.Duration
}

// ApplyWebhookUpdate is the one implementation of "set the webhook":
// it applies u to cur (nil: the app has none yet, and u must give a URL;
// a new webhook sends every event and the status callback unless u says
// otherwise) and checks the result (webhook.Check). Store it with
// WebhookAdmin.SetWebhook.
func ApplyWebhookUpdate(app uint32, cur *store.Webhook, u WebhookUpdate) (store.Webhook, error) {
	w := store.Webhook{SDKAppID: app, EventCallbacks: true, StatusCallback: true}
	if cur != nil {
		w = *cur
	} else if u.URL == nil {
		return w, badRequest("app %d has no webhook yet: --url is required", app)
	}
	if u.URL != nil {
		w.URL = *u.URL
	}
	if u.Token != nil {
		w.Token = *u.Token
	}
	if u.StatusCallback != nil {
		w.StatusCallback = *u.StatusCallback
	}
	if u.Events != nil {
		on, list, err := webhook.ParseEvents(*u.Events)
		if err != nil {
			return w, badRequest("invalid --events: %v", err)
		}
		w.EventCallbacks, w.Events = on, list
	}
	if u.Concurrency != nil {
		w.Concurrency = *u.Concurrency
		if w.Concurrency < 1 {
			return w, badRequest("invalid --concurrency %d: want 1 to %d", w.Concurrency, webhook.MaxConcurrency)
		}
	}
	if u.Timeout != nil {
		w.Timeout = *u.Timeout
	}
	if u.RetryFor != nil {
		w.RetryFor = *u.RetryFor
	}
	if err := webhook.Check(w); err != nil {
		return w, badRequest("%v", err)
	}
	return w, nil
}

// IsBadRequest reports whether err is an invalid value refused by the
// admin functions (a usage error, not a failure).
func IsBadRequest(err error) bool {
	_, ok := err.(badRequestError)
	return ok
}
