package turn

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// These tests drive coturn's turnutils_uclient (Debian package coturn)
// against our server with spec §5 credentials.

func uclientPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("turnutils_uclient")
	if err != nil {
		t.Skip("turnutils_uclient not installed (apt-get install coturn); skipping TURN interop")
	}
	return p
}

var (
	uclientTotals = regexp.MustCompile(`tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\s*$`)
	uclientLost   = regexp.MustCompile(`Total lost packets (\d+)`)
)

// uclientResult is what a turnutils_uclient run reports at its end.
type uclientResult struct {
	sent, received, lost int
	output               string
}

// runUclient runs turnutils_uclient to completion and parses its totals.
func runUclient(ctx context.Context, path string, args ...string) (uclientResult, error) {
	out, err := exec.CommandContext(ctx, path, args...).CombinedOutput()
	r := uclientResult{sent: -1, received: -1, lost: -1, output: string(out)}
	for _, line := range strings.Split(r.output, "\n") {
		if m := uclientTotals.FindStringSubmatch(line); m != nil {
			r.sent, _ = strconv.Atoi(m[1])
			r.received, _ = strconv.Atoi(m[2])
		}
		if m := uclientLost.FindStringSubmatch(line); m != nil {
			r.lost, _ = strconv.Atoi(m[1])
		}
	}
	if err != nil {
		return r, fmt.Errorf("turnutils_uclient: %w", err)
	}
	if r.sent < 0 || r.lost < 0 {
		return r, errors.New("turnutils_uclient: no totals in its output")
	}
	return r, nil
}

func TestInteropUclient(t *testing.T) {
	path := uclientPath(t)
	s, _ := startServer(t, Config{AllowPeers: loopbackAllowed()})
	udp, _ := s.Addr()
	const msgs, clients = 20, 2
	tests := []struct {
		name string
		args []string
	}{
		// -l 101: odd lengths exercise ChannelData padding over TCP.
		{"udp", []string{"-l", "101"}},
		{"tcp", []string{"-t", "-l", "101"}},
		{"udp send indications", []string{"-s", "-l", "100"}},
		// -W: uclient computes the REST credentials from the secret itself.
		{"udp rest secret", []string{"-W", testSecret, "-l", "100"}},
	}
	// uclient paces itself (seconds per run whatever the load), so the runs
	// go concurrently rather than as t.Parallel subtests, which -parallel
	// (GOMAXPROCS) would batch.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	results := make([]uclientResult, len(tests))
	errs := make([]error, len(tests))
	var wg sync.WaitGroup
	for i, tt := range tests {
		peer := echoPeer(t)
		args := []string{"-p", strconv.Itoa(int(udp.Port())), "-e", "127.0.0.1", "-r", strconv.Itoa(peer.Port),
			"-n", strconv.Itoa(msgs), "-m", strconv.Itoa(clients), "-c", "-z", "5"}
		// One user per run: uclient exits without deallocating, so its
		// allocations live on until they expire, counting against the
		// user's quota.
		userID := "uclient-" + strings.ReplaceAll(tt.name, " ", "-")
		user, pass := creds(userID)
		if tt.args[0] == "-W" {
			args = append(args, "-u", userID)
		} else {
			args = append(args, "-u", user, "-w", pass)
		}
		args = append(append(args, tt.args...), "127.0.0.1")
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = runUclient(ctx, path, args...)
		}()
	}
	wg.Wait()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := results[i]
			if errs[i] != nil {
				t.Fatalf("%v\n%s", errs[i], r.output)
			}
			if r.sent != msgs*clients || r.received != r.sent || r.lost != 0 {
				t.Fatalf("sent %d received %d lost %d, want %d/%d/0\n%s", r.sent, r.received, r.lost,
					msgs*clients, msgs*clients, r.output)
			}
		})
	}
	st := s.Stats()
	if st.ToPeerPackets < uint64(len(tests)*msgs*clients) || st.FromPeerPackets < st.ToPeerPackets {
		t.Errorf("relay counters %+v", st)
	}
	if st.AuthRefused != 0 || st.QuotaRefused != 0 {
		t.Errorf("refusals: %+v", st)
	}
}

// With the default peer filter, uclient cannot relay to loopback or RFC 1918
// peers: no echo comes back and the server logs the refusal.
func TestInteropUclientPeerRefused(t *testing.T) {
	path := uclientPath(t)
	s, logs := startServer(t, Config{})
	udp, _ := s.Addr()
	for _, peer := range []string{"127.0.0.1", "10.0.0.1"} {
		t.Run(peer, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			user, pass := creds("uclient")
			r, _ := runUclient(ctx, path, "-p", strconv.Itoa(int(udp.Port())), "-e", peer, "-r", "3480",
				"-n", "5", "-m", "1", "-c", "-z", "5", "-u", user, "-w", pass, "127.0.0.1")
			if r.received > 0 {
				t.Fatalf("uclient got %d echoes through a refused peer\n%s", r.received, r.output)
			}
			wantLog(t, logs, "turn peer refused", "peer="+peer)
		})
	}
	if st := s.Stats(); st.ToPeerPackets != 0 || st.PeersRefused == 0 {
		t.Errorf("stats = %+v", st)
	}
}
