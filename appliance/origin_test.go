package appliance_test

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"callbox/appliance"
)

func TestParseOrigin(t *testing.T) {
	tests := []struct {
		in, want string // want "" = refused
	}{
		{"https://app.example.com", "https://app.example.com"},
		{"HTTPS://App.Example.COM/", "https://app.example.com"},
		{"https://app.example.com:443", "https://app.example.com"},
		{"http://app.example.com:80", "http://app.example.com"},
		{"https://app.example.com:8443", "https://app.example.com:8443"},
		{"http://localhost:3000", "http://localhost:3000"},
		{"https://*.example.com", "https://*.example.com"},
		{"http://[::1]:3000", `http://\[::1\]:3000`},
		{"http://10.0.0.5:8080", "http://10.0.0.5:8080"},
		{"app.example.com", ""},
		{"ftp://app.example.com", ""},
		{"https://app.example.com/path", ""},
		{"https://app.example.com?x=1", ""},
		{"https://user@app.example.com", ""},
		{"https://", ""},
		{"https://*", ""},
		{"https://a*.example.com", ""},
		{"https://*.10.0.0.5", ""},
		{"null", ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := appliance.ParseOrigin(tc.in)
			if tc.want == "" {
				if err == nil || !strings.Contains(err.Error(), "--allowed-origin") {
					t.Fatalf("ParseOrigin = %q, %v; want an error naming --allowed-origin", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseOrigin = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// wsUpgrade sends a real WebSocket upgrade for /ws to host with the given
// Host and Origin headers (empty: none) and returns the status.
func wsUpgrade(t *testing.T, addr, host, origin string) int {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	key := make([]byte, 16)
	rand.Read(key)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", base64.StdEncoding.EncodeToString(key))
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestAllowedOrigins: a team's own web app on another origin opens /ws
// once --allowed-origin names it; other origins get 403 and no WebSocket.
func TestAllowedOrigins(t *testing.T) {
	s := startServer(t, func(c *appliance.Config) {
		c.AllowedOrigins = []string{"https://app.example.com", "https://*.team.example", "http://localhost:3000"}
	})
	addr := strings.TrimSuffix(strings.TrimPrefix(s.url, "ws://"), "/ws")
	tests := []struct {
		name, origin string
		want         int
	}{
		{"no origin (not a browser)", "", http.StatusSwitchingProtocols},
		{"the server's own origin", "http://" + addr, http.StatusSwitchingProtocols},
		{"allowed app", "https://app.example.com", http.StatusSwitchingProtocols},
		{"allowed app, other case", "https://APP.example.com", http.StatusSwitchingProtocols},
		{"allowed subdomain", "https://a.team.example", http.StatusSwitchingProtocols},
		{"allowed dev server", "http://localhost:3000", http.StatusSwitchingProtocols},
		{"other site", "https://evil.example", http.StatusForbidden},
		{"allowed host, other scheme", "http://app.example.com", http.StatusForbidden},
		{"allowed host, other port", "https://app.example.com:8443", http.StatusForbidden},
		{"subdomain of an exact origin", "https://x.app.example.com", http.StatusForbidden},
		{"wildcard's own apex", "https://team.example", http.StatusForbidden},
		{"dev server, other port", "http://localhost:3001", http.StatusForbidden},
		{"opaque origin", "null", http.StatusForbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := wsUpgrade(t, addr, "", tc.origin); got != tc.want {
				t.Fatalf("upgrade with Origin %q: %d, want %d", tc.origin, got, tc.want)
			}
		})
	}
}

// TestHostCheck: a request whose Host is not an IP literal, localhost or
// an --allowed-host name gets 421 on every route, /ws included: what a
// DNS-rebinding page on evil.example would send to a server on 127.0.0.1.
func TestHostCheck(t *testing.T) {
	s := startServer(t, func(c *appliance.Config) {
		c.Dev = true
		c.AllowedHosts = []string{"Callbox.Example.com."}
	})
	addr := strings.TrimSuffix(strings.TrimPrefix(s.url, "ws://"), "/ws")
	_, port, _ := strings.Cut(addr, ":")
	tests := []struct {
		host string
		want int
	}{
		{addr, http.StatusOK},
		{"localhost:" + port, http.StatusOK},
		{"LOCALHOST", http.StatusOK},
		{"app.localhost:" + port, http.StatusOK},
		{"[::1]:" + port, http.StatusOK},
		{"192.0.2.7", http.StatusOK},
		{"callbox.example.com", http.StatusOK},
		{"callbox.example.com.:443", http.StatusOK},
		{"evil.example", http.StatusMisdirectedRequest},
		{"evil.example:" + port, http.StatusMisdirectedRequest},
		{"localhost.evil.example", http.StatusMisdirectedRequest},
		{"example.com", http.StatusMisdirectedRequest},
		{"x.callbox.example.com", http.StatusMisdirectedRequest},
	}
	for _, tc := range tests {
		t.Run(tc.host, func(t *testing.T) {
			for _, path := range []string{"/healthz", "/"} {
				req, err := http.NewRequest("GET", "http://"+addr+path, nil)
				if err != nil {
					t.Fatal(err)
				}
				req.Host = tc.host
				resp, err := http.DefaultTransport.RoundTrip(req)
				if err != nil {
					t.Fatal(err)
				}
				body := make([]byte, 512)
				n, _ := resp.Body.Read(body)
				resp.Body.Close()
				if resp.StatusCode != tc.want {
					t.Fatalf("GET %s with Host %q: %d, want %d", path, tc.host, resp.StatusCode, tc.want)
				}
				if tc.want == http.StatusMisdirectedRequest && !strings.Contains(string(body[:n]), "--allowed-host") {
					t.Errorf("421 body %q does not name --allowed-host", body[:n])
				}
			}
			// The WebSocket too: a rebinding page is same-origin with
			// its own name, so only the Host check stops it.
			want := http.StatusSwitchingProtocols
			if tc.want != http.StatusOK {
				want = tc.want
			}
			if got := wsUpgrade(t, addr, tc.host, "http://"+tc.host); got != want {
				t.Fatalf("upgrade with Host and Origin %q: %d, want %d", tc.host, got, want)
			}
		})
	}
}
