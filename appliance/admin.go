package appliance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"callbox/signaling/call/record"
	"callbox/store"
	"callbox/turn"
)

// Admin is what the CLI can do to a callbox, whether or not a server is
// running: through the control socket of the running server, or directly
// on the store file when none runs.
type Admin interface {
	// Health describes the running server; ErrNoServer when none runs.
	Health(ctx context.Context) (Health, error)
	CreateApp(ctx context.Context, name string) (store.App, error)
	Apps(ctx context.Context) ([]store.App, error)
	// RenameApp changes an app's name (1 to 64 characters).
	RenameApp(ctx context.Context, id uint32, name string) (store.App, error)
	RotateKey(ctx context.Context, id uint32) (store.App, error)
	DeleteApp(ctx context.Context, id uint32) error
	// App returns one app with its key (UserSig issuing needs it).
	App(ctx context.Context, id uint32) (store.App, error)
	LiveCalls(ctx context.Context) ([]record.Call, error)
	EndCall(ctx context.Context, app uint32, callID string) error
	Records(ctx context.Context, f store.CallFilter) ([]record.Call, error)
	Backup(ctx context.Context, w io.Writer) (int64, error)
	// ICEServers returns STUN/TURN servers with credentials for user,
	// valid for ttl (0 = the server's default).
	ICEServers(ctx context.Context, user string, ttl time.Duration) ([]turn.ICEServer, error)
	WebhookAdmin
	// SetAppAdmins adds and removes an app's REST admin accounts
	// (docs/rest.md); an app keeps at least one.
	SetAppAdmins(ctx context.Context, app uint32, add, remove []string) (store.App, error)
	// SetRobotMedia names the app's robot clips (files in the data
	// directory's robot-media/; "" = built-in); nil keeps a value.
	SetRobotMedia(ctx context.Context, app uint32, audio, video *string) (store.App, error)
	// Admin console accounts (docs/admin.md §1).
	Admins(ctx context.Context) ([]AdminInfo, error)
	CreateAdmin(ctx context.Context, name, password string) (AdminInfo, error)
	// SetAdminPassword also ends the account's sessions; it returns
	// how many.
	SetAdminPassword(ctx context.Context, name, password string) (int, error)
	// DeleteAdmin refuses the last account (ErrLastAdmin).
	DeleteAdmin(ctx context.Context, name string) error
	Close() error
}

// ErrNoServer is returned for operations that need a running server.
var ErrNoServer = errors.New("no callbox server is running on this data directory")

// OpenAdmin connects to the server running on dataDir, or, when none runs,
// opens the store itself. A data directory that does not exist yet is
// created only by a command that writes (create); readers get an error.
func OpenAdmin(ctx context.Context, dataDir string, write bool) (Admin, error) {
	sock := filepath.Join(dataDir, ControlSocketName)
	if c, err := dialControl(ctx, sock); err == nil {
		return c, nil
	}
	if !write {
		if _, err := os.Stat(filepath.Join(dataDir, store.FileName)); errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no callbox data in %s (run `callbox serve` or `callbox app create` first)", dataDir)
		}
	}
	st, err := OpenStore(dataDir)
	if err != nil {
		return nil, err
	}
	return &localAdmin{st: st, now: time.Now}, nil
}

// localAdmin works on the store file directly; no server runs.
type localAdmin struct {
	st  *store.Store
	now func() time.Time
}

func (l *localAdmin) Close() error { return l.st.Close() }

func (l *localAdmin) Health(context.Context) (Health, error) { return Health{}, ErrNoServer }

func (l *localAdmin) CreateApp(_ context.Context, name string) (store.App, error) {
	name, err := validAppName(name)
	if err != nil {
		return store.App{}, err
	}
	return l.st.CreateApp(name, l.now())
}

func (l *localAdmin) RenameApp(_ context.Context, id uint32, name string) (store.App, error) {
	name, err := validAppName(name)
	if err != nil {
		return store.App{}, err
	}
	var app store.App
	err = l.st.Update(func(tx *store.Tx) error {
		if app, err = tx.App(id); err != nil {
			return err
		}
		app.Name = name
		return tx.PutApp(app)
	})
	return app, err
}

func (l *localAdmin) Apps(context.Context) ([]store.App, error) {
	var apps []store.App
	err := l.st.View(func(tx *store.Tx) error {
		var err error
		apps, err = tx.Apps()
		return err
	})
	return apps, err
}

func (l *localAdmin) App(_ context.Context, id uint32) (store.App, error) {
	var app store.App
	err := l.st.View(func(tx *store.Tx) error {
		var err error
		app, err = tx.App(id)
		return err
	})
	return app, err
}

func (l *localAdmin) RotateKey(_ context.Context, id uint32) (store.App, error) {
	return rotateKey(l.st, id)
}

func rotateKey(st *store.Store, id uint32) (store.App, error) {
	var app store.App
	err := st.Update(func(tx *store.Tx) error {
		var err error
		if app, err = tx.App(id); err != nil {
			return err
		}
		app.Key = store.NewKey()
		return tx.PutApp(app)
	})
	return app, err
}

func (l *localAdmin) DeleteApp(_ context.Context, id uint32) error {
	return l.st.Update(func(tx *store.Tx) error { return tx.DeleteApp(id) })
}

func (l *localAdmin) LiveCalls(context.Context) ([]record.Call, error) {
	// With no server running no call is live: the next start closes
	// whatever the last process left open.
	return []record.Call{}, nil
}

func (l *localAdmin) EndCall(context.Context, uint32, string) error { return ErrNoServer }

func (l *localAdmin) Records(_ context.Context, f store.CallFilter) ([]record.Call, error) {
	var recs []record.Call
	err := l.st.View(func(tx *store.Tx) error {
		var err error
		recs, err = tx.Calls(f)
		return err
	})
	return recs, err
}

// Backup writes the copy and notes when, for the console's server page.
func (l *localAdmin) Backup(ctx context.Context, w io.Writer) (int64, error) {
	n, err := l.st.Backup(ctx, w)
	if err == nil {
		b, _ := json.Marshal(LastBackup{At: l.now().UTC(), Bytes: n})
		if serr := l.st.Update(func(tx *store.Tx) error { return tx.PutSetting(settingLastBackup, b) }); serr != nil {
			return n, fmt.Errorf("note the backup: %w", serr)
		}
	}
	return n, err
}

// settingLastBackup holds the LastBackup JSON of the last backup taken.
const settingLastBackup = "last_backup"

// LastBackup is when the last backup was taken, and its size.
type LastBackup struct {
	At    time.Time `json:"at"`
	Bytes int64     `json:"bytes"`
}

// ICEServers without a running server uses the stored secret and the
// default port and host, which is what `serve` with no flags hands out.
func (l *localAdmin) ICEServers(_ context.Context, user string, ttl time.Duration) ([]turn.ICEServer, error) {
	secret, err := TURNSecret(l.st)
	if err != nil {
		return nil, err
	}
	cfg := Config{}.withDefaults()
	ep := turn.Endpoint{Host: turnHost(cfg), Port: turn.DefaultPort, Secret: secret}
	return turn.ICEServers(ep, user, l.now(), ttl), nil
}

// unixClient is an HTTP client whose every request goes to the socket.
func unixClient(sock string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
}
