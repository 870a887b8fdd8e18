// Package sfubench measures the SFU's forwarding cost on loopback:
// synthetic pion publishers send audio and video through a real sfu.Server
// to pion subscribers, interleaved with a minimal UDP fan-out relay as the
// baseline (perf-notes §4). It owns only its own load generators and must
// not reach into the SFU beyond its exported API.
//
// Everything runs in one process, so the server's CPU is separated from the
// load's with goroutine labels: every goroutine the SFU (or the relay)
// starts inherits pprof label role=server, and a CPU profile of each window
// gives the server's share of the process CPU (rusage).
package sfubench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"callbox/sfu"
	"callbox/sfu/sfuclient"

	"github.com/pion/rtp"
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
}

// Window is one measured window of one variant.
type Window struct {
	Variant      string  `json:"variant"` // "relay" or "sfu"
	Rep          int     `json:"rep"`
	Forwarded    uint64  `json:"forwarded"`
	Received     uint64  `json:"received"`
	Expected     uint64  `json:"expected"`
	Seconds      float64 `json:"seconds"`
	ProcessCPU   float64 `json:"processCpuSeconds"`
	Method       string  `json:"method"`      // how server CPU was measured: "thread-clock" or "profile"
	Samples      int     `json:"samples"`     // CPU profile samples in the window (profile method)
	ServerShare  float64 `json:"serverShare"` // server CPU / process CPU
	ServerCPU    float64 `json:"serverCpuSeconds"`
	FwdPerCPUSec float64 `json:"fwdPerCpuSecond"`
	Loss         float64 `json:"loss"`
	AllocsPerFwd float64 `json:"allocsPerFwd"` // whole process, load included
	GCs          uint32  `json:"gcs"`
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
	Profiled    bool     `json:"profiled"` // false: another CPU profile was running; server CPU = process CPU
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
	name      string
	active    atomic.Bool
	forwarded func() uint64
	received  func() uint64
	sent      atomic.Uint64
	// serverCPU, if set, measures the server's CPU exactly; otherwise its
	// share of a CPU profile is used.
	serverCPU func() (time.Duration, bool)
	// extraReceivers: receivers of each packet besides the subscribers.
	extraReceivers int
}

