package invite_test

import (
	"bytes"
	"encoding/xml"
	"net/url"
	"strings"
	"testing"

	"callbox/appliance/invite"
)

func TestURLRoundTrip(t *testing.T) {
	for _, tc := range []struct{ base, want string }{
		{"https://call.example.com", "https://call.example.com/join#sdkappid=1400000001&user=alice%40x.y&sig=eJy%2Babc%2A-_"},
		{"https://call.example.com/", "https://call.example.com/join#sdkappid=1400000001&user=alice%40x.y&sig=eJy%2Babc%2A-_"},
		{"http://10.0.0.2:8080/callbox/", "http://10.0.0.2:8080/callbox/join#sdkappid=1400000001&user=alice%40x.y&sig=eJy%2Babc%2A-_"},
		{"", "/join#sdkappid=1400000001&user=alice%40x.y&sig=eJy%2Babc%2A-_"},
	} {
		got := invite.URL(tc.base, 1400000001, "alice@x.y", "eJy+abc*-_")
		if got != tc.want {
			t.Errorf("URL(%q) = %q, want %q", tc.base, got, tc.want)
		}
		l, err := invite.Parse(got)
		if err != nil {
			t.Fatalf("Parse(%q): %v", got, err)
		}
		if l != (invite.Link{SDKAppID: 1400000001, User: "alice@x.y", Sig: "eJy+abc*-_"}) {
			t.Errorf("Parse(%q) = %+v", got, l)
		}
		// The fragment never reaches the server: no query, the path ends in /join.
		u, err := url.Parse(got)
		if err != nil || u.RawQuery != "" || !strings.HasSuffix(u.Path, "/join") || strings.Contains(u.Path, "//") {
			t.Errorf("URL %q: path %q query %q err %v", got, u.Path, u.RawQuery, err)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	for _, link := range []string{
		"/join#user=a&sig=b",
		"/join#sdkappid=0&user=a&sig=b",
		"/join#sdkappid=-1&user=a&sig=b",
		"/join#sdkappid=4294967296&user=a&sig=b",
		"/join#sdkappid=x&user=a&sig=b",
		"/join#sdkappid=1&sig=b",
		"/join#sdkappid=1&user=a",
		"/join#sdkappid=1&user=a&sig=%zz",
		"",
	} {
		if l, err := invite.Parse(link); err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", link, l)
		}
	}
}

func TestTerminal(t *testing.T) {
	var b bytes.Buffer
	link := invite.URL("https://call.example.com", 1400000001, "alice", strings.Repeat("x", 300))
	if err := invite.Terminal(&b, link); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	width := len([]rune(lines[0]))
	// Two modules per line, a square code plus the quiet zone.
	if width < 25 || len(lines) != (width+1)/2 {
		t.Fatalf("terminal code is %d wide and %d lines", width, len(lines))
	}
	for i, l := range lines {
		if len([]rune(l)) != width {
			t.Fatalf("line %d is %d wide, want %d", i, len([]rune(l)), width)
		}
		if strings.Trim(l, "█▀▄ ") != "" {
			t.Fatalf("line %d has other characters: %q", i, l)
		}
	}
	// The top line is quiet zone: all light.
	if strings.Trim(lines[0], "█") != "" {
		t.Errorf("first line is not the quiet zone: %q", lines[0])
	}
}

func TestSVG(t *testing.T) {
	svg, err := invite.SVG(invite.URL("https://call.example.com", 1400000001, "bob", "sig"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		XMLName xml.Name `xml:"svg"`
		ViewBox string   `xml:"viewBox,attr"`
		Path    struct {
			D string `xml:"d,attr"`
		} `xml:"path"`
	}
	if err := xml.Unmarshal(svg, &doc); err != nil {
		t.Fatalf("SVG does not parse: %v\n%s", err, svg)
	}
	if !strings.HasPrefix(doc.ViewBox, "0 0 ") || doc.Path.D == "" {
		t.Errorf("SVG viewBox %q, path %d bytes", doc.ViewBox, len(doc.Path.D))
	}
}

func TestTooLong(t *testing.T) {
	// A QR code holds at most a few kilobytes; a longer text is an error, not a panic.
	long := strings.Repeat("x", 4000)
	if _, err := invite.SVG(long); err == nil {
		t.Error("SVG of 4000 bytes: no error")
	}
	if err := invite.Terminal(&bytes.Buffer{}, long); err == nil {
		t.Error("Terminal of 4000 bytes: no error")
	}
}
