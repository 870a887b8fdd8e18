package restapi

import (
	"context"
	"errors"
	"strings"

	"callbox/store"
)

// setCallbackReq is set_callback's body: fields not given keep their
// value, as the CLI's flags (`callbox webhook set`). EventList is the
// per-event callbacks: ["all"], ["none"], or event names and commands
// (start_call, caller_call_end, ...).
type setCallbackReq struct {
	URL            *string   `json:"CallbackUrl"`
	Token          *string   `json:"Token"`
	Events         *[]string `json:"EventList"`
	StatusCallback *bool     `json:"StatusCallback"`
}

// callbackResp is the stored configuration.
type callbackResp struct {
	URL            string   `json:"CallbackUrl"`
	Token          string   `json:"Token"`
	EventList      []string `json:"EventList"` // ["all"], ["none"] or the filter
	StatusCallback bool     `json:"StatusCallback"`
}

func toCallback(w store.Webhook) callbackResp {
	r := callbackResp{URL: w.URL, Token: w.Token, StatusCallback: w.StatusCallback}
	switch {
	case !w.EventCallbacks:
		r.EventList = []string{"none"}
	case len(w.Events) == 0:
		r.EventList = []string{"all"}
	default:
		r.EventList = w.Events
	}
	return r
}

// parseSetCallback validates set_callback's body into an update.
func parseSetCallback(body []byte) (CallbackUpdate, error) {
	var req setCallbackReq
	if err := decodeBody(body, &req); err != nil {
		return CallbackUpdate{}, err
	}
	u := CallbackUpdate{URL: req.URL, Token: req.Token, StatusCallback: req.StatusCallback}
	if req.URL != nil && len(*req.URL) > 2048 {
		return u, badParam("CallbackUrl longer than 2048 bytes")
	}
	if req.Token != nil && len(*req.Token) > 256 {
		return u, badParam("Token longer than 256 bytes")
	}
	if req.Events != nil {
		list := *req.Events
		if len(list) == 0 || len(list) > 64 {
			return u, badParam("EventList: want [\"all\"], [\"none\"] or 1 to 64 event names")
		}
		for _, e := range list {
			if e == "" || strings.ContainsAny(e, ", ") || len(e) > 64 {
				return u, badParam("EventList: bad event name %.70q", e)
			}
		}
		s := strings.Join(list, ",")
		u.Events = &s
	}
	if u == (CallbackUpdate{}) {
		return u, badParam("set_callback needs at least one of CallbackUrl, Token, EventList, StatusCallback")
	}
	return u, nil
}

func (a *API) setCallback(ctx context.Context, app uint32, body []byte) (any, error) {
	u, err := parseSetCallback(body)
	if err != nil {
		return nil, err
	}
	w, err := a.cfg.Callbacks.SetCallback(ctx, app, u)
	if err != nil {
		return nil, err
	}
	return toCallback(w), nil
}

func (a *API) getCallback(ctx context.Context, app uint32, body []byte) (any, error) {
	if err := decodeBody(body, &struct{}{}); err != nil {
		return nil, err
	}
	w, err := a.cfg.Callbacks.Callback(ctx, app)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &Error{Code: CodeNoRecord, Msg: "no callback configured"}
	}
	if err != nil {
		return nil, err
	}
	return toCallback(w), nil
}

func (a *API) deleteCallback(ctx context.Context, app uint32, body []byte) (any, error) {
	if err := decodeBody(body, &struct{}{}); err != nil {
		return nil, err
	}
	err := a.cfg.Callbacks.DeleteCallback(ctx, app)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &Error{Code: CodeNoRecord, Msg: "no callback configured"}
	}
	return nil, err
}
