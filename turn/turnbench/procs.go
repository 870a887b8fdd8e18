package turnbench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pion/stun/v3"
)

// startTimeout bounds how long a helper process may take to answer.
const startTimeout = 10 * time.Second

// userHZ is the unit of /proc/<pid>/stat times (USER_HZ, 100 on Linux).
const userHZ = 100

// child is a helper process we started and must stop.
type child struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when Wait returns
	dir  string        // removed on stop, if set
}

func startChild(name string, args []string, dir string) (*child, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", filepath.Base(name), err)
	}
	c := &child{cmd: cmd, done: make(chan struct{}), dir: dir}
	go func() {
		defer close(c.done)
		cmd.Wait()
	}()
	return c, nil
}

// stop asks the process to end, kills it if it lingers, and waits for it.
func (c *child) stop() {
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(3 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
	if c.dir != "" {
		os.RemoveAll(c.dir)
	}
}

// startPeer runs turnutils_peer, a UDP echo server, on 127.0.0.1.
func startPeer(ctx context.Context, path string) (netip.AddrPort, func(), error) {
	port, err := freePort()
	if err != nil {
		return netip.AddrPort{}, nil, err
	}
	c, err := startChild(path, []string{"-L", "127.0.0.1", "-p", strconv.Itoa(port)}, "")
	if err != nil {
		return netip.AddrPort{}, nil, err
	}
	addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
	ping := []byte("turnbench ping")
	if err := waitUDP(ctx, addr, ping, func(b []byte) bool { return bytes.Equal(b, ping) }); err != nil {
		c.stop()
		return addr, nil, fmt.Errorf("turnutils_peer not answering: %w", err)
	}
	return addr, c.stop, nil
}

// startCoturn runs turnserver on 127.0.0.1:port configured like our server
// in the benchmark: REST secret (use-auth-secret), one realm, UDP+TCP, no
// TLS/DTLS, no CLI, relaying to the peer only, its state in a temp dir.
func startCoturn(ctx context.Context, path string, port int, peer netip.Addr) (*child, error) {
	dir, err := os.MkdirTemp("", "turnbench-coturn-")
	if err != nil {
		return nil, fmt.Errorf("coturn dir: %w", err)
	}
	args := []string{
		"-n", // no config file
		"--listening-ip=127.0.0.1", "--listening-port=" + strconv.Itoa(port), "--relay-ip=127.0.0.1",
		"--use-auth-secret", "--static-auth-secret=" + benchSecret, "--realm=callbox",
		"--no-cli", "--no-tls", "--no-dtls", "--no-rfc5780", "--no-multicast-peers",
		"--allow-loopback-peers", "--allowed-peer-ip=" + peer.String(),
		"--user-quota=0", "--total-quota=0",
		"--db=" + filepath.Join(dir, "turndb"), "--pidfile=" + filepath.Join(dir, "turnserver.pid"),
		"--log-file=" + filepath.Join(dir, "turn.log"), "--simple-log", "--no-stdout-log",
	}
	c, err := startChild(path, args, dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
	addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
	if err := waitUDP(ctx, addr, req.Raw, stun.IsMessage); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "turn.log"))
		c.stop()
		return nil, fmt.Errorf("coturn not answering: %w\n%s", err, tail(log))
	}
	return c, nil
}

// waitUDP sends probe to addr until a reply passes ok, for up to
// startTimeout. Each try waits for the reply under a read deadline.
func waitUDP(ctx context.Context, addr netip.AddrPort, probe []byte, ok func([]byte) bool) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	conn, err := net.ListenUDP("udp4", nil)
	if err != nil {
		return err
	}
	defer conn.Close()
	buf := make([]byte, 1500)
	for ctx.Err() == nil {
		if _, err := conn.WriteToUDPAddrPort(probe, addr); err != nil {
			return err
		}
		conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if n, _, err := conn.ReadFromUDPAddrPort(buf); err == nil && ok(buf[:n]) {
			return nil
		}
	}
	return ctx.Err()
}

// procCPU returns a process's user and system time from /proc/<pid>/stat.
func procCPU(pid int) (cpuTime, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return cpuTime{}, fmt.Errorf("read cpu of %d: %w", pid, err)
	}
	// Fields after the parenthesised command name start at field 3 (state);
	// utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return cpuTime{}, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return cpuTime{}, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return cpuTime{}, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	return cpuTime{user: time.Duration(ut) * time.Second / userHZ, sys: time.Duration(st) * time.Second / userHZ}, nil
}

var (
	uclientTotals = regexp.MustCompile(`tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\s*$`)
	uclientLost   = regexp.MustCompile(`Total lost packets (\d+)`)
)

type uclientTotalsT struct{ sent, received, lost int }

// parseUclient reads the final totals turnutils_uclient prints.
func parseUclient(out []byte) (uclientTotalsT, error) {
	t := uclientTotalsT{-1, -1, -1}
	for _, line := range strings.Split(string(out), "\n") {
		if m := uclientTotals.FindStringSubmatch(line); m != nil {
			t.sent, _ = strconv.Atoi(m[1])
			t.received, _ = strconv.Atoi(m[2])
		}
		if m := uclientLost.FindStringSubmatch(line); m != nil {
			t.lost, _ = strconv.Atoi(m[1])
		}
	}
	if t.sent < 0 || t.lost < 0 {
		return t, errors.New("no totals in turnutils_uclient output")
	}
	return t, nil
}
