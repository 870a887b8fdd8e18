// Package sfubench measures the SFU's forwarding cost on loopback:
// synthetic pion publishers send audio and video through a real sfu.Server
// to pion subscribers, interleaved with a minimal UDP fan-out relay as the
// baseline (perf-notes §4). It owns only its own load generators and must
// not reach into the SFU beyond its exported API.
//
// With Config.Isolate (recommended) the SFU and the relay run in a child
// process, this same executable re-run with an environment variable, which
// main must hand over first thing:
//
//	if sfubench.IsChild() { os.Exit(sfubench.ChildMain()) }
//
// The child is pinned to CPU 0 and the load to CPU 1; the server's CPU is
// the child's rusage and its allocations the child's MemStats, both exact.
//
// Without Isolate everything runs in one process: the relay's CPU is its
// locked OS thread's clock, and the SFU's is its share (pprof label
// role=server, inherited by every goroutine it starts) of a CPU profile of
// the window. That is noisy at light load (timer-based samples) and makes
// the runtime print "cannot set cpu profile rate" once per window.
package sfubench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pion/rtp"
	"golang.org/x/sys/unix"
)

const (
	roleKey    = "role"
	roleServer = "server"
	roleLoad   = "load"
	bufSize    = 4 << 20
)

// Config sets the load. Zero values take the defaults in brackets.
type Config struct {
	Publishers  int           // [1] each sends one audio and one video track
	Subscribers int           // [2] each receives every publisher's tracks
	Duration    time.Duration // [5s] per measured window
	Out         io.Writer     // report; nil = none
	JSON        bool          // report as JSON instead of text
	Reps        int           // [3] windows per variant, interleaved
	VideoPPS    int           // [1000] video packets/s per publisher (1,100-byte payloads)
	AudioPPS    int           // [50] audio packets/s per publisher (160-byte payloads)
	// ProfileHz is the CPU profile sampling rate [250]. pprof's own rate
	// (100 Hz) gives too few samples at light load; any other rate makes
	// the runtime print "cannot set cpu profile rate" once per window.
	ProfileHz int
	// Isolate runs the SFU and the relay in a child process (this
	// executable, see IsChild), so their CPU (rusage) and allocations are
	// exact. Without it everything runs in this process.
	Isolate bool
	// NoPin keeps an isolated run from pinning the server to CPU 0 and the
	// load to CPU 1.
	NoPin bool
}

// Window is one measured window of one variant.
type Window struct {
	Variant    string  `json:"variant"` // "relay" or "sfu"
	Rep        int     `json:"rep"`
	Forwarded  uint64  `json:"forwarded"`
	Received   uint64  `json:"received"`
	Expected   uint64  `json:"expected"`
	Seconds    float64 `json:"seconds"`
	ProcessCPU float64 `json:"processCpuSeconds"`
	Method     string  `json:"method"`  // server CPU from: "child-rusage", "thread-clock" or "profile"
	Samples    int     `json:"samples"` // CPU profile samples in the window (profile method)
	// ServerCPU is the server process's CPU plus, when it is pinned,
	// SoftirqCPU: the time its CPU's ksoftirqd ran in the window.
	ServerCPU  float64 `json:"serverCpuSeconds"`
	SoftirqCPU float64 `json:"softirqCpuSeconds"`
	// BusyCPU is everything the server's CPU did in the window, whoever
	// for (/proc/stat, 10 ms ticks): about ServerCPU on a quiet machine,
	// more if other work ran there.
	BusyCPU      float64 `json:"busyCpuSeconds"`
	FwdPerCPUSec float64 `json:"fwdPerCpuSecond"`
	Loss         float64 `json:"loss"`
	AllocsPerFwd float64 `json:"allocsPerFwd"`
	// SyscallsPerFwd is the server's socket I/O calls (reads and writes
	// that moved data: recvfrom, recvmmsg, sendto, sendmmsg) per
	// forwarded packet; the runtime's epoll_wait and reads that found
	// nothing are not counted.
	SyscallsPerFwd float64 `json:"syscallsPerFwd"`
	// RcvbufErrors is the host's UDP receive buffer overflows in the
	// window (/proc/net/snmp, every socket): datagrams the kernel dropped,
	// as opposed to counts a window edge cut short.
	RcvbufErrors uint64 `json:"rcvbufErrors"`
	AllocScope   string `json:"allocScope"` // "server" (isolated) or "process" (load included)
	GCs          uint32 `json:"gcs"`
}

// Result holds every window and the medians.
type Result struct {
	Config      Config   `json:"-"`
	Windows     []Window `json:"windows"`
	RelayFwd    float64  `json:"relayFwdPerCpuSecond"` // medians
	SFUFwd      float64  `json:"sfuFwdPerCpuSecond"`
	Ratio       float64  `json:"ratio"` // median over reps of sfu/relay
	RatioMin    float64  `json:"ratioMin"`
	RatioMax    float64  `json:"ratioMax"`
	SFULoss     float64  `json:"sfuLoss"`
	SFUAllocs   float64  `json:"sfuAllocsPerFwd"`
	RelaySys    float64  `json:"relaySyscallsPerFwd"`
	SFUSys      float64  `json:"sfuSyscallsPerFwd"`
	Isolated    bool     `json:"isolated"`
	Pinned      bool     `json:"pinned"`
	Publishers  int      `json:"publishers"`
	Subscribers int      `json:"subscribers"`
}

