package command

import (
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v2"

	"callbox/sfu/sfubench"
	"callbox/signaling/sigbench"
	"callbox/turn/turnbench"
)

// benchCommand runs the benchmarks on loopback. Each reports a ratio
// against a baseline measured in the same run, because a shared 2-core
// machine is too noisy for absolute figures.
func benchCommand() *cli.Command {
	jsonFlag := &cli.BoolFlag{Name: "json", Usage: "print the result as JSON"}
	return usageErrors(&cli.Command{
		Name:  "bench",
		Usage: "benchmarks against baselines measured in the same run (loopback only)",
		Subcommands: []*cli.Command{
			benchWebhookCommand(jsonFlag),
			{
				Name:  "signaling",
				Usage: "N logged-in clients, call setups at R/s: invite delivery p50/p99 vs a WebSocket echo, heap per idle connection",
				Flags: []cli.Flag{
					&cli.IntFlag{Name: "users", Value: sigbench.DefaultUsers, Usage: "logged-in clients"},
					&cli.Float64Flag{Name: "calls-per-sec", Value: sigbench.DefaultCallsPerSec, Usage: "call setups per second"},
					&cli.DurationFlag{Name: "duration", Value: sigbench.DefaultDuration, Usage: "length of the load phase"},
					&cli.StringFlag{Name: "dir", Usage: "where the benchmark's store lives (default: the temp dir); the store's disk syncs are part of invite delivery"},
					jsonFlag,
				},
				Action: func(c *cli.Context) error {
					users, rate := c.Int("users"), c.Float64("calls-per-sec")
					if users < 2 || users > 100000 || rate <= 0 || c.Duration("duration") <= 0 {
						return fmt.Errorf("invalid load: want --users 2..100000, --calls-per-sec > 0, --duration > 0")
					}
					out := c.App.Writer
					if c.Bool("json") {
						out = io.Discard
					}
					res, err := sigbench.Run(c.Context, sigbench.Config{Users: users, CallsPerSec: rate, Duration: c.Duration("duration"), Out: out, Dir: c.String("dir")})
					if err != nil {
						return fmt.Errorf("bench signaling: %w", err)
					}
					if c.Bool("json") {
						return printJSON(c.App.Writer, res)
					}
					return nil
				},
			},
			{
				Name:  "sfu",
				Usage: "P publishers to S subscribers through the SFU: forwarded packets per CPU-second vs a plain UDP fan-out relay",
				Flags: []cli.Flag{
					&cli.IntFlag{Name: "publishers", Value: 1, Usage: "publishers (one audio and one video track each)"},
					&cli.IntFlag{Name: "subscribers", Value: 2, Usage: "subscribers (each receives every publisher)"},
					&cli.DurationFlag{Name: "duration", Value: 5 * time.Second, Usage: "length of each measured window"},
					&cli.IntFlag{Name: "reps", Value: 3, Usage: "windows per variant, interleaved"},
					jsonFlag,
				},
				Action: func(c *cli.Context) error {
					p, s := c.Int("publishers"), c.Int("subscribers")
					if p < 1 || p > 64 || s < 1 || s > 256 || c.Int("reps") < 1 || c.Duration("duration") <= 0 {
						return fmt.Errorf("invalid load: want --publishers 1..64, --subscribers 1..256, --reps >= 1, --duration > 0")
					}
					_, err := sfubench.Run(c.Context, sfubench.Config{Publishers: p, Subscribers: s, Duration: c.Duration("duration"),
						Reps: c.Int("reps"), Out: c.App.Writer, JSON: c.Bool("json"), Isolate: true})
					if err != nil {
						return fmt.Errorf("bench sfu: %w", err)
					}
					return nil
				},
			},
			{
				Name:  "turn",
				Usage: "coturn's turnutils_uclient at a fixed load against our TURN and against coturn: CPU per relayed packet and the ratio",
				Flags: []cli.Flag{
					&cli.IntFlag{Name: "clients", Value: turnbench.DefaultClients, Usage: "concurrent relay sessions"},
					&cli.IntFlag{Name: "packets", Value: turnbench.DefaultPackets, Usage: "packets per client"},
					&cli.DurationFlag{Name: "interval", Value: turnbench.DefaultInterval, Usage: "packet interval per client"},
					&cli.IntFlag{Name: "size", Value: turnbench.DefaultSize, Usage: "payload bytes"},
					&cli.IntFlag{Name: "reps", Value: turnbench.DefaultReps, Usage: "repetitions, each running ours and coturn in alternating order"},
					&cli.BoolFlag{Name: "tcp", Usage: "clients reach TURN over TCP"},
					jsonFlag,
				},
				Action: func(c *cli.Context) error {
					if c.Int("clients") < 1 || c.Int("packets") < 1 || c.Int("size") < 1 || c.Int("reps") < 1 || c.Duration("interval") < time.Millisecond {
						return fmt.Errorf("invalid load: want --clients, --packets, --size, --reps >= 1 and --interval >= 1ms")
					}
					_, err := turnbench.Run(c.Context, turnbench.Config{Clients: c.Int("clients"), Packets: c.Int("packets"),
						Interval: c.Duration("interval"), Size: c.Int("size"), Reps: c.Int("reps"), TCP: c.Bool("tcp"), Out: c.App.Writer, JSON: c.Bool("json")})
					if err != nil {
						return fmt.Errorf("bench turn: %w", err)
					}
					return nil
				},
			},
		},
	})
}
