package browsertest

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"
)

// Site is a web server of the test's own beside the callbox server: pages
// of another origin than the server's, such as a team's own app that
// loads the SDK from the callbox server. It listens on the host end of
// the veth pair, where the browser reaches it under every *.localhost
// name; each name is an origin of its own.
type Site struct{ port int }

// ServeSite serves h for t on a free port of the host end of the veth
// pair, and stops when t ends.
func ServeSite(t *testing.T, h http.Handler) *Site {
	t.Helper()
	ns := sharedNetns(t)
	ln, err := net.Listen("tcp", netip.AddrPortFrom(ns.hostIP, 0).String())
	if err != nil {
		t.Fatalf("listen on the host end: %v", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("site: %v", err)
		}
	})
	return &Site{port: ln.Addr().(*net.TCPAddr).Port}
}

// Origin is the site under name as the browser reaches it,
// "http://NAME.localhost:PORT" (a secure context, like BaseURL), without
// a trailing slash.
func (s *Site) Origin(name string) string { return fmt.Sprintf("http://%s.localhost:%d", name, s.port) }
