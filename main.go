// Command callbox is a self-hosted audio/video calling service in one
// binary. This file is the CLI only: it turns flags and environment
// variables into appliance.Config and calls into the appliance; the work
// happens there.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"callbox/appliance"
	"callbox/signaling/usersig"
	"callbox/store"
)

// Set with -ldflags "-X main.version=... -X main.commit=...".
var (
	version = "dev"
	commit  = ""
)

func main() {
	if err := newApp(os.Stdout, os.Stderr).Run(os.Args); err != nil {
		var exit cli.ExitCoder
		if errors.As(err, &exit) {
			if msg := exit.Error(); msg != "" {
				fmt.Fprintln(os.Stderr, "callbox:", msg)
			}
			os.Exit(exit.ExitCode())
		}
		fmt.Fprintln(os.Stderr, "callbox:", err)
		os.Exit(1)
	}
}

// newApp builds the command tree writing to stdout and stderr; tests run
// it with buffers.
func newApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:      "callbox",
		Usage:     "your own audio/video calling service, in one binary",
		Version:   version,
		Writer:    stdout,
		ErrWriter: stderr,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data", Value: appliance.DefaultDataDir, EnvVars: []string{"CALLBOX_DATA"},
				Usage: "data directory (database, control socket); created 0700 on first use"},
		},
		// Errors are printed once, by main, on one line.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return fmt.Errorf("%w (see --help)", err)
		},
		Commands: []*cli.Command{
			serveCommand(),
			appCommand(),
			usersigCommand(),
			callCommand(),
			recordCommand(),
			backupCommand(),
			versionCommand(),
		},
	}
}

func usageErrors(c *cli.Command) *cli.Command {
	c.OnUsageError = func(_ *cli.Context, err error, _ bool) error { return fmt.Errorf("%w (see --help)", err) }
	for _, sub := range c.Subcommands {
		usageErrors(sub)
	}
	return c
}

// noArgs refuses stray positional arguments, which are usually a typo.
func noArgs(c *cli.Context) error {
	if c.Args().Present() {
		return fmt.Errorf("unexpected argument %q (see --help)", c.Args().First())
	}
	return nil
}

func serveCommand() *cli.Command {
	return usageErrors(&cli.Command{
		Name:  "serve",
		Usage: "run the callbox server",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "http", Value: appliance.DefaultHTTPAddr, EnvVars: []string{"CALLBOX_HTTP"}, Usage: "HTTP listen address"},
			&cli.BoolFlag{Name: "dev", Usage: "development mode: sign in to the web app without a UserSig"},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log format: text or json"},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "log level: debug, info, warn or error"},
		},
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			logger, err := newLogger(c.App.ErrWriter, c.String("log-format"), c.String("log-level"))
			if err != nil {
				return err
			}
			cfg := appliance.Config{
				DataDir:  c.String("data"),
				HTTPAddr: c.String("http"),
				Dev:      c.Bool("dev"),
				Version:  version,
				Commit:   commit,
				Logger:   logger,
				Out:      c.App.Writer,
			}
			app, err := appliance.New(cfg)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			return app.Run(ctx)
		},
	})
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("invalid --log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("invalid --log-format %q: want text or json", format)
}