func (c *Config) defaults() {
	if c.Publishers <= 0 {
		c.Publishers = 1
	}
	if c.Subscribers <= 0 {
		c.Subscribers = 2
	}
	if c.Duration <= 0 {
		c.Duration = 5 * time.Second
	}
	if c.Reps <= 0 {
		c.Reps = 3
	}
	if c.VideoPPS <= 0 {
		c.VideoPPS = 1000
	}
	if c.AudioPPS <= 0 {
		c.AudioPPS = 50
	}
	if c.ProfileHz <= 0 {
		c.ProfileHz = 250
	}
}

// variant is one thing under test: a pump that sends one tick's packets
// and counters.
type variant struct {
	name     string
	active   atomic.Bool
	received func() uint64
	sent     atomic.Uint64
	// extraReceivers: receivers of each packet besides the subscribers.
	extraReceivers int
}

// Run sets up the relay and the SFU with their loads, then measures
// Reps windows of each, alternating, and reports.
func Run(ctx context.Context, cfg Config) (res Result, err error) {
	cfg.defaults()
	res = Result{Config: cfg, Publishers: cfg.Publishers, Subscribers: cfg.Subscribers, Isolated: cfg.Isolate}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup // pumps
	defer wg.Wait()
	defer cancel()

	var be backend
	if cfg.Isolate {
		pin := -1
		if runtime.NumCPU() >= 2 && !cfg.NoPin {
			// Server on CPU 0, this process (the load) on CPU 1, as in
			// perf-notes §4; restored on return.
			var old unix.CPUSet
			if unix.SchedGetaffinity(0, &old) == nil {
				pin = 0
				var set unix.CPUSet
				set.Set(1)
				setAffinity(&set)
				defer setAffinity(&old)
				res.Pinned = true
			}
		}
		c, err := startChild(ctx, pin)
		if err != nil {
			return res, err
		}
		be = c
	} else {
		b, err := newInProcess(ctx)
		if err != nil {
			return res, err
		}
		be = b
	}
	defer be.close()

	rl, err := newRelayLoad(ctx, cfg.Subscribers)
	if err != nil {
		return res, fmt.Errorf("sfubench: relay load: %w", err)
	}
	defer rl.close()
	addr, err := be.startRelay(rl.subAddrs())
	if err != nil {
		return res, fmt.Errorf("sfubench: relay: %w", err)
	}
	if err := rl.dial(cfg.Publishers, addr); err != nil {
		return res, fmt.Errorf("sfubench: relay: %w", err)
	}
	relayV := &variant{name: "relay", received: rl.received.Load}
	video, audio := packetBytes(1100), packetBytes(160)
	startPumps(ctx, &wg, cfg, relayV, func(pub int, isVideo bool) error {
		if isVideo {
			return rl.send(pub, video)
		}
		return rl.send(pub, audio)
	})

	sv, err := newSFULoad(ctx, cfg, be)
	if err != nil {
		return res, err
	}
	defer sv.close()
	// Publishers share the room, so each also receives the others.
	sfuV := &variant{name: "sfu", received: sv.received.Load, extraReceivers: cfg.Publishers - 1}
	startPumps(ctx, &wg, cfg, sfuV, sv.send)

	for rep := 1; rep <= cfg.Reps; rep++ {
		for _, v := range []*variant{relayV, sfuV} {
			w, err := measure(ctx, cfg, be, v, rep)
			if err != nil {
				return res, err
			}
			res.Windows = append(res.Windows, w)
		}
	}
	res.summarize()
	if cfg.Out != nil {
		if err := res.write(cfg.Out, cfg.JSON); err != nil {
			return res, err
		}
	}
	return res, nil
}

func packetBytes(payload int) []byte {
	h := rtp.Header{Version: 2, PayloadType: 96, SSRC: 1}
	_ = h.SetExtension(1, []byte{0x30})
	b, _ := (&rtp.Packet{Header: h, Payload: make([]byte, payload)}).Marshal()
	return b
}

// startPumps starts one goroutine per publisher sending, while v is
// active, AudioPPS and VideoPPS packets per second in 10 ms ticks.
func startPumps(ctx context.Context, wg *sync.WaitGroup, cfg Config, v *variant, send func(pub int, video bool) error) {
	pprof.Do(ctx, pprof.Labels(roleKey, roleLoad), func(ctx context.Context) {
		for pub := 0; pub < cfg.Publishers; pub++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tick := time.NewTicker(10 * time.Millisecond)
				defer tick.Stop()
				var vDue, aDue float64
				for {
					select {
					case <-ctx.Done():
						return
					case <-tick.C:
					}
					if !v.active.Load() {
						continue
					}
					vDue += float64(cfg.VideoPPS) / 100
					aDue += float64(cfg.AudioPPS) / 100
					for ; aDue >= 1; aDue-- {
						if send(pub, false) == nil {
							v.sent.Add(1)
						}
					}
					for ; vDue >= 1; vDue-- {
						if send(pub, true) == nil {
							v.sent.Add(1)
						}
					}
				}
			}()
		}
	})
}

