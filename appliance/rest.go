package appliance

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sync"

	"callbox/appliance/restapi"
	"callbox/appliance/robot"
	"callbox/sfu"
	"callbox/signaling"
	"callbox/signaling/call"
	"callbox/signaling/call/record"
	"callbox/store"
)

// RobotMediaDir is the data directory's folder of robot clips: the files
// start_call_by_robot's RobotMedia and `callbox app robot-media` name.
const RobotMediaDir = "robot-media"

// The REST API's seams, implemented here over the appliance's parts.
var (
	_ restapi.Calls     = (*robots)(nil)
	_ restapi.Records   = restBackend{}
	_ restapi.Callbacks = restBackend{}
	_ restapi.Apps      = restBackend{}
)

// newREST builds the /v4/ handler.
func (a *Appliance) newREST() *restapi.API {
	b := restBackend{a}
	return restapi.New(restapi.Config{
		Calls: a.robots, Records: b, Callbacks: b, Apps: b,
		Now: a.cfg.Now, Logger: a.log,
	})
}

// restBackend answers REST from the store and the webhook admin (the same
// code as the CLI's `webhook set|get|delete`).
type restBackend struct{ a *Appliance }

func (b restBackend) Key(app uint32) (string, error) { return b.a.store.AppKey(app) }

func (b restBackend) Admins(app uint32) ([]string, error) {
	var admins []string
	err := b.a.store.View(func(tx *store.Tx) error {
		a, err := tx.App(app)
		admins = a.RESTAdmins()
		return err
	})
	return admins, err
}

func (b restBackend) Record(_ context.Context, app uint32, callID string) (record.Call, error) {
	var rec record.Call
	err := b.a.store.View(func(tx *store.Tx) (err error) {
		rec, err = tx.Call(app, callID)
		return err
	})
	return rec, err
}

func (b restBackend) Records(_ context.Context, f store.CallFilter) ([]record.Call, error) {
	var recs []record.Call
	err := b.a.store.View(func(tx *store.Tx) (err error) {
		recs, err = tx.Calls(f)
		return err
	})
	return recs, err
}

func (b restBackend) SetCallback(ctx context.Context, app uint32, u restapi.CallbackUpdate) (store.Webhook, error) {
	h := &b.a.hooks.hookAdmin
	info, err := h.Webhook(ctx, app)
	if err != nil {
		return store.Webhook{}, err
	}
	w, err := ApplyWebhookUpdate(app, info.Webhook, WebhookUpdate{URL: u.URL, Token: u.Token, Events: u.Events, StatusCallback: u.StatusCallback})
	if err == nil {
		w, err = h.SetWebhook(ctx, w)
	}
	if IsBadRequest(err) {
		return w, &restapi.BadParamError{Msg: err.Error()}
	}
	return w, err
}

func (b restBackend) Callback(ctx context.Context, app uint32) (store.Webhook, error) {
	info, err := b.a.hooks.hookAdmin.Webhook(ctx, app)
	if err != nil {
		return store.Webhook{}, err
	}
	if info.Webhook == nil {
		return store.Webhook{}, fmt.Errorf("webhook of app %d: %w", app, store.ErrNotFound)
	}
	return *info.Webhook, nil
}

func (b restBackend) DeleteCallback(ctx context.Context, app uint32) error {
	return b.a.hooks.hookAdmin.DeleteWebhook(ctx, app)
}

