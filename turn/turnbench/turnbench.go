// Package turnbench measures the CPU cost of relaying through callbox's
// embedded TURN server against coturn, in the same run (these machines are
// noisy, so only the ratio means much).
//
// It owns one benchmark run: it starts coturn's turnutils_peer (an echo
// peer), our server in this process and a coturn turnserver process, drives
// each with turnutils_uclient at the same fixed load, and reports CPU seconds
// per relayed packet for both. It needs the Debian coturn package; it must
// not be imported by the serving path.
package turnbench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"syscall"
	"time"

	"callbox/turn"
)

// Defaults: 20 clients x 1000 packets of 160 bytes (an Opus frame), asked
// for every 1 ms, so each run relays 40 000 packets (20 000 each way) and
// per-run fixed costs (allocations, uclient start-up) stay small beside
// them. uclient paces itself well below the asked rate and idles for a few
// seconds around the send phase: a run takes about 8 s of wall time, so
// three interleaved repetitions of both servers take under a minute.
const (
	DefaultClients  = 20
	DefaultPackets  = 1000
	DefaultInterval = time.Millisecond
	DefaultSize     = 160
	DefaultReps     = 3
)

// benchSecret is the shared secret both servers check (spec §5 scheme).
const benchSecret = "turnbench"

// Config sets the fixed load. Zero values get the Default* constants.
type Config struct {
	Clients  int           // concurrent uclient sessions (-m), one allocation each
	Packets  int           // packets each client sends (-n)
	Interval time.Duration // per-client packet interval (-z, whole ms)
	Size     int           // payload bytes (-l)
	TCP      bool          // client-to-server over TCP (-t) instead of UDP
	Reps     int           // repetitions; each runs ours and coturn, in alternating order
	Out      io.Writer     // report destination; nil: none
	JSON     bool          // report as JSON instead of a table

	// Binaries; default: looked up in PATH.
	Uclient, Peer, Turnserver string
}

func (c Config) withDefaults() Config {
	if c.Clients <= 0 {
		c.Clients = DefaultClients
	}
	if c.Packets <= 0 {
		c.Packets = DefaultPackets
	}
	if c.Interval < time.Millisecond {
		c.Interval = DefaultInterval
	}
	if c.Size <= 0 {
		c.Size = DefaultSize
	}
	if c.Reps <= 0 {
		c.Reps = DefaultReps
	}
	if c.Uclient == "" {
		c.Uclient = "turnutils_uclient"
	}
	if c.Peer == "" {
		c.Peer = "turnutils_peer"
	}
	if c.Turnserver == "" {
		c.Turnserver = "turnserver"
	}
	return c
}

// Side is one server's figures.
type Side struct {
	Server      string  `json:"server"`
	Sent        int     `json:"sent"`       // packets the clients sent
	Received    int     `json:"received"`   // echoes the clients got back
	Lost        int     `json:"lost"`       // as uclient counts them
	Relayed     int     `json:"relayed"`    // sent + received: each crossed the relay once
	CPUSeconds  float64 `json:"cpuSeconds"` // user + sys
	UserSeconds float64 `json:"userSeconds"`
	SysSeconds  float64 `json:"sysSeconds"`
	// CPUPerPacket is CPU seconds per relayed packet.
	CPUPerPacket float64 `json:"cpuPerPacket"`
	WallSeconds  float64 `json:"wallSeconds"`
	// SyscallsPerPacket is the packet path's datagram I/O calls per
	// relayed packet (ours only; coturn's are not counted: 0).
	SyscallsPerPacket float64 `json:"syscallsPerPacket"`
}

// Rep is one repetition: both servers at the same load, back to back.
type Rep struct {
	Ours   Side `json:"ours"`
	Coturn Side `json:"coturn"`
	// Ratio is Ours.CPUPerPacket / Coturn.CPUPerPacket (target: <= 1).
	Ratio float64 `json:"ratio"`
}

// Result is a whole benchmark: the repetitions and their medians. Medians
// and spread, not means: one noisy neighbour on a shared core moves a single
// run a lot.
type Result struct {
	Clients   int     `json:"clients"`
	Packets   int     `json:"packets"`
	RatePPS   float64 `json:"ratePps"` // asked of uclient, all clients; it paces below this
	Size      int     `json:"size"`
	Transport string  `json:"transport"`
	Reps      []Rep   `json:"reps"`
	// Medians over Reps of CPU seconds per relayed packet.
	OursPerPacket   float64 `json:"oursCpuPerPacket"`
	CoturnPerPacket float64 `json:"coturnCpuPerPacket"`
	// Ratio is the median of the per-repetition ratios; RatioMin and
	// RatioMax their spread.
	Ratio    float64 `json:"ratio"`
	RatioMin float64 `json:"ratioMin"`
	RatioMax float64 `json:"ratioMax"`
	Lost     int     `json:"lost"` // over all runs of both servers
}

