package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"callbox/appliance"
	"callbox/appliance/webhook"
	"callbox/appliance/webhook/webhookbench"
	"callbox/store"
)

// webhookCommand configures and inspects the call-status callbacks
// (docs/webhooks.md).
func webhookCommand() *cli.Command {
	sdkappid := &cli.StringFlag{Name: "sdkappid", Usage: "the app's SDKAppID (default: the only app)"}
	jsonFlag := &cli.BoolFlag{Name: "json", Usage: "print JSON"}
	return usageErrors(&cli.Command{
		Name:  "webhook",
		Usage: "call-status callbacks to your backend (Tencent's format): configure, test, delivery log, retry",
		Subcommands: []*cli.Command{
			{
				Name:  "set",
				Usage: "create or change an app's webhook; flags not given keep their values",
				Flags: []cli.Flag{sdkappid,
					&cli.StringFlag{Name: "url", Usage: "callback URL, http:// or https:// (required the first time)"},
					&cli.StringFlag{Name: "token", Usage: "callback token: requests carry RequestTime and Sign = sha256(token+RequestTime); \"\" = unsigned"},
					&cli.BoolFlag{Name: "status-callback", Value: true, Usage: "send the call status callback (command call_end, one per participant when a call ends)"},
					&cli.StringFlag{Name: "events", Value: "all", Usage: "per-event callbacks: all, none, or a list like start_call,call_end or caller_call_end"},
					&cli.IntFlag{Name: "concurrency", Value: webhook.DefaultConcurrency, Usage: "requests in flight at once (1 = strictly in queue order)"},
					&cli.DurationFlag{Name: "timeout", Value: webhook.DefaultTimeout, Usage: "per attempt, for the whole answer"},
					&cli.StringFlag{Name: "retry-for", Value: "24h", Usage: "retry a failing event this long (a duration, or days like 2d), then park it as dead"},
					jsonFlag,
				},
				Action: func(c *cli.Context) error {
					if err := noArgs(c); err != nil {
						return err
					}
					return withWebhookApp(c, func(ctx context.Context, a appliance.Admin, app uint32) error {
						info, err := a.Webhook(ctx, app)
						if err != nil {
							return notFound(err, "no app with SDKAppID %d", app)
						}
						w, err := webhookFlags(c, app, info.Webhook)
						if err != nil {
							return err
						}
						if w, err = a.SetWebhook(ctx, w); err != nil {
							return err
						}
						if c.Bool("json") {
							return printJSON(c.App.Writer, toWebhookJSON(&w))
						}
						fmt.Fprintf(c.App.Writer, "webhook of app %d set: %s\n", app, w.URL)
						return nil
					})
				},
			},
			{
				Name:  "get",
				Usage: "show an app's webhook and its queue",
				Flags: []cli.Flag{sdkappid, jsonFlag},
				Action: func(c *cli.Context) error {
					if err := noArgs(c); err != nil {
						return err
					}
					return withWebhookApp(c, func(ctx context.Context, a appliance.Admin, app uint32) error {
						info, err := a.Webhook(ctx, app)
						if err != nil {
							return notFound(err, "no app with SDKAppID %d", app)
						}
						if c.Bool("json") {
							return printJSON(c.App.Writer, struct {
								Webhook *webhookJSON     `json:"webhook"`
								Queue   webhook.AppStats `json:"queue"`
							}{toWebhookJSON(info.Webhook), info.Queue})
						}
						printWebhook(c, app, info)
						return nil
					})
				},
			},
			{
				Name:  "delete",
				Usage: "remove an app's webhook (its queued events are dropped)",
				Flags: []cli.Flag{sdkappid},
				Action: func(c *cli.Context) error {
					if err := noArgs(c); err != nil {
						return err
					}
					return withWebhookApp(c, func(ctx context.Context, a appliance.Admin, app uint32) error {
						return notFound(a.DeleteWebhook(ctx, app), "app %d has no webhook", app)
					})
				},
			},
			webhookTestCommand(sdkappid, jsonFlag),
			webhookLogCommand(sdkappid, jsonFlag),
			{
				Name:      "retry",
				Usage:     "send an event again now: a dead one (parked after its retries ran out) or a queued one waiting out its backoff",
				ArgsUsage: "EVENT-ID | --all-dead",
				Flags:     []cli.Flag{sdkappid, &cli.BoolFlag{Name: "all-dead", Usage: "every dead event of the app"}},
				Action: func(c *cli.Context) error {
					id := c.Args().First()
					if (id == "") == !c.Bool("all-dead") || c.Args().Len() > 1 {
						return errors.New("usage: callbox webhook retry [--sdkappid N] EVENT-ID | --all-dead")
					}
					return withWebhookApp(c, func(ctx context.Context, a appliance.Admin, app uint32) error {
						n, err := a.RetryWebhook(ctx, app, id)
						if err != nil {
							return notFound(err, "app %d has no queued or dead event %s (delivered events are not kept)", app, id)
						}
						fmt.Fprintf(c.App.Writer, "%d event(s) to be sent again\n", n)
						return nil
					})
				},
			},
		},
	})
}

