package command

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"callbox/appliance"
	"callbox/signaling/call/record"
	"callbox/signaling/usersig"
	"callbox/store"

	"github.com/urfave/cli/v2"
)

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

func printCalls(c *cli.Context, recs []record.Call) error {
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

// checkBackup checks the copy as restore will (store.CheckFile), so a
// truncated stream is caught: opening a truncated bbolt file is not
// enough, bbolt faults on the missing pages instead of failing.
func checkBackup(path string) error {
	if err := store.CheckFile(path); err != nil {
		return fmt.Errorf("the copy is not a whole database: %w", err)
	}
	return nil
}
