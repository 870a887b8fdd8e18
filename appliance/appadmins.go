package appliance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"

	"callbox/appliance/robot"
	"callbox/signaling/usersig"
	"callbox/store"
)

// An app's REST admin accounts (docs/rest.md): the identifiers whose
// UserSig the REST API accepts; "administrator" until changed.

// robotMediaChange is the body of POST /apps/{id}/robot-media.
type robotMediaChange struct {
	Audio *string `json:"audio"`
	Video *string `json:"video"`
}

// setRobotMedia names an app's robot clips; each named file must be in
// the data directory's robot-media/ and parse (robot.ParseOgg/ParseIVF),
// so that a robot call never finds out too late.
func setRobotMedia(st *store.Store, app uint32, audio, video *string) (store.App, error) {
	if audio == nil && video == nil {
		return store.App{}, badRequest("nothing to change: give --audio or --video")
	}
	dataDir := filepath.Dir(st.Path())
	if audio != nil && *audio != "" {
		if _, err := loadClip(dataDir, *audio, robot.ParseOgg); err != nil {
			return store.App{}, badRequest("invalid --audio: %v (put Ogg/Opus files in %s)", err, filepath.Join(dataDir, RobotMediaDir))
		}
	}
	if video != nil && *video != "" {
		if _, err := loadClip(dataDir, *video, robot.ParseIVF); err != nil {
			return store.App{}, badRequest("invalid --video: %v (put IVF/VP8 files in %s)", err, filepath.Join(dataDir, RobotMediaDir))
		}
	}
	var out store.App
	err := st.Update(func(tx *store.Tx) error {
		a, err := tx.App(app)
		if err != nil {
			return err
		}
		if audio != nil {
			a.RobotAudio = *audio
		}
		if video != nil {
			a.RobotVideo = *video
		}
		out = a
		return tx.PutApp(a)
	})
	return out, err
}

func (l *localAdmin) SetRobotMedia(_ context.Context, app uint32, audio, video *string) (store.App, error) {
	return setRobotMedia(l.st, app, audio, video)
}

func (c *controlClient) SetRobotMedia(ctx context.Context, app uint32, audio, video *string) (out store.App, err error) {
	return out, c.do(ctx, "POST", fmt.Sprintf("/apps/%d/robot-media", app), robotMediaChange{audio, video}, &out)
}

// appAdminsChange is the body of POST /apps/{id}/rest-admins.
type appAdminsChange struct {
	Add    []string `json:"add"`
	Remove []string `json:"remove"`
}

// setAppAdmins is the one implementation (CLI with or without a server,
// control socket, console).
func setAppAdmins(st *store.Store, app uint32, add, remove []string) (store.App, error) {
	if len(add)+len(remove) == 0 {
		return store.App{}, badRequest("nothing to change: give --add or --remove")
	}
	for _, u := range append(append([]string{}, add...), remove...) {
		if err := usersig.ValidUserID(u); err != nil {
			return store.App{}, badRequest("invalid admin account %q: %v", u, err)
		}
	}
	var out store.App
	err := st.Update(func(tx *store.Tx) (err error) {
		out, err = tx.SetRESTAdmins(app, add, remove)
		return err
	})
	if errors.Is(err, store.ErrLastAdmin) || errors.Is(err, store.ErrTooManyAdmins) {
		return store.App{}, badRequest("%v", err)
	}
	return out, err
}

func (l *localAdmin) SetAppAdmins(_ context.Context, app uint32, add, remove []string) (store.App, error) {
	return setAppAdmins(l.st, app, add, remove)
}

func (c *controlClient) SetAppAdmins(ctx context.Context, app uint32, add, remove []string) (out store.App, err error) {
	return out, c.do(ctx, "POST", fmt.Sprintf("/apps/%d/rest-admins", app), appAdminsChange{add, remove}, &out)
}

// restAdminRoutes are the admin API's routes of the REST side.
func (a *Appliance) restAdminRoutes(handle func(string, func(*http.Request) (any, error)), local *localAdmin) {
	handle("POST /apps/{id}/rest-admins", func(r *http.Request) (any, error) {
		id, err := pathAppID(r)
		if err != nil {
			return nil, err
		}
		var ch appAdminsChange
		if err := json.NewDecoder(io.LimitReader(r.Body, maxJSONBody)).Decode(&ch); err != nil {
			return nil, badRequest("decode change: %v", err)
		}
		return local.SetAppAdmins(r.Context(), id, ch.Add, ch.Remove)
	})
	handle("POST /apps/{id}/robot-media", func(r *http.Request) (any, error) {
		id, err := pathAppID(r)
		if err != nil {
			return nil, err
		}
		var ch robotMediaChange
		if err := json.NewDecoder(io.LimitReader(r.Body, maxJSONBody)).Decode(&ch); err != nil {
			return nil, badRequest("decode change: %v", err)
		}
		return local.SetRobotMedia(r.Context(), id, ch.Audio, ch.Video)
	})
}