type snapshot struct {
	at      time.Time
	cpu     time.Duration // process
	be      backendSnap
	recv    uint64
	sent    uint64
	mallocs uint64 // process
	gcs     uint32
	rcvbuf  uint64 // host UDP RcvbufErrors
}

func take(be backend, v *variant) (snapshot, error) {
	bs, err := be.snap(v.name)
	if err != nil {
		return snapshot{}, err
	}
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return snapshot{
		at: time.Now(), cpu: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), be: bs,
		recv: v.received(), sent: v.sent.Load(), mallocs: ms.Mallocs, gcs: ms.NumGC, rcvbuf: udpRcvbufErrors(),
	}, nil
}

// udpRcvbufErrors reads the host's Udp RcvbufErrors counter (0 where
// /proc/net/snmp is missing).
func udpRcvbufErrors() uint64 {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return 0
	}
	var names []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "Udp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, n := range names {
			if n == "RcvbufErrors" && i < len(f) {
				v, _ := strconv.ParseUint(f[i], 10, 64)
				return v
			}
		}
	}
	return 0
}

// measure runs one window of v: warm up, measure Duration, cool down.
func measure(ctx context.Context, cfg Config, be backend, v *variant, rep int) (Window, error) {
	v.active.Store(true)
	defer v.active.Store(false)
	if err := pause(ctx, 500*time.Millisecond); err != nil {
		return Window{}, err
	}
	exact := be.exact(v.name)
	var prof bytes.Buffer
	if !exact && cfg.ProfileHz != 100 {
		runtime.SetCPUProfileRate(cfg.ProfileHz) // before StartCPUProfile, which then keeps it
	}
	profiled := !exact && pprof.StartCPUProfile(&prof) == nil
	a, errA := take(be, v)
	err := pause(ctx, cfg.Duration)
	b, errB := take(be, v)
	if profiled {
		pprof.StopCPUProfile()
	}
	if err = errors.Join(err, errA, errB); err != nil {
		return Window{}, err
	}
	// Let in-flight packets land before the next window starts.
	v.active.Store(false)
	if err := pause(ctx, 300*time.Millisecond); err != nil {
		return Window{}, err
	}
	fwd, sys := b.be.sfuFwd-a.be.sfuFwd, b.be.sfuSys-a.be.sfuSys
	if v.name == "relay" {
		fwd, sys = b.be.relayFwd-a.be.relayFwd, b.be.relaySys-a.be.relaySys
	}
	w := Window{
		Variant: v.name, Rep: rep, Forwarded: fwd, Received: b.recv - a.recv,
		Expected:     (b.sent - a.sent) * uint64(cfg.Subscribers+v.extraReceivers),
		Seconds:      b.at.Sub(a.at).Seconds(),
		ProcessCPU:   (b.cpu - a.cpu).Seconds(),
		GCs:          b.gcs - a.gcs,
		RcvbufErrors: b.rcvbuf - a.rcvbuf,
	}
	switch {
	case exact:
		w.Method = "thread-clock"
		if cfg.Isolate {
			w.Method = "child-rusage"
			w.GCs = b.be.gcs - a.be.gcs
		}
		w.ServerCPU = (b.be.cpu - a.be.cpu).Seconds()
		if a.be.softirqOK && b.be.softirqOK {
			w.SoftirqCPU = (b.be.softirq - a.be.softirq).Seconds()
			w.ServerCPU += w.SoftirqCPU
		}
	case profiled:
		w.Method = "profile"
		byRole, n, err := labelCPU(prof.Bytes(), roleKey)
		if err != nil {
			return w, err
		}
		w.Samples = n
		var total int64
		for _, ns := range byRole {
			total += ns
		}
		if total > 0 {
			w.ServerCPU = w.ProcessCPU * float64(byRole[roleServer]) / float64(total)
		}
	default:
		w.Method = "process"
		w.ServerCPU = w.ProcessCPU
	}
	if w.ServerCPU > 0 {
		w.FwdPerCPUSec = float64(w.Forwarded) / w.ServerCPU
	}
	if w.Expected > 0 && w.Received < w.Expected {
		w.Loss = 1 - float64(w.Received)/float64(w.Expected)
	}
	if w.Forwarded > 0 {
		w.SyscallsPerFwd = float64(sys) / float64(w.Forwarded)
		w.AllocScope = "process"
		m := b.mallocs - a.mallocs
		if b.be.mallocsOK {
			w.AllocScope, m = "server", b.be.mallocs-a.be.mallocs
		}
		w.AllocsPerFwd = float64(m) / float64(w.Forwarded)
	}
	return w, nil
}

func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
