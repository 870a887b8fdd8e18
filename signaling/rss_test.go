package signaling_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"callbox/appliance/callstore"
	"callbox/signaling"
	"callbox/signaling/usersig"
	"callbox/store"
)

// childEnv makes the test binary a bare signaling server (TestMain), so
// that a test can read that server's resident memory alone.
const childEnv = "CALLBOX_SIGNALING_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		if err := serveChild(dir); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// serveChild runs a signaling server with a real store in dir, prints
// "<addr> <sdkappid> <key>" and serves until stdin closes.
func serveChild(dir string) error {
	st, err := store.Open(filepath.Join(dir, "callbox.db"), store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	app, err := st.CreateApp("rss", time.Now())
	if err != nil {
		return err
	}
	cs := callstore.New(st, callstore.Options{})
	srv, err := signaling.New(signaling.Config{Committer: cs, Keys: cs.AppKey, WriteTimeout: time.Minute})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go http.Serve(ln, srv)
	fmt.Printf("%s %d %s\n", ln.Addr(), app.SDKAppID, app.Key)
	bufio.NewReader(os.Stdin).ReadByte() // until the parent closes stdin
	return nil
}

// vmRSS reads a process's resident set size in bytes.
func vmRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// TestJunkClientsRSS: eight clients that send 64 KiB junk frames and never
// read once took a server from 16 MB to about 1 GB in seconds (each error
// reply echoed its input, escaped up to 6x, into a queue bounded only in
// messages). The server's resident memory, measured in its own process,
// must grow by less than 64 MB with 8 such clients, 4 of them logged in.
func TestJunkClientsRSS(t *testing.T) {
	const bound = 64 << 20
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"="+t.TempDir())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	var addr, key string
	var app uint32
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	if _, err := fmt.Sscan(line, &addr, &app, &key); err != nil {
		t.Fatalf("child said %q: %v", line, err)
	}
	base := vmRSS(t, cmd.Process.Pid)

	ctx := ctxT(t)
	var wg sync.WaitGroup
	for i := range 8 {
		conn, _, err := websocket.Dial(ctx, "ws://"+addr+"/ws", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.CloseNow() })
		if i%2 == 1 {
			user := fmt.Sprintf("u%d", i)
			sig, err := usersig.Issue(app, key, user, time.Hour, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			login := fmt.Sprintf(`{"id":1,"type":"login","data":{"sdkappid":%d,"userID":%q,"userSig":%q}}`, app, user, sig)
			if err := conn.Write(ctx, websocket.MessageText, []byte(login)); err != nil {
				t.Fatal(err)
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Never read. Stop after 400 frames (25 MB) or when the
			// server drops the connection.
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			for n := range 400 {
				if conn.Write(wctx, websocket.MessageText, junkFrame(n+2)) != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	grew := vmRSS(t, cmd.Process.Pid) - base
	if grew > bound {
		t.Fatalf("server RSS grew by %d MB with 8 junk clients, bound %d MB", grew>>20, bound>>20)
	}
	t.Logf("server RSS grew by %.1f MB (bound %d MB)", float64(grew)/(1<<20), bound>>20)
}
