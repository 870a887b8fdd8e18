package command

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"callbox/appliance"
	"callbox/signaling/usersig"
)

// turnREST is the JSON of `turn creds --json`: the response shape of the
// TURN REST API convention (username, password, ttl, uris), which external
// clients and coturn tooling already understand.
type turnREST struct {
	Username string   `json:"username"`
	Password string   `json:"password"`
	TTL      int      `json:"ttl"`
	URIs     []string `json:"uris"`
}

func turnCommand() *cli.Command {
	return usageErrors(&cli.Command{
		Name:  "turn",
		Usage: "TURN server tools",
		Subcommands: []*cli.Command{{
			Name:  "creds",
			Usage: "print working TURN credentials for a user (spec §5: HMAC-SHA1 of \"expiry:user\")",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "user", Required: true, Usage: "the userID the credentials are for"},
				&cli.IntFlag{Name: "ttl", Value: 3600, Usage: "validity in seconds"},
				&cli.BoolFlag{Name: "json", Usage: "print JSON {username, password, ttl, uris}"},
			},
			Action: func(c *cli.Context) error {
				user := c.String("user")
				if err := usersig.ValidUserID(user); err != nil {
					return fmt.Errorf("invalid --user: %w", err)
				}
				ttl := c.Int("ttl")
				if ttl < 1 || ttl > 30*86400 {
					return fmt.Errorf("invalid --ttl %d: want 1 to 2592000 seconds", ttl)
				}
				return withAdmin(c, true, func(ctx context.Context, a appliance.Admin) error {
					servers, err := a.ICEServers(ctx, user, time.Duration(ttl)*time.Second)
					if err != nil {
						return err
					}
					var out turnREST
					for _, s := range servers {
						out.URIs = append(out.URIs, s.URLs...)
						if s.Username != "" {
							out.Username, out.Password, out.TTL = s.Username, s.Credential, s.TTL
						}
					}
					if c.Bool("json") {
						return printJSON(c.App.Writer, out)
					}
					fmt.Fprintf(c.App.Writer, "username: %s\npassword: %s\nttl:      %d\nuris:     %s\n",
						out.Username, out.Password, out.TTL, strings.Join(out.URIs, " "))
					return nil
				})
			},
		}},
	})
}
