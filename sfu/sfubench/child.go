package sfubench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync"
	"syscall"
	"time"

	"callbox/sfu"
	"callbox/sfu/sfuclient"

	"golang.org/x/sys/unix"
)

// childEnv marks the server process Run starts with Config.Isolate; its
// value is the CPU to pin to, or "-" for none.
const childEnv = "CALLBOX_SFUBENCH_CHILD"

// ProfileEnv, when set to a file name, makes the server process write a CPU
// profile of its whole life there (docs/performance.md). The relay's
// goroutine carries the label role=server; the SFU's do not, so
// "go tool pprof -tagignore role=server" shows the SFU alone.
const ProfileEnv = "CALLBOX_SFUBENCH_CPUPROFILE"

// IsChild reports whether this process is the server process of an
// isolated Run. A binary that runs isolated benchmarks calls, first thing
// in main (or TestMain): if sfubench.IsChild() { os.Exit(sfubench.ChildMain()) }
func IsChild() bool { return os.Getenv(childEnv) != "" }

// childMsg is one line of the parent/child protocol (JSON lines on the
// child's stdin and stdout).
type childMsg struct {
	Op      string           `json:"op"`
	Peer    int              `json:"peer,omitempty"`
	Name    string           `json:"name,omitempty"`
	Msg     json.RawMessage  `json:"msg,omitempty"`
	Err     string           `json:"err,omitempty"`
	Addrs   []netip.AddrPort `json:"addrs,omitempty"`
	Addr    netip.AddrPort   `json:"addr,omitzero"`
	SFUFwd  uint64           `json:"sfuFwd,omitempty"`
	RelFwd  uint64           `json:"relayFwd,omitempty"`
	SFUSys  uint64           `json:"sfuSys,omitempty"`
	RelSys  uint64           `json:"relaySys,omitempty"`
	CPU     time.Duration    `json:"cpu,omitempty"`
	Softirq time.Duration    `json:"softirq,omitempty"` // ksoftirqd of the pinned CPU
	SoftOK  bool             `json:"softOK,omitempty"`
	Mallocs uint64           `json:"mallocs,omitempty"`
	GCs     uint32           `json:"gcs,omitempty"`
}

// ChildMain serves an SFU and a relay to the parent Run over stdin and
// stdout until stdin closes, and returns the exit code.
func ChildMain() int {
	var softirq softirqClock
	softOK := false
	if cpu, err := strconv.Atoi(os.Getenv(childEnv)); err == nil {
		pinProcess(cpu)
		softirq, softOK = newSoftirqClock(cpu)
	}
	if name := os.Getenv(ProfileEnv); name != "" {
		f, err := os.Create(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, "sfubench child:", err)
			return 1
		}
		runtime.SetCPUProfileRate(500) // pprof's 100 Hz gives few samples at this load
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "sfubench child:", err)
			return 1
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := sfu.New(sfu.Config{ListenIP: "127.0.0.1", IncludeLoopback: true, TCPPort: -1})
	if err != nil {
		fmt.Fprintln(os.Stderr, "sfubench child:", err)
		return 1
	}
	runDone := make(chan struct{})
	go func() { defer close(runDone); _ = s.Run(ctx) }()
	var relay *relayServer
	defer func() {
		if relay != nil {
			relay.close()
		}
		cancel()
		<-runDone
		_ = s.Close()
	}()
	var wmu sync.Mutex
	enc := json.NewEncoder(os.Stdout)
	reply := func(m childMsg) {
		wmu.Lock()
		defer wmu.Unlock()
		_ = enc.Encode(m)
	}
	peers := map[int]*sfu.Peer{}
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var m childMsg
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			reply(childMsg{Op: "error", Err: err.Error()})
			continue
		}
		switch m.Op {
		case "join":
			id := m.Peer
			p, err := s.Join("bench", m.Name, func(msg json.RawMessage) { reply(childMsg{Op: "send", Peer: id, Msg: msg}) })
			if err == nil {
				peers[id] = p
			}
			reply(childMsg{Op: "joined", Peer: id, Err: errString(err)})
		case "msg":
			if p := peers[m.Peer]; p != nil {
				if err := p.Handle(m.Msg); err != nil {
					reply(childMsg{Op: "error", Peer: m.Peer, Err: err.Error()})
				}
			}
		case "relay":
			relay, err = startRelay(ctx, m.Addrs, false)
			r := childMsg{Op: "relay", Err: errString(err)}
			if err == nil {
				r.Addr = relay.addr()
			}
			reply(r)
		case "snap":
			var ru syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			st := s.Stats()
			r := childMsg{Op: "snap", SFUFwd: st.ForwardedPackets, SFUSys: st.UDPReadCalls + st.UDPWriteCalls,
				CPU: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), Mallocs: ms.Mallocs, GCs: ms.NumGC}
			if softOK {
				r.Softirq, r.SoftOK = softirq.read()
			}
			if relay != nil {
				r.RelFwd, r.RelSys = relay.forwarded.Load(), relay.syscalls.Load()
			}
			reply(r)
		}
	}
	return 0
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// pinProcess pins every thread of this process to cpu; threads created
// later inherit it from their creator.
func pinProcess(cpu int) {
	var set unix.CPUSet
	set.Set(cpu)
	setAffinity(&set)
}

