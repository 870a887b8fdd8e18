// Package invite makes the links that sign a person in to the web app: the
// URL /join#sdkappid=..&user=..&sig=.. and its QR code, for a terminal and as
// SVG. The UserSig travels in the fragment, which browsers never send, so it
// stays out of server and proxy logs.
package invite

import (
	"bytes"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"

	qrcode "github.com/skip2/go-qrcode"
)

// JoinPath is where the web app reads an invite's fragment.
const JoinPath = "/join"

// URL is the invite link for user of app sdkappid on the server at base
// (scheme://host[:port][/prefix]; a trailing slash is ignored). With an empty
// base it is the path alone.
func URL(base string, sdkappid uint32, user, sig string) string {
	frag := "sdkappid=" + strconv.FormatUint(uint64(sdkappid), 10) +
		"&user=" + url.QueryEscape(user) +
		"&sig=" + url.QueryEscape(sig)
	return strings.TrimRight(base, "/") + JoinPath + "#" + frag
}

// Link is an invite link's content.
type Link struct {
	SDKAppID uint32
	User     string
	Sig      string
}

// Parse reads an invite link made by URL (or only its fragment). It checks
// the form, not the sig: the server does that at sign-in.
func Parse(link string) (Link, error) {
	frag := link
	if i := strings.IndexByte(link, '#'); i >= 0 {
		frag = link[i+1:]
	}
	v, err := url.ParseQuery(frag)
	if err != nil {
		return Link{}, fmt.Errorf("invite link: bad fragment: %w", err)
	}
	id, err := strconv.ParseUint(v.Get("sdkappid"), 10, 32)
	if err != nil || id == 0 {
		return Link{}, fmt.Errorf("invite link: bad sdkappid %q", v.Get("sdkappid"))
	}
	l := Link{SDKAppID: uint32(id), User: v.Get("user"), Sig: v.Get("sig")}
	if l.User == "" || l.Sig == "" {
		return Link{}, fmt.Errorf("invite link: user and sig are required")
	}
	return l, nil
}

// quiet is the light border, in modules, that scanners need around a code.
const quiet = 2

func bitmap(content string) ([][]bool, error) {
	q, err := qrcode.New(content, qrcode.Medium)
	if err != nil {
		return nil, fmt.Errorf("invite: QR code: %w", err)
	}
	q.DisableBorder = true
	return q.Bitmap(), nil
}

// Terminal writes content as a QR code of Unicode half blocks, two modules
// per character cell. Light modules are drawn as blocks, so the code reads
// dark on light in a terminal with a dark background, the usual case; most
// scanners also read the inverted code on a light background.
func Terminal(w io.Writer, content string) error {
	bm, err := bitmap(content)
	if err != nil {
		return err
	}
	n := len(bm)
	light := func(y, x int) bool {
		if y < quiet || x < quiet || y >= n+quiet || x >= n+quiet {
			return true
		}
		return !bm[y-quiet][x-quiet]
	}
	size := n + 2*quiet
	var b strings.Builder
	for y := 0; y < size; y += 2 {
		for x := 0; x < size; x++ {
			top := light(y, x)
			bottom := y+1 < size && light(y+1, x)
			switch {
			case top && bottom:
				b.WriteString("█")
			case top:
				b.WriteString("▀")
			case bottom:
				b.WriteString("▄")
			default:
				b.WriteByte(' ')
			}
		}
		b.WriteByte('\n')
	}
	_, err = io.WriteString(w, b.String())
	return err
}

// SVG renders content as a QR code: an SVG document of one path on a white
// background, one user unit per module, scaled by whoever shows it.
func SVG(content string) ([]byte, error) {
	bm, err := bitmap(content)
	if err != nil {
		return nil, err
	}
	size := len(bm) + 2*quiet
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" shape-rendering="crispEdges">`, size, size)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, size, size)
	for y, row := range bm {
		for x := 0; x < len(row); {
			if !row[x] {
				x++
				continue
			}
			run := x
			for run < len(row) && row[run] {
				run++
			}
			fmt.Fprintf(&b, "M%d %dh%dv1h-%dz", x+quiet, y+quiet, run-x, run-x)
			x = run
		}
	}
	b.WriteString(`"/></svg>`)
	return b.Bytes(), nil
}
