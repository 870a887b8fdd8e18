package sfubench

import (
	"context"
	"fmt"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"callbox/sfu/sfuclient"

	"github.com/pion/rtp"
)

// sfuLoad is the SFU's load: pion publishers (one audio and one video
// track each) and pion subscribers, all in one room of the backend's SFU.
type sfuLoad struct {
	be       backend
	clients  []*sfuclient.Client
	audio    []*sfuclient.Track
	video    []*sfuclient.Track
	pkts     [][2]*rtp.Packet // per publisher: audio, video template
	received atomic.Uint64
	wg       sync.WaitGroup
}

func newSFULoad(ctx context.Context, cfg Config, be backend) (*sfuLoad, error) {
	l := &sfuLoad{be: be}
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
		c, err = sfuclient.New(sfuclient.Config{NoNACK: true, Buffer: bufSize, TWCC: true})
	})
	if err != nil {
		return nil, fmt.Errorf("sfubench: client: %w", err)
	}
	l.clients = append(l.clients, c)
	h, err := l.be.join(name, c)
	if err != nil {
		return nil, fmt.Errorf("sfubench: join: %w", err)
	}
	pprof.Do(ctx, pprof.Labels(roleKey, roleLoad), func(context.Context) { c.Start(h) })
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
	waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
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
	return t.WritePacket(p)
}

// close closes the clients; their peers go when the backend closes.
func (l *sfuLoad) close() {
	for _, c := range l.clients {
		c.Close()
	}
	l.wg.Wait()
}