// ErrMissingTool means a coturn binary is not installed.
var ErrMissingTool = errors.New("coturn tools not installed (apt-get install coturn)")

// Run measures our server and coturn at the load cfg describes, cfg.Reps
// times, alternating which goes first so that drift in the machine's load
// does not favour one side.
func Run(ctx context.Context, cfg Config) (Result, error) {
	cfg = cfg.withDefaults()
	for _, p := range []*string{&cfg.Uclient, &cfg.Peer, &cfg.Turnserver} {
		path, err := exec.LookPath(*p)
		if err != nil {
			return Result{}, fmt.Errorf("%w: %s", ErrMissingTool, *p)
		}
		*p = path
	}
	res := Result{
		Clients: cfg.Clients, Packets: cfg.Packets, Size: cfg.Size, Transport: "udp",
		RatePPS: float64(cfg.Clients) * float64(time.Second) / float64(cfg.Interval.Truncate(time.Millisecond)),
	}
	if cfg.TCP {
		res.Transport = "tcp"
	}
	peer, stopPeer, err := startPeer(ctx, cfg.Peer)
	if err != nil {
		return res, err
	}
	defer stopPeer()

	for i := 0; i < cfg.Reps; i++ {
		var rep Rep
		runs := []func() error{
			func() (err error) { rep.Ours, err = runOurs(ctx, cfg, peer); return err },
			func() (err error) { rep.Coturn, err = runCoturn(ctx, cfg, peer); return err },
		}
		if i%2 == 1 {
			runs[0], runs[1] = runs[1], runs[0]
		}
		for _, run := range runs {
			if err := run(); err != nil {
				return res, err
			}
		}
		if rep.Coturn.CPUPerPacket > 0 {
			rep.Ratio = rep.Ours.CPUPerPacket / rep.Coturn.CPUPerPacket
		}
		res.Lost += rep.Ours.Lost + rep.Coturn.Lost
		res.Reps = append(res.Reps, rep)
	}
	res.summarise()
	if cfg.Out != nil {
		if err := report(cfg.Out, res, cfg.JSON); err != nil {
			return res, fmt.Errorf("write report: %w", err)
		}
	}
	return res, nil
}

// summarise fills the medians and the spread from Reps.
func (r *Result) summarise() {
	var ours, cot, ratios []float64
	for _, rep := range r.Reps {
		ours = append(ours, rep.Ours.CPUPerPacket)
		cot = append(cot, rep.Coturn.CPUPerPacket)
		ratios = append(ratios, rep.Ratio)
	}
	r.OursPerPacket, r.CoturnPerPacket, r.Ratio = median(ours), median(cot), median(ratios)
	if len(ratios) > 0 {
		r.RatioMin, r.RatioMax = slices.Min(ratios), slices.Max(ratios)
	}
}

// median of v (the mean of the middle two for an even count); 0 if empty.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// runOurs serves in this process, so the CPU it reports is this process's
// (RUSAGE_SELF) over the uclient run: the server plus the Go runtime, and
// nothing else, as the clients and the peer are child processes.
func runOurs(ctx context.Context, cfg Config, peer netip.AddrPort) (_ Side, err error) {
	s, err := turn.New(turn.Config{
		Secret:     benchSecret,
		ListenIP:   "127.0.0.1",
		AllowPeers: []netip.Prefix{netip.PrefixFrom(peer.Addr(), 32)},
		UserQuota:  4*cfg.Clients + 8, // uclient may hold more than one allocation per client
		Logger:     slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return Side{}, fmt.Errorf("start our turn server: %w", err)
	}
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- s.Run(runCtx) }()
	defer func() {
		stop()
		if rerr := <-ran; rerr != nil {
			err = errors.Join(err, fmt.Errorf("our turn server: %w", rerr))
		}
	}()
	udp, _ := s.Addr()
	before := s.Stats().PathSyscalls
	side, err := measure(ctx, "callbox", cfg, udp, peer, selfCPU)
	if side.Relayed > 0 {
		side.SyscallsPerPacket = float64(s.Stats().PathSyscalls-before) / float64(side.Relayed)
	}
	return side, err
}

// runCoturn runs turnserver with the equivalent configuration.
func runCoturn(ctx context.Context, cfg Config, peer netip.AddrPort) (Side, error) {
	port, err := freePort()
	if err != nil {
		return Side{}, err
	}
	cot, err := startCoturn(ctx, cfg.Turnserver, port, peer.Addr())
	if err != nil {
		return Side{}, err
	}
	defer cot.stop()
	return measure(ctx, "coturn", cfg, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)), peer,
		func() (cpuTime, error) { return procCPU(cot.cmd.Process.Pid) })
}

