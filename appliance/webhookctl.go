package appliance

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"callbox/appliance/webhook"
	"callbox/store"
)

// webhookRoutes are the control socket's webhook endpoints; the bodies
// are the WebhookAdmin types as JSON.
func (a *Appliance) webhookRoutes(handle func(string, func(*http.Request) (any, error))) {
	h := &a.hooks.hookAdmin
	handle("GET /webhooks/{id}", func(r *http.Request) (any, error) {
		id, err := pathAppID(r)
		if err != nil {
			return nil, err
		}
		return h.Webhook(r.Context(), id)
	})
	handle("PUT /webhooks/{id}", func(r *http.Request) (any, error) {
		id, err := pathAppID(r)
		if err != nil {
			return nil, err
		}
		var w store.Webhook
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&w); err != nil {
			return nil, badRequest("decode webhook: %v", err)
		}
		w.SDKAppID = id
		return h.SetWebhook(r.Context(), w)
	})
	handle("DELETE /webhooks/{id}", func(r *http.Request) (any, error) {
		id, err := pathAppID(r)
		if err != nil {
			return nil, err
		}
		return struct{}{}, h.DeleteWebhook(r.Context(), id)
	})
	handle("POST /webhooks/{id}/test", func(r *http.Request) (any, error) {
		id, err := pathAppID(r)
		if err != nil {
			return nil, err
		}
		return h.TestWebhook(r.Context(), id, r.URL.Query().Get("command"))
	})
	handle("GET /webhooks/{id}/log", func(r *http.Request) (any, error) {
		id, err := pathAppID(r)
		if err != nil {
			return nil, err
		}
		limit, err := strconv.Atoi(r.URL.Query().Get("limit"))
		if err != nil || limit < 0 {
			return nil, badRequest("bad limit %q", r.URL.Query().Get("limit"))
		}
		return h.WebhookLog(r.Context(), id, limit, r.URL.Query().Get("failed") == "1")
	})
	handle("GET /webhooks/{id}/dead", func(r *http.Request) (any, error) {
		id, err := pathAppID(r)
		if err != nil {
			return nil, err
		}
		return h.DeadWebhooks(r.Context(), id)
	})
	handle("POST /webhooks/{id}/retry", func(r *http.Request) (any, error) {
		id, err := pathAppID(r)
		if err != nil {
			return nil, err
		}
		n, err := h.RetryWebhook(r.Context(), id, r.URL.Query().Get("event"))
		return retried{n}, err
	})
}

type retried struct {
	Retried int `json:"retried"`
}

func (c *controlClient) SetWebhook(ctx context.Context, w store.Webhook) (out store.Webhook, err error) {
	return out, c.do(ctx, "PUT", fmt.Sprintf("/webhooks/%d", w.SDKAppID), w, &out)
}

func (c *controlClient) Webhook(ctx context.Context, app uint32) (info WebhookInfo, err error) {
	return info, c.do(ctx, "GET", fmt.Sprintf("/webhooks/%d", app), nil, &info)
}

func (c *controlClient) DeleteWebhook(ctx context.Context, app uint32) error {
	return c.do(ctx, "DELETE", fmt.Sprintf("/webhooks/%d", app), nil, nil)
}

func (c *controlClient) TestWebhook(ctx context.Context, app uint32, command string) (res WebhookTest, err error) {
	return res, c.do(ctx, "POST", fmt.Sprintf("/webhooks/%d/test?command=%s", app, url.QueryEscape(command)), nil, &res)
}

func (c *controlClient) WebhookLog(ctx context.Context, app uint32, limit int, failed bool) (log []store.Delivery, err error) {
	f := "0"
	if failed {
		f = "1"
	}
	return log, c.do(ctx, "GET", fmt.Sprintf("/webhooks/%d/log?limit=%d&failed=%s", app, limit, f), nil, &log)
}

func (c *controlClient) DeadWebhooks(ctx context.Context, app uint32) (dead []store.DeadEntry, err error) {
	return dead, c.do(ctx, "GET", fmt.Sprintf("/webhooks/%d/dead", app), nil, &dead)
}

func (c *controlClient) RetryWebhook(ctx context.Context, app uint32, eventID string) (int, error) {
	var r retried
	err := c.do(ctx, "POST", fmt.Sprintf("/webhooks/%d/retry?event=%s", app, url.QueryEscape(eventID)), nil, &r)
	return r.Retried, err
}

// hooks is the store-only WebhookAdmin of a CLI with no server running:
// nothing is woken, and a URL cannot be checked against a listener that
// does not exist (the server's client refuses it once it runs).
func (l *localAdmin) hooks() *hookAdmin {
	return &hookAdmin{st: l.st, hc: webhook.NewClient(nil), now: l.now, ua: "callbox"}
}

func (l *localAdmin) SetWebhook(ctx context.Context, w store.Webhook) (store.Webhook, error) {
	return l.hooks().SetWebhook(ctx, w)
}

func (l *localAdmin) Webhook(ctx context.Context, app uint32) (WebhookInfo, error) {
	return l.hooks().Webhook(ctx, app)
}

func (l *localAdmin) DeleteWebhook(ctx context.Context, app uint32) error {
	return l.hooks().DeleteWebhook(ctx, app)
}

func (l *localAdmin) TestWebhook(ctx context.Context, app uint32, command string) (WebhookTest, error) {
	return l.hooks().TestWebhook(ctx, app, command)
}

func (l *localAdmin) WebhookLog(ctx context.Context, app uint32, limit int, failed bool) ([]store.Delivery, error) {
	return l.hooks().WebhookLog(ctx, app, limit, failed)
}

func (l *localAdmin) DeadWebhooks(ctx context.Context, app uint32) ([]store.DeadEntry, error) {
	return l.hooks().DeadWebhooks(ctx, app)
}

func (l *localAdmin) RetryWebhook(ctx context.Context, app uint32, eventID string) (int, error) {
	return l.hooks().RetryWebhook(ctx, app, eventID)
}

// The control client and the store-only admin both serve webhooks.
var (
	_ WebhookAdmin = (*controlClient)(nil)
	_ WebhookAdmin = (*localAdmin)(nil)
)
