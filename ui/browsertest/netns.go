package browsertest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// netnsPrefix names the namespaces (cbbt-PID) and veths (cbbtPIDh, cbbtPIDn)
// of a test process; the PID lets a later run remove what a killed one left.
const netnsPrefix = "cbbt"

// subnets is where each test process takes its /30: the host end is .1, the
// namespace end .2. The index comes from the PID, moved on past any /30
// that overlaps an address the host already has.
var subnets = netip.MustParsePrefix("10.213.0.0/16")

// netns is a network namespace joined to the host by a veth pair. Nothing
// else is routed into it: the namespace has no default route, so the browser
// inside reaches only the host end of the pair (and its own loopback).
type netns struct {
	name   string     // ip netns name
	hostIf string     // host end of the veth pair
	hostIP netip.Addr // on hostIf, where the test server listens
	nsIP   netip.Addr // on the namespace end, the browser's address
	nsIf   string     // namespace end of the veth pair

	proxyOnce sync.Once // the lossy proxy's address (loss.go)
	proxy     netip.Addr
	proxyErr  error
}

// newNetns creates the namespace and the veth pair of this process, and
// removes them again when a step fails.
func newNetns() (_ *netns, err error) {
	removeStale()
	pid := os.Getpid()
	n := &netns{
		name:   fmt.Sprintf("%s-%d", netnsPrefix, pid),
		hostIf: fmt.Sprintf("%s%dh", netnsPrefix, pid),
	}
	n.nsIf = fmt.Sprintf("%s%dn", netnsPrefix, pid)
	nsIf := n.nsIf
	p, err := pickSubnet(pid)
	if err != nil {
		return nil, err
	}
	n.hostIP = p.Addr().Next()
	n.nsIP = n.hostIP.Next()

	if err := ip("netns", "add", n.name); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			n.close()
		}
	}()
	host := netip.PrefixFrom(n.hostIP, p.Bits()).String()
	inner := netip.PrefixFrom(n.nsIP, p.Bits()).String()
	for _, args := range [][]string{
		{"link", "add", n.hostIf, "type", "veth", "peer", "name", nsIf, "netns", n.name},
		{"addr", "add", host, "dev", n.hostIf},
		{"link", "set", n.hostIf, "up"},
		{"-n", n.name, "link", "set", "lo", "up"},
		{"-n", n.name, "addr", "add", inner, "dev", nsIf},
		{"-n", n.name, "link", "set", nsIf, "up"},
	} {
		if err := ip(args...); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// close kills what still runs in the namespace (only this process's
// browser can) and waits up to 5 s for it to go, so that no browser
// outlives the test binary; then it deletes the veth pair and the
// namespace.
func (n *netns) close() error {
	for deadline := time.Now().Add(5 * time.Second); ; {
		pids := n.pids()
		if len(pids) == 0 || time.Now().After(deadline) {
			break
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return n.remove()
}

// pids lists the processes in the namespace.
func (n *netns) pids() []int {
	out, err := exec.Command("ip", "netns", "pids", n.name).Output()
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// remove deletes the veth pair and the namespace. Deleting the host end
// removes both ends at once; a namespace's own teardown is lazy.
func (n *netns) remove() error {
	var errs []error
	if _, err := net.InterfaceByName(n.hostIf); err == nil {
		errs = append(errs, ip("link", "del", n.hostIf))
	}
	errs = append(errs, ip("netns", "del", n.name))
	return errors.Join(errs...)
}

// pickSubnet returns a /30 of subnets chosen by pid that overlaps no
// address of the host's interfaces.
func pickSubnet(pid int) (netip.Prefix, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("list host addresses: %w", err)
	}
	var taken []netip.Prefix
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			taken = append(taken, p.Masked())
		}
	}
	n := 1 << (30 - subnets.Bits()) // /30s in subnets
	base := subnets.Addr().As4()
	for i := range n {
		k := (pid + i) % n
		a := base
		a[2] += byte(k >> 6)
		a[3] = byte(k&63) << 2
		p := netip.PrefixFrom(netip.AddrFrom4(a), 30)
		free := true
		for _, t := range taken {
			if t.Overlaps(p) {
				free = false
				break
			}
		}
		if free {
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("no free /30 in %s", subnets)
}

// removeStale deletes the namespaces and veths that test processes which
// no longer run left behind (a test binary killed by its timeout never
// reaches its cleanup).
func removeStale() {
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), netnsPrefix+"-")
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(rest)
		if err != nil || pid == os.Getpid() || syscall.Kill(pid, 0) != syscall.ESRCH {
			continue
		}
		n := &netns{name: e.Name(), hostIf: fmt.Sprintf("%s%dh", netnsPrefix, pid)}
		n.remove()
	}
}

// ip runs the ip(8) command; its error carries ip's own message.
func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// setLink sets the host end of the veth pair up or down. Down, the
// namespace end loses its carrier too, so the browser's packets go nowhere
// and the server's get "network unreachable", as when a cable is pulled.
func (n *netns) setLink(up bool) error {
	state := "down"
	if up {
		state = "up"
	}
	return ip("link", "set", n.hostIf, state)
}
