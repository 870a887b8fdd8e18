package command

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"callbox/appliance/certs"
)

// TestServeSelfSigned runs the binary: `serve --self-signed` prints the
// certificate's fingerprint, serves HTTPS and TURN over TLS with that
// certificate, and the metrics listener's /healthz reports it; a second
// start keeps the fingerprint.
func TestServeSelfSigned(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	// --turn-tls-port takes a port (0 would mean TURN's default, 5349).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	turnTLSPort := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	start := func() (fingerprint string) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, os.Args[0], "callbox", "--data", dir, "serve", "--self-signed",
			"--https", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0", "--log-format", "json",
			"--rtc-udp", "0", "--rtc-tcp", "0", "--turn-port", "0", "--turn-tls-port", turnTLSPort)
		cmd.Env = append(os.Environ(), "CALLBOX_TEST_MAIN=1")
		stdout, _ := cmd.StdoutPipe()
		stderr, _ := cmd.StderrPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			cmd.Process.Signal(os.Interrupt)
			cmd.Wait()
			cancel()
		}()
		printed := make(chan string, 1)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				if fp, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "SHA-256 fingerprint: "); ok {
					printed <- fp
				}
			}
		}()
		logs := bufio.NewReader(stderr)
		turnLog := waitForLog(t, logs, "turn listening")
		serving := waitForLog(t, logs, "callbox serving")
		go io.Copy(io.Discard, logs)
		var fp string
		select {
		case fp = <-printed:
		case <-ctx.Done():
			t.Fatal("no fingerprint printed")
		}

		for name, addr := range map[string]any{"https": serving["https"], "turn tls": turnLog["tls"]} {
			a, _ := addr.(string)
			conn, err := tls.Dial("tcp", strings.Replace(a, "0.0.0.0", "127.0.0.1", 1), &tls.Config{InsecureSkipVerify: true})
			if err != nil {
				t.Fatalf("%s %q: %v", name, a, err)
			}
			got := certs.Fingerprint(conn.ConnectionState().PeerCertificates[0].Raw)
			conn.Close()
			if got != fp {
				t.Fatalf("%s serves %s, printed %s", name, got, fp)
			}
		}
		resp, err := http.Get("http://" + serving["metrics"].(string) + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		var h struct {
			Components map[string]struct {
				Status string
				Detail map[string]any
			}
		}
		json.NewDecoder(resp.Body).Decode(&h)
		resp.Body.Close()
		if tlsH := h.Components["tls"]; tlsH.Status != "ok" || tlsH.Detail["mode"] != "self-signed" {
			t.Fatalf("healthz tls: %+v", tlsH)
		}
		return fp
	}
	first := start()
	if again := start(); again != first {
		t.Fatalf("fingerprint changed across restarts: %s, then %s", first, again)
	}
}