// newRobots makes the robot side of the REST API over the SFU.
func (a *Appliance) newRobots() *robots {
	addr := a.sfu.UDPAddr()
	ip, _ := netip.AddrFromSlice(addr.IP)
	if ip = ip.Unmap(); !ip.IsValid() || ip.IsUnspecified() {
		ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	return &robots{calls: a.calls, rooms: robotRooms{a.sfu}, sfuAddr: netip.AddrPortFrom(ip, uint16(addr.Port)),
		dataDir: a.cfg.DataDir, st: a.store, log: a.log, builtin: sync.OnceValues(robot.Builtin)}
}

// robotRooms adapts *sfu.Server to robot.Rooms.
type robotRooms struct{ s *sfu.Server }

func (r robotRooms) Join(room, user string, send func(json.RawMessage)) (robot.Peer, error) {
	p, err := r.s.Join(room, user, send)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// robots places robot calls and runs a robot for each one a callee
// answers; it owns their goroutines (run waits for them).
type robots struct {
	calls   *signaling.Calls
	rooms   robot.Rooms
	sfuAddr netip.AddrPort
	dataDir string
	st      *store.Store
	log     *slog.Logger
	// builtin parses the embedded clips once (a tenth of a robot call's
	// cost otherwise); robots only read the result.
	builtin func() (robot.Media, error)

	mu     sync.Mutex
	ctx    context.Context // Run's, once it runs; nil before
	closed bool
	wg     sync.WaitGroup
}

// StartRobotCall implements restapi.Calls: the clips are loaded (and an
// unknown one refused) before the call exists.
func (r *robots) StartRobotCall(ctx context.Context, inv call.Invite, names restapi.RobotMedia) (record.Call, error) {
	m, err := r.media(inv.SDKAppID, names)
	if err != nil {
		return record.Call{}, err
	}
	if inv.Media == call.MediaAudio {
		m.Video = nil // an audio call gets no picture
	}
	rc := &robotCall{r: r, app: inv.SDKAppID, user: inv.Caller, media: m}
	return r.calls.Start(ctx, inv, rc)
}

func (r *robots) Get(app uint32, callID string) (record.Call, bool) { return r.calls.Get(app, callID) }

func (r *robots) End(ctx context.Context, app uint32, callID string) error {
	return r.calls.End(ctx, app, callID)
}

// media loads the clips of one call: those named, else the app's, else
// the built-in ones.
func (r *robots) media(app uint32, names restapi.RobotMedia) (robot.Media, error) {
	m, err := r.builtin()
	if err != nil {
		return m, err
	}
	if names.Audio == "" || names.Video == "" {
		var a store.App
		if err := r.st.View(func(tx *store.Tx) (err error) { a, err = tx.App(app); return err }); err != nil {
			return m, err
		}
		names.Audio = cmp.Or(names.Audio, a.RobotAudio)
		names.Video = cmp.Or(names.Video, a.RobotVideo)
	}
	if names.Audio != "" {
		if m.Audio, err = loadClip(r.dataDir, names.Audio, robot.ParseOgg); err != nil {
			return m, err
		}
	}
	if names.Video != "" {
		if m.Video, err = loadClip(r.dataDir, names.Video, robot.ParseIVF); err != nil {
			return m, err
		}
	}
	return m, nil
}

// loadClip reads and parses a clip of the media directory; a name that
// is not a plain file name there, or a file that does not parse, is
// restapi.ErrUnknownMedia.
func loadClip[T any](dataDir, name string, parse func([]byte) (T, error)) (T, error) {
	var zero T
	if !restapi.ValidMediaName(name) {
		return zero, fmt.Errorf("%w %q", restapi.ErrUnknownMedia, name)
	}
	root, err := os.OpenRoot(filepath.Join(dataDir, RobotMediaDir))
	if err != nil {
		return zero, fmt.Errorf("%w %q: no %s directory", restapi.ErrUnknownMedia, name, RobotMediaDir)
	}
	defer root.Close()
	f, err := root.Open(name)
	if err != nil {
		return zero, fmt.Errorf("%w %q", restapi.ErrUnknownMedia, name)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, robot.MaxClipBytes+1))
	if err != nil {
		return zero, fmt.Errorf("%w %q: %v", restapi.ErrUnknownMedia, name, err)
	}
	v, err := parse(b)
	if err != nil {
		return zero, fmt.Errorf("%w %q: %v", restapi.ErrUnknownMedia, name, err)
	}
	return v, nil
}

// run hands robots Run's context, and at its end waits for them to leave.
func (r *robots) run(ctx context.Context) error {
	r.mu.Lock()
	r.ctx = ctx
	r.mu.Unlock()
	<-ctx.Done()
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.wg.Wait()
	return nil
}

// robotCall is the signaling.ServerCaller of one robot call: when the
// first callee accepts (onCallBegin) it starts the robot, when the call
// ends it stops it. Its methods run on signaling's commit path, so the
// robot starts on its own goroutine.
type robotCall struct {
	r     *robots
	app   uint32
	user  string
	media robot.Media

	mu      sync.Mutex
	started bool
	stop    context.CancelFunc // set once started
	ended   bool
}

func (c *robotCall) Event(ev call.Event) {
	if ev.Name != call.EvCallBegin {
		return
	}
	c.r.mu.Lock()
	base, closed := c.r.ctx, c.r.closed
	if base == nil || closed {
		c.r.mu.Unlock()
		c.r.log.Warn("robot not started: the server is not running", "app_id", c.app, "call_id", ev.CallID)
		return
	}
	c.r.wg.Add(1)
	c.r.mu.Unlock()
	c.mu.Lock()
	if c.started || c.ended {
		c.mu.Unlock()
		c.r.wg.Done()
		return
	}
	ctx, cancel := context.WithCancel(base)
	c.started, c.stop = true, cancel
	c.mu.Unlock()
	go func() {
		defer c.r.wg.Done()
		defer cancel()
		c.play(ctx, ev)
	}()
}

// play runs the robot until ctx ends (the call ended, or shutdown).
func (c *robotCall) play(ctx context.Context, ev call.Event) {
	log := c.r.log.With("app_id", c.app, "call_id", ev.CallID, "user_id", c.user)
	rec, ok := c.r.calls.Get(c.app, ev.CallID)
	if !ok || ctx.Err() != nil {
		return // ended already
	}
	bot, err := robot.Start(ctx, robot.Config{Rooms: c.r.rooms, Room: signaling.RoomName(rec), User: c.user,
		Media: c.media, SFUAddr: c.r.sfuAddr, Logger: c.r.log})
	if err != nil {
		log.Error("robot not started: the callees hear nothing from it", "err", err)
		return
	}
	<-ctx.Done()
	bot.Close()
}

func (c *robotCall) Ended(record.Call) {
	c.mu.Lock()
	c.ended = true
	stop := c.stop
	c.mu.Unlock()
	if stop != nil {
		stop()
	}
}