func webhookTestCommand(sdkappid cli.Flag, jsonFlag cli.Flag) *cli.Command {
	return &cli.Command{
		Name:  "test",
		Usage: "send a sample event (CallId callbox-test-...) to the app's webhook and print the answer",
		Flags: []cli.Flag{sdkappid, jsonFlag,
			&cli.StringFlag{Name: "command", Value: "caller_start_call", Usage: "the sample's command, e.g. callee_call_end, or call_end (status callback)"}},
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			return withWebhookApp(c, func(ctx context.Context, a appliance.Admin, app uint32) error {
				res, err := a.TestWebhook(ctx, app, c.String("command"))
				if err != nil {
					return notFound(err, "app %d has no webhook (callbox webhook set --url ...)", app)
				}
				if c.Bool("json") {
					if err := printJSON(c.App.Writer, res); err != nil {
						return err
					}
				} else {
					fmt.Fprintf(c.App.Writer, "POST %s\n%s: %s\n", res.URL, webhook.EventIDHeader, res.EventID)
					if res.Status != 0 {
						fmt.Fprintf(c.App.Writer, "HTTP %d in %.1f ms: %s\n", res.Status, res.LatencyMS, res.Reply)
					}
				}
				if res.Error != "" {
					return fmt.Errorf("webhook test failed: %s", res.Error)
				}
				if !c.Bool("json") {
					fmt.Fprintln(c.App.Writer, "delivered")
				}
				return nil
			})
		},
	}
}

func webhookLogCommand(sdkappid cli.Flag, jsonFlag cli.Flag) *cli.Command {
	return &cli.Command{
		Name:  "log",
		Usage: "the app's last delivery attempts, newest first (or its dead events)",
		Flags: []cli.Flag{sdkappid, jsonFlag,
			&cli.BoolFlag{Name: "failed", Usage: "only failed attempts"},
			&cli.BoolFlag{Name: "dead", Usage: "list the dead events (retries ran out) instead"},
			&cli.IntFlag{Name: "limit", Value: 50, Usage: fmt.Sprintf("at most this many (0 = all %d kept)", store.DeliveryLogSize)}},
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			if c.Int("limit") < 0 {
				return fmt.Errorf("invalid --limit %d", c.Int("limit"))
			}
			return withWebhookApp(c, func(ctx context.Context, a appliance.Admin, app uint32) error {
				if c.Bool("dead") {
					dead, err := a.DeadWebhooks(ctx, app)
					if err != nil {
						return notFound(err, "no app with SDKAppID %d", app)
					}
					if c.Bool("json") {
						return printJSON(c.App.Writer, dead)
					}
					tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "DEAD AT\tEVENT ID\tCOMMAND\tATTEMPTS\tQUEUED\tLAST ERROR")
					for _, d := range dead {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", d.DeadAt.Local().Format(time.DateTime), d.EventID, d.Command,
							d.Attempts, d.Created.Local().Format(time.DateTime), d.LastError)
					}
					return tw.Flush()
				}
				log, err := a.WebhookLog(ctx, app, c.Int("limit"), c.Bool("failed"))
				if err != nil {
					return notFound(err, "no app with SDKAppID %d", app)
				}
				if c.Bool("json") {
					return printJSON(c.App.Writer, log)
				}
				tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "TIME\tCOMMAND\tATTEMPT\tSTATUS\tLATENCY\tEVENT ID\tERROR")
				for _, d := range log {
					status, cmd, errText := "-", d.Command, d.Error
					if d.Status != 0 {
						status = strconv.Itoa(d.Status)
					}
					if d.Test {
						cmd += " (test)"
					}
					if d.Dead {
						errText += " (parked as dead)"
					}
					fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", d.At.Local().Format("2006-01-02 15:04:05.000"), cmd, d.Attempt,
						status, d.Latency.Round(100*time.Microsecond), d.EventID, errText)
				}
				return tw.Flush()
			})
		},
	}
}

