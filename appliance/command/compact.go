package command

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"callbox/store"
)

func compactCommand() *cli.Command {
	return usageErrors(&cli.Command{
		Name:  "compact",
		Usage: "shrink the database file to the data it holds (offline: stop the server first)",
		Flags: []cli.Flag{&cli.StringFlag{Name: "out", Usage: "write the compacted copy to this file (must not exist) and leave the database as it is"}},
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			dir, out := c.String("data"), c.String("out")
			db := filepath.Join(dir, store.FileName)
			if _, err := os.Stat(db); errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("compact: no callbox data in %s", dir)
			}
			// A running server holds the database's lock for as long as
			// it runs, so the lock alone tells whether one does.
			res, err := store.Compact(db, out)
			if errors.Is(err, store.ErrLocked) {
				return errors.New("compact: callbox is running on this data directory; stop it first (compaction is offline)")
			}
			if err != nil {
				return err
			}
			if out == "" {
				out = db
			}
			fmt.Fprintf(c.App.Writer, "compacted %s: %s -> %s (%d -> %d bytes)\n",
				out, mib(res.Before), mib(res.After), res.Before, res.After)
			return nil
		},
	})
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
