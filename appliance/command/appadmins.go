package command

import (
	"context"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"callbox/appliance"
	"callbox/store"
)

// appAdminsCommand manages an app's REST admin accounts (docs/rest.md).
func appAdminsCommand() *cli.Command {
	return &cli.Command{
		Name:  "admins",
		Usage: "add or remove the app's REST API admin accounts (identifier of /v4/...; administrator by default)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "sdkappid", Usage: "the app's SDKAppID", Required: true},
			&cli.StringSliceFlag{Name: "add", Usage: "a userID to make an admin (repeatable)"},
			&cli.StringSliceFlag{Name: "remove", Usage: "an admin to remove (repeatable); an app keeps at least one"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
		},
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			id, err := parseAppID(c.String("sdkappid"))
			if err != nil {
				return err
			}
			add, remove := c.StringSlice("add"), c.StringSlice("remove")
			return withAdmin(c, false, func(ctx context.Context, a appliance.Admin) error {
				app := store.App{SDKAppID: id}
				if len(add)+len(remove) > 0 {
					if app, err = a.SetAppAdmins(ctx, id, add, remove); err != nil {
						return notFound(err, "no app with SDKAppID %d", id)
					}
				} else if app, err = a.App(ctx, id); err != nil {
					return notFound(err, "no app with SDKAppID %d", id)
				}
				if c.Bool("json") {
					return printJSON(c.App.Writer, struct {
						SDKAppID uint32
						Admins   []string
					}{app.SDKAppID, app.RESTAdmins()})
				}
				fmt.Fprintf(c.App.Writer, "REST admins of app %d: %s\n", app.SDKAppID, strings.Join(app.RESTAdmins(), ", "))
				return nil
			})
		},
	}
}

// appRobotMediaCommand names the app's robot clips.
func appRobotMediaCommand() *cli.Command {
	return &cli.Command{
		Name:  "robot-media",
		Usage: "the clips start_call_by_robot's robot plays: files in DATA/robot-media/ (Ogg/Opus, IVF/VP8); \"\" = built-in",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "sdkappid", Usage: "the app's SDKAppID", Required: true},
			&cli.StringFlag{Name: "audio", Usage: "an Ogg/Opus file name (one packet per page: ffmpeg -page_duration 20000)"},
			&cli.StringFlag{Name: "video", Usage: "an IVF/VP8 file name (starting with a keyframe)"},
		},
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			id, err := parseAppID(c.String("sdkappid"))
			if err != nil {
				return err
			}
			var audio, video *string
			if c.IsSet("audio") {
				v := c.String("audio")
				audio = &v
			}
			if c.IsSet("video") {
				v := c.String("video")
				video = &v
			}
			return withAdmin(c, false, func(ctx context.Context, a appliance.Admin) error {
				app, err := a.SetRobotMedia(ctx, id, audio, video)
				if err != nil {
					return notFound(err, "no app with SDKAppID %d", id)
				}
				fmt.Fprintf(c.App.Writer, "robot media of app %d: audio %s, video %s\n", id, orBuiltin(app.RobotAudio), orBuiltin(app.RobotVideo))
				return nil
			})
		},
	}
}

func orBuiltin(name string) string {
	if name == "" {
		return "built-in"
	}
	return name
}
