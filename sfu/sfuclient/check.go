package sfuclient

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// DefaultMaxLoss is the share of a stream's packets a StreamCheck lets
// arrive late (repaired) or not at all: on loopback nothing should be lost,
// and an SFU that drops one packet in ten must not pass (issue 17).
const DefaultMaxLoss = 0.01

// StreamCheck judges one received RTP stream by sequence number, as a
// player would: every payload is the one its sender sent under that number;
// packets come in order, except repairs (a packet this receiver NACKed, or
// after ExpectUpstreamRepairs one the SFU got back from the publisher); a
// stream this receiver repairs has no gap left; and no more than the
// share set by SetMaxLoss of it arrived late or never. It is fed by one reader (Add or Read) and waited on by
// others (Wait).
type StreamCheck struct {
	name   string
	expect func(seq uint16, payload []byte) error
	nacked func(seq uint16) bool // nil: this receiver asks for no repair

	mu         sync.Mutex
	maxLoss    float64 // SetMaxLoss
	upstream   bool    // ExpectUpstreamRepairs
	started    bool
	first, max int64          // extended sequence numbers
	got        map[int64]bool // arrived
	late       map[int64]bool // arrived after a higher one (repairs)
	err        error          // the first wrong payload, reordering or duplicate
	notify     chan struct{}
}

// NewStreamCheck checks a stream called name (for messages). expect says
// whether payload is what the sender sent under seq (see Payloads); nacked,
// if not nil, whether this receiver asked for seq again (a NACK), which
// makes the stream one whose gaps must all be repaired.
func NewStreamCheck(name string, expect func(seq uint16, payload []byte) error, nacked func(seq uint16) bool) *StreamCheck {
	return &StreamCheck{maxLoss: DefaultMaxLoss, name: name, expect: expect, nacked: nacked,
		got: map[int64]bool{}, late: map[int64]bool{}, notify: make(chan struct{}, 1)}
}

// Check returns a StreamCheck for a track this client receives; it knows
// which sequence numbers the client NACKed, if it NACKs this track at all
// (pion's NACK generator runs where the codec negotiated "nack": video).
func (c *Client) Check(r *Remote, expect func(seq uint16, payload []byte) error) *StreamCheck {
	var nacked func(uint16) bool
	if c.nacks != nil && hasNACK(r.Track.Codec()) {
		ssrc := uint32(r.Track.SSRC())
		nacked = func(seq uint16) bool { return c.nacks.asked(ssrc, seq) }
	}
	return NewStreamCheck(r.Participant+"/"+r.Kind, expect, nacked)
}

func hasNACK(c webrtc.RTPCodecParameters) bool {
	for _, fb := range c.RTCPFeedback {
		if fb.Type == "nack" && fb.Parameter == "" {
			return true
		}
	}
	return false
}

// Payloads makes an expect function for NewStreamCheck and Check from the
// payload the sender sends under each sequence number.
func Payloads(want func(seq uint16) []byte) func(uint16, []byte) error {
	return func(seq uint16, got []byte) error {
		if w := want(seq); !bytes.Equal(got, w) {
			return fmt.Errorf("payload %.60q, want %.60q", got, w)
		}
		return nil
	}
}

// SetMaxLoss sets the share of the judged packets that may arrive only by
// a repair or not at all (DefaultMaxLoss). It applies to the next Wait.
func (s *StreamCheck) SetMaxLoss(share float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maxLoss = share
}

// ExpectUpstreamRepairs makes s take repairs this receiver did not ask
// for: the SFU's NACKs to a publisher whose packets are lost on the way.
// Such a stream is repaired, so it must have no gap left either.
func (s *StreamCheck) ExpectUpstreamRepairs() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.upstream = true
}

// repaired reports whether s has gaps filled by repairs, and so must have
// none left. Called locked.
func (s *StreamCheck) repaired() bool { return s.nacked != nil || s.upstream }

// Add takes one packet as it arrives.
func (s *StreamCheck) Add(seq uint16, payload []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.wake()
	if s.err != nil {
		return
	}
	if err := s.expect(seq, payload); err != nil {
		s.err = fmt.Errorf("%s: seq %d: %w", s.name, seq, err)
		return
	}
	if !s.started {
		s.started, s.first, s.max = true, int64(seq), int64(seq)
		s.got[s.first] = true
		return
	}
	ext := s.max + int64(int16(seq-uint16(s.max)))
	asked := s.upstream || s.nacked != nil && s.nacked(seq)
	switch {
	case ext > s.max:
		s.max = ext
	case s.got[ext]:
		// A repair asked for twice may come twice; nothing else may.
		if !asked {
			s.err = fmt.Errorf("%s: seq %d arrived twice", s.name, seq)
		}
		return
	case !asked:
		s.err = fmt.Errorf("%s: seq %d arrived after %d without a NACK: out of order", s.name, seq, uint16(s.max))
		return
	case ext < s.first:
		// A repair of a packet sent before this receiver's first one
		// (lost upstream while its DTLS came up): outside the window,
		// whose earlier packets pion never delivered.
		return
	default:
		s.late[ext] = true
	}
	s.got[ext] = true
}