// webhookJSON is the --json shape of a webhook: durations as Go
// durations ("3s"), defaults filled in.
type webhookJSON struct {
	SDKAppID       uint32
	URL            string
	Token          string
	EventCallbacks bool
	Events         []string // empty = all
	StatusCallback bool
	Concurrency    int
	Timeout        string
	RetryFor       string
	Updated        time.Time
}

func toWebhookJSON(w *store.Webhook) *webhookJSON {
	if w == nil {
		return nil
	}
	or := func(v, def time.Duration) string {
		if v <= 0 {
			v = def
		}
		return v.String()
	}
	conc := w.Concurrency
	if conc <= 0 {
		conc = webhook.DefaultConcurrency
	}
	return &webhookJSON{w.SDKAppID, w.URL, w.Token, w.EventCallbacks, w.Events, w.StatusCallback, conc,
		or(w.Timeout, webhook.DefaultTimeout), or(w.RetryFor, webhook.DefaultRetryFor), w.Updated}
}

// withWebhookApp runs fn through the admin interface for the app
// --sdkappid names, or the only app.
func withWebhookApp(c *cli.Context, fn func(ctx context.Context, a appliance.Admin, app uint32) error) error {
	return withAdmin(c, false, func(ctx context.Context, a appliance.Admin) error {
		app, err := webhookApp(ctx, c, a)
		if err != nil {
			return err
		}
		return fn(ctx, a, app)
	})
}

// webhookApp is --sdkappid, or the only app.
func webhookApp(ctx context.Context, c *cli.Context, a appliance.Admin) (uint32, error) {
	if c.IsSet("sdkappid") {
		return parseAppID(c.String("sdkappid"))
	}
	apps, err := a.Apps(ctx)
	if err != nil {
		return 0, err
	}
	if len(apps) != 1 {
		return 0, fmt.Errorf("--sdkappid is required: there are %d apps", len(apps))
	}
	return apps[0].SDKAppID, nil
}

// webhookFlags applies set's flags to the current webhook (nil: none).
func webhookFlags(c *cli.Context, app uint32, cur *store.Webhook) (store.Webhook, error) {
	var u appliance.WebhookUpdate
	if c.IsSet("url") {
		v := c.String("url")
		u.URL = &v
	}
	if c.IsSet("token") {
		v := c.String("token")
		u.Token = &v
	}
	if c.IsSet("status-callback") || cur == nil {
		v := c.Bool("status-callback")
		u.StatusCallback = &v
	}
	if c.IsSet("events") || cur == nil {
		v := c.String("events")
		u.Events = &v
	}
	if c.IsSet("concurrency") {
		v := c.Int("concurrency")
		u.Concurrency = &v
	}
	if c.IsSet("timeout") {
		v := c.Duration("timeout")
		u.Timeout = &v
	}
	if c.IsSet("retry-for") {
		d, err := parseDays(c.String("retry-for"))
		if err != nil {
			return store.Webhook{}, fmt.Errorf("invalid --retry-for %q: want a duration like 36h or days like 2d", c.String("retry-for"))
		}
		u.RetryFor = &d
	}
	return appliance.ApplyWebhookUpdate(app, cur, u)
}

// parseDays reads a Go duration or whole days ("2d").
func parseDays(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseUint(days, 10, 16)
		return time.Duration(n) * 24 * time.Hour, err
	}
	return time.ParseDuration(s)
}

