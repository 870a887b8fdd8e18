package command

import (
	"context"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"callbox/appliance"
)

// statusCommand prints what /healthz no longer tells the world: the running
// server's version, Go version and uptime, from the control socket.
func statusCommand() *cli.Command {
	return usageErrors(&cli.Command{
		Name:  "status",
		Usage: "version, uptime and webhook queues of the server running on the data directory (fails when none runs)",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON {status, version, commit, goVersion, uptime, startedAt, webhooks}"}},
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			return withAdmin(c, false, func(ctx context.Context, a appliance.Admin) error {
				h, err := a.Health(ctx)
				if err != nil {
					return err
				}
				if c.Bool("json") {
					return printJSON(c.App.Writer, h)
				}
				commit := h.Commit
				if commit == "" {
					commit = "unknown"
				}
				up := time.Duration(h.Uptime * float64(time.Second)).Round(time.Second)
				fmt.Fprintf(c.App.Writer, "status:  %s\nversion: %s (commit %s, %s)\nstarted: %s (up %s)\n",
					h.Status, h.Version, commit, h.GoVersion, h.StartedAt, up)
				printWebhookQueues(c.App.Writer, h.Webhooks)
				return nil
			})
		},
	})
}
