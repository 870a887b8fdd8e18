package command

import (
	"callbox/appliance"
	"callbox/signaling/usersig"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v2"
)

func usersigCommand() *cli.Command {
	return usageErrors(&cli.Command{
		Name:  "usersig",
		Usage: "issue and verify UserSigs (Tencent TLSSigAPIv2)",
		Subcommands: []*cli.Command{
			{
				Name:  "issue",
				Usage: "print a UserSig for a user",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "sdkappid", Required: true, Usage: "the app's SDKAppID"},
					&cli.StringFlag{Name: "user", Required: true, Usage: "the userID"},
					&cli.Int64Flag{Name: "expire", Value: 604800, Usage: "validity in seconds"},
					&cli.StringFlag{Name: "key", Usage: "the app key (then no data directory is needed)"},
				},
				Action: func(c *cli.Context) error {
					id, user, expire, err := sigFlags(c)
					if err != nil {
						return err
					}
					key, err := appKey(c, id)
					if err != nil {
						return err
					}
					sig, err := usersig.Issue(id, key, user, time.Duration(expire)*time.Second, time.Now())
					if err != nil {
						return err
					}
					fmt.Fprintln(c.App.Writer, sig)
					return nil
				},
			},
			{
				Name:  "verify",
				Usage: "check a UserSig; prints JSON, exits 1 when it is not valid",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "sdkappid", Required: true, Usage: "the app's SDKAppID"},
					&cli.StringFlag{Name: "user", Required: true, Usage: "the userID"},
					&cli.StringFlag{Name: "sig", Required: true, Usage: "the UserSig"},
					&cli.StringFlag{Name: "key", Usage: "the app key (then no data directory is needed)"},
				},
				Action: verifyAction,
			},
		},
	})
}

// appKey is --key when given, else the app's key from the store.
func appKey(c *cli.Context, id uint32) (string, error) {
	if c.IsSet("key") {
		key := c.String("key")
		if err := usersig.ValidKey(key); err != nil {
			return "", fmt.Errorf("invalid --key: %w", err)
		}
		return key, nil
	}
	var key string
	err := withAdmin(c, false, func(ctx context.Context, a appliance.Admin) error {
		app, err := a.App(ctx, id)
		key = app.Key
		return notFound(err, "no app with SDKAppID %d", id)
	})
	return key, err
}

type verifyResult struct {
	OK        bool   `json:"ok"`
	ExpiresAt int64  `json:"expiresAt,omitempty"`
	Code      int    `json:"code,omitempty"`
	Error     string `json:"error,omitempty"`
}

func verifyAction(c *cli.Context) error {
	id, err := parseAppID(c.String("sdkappid"))
	if err != nil {
		return err
	}
	keyFor := func(app uint32) (string, error) {
		if app != id {
			return "", usersig.ErrNoApp
		}
		key, err := appKey(c, id)
		if err != nil {
			return "", fmt.Errorf("%v: %w", err, usersig.ErrNoApp)
		}
		return key, nil
	}
	info, err := usersig.Verify(c.String("sig"), id, c.String("user"), keyFor, time.Now())
	if err != nil {
		res := verifyResult{Error: err.Error()}
		var ue *usersig.Error
		if errors.As(err, &ue) {
			res.Code = ue.Code
		}
		if err := printCompactJSON(c.App.Writer, res); err != nil {
			return err
		}
		return cli.Exit("", 1)
	}
	return printCompactJSON(c.App.Writer, verifyResult{OK: true, ExpiresAt: info.ExpiresAt.Unix()})
}

func printCompactJSON(w io.Writer, v any) error { return json.NewEncoder(w).Encode(v) }

// sigFlags reads and checks the --sdkappid, --user and --expire of a
// command that signs a UserSig (usersig issue, user invite).
func sigFlags(c *cli.Context) (id uint32, user string, expire int64, err error) {
	if id, err = parseAppID(c.String("sdkappid")); err != nil {
		return 0, "", 0, err
	}
	user = c.String("user")
	if err := usersig.ValidUserID(user); err != nil {
		return 0, "", 0, fmt.Errorf("invalid --user: %w", err)
	}
	expire = c.Int64("expire")
	if expire <= 0 || expire > 100*365*86400 {
		return 0, "", 0, fmt.Errorf("invalid --expire %d: want 1 to 3153600000 seconds", expire)
	}
	return id, user, expire, nil
}
