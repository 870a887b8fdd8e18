package command

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"callbox/appliance"
	"callbox/appliance/invite"
	"callbox/signaling/usersig"
)

// DefaultInviteExpire is how long an invite link's sig is valid: the web
// app keeps the sign-in until then.
const DefaultInviteExpire = 30 * 24 * time.Hour

func userCommand() *cli.Command {
	return usageErrors(&cli.Command{
		Name:  "user",
		Usage: "the web app's users",
		Subcommands: []*cli.Command{
			{
				Name:  "invite",
				Usage: "print an invite link that signs a user in to the web app (and its QR code with --qr)",
				Description: "The link is BASE/join#sdkappid=..&user=..&sig=..: the UserSig travels in the\n" +
					"fragment, which browsers never send to a server. BASE is --url, else the running\n" +
					"server's public URL (serve --public-url), else http://" + appliance.DefaultHTTPAddr + ".",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "sdkappid", Required: true, Usage: "the app's SDKAppID"},
					&cli.StringFlag{Name: "user", Required: true, Usage: "the userID to sign in as"},
					&cli.Int64Flag{Name: "expire", Value: int64(DefaultInviteExpire / time.Second), Usage: "validity of the sign-in in seconds"},
					&cli.BoolFlag{Name: "qr", Usage: "also print the link as a QR code for a phone's camera"},
					&cli.StringFlag{Name: "url", Usage: "base URL of the web app (default: the running server's)"},
					&cli.StringFlag{Name: "key", Usage: "the app key (then no data directory is needed)"},
				},
				Action: inviteAction,
			},
		},
	})
}

func inviteAction(c *cli.Context) error {
	if err := noArgs(c); err != nil {
		return err
	}
	id, user, expire, err := sigFlags(c)
	if err != nil {
		return err
	}
	base := ""
	if c.IsSet("url") {
		if base, err = appliance.ParsePublicURL(c.String("url")); err != nil {
			return fmt.Errorf("invalid --url: %w", err)
		}
	}
	var key string
	if c.IsSet("key") {
		if key, err = appKey(c, id); err != nil {
			return err
		}
	} else {
		err := withAdmin(c, false, func(ctx context.Context, a appliance.Admin) error {
			app, err := a.App(ctx, id)
			if err := notFound(err, "no app with SDKAppID %d", id); err != nil {
				return err
			}
			key = app.Key
			if base != "" {
				return nil
			}
			h, err := a.Health(ctx)
			switch {
			case errors.Is(err, appliance.ErrNoServer):
				return nil
			case err != nil:
				return err
			}
			base = h.PublicURL
			return nil
		})
		if err != nil {
			return err
		}
	}
	if base == "" {
		base = "http://" + appliance.DefaultHTTPAddr
		fmt.Fprintf(c.App.ErrWriter, "callbox: no server running and no --url: the link uses %s\n", base)
	}
	sig, err := usersig.Issue(id, key, user, time.Duration(expire)*time.Second, time.Now())
	if err != nil {
		return err
	}
	link := invite.URL(base, id, user, sig)
	fmt.Fprintln(c.App.Writer, link)
	if c.Bool("qr") {
		return invite.Terminal(c.App.Writer, link)
	}
	return nil
}
