package command

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"callbox/appliance"
)

// adminCommand manages the admin console's accounts (docs/admin.md §1).
func adminCommand() *cli.Command {
	user := &cli.StringFlag{Name: "user", Usage: "the account name", Required: true}
	stdin := &cli.BoolFlag{Name: "password-stdin", Usage: "read the password from the first line of stdin instead of asking twice on the terminal"}
	return usageErrors(&cli.Command{
		Name:  "admin",
		Usage: "manage admin console accounts",
		Subcommands: []*cli.Command{
			{
				Name:  "create",
				Usage: "create an admin console account",
				Flags: []cli.Flag{user, stdin},
				Action: func(c *cli.Context) error {
					if err := appliance.ValidAdminName(c.String("user")); err != nil {
						return err
					}
					pw, err := newPassword(c)
					if err != nil {
						return err
					}
					return withAdmin(c, true, func(ctx context.Context, a appliance.Admin) error {
						info, err := a.CreateAdmin(ctx, c.String("user"), pw)
						if err != nil {
							return err
						}
						fmt.Fprintf(c.App.Writer, "created admin %s; log in at /admin/\n", info.Name)
						return nil
					})
				},
			},
			{
				Name:  "list",
				Usage: "list admin console accounts",
				Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON"}},
				Action: func(c *cli.Context) error {
					return withAdmin(c, false, func(ctx context.Context, a appliance.Admin) error {
						admins, err := a.Admins(ctx)
						if err != nil {
							return err
						}
						if c.Bool("json") {
							return printJSON(c.App.Writer, admins)
						}
						tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
						fmt.Fprintln(tw, "NAME\tCREATED\tPASSWORD CHANGED")
						for _, ad := range admins {
							fmt.Fprintf(tw, "%s\t%s\t%s\n", ad.Name, ad.Created.Local().Format(time.DateTime), ad.PasswordChanged.Local().Format(time.DateTime))
						}
						return tw.Flush()
					})
				},
			},
			{
				Name:  "delete",
				Usage: "delete an admin console account and end its sessions (not the last one)",
				Flags: []cli.Flag{user},
				Action: func(c *cli.Context) error {
					return withAdmin(c, false, func(ctx context.Context, a appliance.Admin) error {
						return notFound(a.DeleteAdmin(ctx, c.String("user")), "no admin %q", c.String("user"))
					})
				},
			},
			{
				Name:  "passwd",
				Usage: "set an admin's password; ends every session of the account",
				Flags: []cli.Flag{user, stdin},
				Action: func(c *cli.Context) error {
					pw, err := newPassword(c)
					if err != nil {
						return err
					}
					return withAdmin(c, false, func(ctx context.Context, a appliance.Admin) error {
						n, err := a.SetAdminPassword(ctx, c.String("user"), pw)
						if err != nil {
							return notFound(err, "no admin %q", c.String("user"))
						}
						fmt.Fprintf(c.App.Writer, "password of %s changed; %d session(s) ended\n", c.String("user"), n)
						return nil
					})
				},
			},
		},
	})
}

// newPassword reads a new password: the first line of stdin with
// --password-stdin, else asked twice on the terminal without echo.
func newPassword(c *cli.Context) (string, error) {
	in := c.App.Reader
	if in == nil {
		in = os.Stdin
	}
	var pw string
	if c.Bool("password-stdin") {
		line, err := bufio.NewReader(io.LimitReader(in, 4096)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read password from stdin: %w", err)
		}
		pw = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	} else {
		f, ok := in.(*os.File)
		if !ok || !isTerminal(f) {
			return "", errors.New("stdin is not a terminal: pass the password with --password-stdin")
		}
		r := bufio.NewReader(f)
		first, err := readHidden(f, r, c.App.ErrWriter, "New password: ")
		if err != nil {
			return "", err
		}
		if err := appliance.ValidPassword(first); err != nil {
			return "", err
		}
		again, err := readHidden(f, r, c.App.ErrWriter, "Repeat it: ")
		if err != nil {
			return "", err
		}
		if first != again {
			return "", errors.New("the passwords differ; nothing changed")
		}
		pw = first
	}
	return pw, appliance.ValidPassword(pw)
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// readHidden prompts on w and reads a line from the terminal f with echo
// off, restoring the terminal's mode after.
func readHidden(f *os.File, r *bufio.Reader, w io.Writer, prompt string) (string, error) {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return "", fmt.Errorf("read the terminal's mode: %w", err)
	}
	quiet := *old
	quiet.Lflag &^= unix.ECHO
	quiet.Lflag |= unix.ICANON | unix.ISIG
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &quiet); err != nil {
		return "", fmt.Errorf("turn the terminal's echo off: %w", err)
	}
	defer unix.IoctlSetTermios(fd, unix.TCSETS, old)
	fmt.Fprint(w, prompt)
	line, err := r.ReadString('\n')
	fmt.Fprintln(w)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	return strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r"), nil
}