// Run sets up the relay and the SFU with their loads, then measures
// Reps windows of each, alternating, and reports.
func Run(ctx context.Context, cfg Config) (Result, error) {
	cfg.defaults()
	res := Result{Config: cfg, Publishers: cfg.Publishers, Subscribers: cfg.Subscribers}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup // pumps
	defer wg.Wait()
	defer cancel()

	rl, err := newRelay(ctx, cfg.Publishers, cfg.Subscribers, bufSize)
	if err != nil {
		return res, fmt.Errorf("sfubench: relay: %w", err)
	}
	defer rl.close()
	relayV := &variant{name: "relay", forwarded: rl.forwarded.Load, received: rl.received.Load, serverCPU: rl.cpu}
	video, audio := packetBytes(1100), packetBytes(160)
	startPumps(ctx, &wg, cfg, relayV, func(pub int, isVideo bool) error {
		if isVideo {
			return rl.send(pub, video)
		}
		return rl.send(pub, audio)
	})

	sv, err := newSFULoad(ctx, cfg)
	if err != nil {
		return res, err
	}
	defer sv.close()
	sfuV := &variant{name: "sfu", forwarded: func() uint64 { return sv.s.Stats().ForwardedPackets }, received: sv.received.Load,
		extraReceivers: cfg.Publishers - 1}
	startPumps(ctx, &wg, cfg, sfuV, sv.send)

	res.Profiled = true
	for rep := 1; rep <= cfg.Reps; rep++ {
		for _, v := range []*variant{relayV, sfuV} {
			w, profiled, err := measure(ctx, cfg, v, rep)
			if err != nil {
				return res, err
			}
			res.Profiled = res.Profiled && profiled
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
	at        time.Time
	cpu       time.Duration
	srvCPU    time.Duration
	srvOK     bool
	fwd, recv uint64
	sent      uint64
	mallocs   uint64
	gcs       uint32
}

func take(v *variant) snapshot {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	var srv time.Duration
	ok := false
	if v.serverCPU != nil {
		srv, ok = v.serverCPU()
	}
	return snapshot{
		srvCPU: srv, srvOK: ok,
		at:  time.Now(),
		cpu: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()),
		fwd: v.forwarded(), recv: v.received(), sent: v.sent.Load(),
		mallocs: ms.Mallocs, gcs: ms.NumGC,
	}
}

// measure runs one window of v: warm up, profile Duration, cool down.
func measure(ctx context.Context, cfg Config, v *variant, rep int) (Window, bool, error) {
	v.active.Store(true)
	defer v.active.Store(false)
	if err := pause(ctx, 500*time.Millisecond); err != nil {
		return Window{}, false, err
	}
	var prof bytes.Buffer
	if v.serverCPU == nil && cfg.ProfileHz != 100 {
		runtime.SetCPUProfileRate(cfg.ProfileHz) // before StartCPUProfile, which then keeps it
	}
	profiled := v.serverCPU == nil && pprof.StartCPUProfile(&prof) == nil
	a := take(v)
	err := pause(ctx, cfg.Duration)
	b := take(v)
	if profiled {
		pprof.StopCPUProfile()
	}
	if err != nil {
		return Window{}, false, err
	}
	// Let in-flight packets land before the next window starts.
	v.active.Store(false)
	if err := pause(ctx, 300*time.Millisecond); err != nil {
		return Window{}, false, err
	}
	w := Window{
		Variant: v.name, Rep: rep,
		Forwarded: b.fwd - a.fwd, Received: b.recv - a.recv,
		// Publishers share the room, so each also receives the others.
		Expected:   (b.sent - a.sent) * uint64(cfg.Subscribers+v.extraReceivers),
		Seconds:    b.at.Sub(a.at).Seconds(),
		ProcessCPU: (b.cpu - a.cpu).Seconds(),
		GCs:        b.gcs - a.gcs,
	}
	switch {
	case a.srvOK && b.srvOK:
		w.Method = "thread-clock"
		w.ServerCPU = (b.srvCPU - a.srvCPU).Seconds()
		if w.ProcessCPU > 0 {
			w.ServerShare = w.ServerCPU / w.ProcessCPU
		}
	case profiled:
		w.Method = "profile"
		byRole, n, err := labelCPU(prof.Bytes(), roleKey)
		if err != nil {
			return w, false, err
		}
		w.Samples = n
		var total int64
		for _, ns := range byRole {
			total += ns
		}
		if total > 0 {
			w.ServerShare = float64(byRole[roleServer]) / float64(total)
		}
		w.ServerCPU = w.ProcessCPU * w.ServerShare
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
		w.AllocsPerFwd = float64(b.mallocs-a.mallocs) / float64(w.Forwarded)
	}
	return w, w.Method != "process", nil
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

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func (r *Result) summarize() {
	var relay, sfuF, ratios, loss, allocs []float64
	byRep := map[int]map[string]float64{}
	for _, w := range r.Windows {
		if byRep[w.Rep] == nil {
			byRep[w.Rep] = map[string]float64{}
		}
		byRep[w.Rep][w.Variant] = w.FwdPerCPUSec
		if w.Variant == "relay" {
			relay = append(relay, w.FwdPerCPUSec)
		} else {
			sfuF = append(sfuF, w.FwdPerCPUSec)
			loss = append(loss, w.Loss)
			allocs = append(allocs, w.AllocsPerFwd)
		}
	}
	for _, m := range byRep {
		if m["relay"] > 0 {
			ratios = append(ratios, m["sfu"]/m["relay"])
		}
	}
	r.RelayFwd, r.SFUFwd, r.Ratio = median(relay), median(sfuF), median(ratios)
	r.SFULoss, r.SFUAllocs = median(loss), median(allocs)
	if len(ratios) > 0 {
		r.RatioMin, r.RatioMax = slices.Min(ratios), slices.Max(ratios)
	}
}

func (r *Result) write(w io.Writer, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	c := r.Config
	fmt.Fprintf(w, "sfubench: %d publisher(s) x %d subscriber(s); per publisher %d video (1,100 B) + %d audio (160 B) packets/s; %s windows, %d reps, interleaved\n",
		c.Publishers, c.Subscribers, c.VideoPPS, c.AudioPPS, c.Duration, c.Reps)
	fmt.Fprintf(w, "baseline: UDP relay, one read socket, one WriteToUDPAddrPort per packet per subscriber (no batching, no SRTP)\n")
	if !r.Profiled {
		fmt.Fprintf(w, "note: another CPU profile was active; server CPU = whole process CPU (load included)\n")
	}
	fmt.Fprintf(w, "server CPU: relay from its OS thread's CPU clock (goroutine locked to the thread); sfu as its share (pprof label role=server) of a CPU profile of the window times process CPU\n")
	fmt.Fprintf(w, "%-6s %3s %9s %9s %8s %8s %7s %11s %7s %10s %3s\n", "var", "rep", "fwd", "recv", "proc-cpu", "srv-cpu", "samples", "fwd/cpu-s", "loss", "allocs/fwd", "gc")
	for _, x := range r.Windows {
		fmt.Fprintf(w, "%-6s %3d %9d %9d %7.2fs %7.3fs %7d %11.0f %6.3f%% %10.3f %3d\n", x.Variant, x.Rep, x.Forwarded, x.Received,
			x.ProcessCPU, x.ServerCPU, x.Samples, x.FwdPerCPUSec, 100*x.Loss, x.AllocsPerFwd, x.GCs)
	}
	for _, x := range r.Windows {
		if x.Method == "profile" && x.Samples < 100 {
			fmt.Fprintf(w, "warning: %s window %d has only %d profile samples: the server CPU figure is noise; raise the load or the duration\n", x.Variant, x.Rep, x.Samples)
		}
	}
	_, err := fmt.Fprintf(w, "median fwd/CPU-s: relay %.0f, sfu %.0f; ratio sfu/relay %.2f [%.2f-%.2f]; sfu loss %.3f%%; allocs/fwd %.3f (whole process, load clients included)\n",
		r.RelayFwd, r.SFUFwd, r.Ratio, r.RatioMin, r.RatioMax, 100*r.SFULoss, r.SFUAllocs)
	return err
}

// sfuLoad is the SFU with its pion publishers and subscribers.
type sfuLoad struct {
	s        *sfu.Server
	runDone  chan struct{}
	cancel   context.CancelFunc
	clients  []*sfuclient.Client
	peers    []*sfu.Peer
	audio    []*sfuclient.Track
	video    []*sfuclient.Track
	pkts     [][2]*rtp.Packet // per publisher: audio, video template
	received atomic.Uint64
	wg       sync.WaitGroup
}

// labeled runs the SFU's side of every client message under role=server,
// so goroutines the SFU starts from there are counted as server CPU.
type labeled struct {
	ctx context.Context
	p   *sfu.Peer
}

func (l labeled) Handle(m json.RawMessage) (err error) {
	pprof.Do(l.ctx, pprof.Labels(roleKey, roleServer), func(context.Context) { err = l.p.Handle(m) })
	return err
}

func newSFULoad(ctx context.Context, cfg Config) (*sfuLoad, error) {
	l := &sfuLoad{runDone: make(chan struct{})}
	var err error
	pprof.Do(ctx, pprof.Labels(roleKey, roleServer), func(ctx context.Context) {
		l.s, err = sfu.New(sfu.Config{ListenIP: "127.0.0.1", IncludeLoopback: true, TCPPort: -1})
		if err != nil {
			return
		}
		runCtx, cancel := context.WithCancel(ctx)
		l.cancel = cancel
		go func() {
			defer close(l.runDone)
			_ = l.s.Run(runCtx)
		}()
	})
	if err != nil {
		return nil, fmt.Errorf("sfubench: sfu: %w", err)
	}
	if err := l.connect(ctx, cfg); err != nil {
		l.close()
		return nil, err
	}
	return l, nil
}

func (l *sfuLoad) join(ctx context.Context, name string) (*sfuclient.Client, error) {
	var c *sfuclient.Client
	var err error
	pprof.Do(ctx, pprof.Labels(roleKey, roleLoad), func(context.Context) {
		c, err = sfuclient.New(sfuclient.Config{NoNACK: true, Buffer: bufSize})
	})
	if err != nil {
		return nil, fmt.Errorf("sfubench: client: %w", err)
	}
	l.clients = append(l.clients, c)
	var p *sfu.Peer
	pprof.Do(ctx, pprof.Labels(roleKey, roleServer), func(context.Context) { p, err = l.s.Join("bench", name, c.Deliver) })
	if err != nil {
		return nil, fmt.Errorf("sfubench: join: %w", err)
	}
	l.peers = append(l.peers, p)
	pprof.Do(ctx, pprof.Labels(roleKey, roleLoad), func(ctx context.Context) { c.Start(labeled{ctx: ctx, p: p}) })
	return c, nil
}

func (l *sfuLoad) connect(ctx context.Context, cfg Config) error {
	for i := 0; i < cfg.Publishers; i++ {
		c, err := l.join(ctx, fmt.Sprintf("pub%d", i))
		if err != nil {
			return err
		}
		a, err := c.AddAudio()
		if err != nil {
			return err
		}
		v, err := c.AddVideo()
		if err != nil {
			return err
		}
		if err := c.Offer(false); err != nil {
			return err
		}
		l.audio, l.video = append(l.audio, a), append(l.video, v[0])
		ap := &rtp.Packet{Header: rtp.Header{Version: 2}, Payload: make([]byte, 160)}
		vp := &rtp.Packet{Header: rtp.Header{Version: 2}, Payload: make([]byte, 1100)}
		vp.Payload[0] = 0x10
		l.pkts = append(l.pkts, [2]*rtp.Packet{ap, vp})
	}
	waitCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	pubs := slices.Clone(l.clients)
	for i := 0; i < cfg.Subscribers; i++ {
		c, err := l.join(ctx, fmt.Sprintf("sub%d", i))
		if err != nil {
			return err
		}
		if err := l.await(waitCtx, c, 2*cfg.Publishers); err != nil {
			return fmt.Errorf("sfubench: subscriber %d: %w", i, err)
		}
	}
	for i, c := range pubs { // publishers receive each other too
		if err := l.await(waitCtx, c, 2*(cfg.Publishers-1)); err != nil {
			return fmt.Errorf("sfubench: publisher %d: %w", i, err)
		}
	}
	return nil
}

// await starts readers for want remote tracks of c, priming the
// publishers (tracks appear once media flows).
func (l *sfuLoad) await(ctx context.Context, c *sfuclient.Client, want int) error {
	{
		for got := 0; got < want; {
			for p := range l.pkts {
				_ = l.send(p, false)
				_ = l.send(p, true)
			}
			select {
			case r := <-c.Remotes():
				got++
				l.read(ctx, r)
			case err := <-c.Errors():
				return err
			case <-time.After(20 * time.Millisecond):
			case <-ctx.Done():
				return fmt.Errorf("got %d of %d tracks: %w", got, want, ctx.Err())
			}
		}
	}
	return nil
}

func (l *sfuLoad) read(ctx context.Context, r *sfuclient.Remote) {
	l.wg.Add(1)
	pprof.Do(ctx, pprof.Labels(roleKey, roleLoad), func(context.Context) {
		go func() {
			defer l.wg.Done()
			buf := make([]byte, 1500)
			for {
				if _, _, err := r.Track.Read(buf); err != nil {
					return
				}
				l.received.Add(1)
			}
		}()
	})
}

// send writes one packet of publisher pub. Only that publisher's pump
// calls it (after setup), so the template packets need no lock.
func (l *sfuLoad) send(pub int, video bool) error {
	p, t := l.pkts[pub][0], l.audio[pub]
	step := uint32(960)
	if video {
		p, t, step = l.pkts[pub][1], l.video[pub], 3000
	}
	p.SequenceNumber++
	p.Timestamp += step
	err := t.WritePacket(p)
	if errors.Is(err, context.Canceled) {
		return err
	}
	return err
}

func (l *sfuLoad) close() {
	for _, p := range l.peers {
		p.Leave()
	}
	for _, c := range l.clients {
		c.Close()
	}
	l.wg.Wait()
	if l.cancel != nil {
		l.cancel()
		<-l.runDone
	}
	_ = l.s.Close()
}