// measure runs uclient against server and takes cpu before and after.
func measure(ctx context.Context, name string, cfg Config, server, peer netip.AddrPort,
	cpu func() (cpuTime, error)) (Side, error) {
	side := Side{Server: name}
	user, pass := turn.Credentials(benchSecret, "bench", time.Now().Add(time.Hour))
	args := []string{
		"-p", fmt.Sprint(server.Port()), "-e", peer.Addr().String(), "-r", fmt.Sprint(peer.Port()),
		"-n", fmt.Sprint(cfg.Packets), "-m", fmt.Sprint(cfg.Clients), "-l", fmt.Sprint(cfg.Size),
		"-z", fmt.Sprint(cfg.Interval.Milliseconds()), "-c", "-u", user, "-w", pass,
	}
	if cfg.TCP {
		args = append(args, "-t")
	}
	args = append(args, server.Addr().String())
	before, err := cpu()
	if err != nil {
		return side, err
	}
	start := time.Now()
	out, err := exec.CommandContext(ctx, cfg.Uclient, args...).CombinedOutput()
	side.WallSeconds = time.Since(start).Seconds()
	after, cerr := cpu()
	if err != nil {
		return side, fmt.Errorf("turnutils_uclient against %s: %w\n%s", name, err, tail(out))
	}
	if cerr != nil {
		return side, cerr
	}
	tot, err := parseUclient(out)
	if err != nil {
		return side, fmt.Errorf("turnutils_uclient against %s: %w\n%s", name, err, tail(out))
	}
	side.Sent, side.Received, side.Lost = tot.sent, tot.received, tot.lost
	side.Relayed = tot.sent + tot.received
	side.UserSeconds = (after.user - before.user).Seconds()
	side.SysSeconds = (after.sys - before.sys).Seconds()
	side.CPUSeconds = side.UserSeconds + side.SysSeconds
	if side.Relayed > 0 {
		side.CPUPerPacket = side.CPUSeconds / float64(side.Relayed)
	}
	return side, nil
}

// selfCPU is this process's user and system time.
func selfCPU() (cpuTime, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return cpuTime{}, fmt.Errorf("getrusage: %w", err)
	}
	return cpuTime{user: time.Duration(ru.Utime.Nano()), sys: time.Duration(ru.Stime.Nano())}, nil
}

type cpuTime struct{ user, sys time.Duration }

func freePort() (int, error) {
	// A port free for UDP and TCP now; the window until coturn binds it is
	// short, and a clash fails the run loudly rather than skewing it.
	for i := 0; i < 20; i++ {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("find free port: %w", err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", port))
		pc.Close()
		if err == nil {
			ln.Close()
			return port, nil
		}
	}
	return 0, errors.New("find free port: none free for both udp and tcp")
}

func report(w io.Writer, r Result, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	_, err := fmt.Fprintf(w, "turn relay: %d clients x %d packets of %d B over %s, %.0f packets/s asked (uclient paces below)\n"+
		"%-4s %-8s %9s %6s %6s %7s %7s %7s %10s %9s\n", r.Clients, r.Packets, r.Size, r.Transport, r.RatePPS,
		"rep", "server", "relayed", "lost", "wall_s", "user_s", "sys_s", "cpu_s", "cpu_us/pkt", "sys/pkt")
	if err != nil {
		return err
	}
	for i, rep := range r.Reps {
		for _, s := range []Side{rep.Ours, rep.Coturn} {
			calls := "-"
			if s.SyscallsPerPacket > 0 {
				calls = fmt.Sprintf("%.2f", s.SyscallsPerPacket)
			}
			if _, err := fmt.Fprintf(w, "%-4d %-8s %9d %6d %6.1f %7.3f %7.3f %7.3f %10.2f %9s\n", i+1, s.Server, s.Relayed, s.Lost,
				s.WallSeconds, s.UserSeconds, s.SysSeconds, s.CPUSeconds, s.CPUPerPacket*1e6, calls); err != nil {
				return err
			}
		}
		if _, err := fmt.Fprintf(w, "%-4d ratio %.2f\n", i+1, rep.Ratio); err != nil {
			return err
		}
	}
	_, err = fmt.Fprintf(w, "median cpu_us/pkt: callbox %.2f, coturn %.2f; lost %d\n"+
		"ratio callbox/coturn cpu per packet: median %.2f, spread %.2f-%.2f over %d reps (target <= 1)\n",
		r.OursPerPacket*1e6, r.CoturnPerPacket*1e6, r.Lost, r.Ratio, r.RatioMin, r.RatioMax, len(r.Reps))
	return err
}

func tail(b []byte) []byte {
	if len(b) > 2000 {
		return b[len(b)-2000:]
	}
	return b
}
