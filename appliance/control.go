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
	"time"

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

// controlRoutes is the admin API as the control socket serves it: with
// no session or CSRF check, since only the owner reaches the socket.
func (a *Appliance) controlRoutes() http.Handler { return a.adminAPI() }

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

func (c *controlClient) RenameApp(ctx context.Context, id uint32, name string) (app store.App, err error) {
	return app, c.do(ctx, "PATCH", fmt.Sprintf("/apps/%d?name=%s", id, url.QueryEscape(name)), nil, &app)
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

func (c *controlClient) Admins(ctx context.Context) (out []AdminInfo, err error) {
	return out, c.do(ctx, "GET", "/admins", nil, &out)
}

func (c *controlClient) CreateAdmin(ctx context.Context, name, pw string) (info AdminInfo, err error) {
	return info, c.do(ctx, "POST", "/admins", struct{ Name, Password string }{name, pw}, &info)
}

func (c *controlClient) SetAdminPassword(ctx context.Context, name, pw string) (int, error) {
	var r revoked
	err := c.do(ctx, "POST", "/admins/"+url.PathEscape(name)+"/password", struct{ Password string }{pw}, &r)
	return r.Revoked, err
}

func (c *controlClient) DeleteAdmin(ctx context.Context, name string) error {
	return c.do(ctx, "DELETE", "/admins/"+url.PathEscape(name), nil, nil)
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
