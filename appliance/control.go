package appliance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"callbox/signaling/call"
	"callbox/signaling/call/record"
	"callbox/store"
	"callbox/turn"
)

// The control socket is HTTP over a unix socket in the data directory,
// reachable only by the owner of the (0700) data directory. The CLI uses it
// so admin commands work while `serve` holds the store's file lock.

// listenControl binds the socket, replacing a stale one left by a crash.
// A live socket means another server runs; the store lock has already
// refused that case, so a leftover file here is always stale.
func listenControl(path string) (net.Listener, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale control socket: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen control socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("chmod control socket: %w", err)
	}
	return ln, nil
}

// controlError is the body of every failed control request.
type controlError struct {
	Error string `json:"error"`
	Code  string `json:"code"` // "not_found", "no_server", "bad_request", "internal"
}

func (a *Appliance) controlRoutes() http.Handler {
	mux := http.NewServeMux()
	local := &localAdmin{st: a.store, now: a.cfg.Now}
	handle := func(pattern string, fn func(r *http.Request) (any, error)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			v, err := fn(r)
			if err != nil {
				writeControlError(w, err)
				return
			}
			writeJSON(w, http.StatusOK, v)
		})
	}
	handle("GET /health", func(r *http.Request) (any, error) { return a.health(), nil })
	handle("GET /apps", func(r *http.Request) (any, error) { return local.Apps(r.Context()) })
	handle("POST /apps", func(r *http.Request) (any, error) {
		return local.CreateApp(r.Context(), r.URL.Query().Get("name"))
	})
	handle("GET /apps/{id}", func(r *http.Request) (any, error) {
		id, err := pathAppID(r)
		if err != nil {
			return nil, err
		}
		return local.App(r.Context(), id)
	})
	handle("POST /apps/{id}/rotate-key", func(r *http.Request) (any, error) {
		id, err := pathAppID(r)
		if err != nil {
			return nil, err
		}
		app, err := local.RotateKey(r.Context(), id)
		if err == nil {
			// Sessions whose sig the old key signed end now, not when
			// their sig would have expired (up to 7 days later).
			n := a.sig.AppKeyChanged(id)
			a.log.Info("app key rotated", "app_id", id, "sessions_closed", n)
		}
		return app, err
	})
	handle("DELETE /apps/{id}", func(r *http.Request) (any, error) {
		id, err := pathAppID(r)
		if err != nil {
			return nil, err
		}
		if err := local.DeleteApp(r.Context(), id); err != nil {
			return nil, err
		}
		a.sig.AppDeleted(id)
		a.hooks.appDeleted(r.Context(), id, a.log)
		a.log.Info("app deleted", "app_id", id)
		return struct{}{}, nil
	})
	handle("GET /calls", func(r *http.Request) (any, error) { return a.liveCalls() })
	handle("POST /calls/{app}/{id}/end", func(r *http.Request) (any, error) {
		app, err := strconv.ParseUint(r.PathValue("app"), 10, 32)
		if err != nil {
			return nil, badRequest("bad sdkappid %q", r.PathValue("app"))
		}
		return struct{}{}, a.endCall(r.Context(), uint32(app), r.PathValue("id"))
	})
	handle("POST /records", func(r *http.Request) (any, error) {
		var f store.CallFilter
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&f); err != nil {
			return nil, badRequest("decode filter: %v", err)
		}
		return local.Records(r.Context(), f)
	})
	handle("GET /ice-servers", func(r *http.Request) (any, error) {
		ttl, err := time.ParseDuration(r.URL.Query().Get("ttl"))
		if err != nil {
			return nil, badRequest("bad ttl: %v", err)
		}
		if a.ice == nil {
			return nil, badRequest("TURN is off on this server (--turn=false)")
		}
		return a.iceServers(r.URL.Query().Get("user"), a.cfg.Now(), ttl), nil
	})
	a.webhookRoutes(handle)
	mux.HandleFunc("GET /backup", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		if _, err := a.store.Backup(r.Context(), w); err != nil {
			a.log.Error("backup over control socket", "err", err)
		}
	})
	return mux
}

// liveCalls and endCall answer from the call engine.
func (a *Appliance) liveCalls() ([]record.Call, error) {
	return a.calls.Live(), nil
}

func (a *Appliance) endCall(ctx context.Context, app uint32, callID string) error {
	err := a.calls.End(ctx, app, callID)
	if errors.Is(err, call.ErrNoCall) {
		return fmt.Errorf("call %s: %w", callID, store.ErrNotFound)
	}
	return err
}