func versionCommand() *cli.Command {
	return usageErrors(&cli.Command{
		Name:  "version",
		Usage: "print the version, commit and Go version",
		Action: func(c *cli.Context) error {
			cm := commit
			if cm == "" {
				cm = "unknown"
			}
			fmt.Fprintf(c.App.Writer, "callbox %s (commit %s, %s %s/%s)\n", version, cm, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	})
}

// parseAppID validates an --sdkappid value.
func parseAppID(s string) (uint32, error) {
	if s == "" {
		return 0, errors.New("--sdkappid is required")
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("invalid --sdkappid %q: want a number from 1 to 4294967295", s)
	}
	return uint32(n), nil
}

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
					id, err := parseAppID(c.String("sdkappid"))
					if err != nil {
						return err
					}
					user := c.String("user")
					if err := usersig.ValidUserID(user); err != nil {
						return fmt.Errorf("invalid --user: %w", err)
					}
					expire := c.Int64("expire")
					if expire <= 0 || expire > 100*365*86400 {
						return fmt.Errorf("invalid --expire %d: want 1 to 3153600000 seconds", expire)
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

func callCommand() *cli.Command {
	return usageErrors(&cli.Command{
		Name:  "call",
		Usage: "live calls of the running server",
		Subcommands: []*cli.Command{
			{
				Name:  "list",
				Usage: "list live calls",
				Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON"}},
				Action: func(c *cli.Context) error {
					return withAdmin(c, false, func(ctx context.Context, a appliance.Admin) error {
						recs, err := a.LiveCalls(ctx)
						if err != nil {
							return err
						}
						return printCalls(c, recs)
					})
				},
			},
			{
				Name:      "end",
				Usage:     "end a live call for everyone",
				ArgsUsage: "CALLID",
				Flags:     []cli.Flag{&cli.StringFlag{Name: "sdkappid", Usage: "the call's app (default: found from the live calls)"}},
				Action: func(c *cli.Context) error {
					callID := c.Args().First()
					if callID == "" || c.Args().Len() > 1 {
						return errors.New("usage: callbox call end CALLID")
					}
					return withAdmin(c, false, func(ctx context.Context, a appliance.Admin) error {
						app, err := callApp(ctx, c, a, callID)
						if err != nil {
							return err
						}
						return notFound(a.EndCall(ctx, app, callID), "no live call %s", callID)
					})
				},
			},
		},
	})
}

// callApp is --sdkappid, or the app of the live call with that id.
func callApp(ctx context.Context, c *cli.Context, a appliance.Admin, callID string) (uint32, error) {
	if c.IsSet("sdkappid") {
		return parseAppID(c.String("sdkappid"))
	}
	recs, err := a.LiveCalls(ctx)
	if err != nil {
		return 0, err
	}
	for _, r := range recs {
		if r.CallID == callID {
			return r.SDKAppID, nil
		}
	}
	return 0, fmt.Errorf("no live call %s", callID)
}

func recordCommand() *cli.Command {
	return usageErrors(&cli.Command{
		Name:  "record",
		Usage: "call records",
		Subcommands: []*cli.Command{{
			Name:  "list",
			Usage: "list call records, newest first",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "sdkappid", Usage: "only this app (default: the only app, required with --user when there are several)"},
				&cli.StringFlag{Name: "user", Usage: "only calls this user took part in"},
				&cli.StringFlag{Name: "since", Usage: "only calls started at or after: RFC 3339 time, a date (2026-11-23) or a duration ago (24h)"},
				&cli.IntFlag{Name: "limit", Value: 100, Usage: "at most this many (0 = all)"},
				&cli.BoolFlag{Name: "json", Usage: "print JSON"},
			},
			Action: func(c *cli.Context) error {
				f := store.CallFilter{User: c.String("user"), Limit: c.Int("limit")}
				if f.Limit < 0 {
					return fmt.Errorf("invalid --limit %d", f.Limit)
				}
				if s := c.String("since"); s != "" {
					t, err := parseSince(s, time.Now())
					if err != nil {
						return err
					}
					f.Since = t
				}
				if f.User != "" {
					if err := usersig.ValidUserID(f.User); err != nil {
						return fmt.Errorf("invalid --user: %w", err)
					}
				}
				return withAdmin(c, false, func(ctx context.Context, a appliance.Admin) error {
					if c.IsSet("sdkappid") {
						id, err := parseAppID(c.String("sdkappid"))
						if err != nil {
							return err
						}
						f.SDKAppID = id
					} else if f.User != "" {
						apps, err := a.Apps(ctx)
						if err != nil {
							return err
						}
						if len(apps) != 1 {
							return errors.New("--user needs --sdkappid when there is more than one app")
						}
						f.SDKAppID = apps[0].SDKAppID
					}
					recs, err := a.Records(ctx, f)
					if err != nil {
						return err
					}
					return printCalls(c, recs)
				})
			},
		}},
	})
}

// parseSince accepts an RFC 3339 time, a date, or a duration before now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, time.Local); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("invalid --since %q: want an RFC 3339 time, a date like 2026-11-23, or a duration like 24h", s)
}

func printCalls(c *cli.Context, recs []store.CallRecord) error {
	if c.Bool("json") {
		return printJSON(c.App.Writer, recs)
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STARTED\tCALLID\tSDKAPPID\tTYPE\tMEDIA\tCALLER\tPARTICIPANTS\tSTATE\tRESULT\tDURATION")
	for _, r := range recs {
		var users []string
		for _, p := range r.Participants {
			users = append(users, p.UserID+":"+p.State)
		}
		dur := "-"
		if !r.AcceptAt.IsZero() && !r.EndAt.IsZero() {
			dur = r.EndAt.Sub(r.AcceptAt).Round(time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.StartAt.Local().Format(time.DateTime), r.CallID,
			r.SDKAppID, r.CallType, r.MediaType, r.Caller, strings.Join(users, ","), r.State, orDash(r.Result), dur)
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func backupCommand() *cli.Command {
	return usageErrors(&cli.Command{
		Name:  "backup",
		Usage: "write a consistent copy of the database (works while the server runs)",
		Flags: []cli.Flag{&cli.StringFlag{Name: "out", Required: true, Usage: "the file to write (must not exist)"}},
		Action: func(c *cli.Context) error {
			out := c.String("out")
			f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return fmt.Errorf("backup: %w", err)
			}
			err = withAdmin(c, false, func(ctx context.Context, a appliance.Admin) error {
				n, err := a.Backup(ctx, f)
				if err == nil {
					err = f.Sync()
				}
				if err == nil {
					fmt.Fprintf(c.App.Writer, "wrote %d bytes to %s\n", n, out)
				}
				return err
			})
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err == nil {
				err = checkBackup(out)
			}
			if err != nil {
				os.Remove(out)
				return fmt.Errorf("backup: %w", err)
			}
			return nil
		},
	})
}

// checkBackup opens the copy read-only, so a truncated stream is caught.
func checkBackup(path string) error {
	st, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("the copy does not open: %w", err)
	}
	return st.Close()
}
