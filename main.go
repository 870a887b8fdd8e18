// Command callbox is a self-hosted audio/video calling service in one
// binary. The command line lives in appliance/command; this file only
// stamps the build and exits with the right status.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"callbox/appliance/command"
	"callbox/sfu/sfubench"
)

// Set with -ldflags "-X main.version=... -X main.commit=...".
var (
	version = "dev"
	commit  = ""
)

func main() {
	// `callbox bench sfu` re-runs this binary as its isolated server.
	if sfubench.IsChild() {
		os.Exit(sfubench.ChildMain())
	}
	os.Exit(run(os.Args))
}

// run executes the CLI and turns its error into an exit status, printing
// the error once, on one line.
func run(args []string) int {
	app := command.New(os.Stdout, os.Stderr, command.Build{Version: version, Commit: commit})
	err := app.Run(args)
	if err == nil {
		return 0
	}
	var exit cli.ExitCoder
	if errors.As(err, &exit) {
		if msg := exit.Error(); msg != "" {
			fmt.Fprintln(os.Stderr, "callbox:", msg)
		}
		return exit.ExitCode()
	}
	fmt.Fprintln(os.Stderr, "callbox:", err)
	return 1
}
