package ui_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"callbox/ui"
)

func TestServesWebApp(t *testing.T) {
	srv := httptest.NewServer(ui.New())
	defer srv.Close()
	tests := []struct {
		name, path string
		status     int
		contains   string
	}{
		{"index", "/", http.StatusOK, "<title>callbox</title>"},
		{"missing file", "/nope.js", http.StatusNotFound, ""},
		{"traversal", "/../embed.go", http.StatusNotFound, ""},
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
				t.Fatalf("GET %s = %d %q", tc.path, resp.StatusCode, body)
			}
		})
	}
}
