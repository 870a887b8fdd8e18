package command

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"callbox/store"
)

func restoreCommand() *cli.Command {
	return usageErrors(&cli.Command{
		Name:      "restore",
		Usage:     "replace the database with a backup (offline: stop the server first); the old file is kept as callbox.db.bak-<time>",
		ArgsUsage: "FILE",
		Action: func(c *cli.Context) error {
			if c.Args().Len() != 1 {
				return errors.New("restore: want one FILE, a backup made by `callbox backup` (see --help)")
			}
			src, dir := c.Args().First(), c.String("data")
			res, err := store.Restore(filepath.Join(dir, store.FileName), src, time.Now())
			if errors.Is(err, store.ErrLocked) {
				return errors.New("restore: callbox is running on this data directory; stop it first (restore is offline)")
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "restored %s (%d bytes) to %s\n", src, res.Size, filepath.Join(dir, store.FileName))
			if res.Backup != "" {
				fmt.Fprintf(c.App.Writer, "the previous database is kept as %s\n", res.Backup)
			}
			return nil
		},
	})
}
