package command

import (
	"callbox/appliance"
	"callbox/store"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
)

// withAdmin opens the admin interface (control socket or store) for one command.
func withAdmin(c *cli.Context, write bool, fn func(ctx context.Context, a appliance.Admin) error) error {
	a, err := appliance.OpenAdmin(c.Context, c.String("data"), write)
	if err != nil {
		return err
	}
	defer a.Close()
	return fn(c.Context, a)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// appJSON is the --json shape of an app.
type appJSON struct {
	SDKAppID uint32
	Name     string
	Key      string
}

func toAppJSON(a store.App) appJSON { return appJSON{a.SDKAppID, a.Name, a.Key} }

func appCommand() *cli.Command {
	sdkappid := &cli.StringFlag{Name: "sdkappid", Usage: "the app's SDKAppID", Required: true}
	jsonFlag := &cli.BoolFlag{Name: "json", Usage: "print JSON"}
	return usageErrors(&cli.Command{
		Name:  "app",
		Usage: "manage apps (SDKAppID and key)",
		Subcommands: []*cli.Command{
			{
				Name:  "create",
				Usage: "create an app with a new SDKAppID and key",
				Flags: []cli.Flag{&cli.StringFlag{Name: "name", Usage: "a name for the app", Required: true}, jsonFlag},
				Action: func(c *cli.Context) error {
					name := strings.TrimSpace(c.String("name"))
					if name == "" || len(name) > 64 {
						return errors.New("invalid --name: want 1 to 64 characters")
					}
					return withAdmin(c, true, func(ctx context.Context, a appliance.Admin) error {
						app, err := a.CreateApp(ctx, name)
						if err != nil {
							return err
						}
						if c.Bool("json") {
							return printJSON(c.App.Writer, toAppJSON(app))
						}
						fmt.Fprintf(c.App.Writer, "SDKAppID: %d\nName:     %s\nKey:      %s\n", app.SDKAppID, app.Name, app.Key)
						return nil
					})
				},
			},
			{
				Name:  "list",
				Usage: "list apps",
				Flags: []cli.Flag{jsonFlag},
				Action: func(c *cli.Context) error {
					return withAdmin(c, false, func(ctx context.Context, a appliance.Admin) error {
						apps, err := a.Apps(ctx)
						if err != nil {
							return err
						}
						if c.Bool("json") {
							out := []appJSON{}
							for _, app := range apps {
								out = append(out, toAppJSON(app))
							}
							return printJSON(c.App.Writer, out)
						}
						tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
						fmt.Fprintln(tw, "SDKAPPID\tNAME\tKEY\tCREATED")
						for _, app := range apps {
							fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", app.SDKAppID, app.Name, app.Key, app.Created.Format(time.RFC3339))
						}
						return tw.Flush()
					})
				},
			},
			appAdminsCommand(),
			appRobotMediaCommand(),
			{
				Name:  "rename",
				Usage: "give an app a new name",
				Flags: []cli.Flag{sdkappid, &cli.StringFlag{Name: "name", Usage: "the new name", Required: true}, jsonFlag},
				Action: func(c *cli.Context) error {
					id, err := parseAppID(c.String("sdkappid"))
					if err != nil {
						return err
					}
					return withAdmin(c, false, func(ctx context.Context, a appliance.Admin) error {
						app, err := a.RenameApp(ctx, id, c.String("name"))
						if err != nil {
							return notFound(err, "no app with SDKAppID %d", id)
						}
						if c.Bool("json") {
							return printJSON(c.App.Writer, toAppJSON(app))
						}
						fmt.Fprintf(c.App.Writer, "SDKAppID: %d\nName:     %s\n", app.SDKAppID, app.Name)
						return nil
					})
				},
			},
			{
				Name:  "rotate-key",
				Usage: "give an app a new key (UserSigs signed with the old key stop working)",
				Flags: []cli.Flag{sdkappid, jsonFlag},
				Action: func(c *cli.Context) error {
					id, err := parseAppID(c.String("sdkappid"))
					if err != nil {
						return err
					}
					return withAdmin(c, false, func(ctx context.Context, a appliance.Admin) error {
						app, err := a.RotateKey(ctx, id)
						if err != nil {
							return notFound(err, "no app with SDKAppID %d", id)
						}
						if c.Bool("json") {
							return printJSON(c.App.Writer, toAppJSON(app))
						}
						fmt.Fprintf(c.App.Writer, "SDKAppID: %d\nKey:      %s\n", app.SDKAppID, app.Key)
						return nil
					})
				},
			},
			{
				Name:  "delete",
				Usage: "delete an app (its call records stay)",
				Flags: []cli.Flag{sdkappid},
				Action: func(c *cli.Context) error {
					id, err := parseAppID(c.String("sdkappid"))
					if err != nil {
						return err
					}
					return withAdmin(c, false, func(ctx context.Context, a appliance.Admin) error {
						return notFound(a.DeleteApp(ctx, id), "no app with SDKAppID %d", id)
					})
				},
			},
		},
	})
}

// notFound replaces a store.ErrNotFound with a message for people.
func notFound(err error, format string, args ...any) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf(format, args...)
	}
	return err
}