type badRequestError struct{ msg string }

func (e badRequestError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return badRequestError{fmt.Sprintf(format, args...)}
}

func pathAppID(r *http.Request) (uint32, error) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 32)
	if err != nil {
		return 0, badRequest("bad sdkappid %q", r.PathValue("id"))
	}
	return uint32(id), nil
}

func writeControlError(w http.ResponseWriter, err error) {
	var br badRequestError
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeJSON(w, http.StatusNotFound, controlError{err.Error(), "not_found"})
	case errors.Is(err, ErrNoServer):
		writeJSON(w, http.StatusConflict, controlError{err.Error(), "no_server"})
	case errors.As(err, &br):
		writeJSON(w, http.StatusBadRequest, controlError{err.Error(), "bad_request"})
	default:
		writeJSON(w, http.StatusInternalServerError, controlError{err.Error(), "internal"})
	}
}

// controlClient is Admin over the control socket.
type controlClient struct {
	hc *http.Client
}

// dialControl returns a client if a server answers on sock.
func dialControl(ctx context.Context, sock string) (*controlClient, error) {
	if _, err := os.Stat(sock); err != nil {
		return nil, err
	}
	c := &controlClient{hc: unixClient(sock)}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := c.do(ctx, "GET", "/apps", nil, nil); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *controlClient) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://callbox"+path, rd)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var ce controlError
		if err := json.NewDecoder(resp.Body).Decode(&ce); err != nil {
			return fmt.Errorf("control socket: status %s", resp.Status)
		}
		switch ce.Code {
		case "not_found":
			return fmt.Errorf("%s: %w", trimSuffix(ce.Error, ": "+store.ErrNotFound.Error()), store.ErrNotFound)
		case "no_server":
			return ErrNoServer
		}
		return errors.New(ce.Error)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func trimSuffix(s, suffix string) string {
	if len(s) >= len(suffix) && s[len(s)-len(suffix):] == suffix {
		return s[:len(s)-len(suffix)]
	}
	return s
}

func (c *controlClient) Close() error { c.hc.CloseIdleConnections(); return nil }

func (c *controlClient) Health(ctx context.Context) (h Health, err error) {
	return h, c.do(ctx, "GET", "/health", nil, &h)
}

func (c *controlClient) CreateApp(ctx context.Context, name string) (app store.App, err error) {
	return app, c.do(ctx, "POST", "/apps?name="+url.QueryEscape(name), nil, &app)
}

func (c *controlClient) Apps(ctx context.Context) (apps []store.App, err error) {
	return apps, c.do(ctx, "GET", "/apps", nil, &apps)
}

func (c *controlClient) App(ctx context.Context, id uint32) (app store.App, err error) {
	return app, c.do(ctx, "GET", fmt.Sprintf("/apps/%d", id), nil, &app)
}

func (c *controlClient) RotateKey(ctx context.Context, id uint32) (app store.App, err error) {
	return app, c.do(ctx, "POST", fmt.Sprintf("/apps/%d/rotate-key", id), nil, &app)
}

func (c *controlClient) DeleteApp(ctx context.Context, id uint32) error {
	return c.do(ctx, "DELETE", fmt.Sprintf("/apps/%d", id), nil, nil)
}

func (c *controlClient) LiveCalls(ctx context.Context) (recs []record.Call, err error) {
	return recs, c.do(ctx, "GET", "/calls", nil, &recs)
}

func (c *controlClient) EndCall(ctx context.Context, app uint32, callID string) error {
	return c.do(ctx, "POST", fmt.Sprintf("/calls/%d/%s/end", app, url.PathEscape(callID)), nil, nil)
}

func (c *controlClient) Records(ctx context.Context, f store.CallFilter) (recs []record.Call, err error) {
	return recs, c.do(ctx, "POST", "/records", f, &recs)
}

func (c *controlClient) ICEServers(ctx context.Context, user string, ttl time.Duration) (s []turn.ICEServer, err error) {
	q := url.Values{"user": {user}, "ttl": {ttl.String()}}
	return s, c.do(ctx, "GET", "/ice-servers?"+q.Encode(), nil, &s)
}

func (c *controlClient) Backup(ctx context.Context, w io.Writer) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", "http://callbox/backup", nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("control socket: %w", err)
	}
	defer resp.Body.Close()
	return io.Copy(w, resp.Body)
}