func (s *StreamCheck) wake() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// Span is the number of sequence numbers from the first to the highest
// received, for a test that waits for more (Wait(ctx, s.Span()+50)).
func (s *StreamCheck) Span() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		return 0
	}
	return int(s.max - s.first + 1)
}

// settledLocked reports whether the first n sequence numbers are settled:
// passed by, and in a repaired stream all there.
func (s *StreamCheck) settledLocked(n int) bool {
	if !s.started || s.max < s.first+int64(n)-1 {
		return false
	}
	if s.repaired() {
		for e := s.first; e < s.first+int64(n); e++ {
			if !s.got[e] {
				return false
			}
		}
	}
	return true
}

// verdictLocked judges the first n sequence numbers once settled.
func (s *StreamCheck) verdictLocked(n int) error {
	if s.err != nil {
		return s.err
	}
	late, missing := s.lossLocked(n)
	if lost := late + len(missing); float64(lost) > s.maxLoss*float64(n) {
		return fmt.Errorf("%s: %d of %d packets from seq %d lost (%d repaired late, %d never: %v), over %.1f %%",
			s.name, lost, n, uint16(s.first), late, len(missing), short(missing), 100*s.maxLoss)
	}
	return nil
}

// lossLocked counts the late arrivals and lists the missing sequence
// numbers among the first n.
func (s *StreamCheck) lossLocked(n int) (late int, missing []uint16) {
	for e := s.first; e < s.first+int64(n); e++ {
		switch {
		case !s.got[e]:
			missing = append(missing, uint16(e))
		case s.late[e]:
			late++
		}
	}
	return late, missing
}

func short(seqs []uint16) []uint16 {
	if len(seqs) > 20 {
		return seqs[:20]
	}
	return seqs
}

// Wait waits until the first n sequence numbers are settled and judges
// them; it returns at once on a wrong payload, a reordering or a
// duplicate, and describes what is missing if ctx ends first.
func (s *StreamCheck) Wait(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		err, done := s.err, s.settledLocked(n)
		if done {
			err = s.verdictLocked(n)
		}
		s.mu.Unlock()
		if err != nil || done {
			return err
		}
		select {
		case <-s.notify:
		case <-ctx.Done():
			return s.unsettled(n, ctx.Err())
		}
	}
}

// unsettled describes a window that did not settle.
func (s *StreamCheck) unsettled(n int, cause error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	if !s.started {
		return fmt.Errorf("%s: no packet (%w)", s.name, cause)
	}
	_, missing := s.lossLocked(min(n, int(s.max-s.first+1)))
	return fmt.Errorf("%s: %d packets wanted from seq %d, highest %d; %d missing: %v (%w)",
		s.name, n, uint16(s.first), uint16(s.max), len(missing), short(missing), cause)
}

// Read feeds s from track until the first n sequence numbers are settled
// (with n > 0; then it returns Wait's verdict), a check fails, or the read
// does: the PC closed, or ctx's deadline passed (Read sets it on track).
func (s *StreamCheck) Read(ctx context.Context, track *webrtc.TrackRemote, n int) error {
	if d, ok := ctx.Deadline(); ok {
		if err := track.SetReadDeadline(d); err != nil {
			return err
		}
	}
	buf := make([]byte, 1500)
	var p rtp.Packet
	for {
		k, _, err := track.Read(buf)
		if err != nil {
			return s.unsettled(n, err)
		}
		if err := p.Unmarshal(buf[:k]); err != nil {
			return fmt.Errorf("%s: unparsable packet: %w", s.name, err)
		}
		s.Add(p.SequenceNumber, p.Payload)
		s.mu.Lock()
		err, done := s.err, n > 0 && s.settledLocked(n)
		if done {
			err = s.verdictLocked(n)
		}
		s.mu.Unlock()
		if err != nil || done {
			return err
		}
	}
}

// nackLog records the sequence numbers the client's NACK generator asks
// for, per media SSRC, so that a StreamCheck can tell a repair from a
// reordering. It sits in front of the generator in the interceptor chain
// (added to the registry first), so it sees every NACK before it leaves.
type nackLog struct {
	interceptor.NoOp
	mu   sync.Mutex
	seqs map[uint32]map[uint16]bool
}

func newNACKLog() *nackLog { return &nackLog{seqs: map[uint32]map[uint16]bool{}} }

// NewInterceptor implements interceptor.Factory: both PCs share the log.
func (l *nackLog) NewInterceptor(string) (interceptor.Interceptor, error) { return l, nil }

// BindRTCPWriter implements interceptor.Interceptor.
func (l *nackLog) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	return interceptor.RTCPWriterFunc(func(pkts []rtcp.Packet, a interceptor.Attributes) (int, error) {
		for _, p := range pkts {
			if n, ok := p.(*rtcp.TransportLayerNack); ok {
				l.note(n)
			}
		}
		return w.Write(pkts, a)
	})
}

func (l *nackLog) note(n *rtcp.TransportLayerNack) {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := l.seqs[n.MediaSSRC]
	if m == nil {
		m = map[uint16]bool{}
		l.seqs[n.MediaSSRC] = m
	}
	for _, pair := range n.Nacks {
		for _, seq := range pair.PacketList() {
			m[seq] = true
		}
	}
}

func (l *nackLog) asked(ssrc uint32, seq uint16) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seqs[ssrc][seq]
}