func setAffinity(set *unix.CPUSet) {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return
	}
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			_ = unix.SchedSetaffinity(tid, set)
		}
	}
}

// child is the parent's end: a backend whose servers live in the child.
type child struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	wmu     sync.Mutex
	enc     *json.Encoder
	reqMu   sync.Mutex // one request awaiting its reply at a time
	replies chan childMsg
	done    chan struct{}

	mu      sync.Mutex
	clients map[int]*sfuclient.Client
	next    int
}

func startChild(ctx context.Context, pin int) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("sfubench: child: %w", err)
	}
	cmd := exec.CommandContext(ctx, exe)
	val := "-"
	if pin >= 0 {
		val = strconv.Itoa(pin)
	}
	cmd.Env = append(os.Environ(), childEnv+"="+val)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("sfubench: start child: %w", err)
	}
	c := &child{cmd: cmd, stdin: stdin, enc: json.NewEncoder(stdin), replies: make(chan childMsg, 1),
		done: make(chan struct{}), clients: map[int]*sfuclient.Client{}}
	go c.read(stdout) // ends when the child exits; close waits for it
	return c, nil
}

func (c *child) read(r io.Reader) {
	defer close(c.done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var m childMsg
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		switch m.Op {
		case "send":
			c.mu.Lock()
			cl := c.clients[m.Peer]
			c.mu.Unlock()
			if cl != nil {
				cl.Deliver(m.Msg)
			}
		case "error": // a refused client message; the bench's clients send none on purpose
		default:
			c.replies <- m
		}
	}
}

func (c *child) write(m childMsg) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.enc.Encode(m)
}

func (c *child) request(m childMsg) (childMsg, error) {
	c.reqMu.Lock()
	defer c.reqMu.Unlock()
	if err := c.write(m); err != nil {
		return childMsg{}, fmt.Errorf("sfubench: child: %w", err)
	}
	select {
	case r := <-c.replies:
		if r.Err != "" {
			return r, fmt.Errorf("sfubench: child %s: %s", m.Op, r.Err)
		}
		return r, nil
	case <-c.done:
		return childMsg{}, errors.New("sfubench: child exited")
	case <-time.After(10 * time.Second):
		return childMsg{}, fmt.Errorf("sfubench: child: no reply to %s", m.Op)
	}
}

// proxy forwards a client's messages to its peer in the child.
type proxy struct {
	c  *child
	id int
}

func (p proxy) Handle(m json.RawMessage) error {
	return p.c.write(childMsg{Op: "msg", Peer: p.id, Msg: m})
}

func (c *child) join(name string, cl *sfuclient.Client) (sfuclient.Handler, error) {
	c.mu.Lock()
	c.next++
	id := c.next
	c.clients[id] = cl
	c.mu.Unlock()
	if _, err := c.request(childMsg{Op: "join", Peer: id, Name: name}); err != nil {
		return nil, err
	}
	return proxy{c: c, id: id}, nil
}

func (c *child) startRelay(subs []netip.AddrPort) (netip.AddrPort, error) {
	r, err := c.request(childMsg{Op: "relay", Addrs: subs})
	return r.Addr, err
}

func (c *child) exact(string) bool { return true }

func (c *child) snap(string) (backendSnap, error) {
	r, err := c.request(childMsg{Op: "snap"})
	return backendSnap{sfuFwd: r.SFUFwd, relayFwd: r.RelFwd, sfuSys: r.SFUSys, relaySys: r.RelSys, cpu: r.CPU, mallocs: r.Mallocs, mallocsOK: true, gcs: r.GCs,
		softirq: r.Softirq, softirqOK: r.SoftOK}, err
}

func (c *child) close() {
	_ = c.stdin.Close() // the child cleans up and exits
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
	_ = c.cmd.Wait()
}