func printWebhook(c *cli.Context, app uint32, info appliance.WebhookInfo) {
	out, q := c.App.Writer, info.Queue
	if w := toWebhookJSON(info.Webhook); w == nil {
		fmt.Fprintf(out, "SDKAppID:        %d\nWebhook:         none (events are not kept; callbox webhook set --url ...)\n", app)
	} else {
		events := "all"
		switch {
		case !w.EventCallbacks:
			events = "none"
		case len(w.Events) > 0:
			events = strings.Join(w.Events, ",")
		}
		token := "none (unsigned)"
		if w.Token != "" {
			token = w.Token
		}
		onOff := map[bool]string{true: "on", false: "off"}
		fmt.Fprintf(out, "SDKAppID:        %d\nURL:             %s\nToken:           %s\nEvent callbacks: %s\nStatus callback: %s\n"+
			"Concurrency:     %d\nTimeout:         %s\nRetry for:       %s\nUpdated:         %s\n",
			app, w.URL, token, events, onOff[w.StatusCallback], w.Concurrency, w.Timeout, w.RetryFor, w.Updated.Local().Format(time.RFC3339))
	}
	fmt.Fprintf(out, "Queue:           %d pending, %d in flight, %d dead\n", q.Pending, q.InFlight, q.Dead)
	if !q.OldestPending.IsZero() {
		fmt.Fprintf(out, "Oldest pending:  %s (%s ago)\n", q.OldestPending.Local().Format(time.RFC3339), time.Since(q.OldestPending).Round(time.Second))
	}
	if !q.LastDelivery.IsZero() {
		fmt.Fprintf(out, "Last delivery:   %s\n", q.LastDelivery.Local().Format(time.RFC3339))
	}
	if q.LastError != "" {
		fmt.Fprintf(out, "Last error:      %s (%s; %d failed attempts since the last delivery)\n", q.LastError, q.LastErrorAt.Local().Format(time.RFC3339), q.Failures)
	}
}

// printWebhookQueues is `callbox status`'s webhook part: one line per
// app with a webhook, queued events or dead ones.
func printWebhookQueues(out io.Writer, queues []webhook.AppStats) {
	for _, q := range queues {
		line := fmt.Sprintf("webhook: app %d: %d pending", q.SDKAppID, q.Pending)
		if !q.OldestPending.IsZero() {
			line += fmt.Sprintf(" (oldest queued %s ago)", time.Since(q.OldestPending).Round(time.Second))
		}
		line += fmt.Sprintf(", %d dead", q.Dead)
		switch {
		case !q.Configured:
			line += ", no webhook: dropping"
		case q.Failures > 0:
			line += fmt.Sprintf(", failing (%d attempts): %s", q.Failures, q.LastError)
		}
		fmt.Fprintln(out, line)
	}
}

// benchWebhookCommand is `callbox bench webhook`.
func benchWebhookCommand(jsonFlag cli.Flag) *cli.Command {
	return &cli.Command{
		Name:  "webhook",
		Usage: "events committed to the outbox in batches and delivered to a local receiver, durably: events/s vs the raw store commit rate",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "events", Value: webhookbench.DefaultEvents, Usage: "events in all"},
			&cli.IntFlag{Name: "batch", Value: webhookbench.DefaultBatch, Usage: "events per commit (the call store commits a batch of transitions at once)"},
			&cli.IntFlag{Name: "apps", Value: webhookbench.DefaultApps, Usage: "apps, each with its own queue to the receiver"},
			&cli.IntFlag{Name: "concurrency", Value: webhook.DefaultConcurrency, Usage: "requests in flight per app"},
			&cli.StringFlag{Name: "dir", Usage: "where the benchmark's stores live (default: the temp dir); its disk sets the commit rate"},
			jsonFlag,
		},
		Action: func(c *cli.Context) error {
			if c.Int("events") < 1 || c.Int("batch") < 1 || c.Int("apps") < 1 || c.Int("apps") > 1000 ||
				c.Int("concurrency") < 1 || c.Int("concurrency") > webhook.MaxConcurrency {
				return fmt.Errorf("invalid load: want --events, --batch >= 1, --apps 1..1000, --concurrency 1..%d", webhook.MaxConcurrency)
			}
			out := c.App.Writer
			if c.Bool("json") {
				out = io.Discard
			}
			res, err := webhookbench.Run(c.Context, webhookbench.Config{Events: c.Int("events"), Batch: c.Int("batch"), Apps: c.Int("apps"),
				Concurrency: c.Int("concurrency"), Dir: c.String("dir"), Out: out})
			if err != nil {
				return fmt.Errorf("bench webhook: %w", err)
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, res)
			}
			return nil
		},
	}
}
