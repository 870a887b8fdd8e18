package sfubench

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
)

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func (r *Result) summarize() {
	var relay, sfuF, ratios, loss, allocs, relaySys, sfuSys []float64
	byRep := map[int]map[string]float64{}
	for _, w := range r.Windows {
		if byRep[w.Rep] == nil {
			byRep[w.Rep] = map[string]float64{}
		}
		byRep[w.Rep][w.Variant] = w.FwdPerCPUSec
		if w.Variant == "relay" {
			relay = append(relay, w.FwdPerCPUSec)
			relaySys = append(relaySys, w.SyscallsPerFwd)
		} else {
			sfuSys = append(sfuSys, w.SyscallsPerFwd)
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
	r.RelaySys, r.SFUSys = median(relaySys), median(sfuSys)
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
	if r.Isolated {
		pin := "unpinned"
		if r.Pinned {
			pin = "server pinned to CPU 0, load to CPU 1"
		}
		fmt.Fprintf(w, "server CPU: rusage of the server process (relay and SFU alternate in it; %s) plus its CPU's ksoftirqd (softirq); allocations: server process only\n", pin)
	} else {
		fmt.Fprintf(w, "server CPU (in-process): relay from its OS thread's CPU clock; sfu as its share (pprof label role=server) of a CPU profile of the window times process CPU; allocations: whole process, load clients included\n")
	}
	fmt.Fprintf(w, "%-6s %3s %9s %9s %8s %8s %8s %7s %11s %7s %10s %8s %3s %6s\n", "var", "rep", "fwd", "recv", "load-cpu", "srv-cpu", "softirq", "samples", "fwd/cpu-s", "loss", "allocs/fwd", "sys/fwd", "gc", "rcvbuf")
	for _, x := range r.Windows {
		fmt.Fprintf(w, "%-6s %3d %9d %9d %7.2fs %7.3fs %7.3fs %7d %11.0f %6.3f%% %10.3f %8.3f %3d %6d\n", x.Variant, x.Rep, x.Forwarded, x.Received,
			x.ProcessCPU, x.ServerCPU, x.SoftirqCPU, x.Samples, x.FwdPerCPUSec, 100*x.Loss, x.AllocsPerFwd, x.SyscallsPerFwd, x.GCs, x.RcvbufErrors)
	}
	for _, x := range r.Windows {
		if x.Method == "profile" && x.Samples < 100 {
			fmt.Fprintf(w, "warning: %s window %d has only %d profile samples: the server CPU figure is noise; raise the load or the duration\n", x.Variant, x.Rep, x.Samples)
		}
	}
	_, err := fmt.Fprintf(w, "median fwd/CPU-s: relay %.0f, sfu %.0f; ratio sfu/relay %.2f [%.2f-%.2f]; sfu loss %.3f%%; sfu allocs/fwd %.3f; syscalls/fwd: relay %.3f, sfu %.3f\n",
		r.RelayFwd, r.SFUFwd, r.Ratio, r.RatioMin, r.RatioMax, 100*r.SFULoss, r.SFUAllocs, r.RelaySys, r.SFUSys)
	return err
}
