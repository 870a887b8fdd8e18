// Package command is callbox's command line: the urfave/cli command tree,
// its flags and environment variables. It turns them into appliance.Config
// or appliance.Admin calls and prints the results; the work happens in the
// appliance and the packages below it.
package command

import (
	"callbox/appliance"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strconv"

	"github.com/urfave/cli/v2"
)

// Build identifies the binary (set by main from -ldflags).
type Build struct {
	Version string
	Commit  string
}

// New builds the command tree writing to stdout and stderr; tests run it
// with buffers.
func New(stdout, stderr io.Writer, b Build) *cli.App {
	if b.Version == "" {
		b.Version = "dev"
	}
	return &cli.App{
		Name:      "callbox",
		Usage:     "your own audio/video calling service, in one binary",
		Version:   b.Version,
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
			serveCommand(b),
			statusCommand(),
			appCommand(),
			usersigCommand(),
			userCommand(),
			callCommand(),
			recordCommand(),
			webhookCommand(),
			adminCommand(),
			backupCommand(),
			compactCommand(),
			restoreCommand(),
			turnCommand(),
			benchCommand(),
			versionCommand(b),
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

func versionCommand(b Build) *cli.Command {
	return usageErrors(&cli.Command{
		Name:  "version",
		Usage: "print the version, commit and Go version",
		Action: func(c *cli.Context) error {
			cm := b.Commit
			if cm == "" {
				cm = "unknown"
			}
			fmt.Fprintf(c.App.Writer, "callbox %s (commit %s, %s %s/%s)\n", b.Version, cm, runtime.Version(), runtime.GOOS, runtime.GOARCH)
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
