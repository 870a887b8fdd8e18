package ui_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"callbox/ui"
)

func TestServesWebApp(t *testing.T) {
	srv := httptest.NewServer(ui.New())
	defer srv.Close()
	const js = "text/javascript; charset=utf-8"
	tests := []struct {
		name, path string
		status     int
		contains   string
		ctype      string // "" = not checked
	}{
		{"index", "/", http.StatusOK, "<title>callbox</title>", ""},
		{"missing file", "/nope.js", http.StatusNotFound, "", ""},
		{"traversal", "/../embed.go", http.StatusNotFound, "", ""},
		{"invite link entry", "/join", http.StatusOK, "<title>callbox</title>", ""},
		{"admin console", "/admin/", http.StatusOK, "<title>callbox admin</title>", ""},
		{"admin traversal", "/admin/../embed.go", http.StatusNotFound, "", ""},
		{"sdk classic script", "/sdk/trtc-calling.js", http.StatusOK, "globalThis.TRTCCalling = TRTCCalling", js},
		{"sdk module", "/sdk/trtc-calling.mjs", http.StatusOK, "export default globalThis.TRTCCalling", js},
		{"sdk parts are not served", "/sdk/parts/1-base.js", http.StatusNotFound, "", ""},
		{"sdk missing", "/sdk/nope.js", http.StatusNotFound, "", ""},
		{"sdk directory", "/sdk/", http.StatusNotFound, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Get(srv.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.contains) {
				t.Fatalf("GET %s = %d %.200q", tc.path, resp.StatusCode, body)
			}
			if tc.status != http.StatusOK {
				return
			}
			if got := resp.Header.Get("Cache-Control"); got != "no-cache" {
				t.Errorf("Cache-Control = %q, want no-cache", got)
			}
			if tc.ctype != "" && resp.Header.Get("Content-Type") != tc.ctype {
				t.Errorf("Content-Type = %q, want %q", resp.Header.Get("Content-Type"), tc.ctype)
			}
		})
	}
}

// TestSDKRevalidates: the SDK is served no-cache with an ETag, so a
// browser's revalidation costs a 304.
func TestSDKRevalidates(t *testing.T) {
	srv := httptest.NewServer(ui.New())
	defer srv.Close()
	for _, path := range []string{"/sdk/trtc-calling.js", "/sdk/trtc-calling.mjs"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		etag := resp.Header.Get("ETag")
		if etag == "" {
			t.Fatalf("%s: no ETag", path)
		}
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.Header.Set("If-None-Match", etag)
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotModified {
			t.Errorf("%s with If-None-Match = %d, want 304", path, resp.StatusCode)
		}
	}
}

// TestSDKInNode runs ui/testdata/sdk_node.js on the served bundle: syntax,
// the EVENT table and method list, login errors and the reconnect logic,
// against a fake WebSocket. Media is the browser tests' (ui/browsertest).
func TestSDKInNode(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed")
	}
	srv := httptest.NewServer(ui.New())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/sdk/trtc-calling.js")
	if err != nil {
		t.Fatal(err)
	}
	js, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	bundle := filepath.Join(t.TempDir(), "trtc-calling.js")
	if err := os.WriteFile(bundle, js, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(node, "--check", bundle).CombinedOutput(); err != nil {
		t.Fatalf("node --check: %v\n%s", err, out)
	}
	script, _ := filepath.Abs("testdata/sdk_node.js")
	out, err := exec.Command(node, script, bundle).CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("sdk_node.js: %v", err)
	}
}
