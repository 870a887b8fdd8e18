package sfu

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pion/logging"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// maxPendingCandidates bounds the candidates queued before a remote
// description is set.
const maxPendingCandidates = 64

// Peer is one participant in a room: a publish PC (the client offers) and a
// subscribe PC (the SFU offers). Two PCs avoid renegotiation glare.
type Peer struct {
	s        *Server
	room     *room
	id       string // participant
	streamID string // msid stream id of everything it publishes
	log      *slog.Logger
	pub, sub *webrtc.PeerConnection
	toPub    rtcpWriter // pub; feedbackTick writes here (a recorder in tests)

	sendMu sync.Mutex
	send   func(json.RawMessage)

	wg sync.WaitGroup // reader and RTCP goroutines started from pion callbacks

	audioMuted, videoMuted atomic.Bool
	plis                   atomic.Uint64
	remb                   atomic.Uint64 // last REMB from the subscriber, bits/s
	q                      qualityState
	twcc                   twccState     // feedback to the publisher (feedback.go)
	rr                     reportClock   // receiver reports to the publisher; Run only
	cc                     subCC         // congestion control towards p as a subscriber (subcc.go)
	sendPath               atomic.Int32  // sendPending, sendFast or sendPion (fastsend.go)
	fastSend               *fastSender   // set before sendPath becomes sendFast
	sendOnce               sync.Once     // startSend's decision
	budgets                budgetLog     // the video budget of recent layer ticks; under selMu
	selMu                  sync.Mutex    // one layer selection at a time: a tick's, a view's (setLayer) or a cut's (stepDown)
	lastStepDown           atomic.Int64  // unix nanos of the last stepDown
	done                   chan struct{} // closed by Leave: stops probes

	mu         sync.Mutex
	closed     bool
	tracks     map[*webrtc.RTPReceiver]*pubTrack
	downs      map[*pubTrack]*downTrack
	offered    bool // a subscribe offer awaits its answer
	everOffer  bool
	needNeg    bool
	needICE    bool // the next subscribe offer restarts ICE
	pendingPub []webrtc.ICECandidateInit
	pendingSub []webrtc.ICECandidateInit
	pubCodecs  payloadTypes // of every publish offer taken (see payloadTypes)
	nextTrack  int
	dropped    Stats // counters of downTracks already removed
}

func newPeer(s *Server, r *room, participant string, id uint64, send func(json.RawMessage)) (*Peer, error) {
	p := &Peer{
		s: s, room: r, id: participant, streamID: "s" + strconv.FormatUint(id, 10), send: send,
		log:    s.log.With("room_id", r.name, "user_id", participant),
		tracks: make(map[*webrtc.RTPReceiver]*pubTrack),
		downs:  make(map[*pubTrack]*downTrack),
		done:   make(chan struct{}),
	}
	p.initSend()
	cfg := webrtc.Configuration{BundlePolicy: webrtc.BundlePolicyMaxBundle, RTCPMuxPolicy: webrtc.RTCPMuxPolicyRequire}
	var err error
	if p.pub, err = s.pubAPI(&p.twcc).NewPeerConnection(cfg); err != nil {
		return nil, fmt.Errorf("sfu: publish pc: %w", err)
	}
	if p.sub, err = s.subAPI.NewPeerConnection(cfg); err != nil {
		_ = p.pub.Close()
		return nil, fmt.Errorf("sfu: subscribe pc: %w", err)
	}
	p.toPub = p.pub
	p.pub.OnTrack(p.onTrack)
	p.pub.OnICECandidate(func(c *webrtc.ICECandidate) { p.sendCandidate(pcPublish, c) })
	p.sub.OnICECandidate(func(c *webrtc.ICECandidate) { p.sendCandidate(pcSubscribe, c) })
	p.sub.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateConnected {
			p.startSend()
			p.requestKeyframes()
		}
	})
	p.pub.OnICEConnectionStateChange(func(st webrtc.ICEConnectionState) {
		p.q.pubICE.Store(int32(st))
		p.log.Debug("publish ice state", "state", st.String())
	})
	p.sub.OnICEConnectionStateChange(func(st webrtc.ICEConnectionState) {
		p.q.subICE.Store(int32(st))
		p.log.Debug("subscribe ice state", "state", st.String())
		if st == webrtc.ICEConnectionStateConnected {
			p.mu.Lock()
			if p.needNeg {
				p.negotiateLocked()
			}
			p.mu.Unlock()
		}
	})
	return p, nil
}

// ID is the participant name given to Join.
func (p *Peer) ID() string { return p.id }

// emit delivers messages in order; send is never called concurrently.
func (p *Peer) emit(msgs ...json.RawMessage) {
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	for _, m := range msgs {
		p.send(m)
	}
}

func (p *Peer) sendCandidate(pc string, c *webrtc.ICECandidate) {
	if c == nil { // end of gathering: trickle needs no marker here
		return
	}
	p.emit(mustJSON(candidateMsg{Type: msgCandidate, PC: pc, Candidate: c.ToJSON()}))
}

// Handle processes one message from the client (docs/media.md). Errors are
// the client's fault (bad JSON, SDP or candidate) or ErrPeerLeft; the peer
// stays usable after any of them.
func (p *Peer) Handle(raw json.RawMessage) error {
	var m inMsg
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	switch m.Type {
	case msgPublishOffer:
		return p.publishOffer(m.SDP)
	case msgSubscribeAnswer:
		return p.subscribeAnswer(m.SDP)
	case msgCandidate:
		if m.Candidate == nil {
			return fmt.Errorf("%w: candidate missing", ErrBadMessage)
		}
		return p.addCandidate(m.PC, *m.Candidate)
	case msgRestart:
		return p.restart()
	case msgMute:
		if m.Muted == nil {
			return fmt.Errorf("%w: mute without muted", ErrBadMessage)
		}
		return p.mute(m.Kind, *m.Muted)
	case msgLayer:
		return p.setLayer(m.Track, m.MaxWidth, m.MaxHeight)
	}
	return fmt.Errorf("%w: unknown type %q", ErrBadMessage, m.Type)
}

func (p *Peer) publishOffer(sdp string) error {
	if sdp == "" {
		return fmt.Errorf("%w: empty sdp", ErrBadMessage)
	}
	if err := checkOffer(sdp, p.s.cfg.IncludeLoopback); err != nil {
		return fmt.Errorf("%w: publish offer: %v", ErrBadMessage, err)
	}
	if err := p.s.tryOffer(sdp); err != nil {
		return fmt.Errorf("%w: publish offer: %v", ErrBadMessage, err)
	}
	pts, err := payloadTypesOf(sdp)
	if err != nil {
		return fmt.Errorf("%w: publish offer: %v", ErrBadMessage, err)
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrPeerLeft
	}
	defer p.mu.Unlock()
	if err := p.pubCodecs.keeps(pts); err != nil {
		return fmt.Errorf("%w: publish offer: %v", ErrBadMessage, err)
	}
	if err := p.answerLocked(sdp); err != nil {
		return err
	}
	p.pubCodecs = p.pubCodecs.merge(pts)
	return nil
}

// payloadTypes maps, kind by kind ("audio", "video"), each payload type of
// a description's media to its codec ("vp8/90000"). Pion's media engine
// keeps every codec of every description a PC took (it negotiates several
// per kind), and refuses a description that gives one of those payload
// types another codec, but only after it has taken it halfway; so the
// SFU refuses those first: a client's offers keep their payload types,
// and an answer uses those of the SFU's offer (RFC 3264 §6.1, §8.3.2).
type payloadTypes map[string]map[uint8]string

func payloadTypesOf(desc string) (payloadTypes, error) {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(desc); err != nil {
		return nil, err
	}
	pts := payloadTypes{}
	for _, m := range d.MediaDescriptions {
		kind := strings.ToLower(m.MediaName.Media)
		if kind != "audio" && kind != "video" {
			continue
		}
		one := &sdp.SessionDescription{MediaDescriptions: []*sdp.MediaDescription{m}}
		for pt, c := range one.GetCodecMap() {
			if pts[kind] == nil {
				pts[kind] = map[uint8]string{}
			}
			codec := strings.ToLower(c.Name) + "/" + strconv.FormatUint(uint64(c.ClockRate), 10)
			if old, ok := pts[kind][pt]; ok && old != codec {
				return nil, fmt.Errorf("%s payload type %d is %s and %s", kind, pt, old, codec)
			}
			pts[kind][pt] = codec
		}
	}
	return pts, nil
}

// keeps says whether every payload type of pts that known has names the
// same codec there.
func (known payloadTypes) keeps(pts payloadTypes) error {
	for kind, m := range pts {
		for pt, codec := range m {
			if old, ok := known[kind][pt]; ok && old != codec {
				return fmt.Errorf("%s payload type %d was %s, now %s", kind, pt, old, codec)
			}
		}
	}
	return nil
}

// within says whether every payload type of pts is one of offer's, with
// the same codec.
func (pts payloadTypes) within(offer payloadTypes) error {
	for kind, m := range pts {
		for pt, codec := range m {
			if offer[kind][pt] != codec {
				return fmt.Errorf("%s payload type %d (%s) is not the offer's", kind, pt, codec)
			}
		}
	}
	return nil
}

// merge adds pts to known (a copy).
func (known payloadTypes) merge(pts payloadTypes) payloadTypes {
	out := payloadTypes{}
	for _, src := range []payloadTypes{known, pts} {
		for kind, m := range src {
			if out[kind] == nil {
				out[kind] = map[uint8]string{}
			}
			for pt, codec := range m {
				out[kind][pt] = codec
			}
		}
	}
	return out
}

// answerLocked applies the publisher's offer and sends our answer. sendMu
// is held from SetLocalDescription until the answer is out, so no
// candidate of the new description can overtake it.
func (p *Peer) answerLocked(sdp string) (err error) {
	defer func() {
		if st := p.pub.SignalingState(); err != nil && st != webrtc.SignalingStateStable {
			// An offer tryOffer let through and pion then took only
			// halfway: this client's publish PC refuses every later
			// offer, so the client must rejoin. Say so loudly.
			p.log.Error("publish offer refused halfway", "state", st.String(), "err", err)
		}
	}()
	if err := p.pub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return fmt.Errorf("%w: publish offer: %v", ErrBadMessage, err)
	}
	answer, err := p.pub.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("sfu: publish answer: %w", err)
	}
	p.sendMu.Lock()
	if err := p.pub.SetLocalDescription(answer); err != nil {
		p.sendMu.Unlock()
		return fmt.Errorf("sfu: publish answer: %w", err)
	}
	p.send(mustJSON(sdpMsg{Type: msgPublishAnswer, SDP: answer.SDP}))
	p.sendMu.Unlock()
	for _, c := range p.pendingPub {
		if err := p.pub.AddICECandidate(c); err != nil {
			p.log.Info("candidate ignored", "pc", pcPublish, "err", err)
		}
	}
	p.pendingPub = nil
	return nil
}

// tryOffer applies a publish offer to a throwaway PC of the publish API
// and answers it there, and reports what pion refused. Pion checks most of
// an offer (ICE credentials, DTLS fingerprint, payload types, header
// extensions, candidates) only after it has entered have-remote-offer, and
// v4 cannot leave that state again: a remote offer takes no rollback, so
// the publish PC would refuse every later offer of the client (FuzzHandle).
// An offer that fails here never reaches the peer's publish PC. The trial
// PC sets no local description, so it gathers nothing and sends nothing.
//
// The offer is applied twice, the second time as a renegotiation: pion's
// media engine parses every medium's header extensions only once it has
// negotiated that kind (a fresh one only where a codec matched), so the
// peer's publish PC checks more of a renegotiation than a fresh PC does
// of a first offer. What it checks against earlier offers (their payload
// types) the trial cannot know: payloadTypes does that.
func (s *Server) tryOffer(offer string) error {
	return s.trial(s.pubME, func(pc *webrtc.PeerConnection) error {
		for pass := range 2 {
			if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
				return err
			}
			answer, err := pc.CreateAnswer(nil)
			if err != nil {
				return fmt.Errorf("no answer: %w", err)
			}
			if pass == 0 {
				if err := pc.SetLocalDescription(answer); err != nil {
					return fmt.Errorf("no answer: %w", err)
				}
			}
		}
		return nil
	})
}

// tryAnswer is tryOffer for a subscribe answer. Pion takes an answer into
// stable before it checks most of it and cannot roll that back either: the
// subscribe PC's offer would stay answered by a bad answer, every later
// answer and restart refused, and no new subscribe offer sent. The trial
// PC offers no media (pion matches no medium of an answer to its offer)
// and has the subscribe PCs' media engine. Unlike tryOffer it can apply
// the answer only once (a second offer of the trial PC finds no
// transceiver for the answer's media), so what pion checks only on a
// renegotiation is checked by checkHeaderExtensions first.
func (s *Server) tryAnswer(answer string) error {
	if err := checkHeaderExtensions(answer); err != nil {
		return err
	}
	return s.trial(s.subME, func(pc *webrtc.PeerConnection) error {
		offer, err := pc.CreateOffer(nil)
		if err != nil {
			return fmt.Errorf("sfu: trial offer: %w", err)
		}
		if err := pc.SetLocalDescription(offer); err != nil {
			return fmt.Errorf("sfu: trial offer: %w", err)
		}
		return pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer})
	})
}

// checkHeaderExtensions parses every header extension (a=extmap) of every
// audio and video medium as pion does once it has negotiated that kind: a
// fresh PC skips those of a medium none of whose codecs it matched.
func checkHeaderExtensions(desc string) error {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(desc); err != nil {
		return err
	}
	for i, m := range d.MediaDescriptions {
		if !strings.EqualFold(m.MediaName.Media, "audio") && !strings.EqualFold(m.MediaName.Media, "video") {
			continue
		}
		for _, a := range m.Attributes {
			if a.Key == sdp.AttrKeyExtMap {
				var e sdp.ExtMap
				if err := e.Unmarshal(a.String()); err != nil {
					return fmt.Errorf("medium %d: %w", i, err)
				}
			}
		}
	}
	return nil
}

// trial runs f on a throwaway PC with media engine me (pion copies it)
// that uses no network: no ICE muxes, no interface to gather a candidate
// on.
func (s *Server) trial(me *webrtc.MediaEngine, f func(*webrtc.PeerConnection) error) error {
	se := s.pubSE // a copy: the trial must not touch the shared ICE muxes
	se.SetICEUDPMux(nil)
	se.SetICETCPMux(nil)
	se.SetInterfaceFilter(func(string) bool { return false })
	se.LoggerFactory = trialLogs{s.log}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{BundlePolicy: webrtc.BundlePolicyMaxBundle, RTCPMuxPolicy: webrtc.RTCPMuxPolicyRequire})
	if err != nil {
		return fmt.Errorf("sfu: trial pc: %w", err)
	}
	defer func() {
		// Graceful: the trial's goroutines are gone when it returns.
		if err := pc.GracefulClose(); err != nil {
			s.log.Warn("close trial pc", "err", err)
		}
	}()
	return f(pc)
}

// trialLogs puts a trial PC's pion warnings at Debug: they are about the
// offer tryOffer's error already reports, or the trial PC closing while it
// starts.
type trialLogs struct{ log *slog.Logger }

func (f trialLogs) NewLogger(scope string) logging.LeveledLogger {
	return quietWarnings{pionLogger(f.log, "trial "+scope)}
}

// checkOffer refuses what the SFU will not take in a publish offer even
// where pion would: ICE credentials or a DTLS fingerprint ("alg value")
// neither at session level nor in every medium, a medium without a mid or
// with another's, more than one track (msid) in a medium (pion takes that
// for Plan B), and a candidate that does not parse. Every candidate in the
// offer must also pass checkCandidate, as trickled ones do. Browsers'
// Unified Plan offers pass. What pion itself refuses, tryOffer finds.
func checkOffer(offer string, allowLoopback bool) error {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(offer); err != nil {
		return err
	}
	for _, key := range []string{"ice-ufrag", "ice-pwd", "fingerprint"} {
		var vals []string
		if v, ok := d.Attribute(key); ok {
			vals = append(vals, v)
		} else {
			for _, m := range d.MediaDescriptions {
				v, _ := m.Attribute(key)
				vals = append(vals, v)
			}
		}
		if len(vals) == 0 {
			return fmt.Errorf("no %s", key)
		}
		for _, v := range vals {
			if v == "" || key == "fingerprint" && len(strings.Split(v, " ")) != 2 {
				return fmt.Errorf("%s %.40q", key, v)
			}
		}
	}
	mids := map[string]bool{}
	for i, m := range d.MediaDescriptions {
		mid, _ := m.Attribute("mid")
		if mid == "" || mids[mid] {
			return fmt.Errorf("medium %d: mid %.20q missing or taken", i, mid)
		}
		mids[mid] = true
		msids := map[string]bool{}
		for _, a := range m.Attributes {
			switch a.Key {
			case "msid":
				msids[a.Value] = true
			case "ssrc":
				if _, msid, ok := strings.Cut(a.Value, " msid:"); ok {
					msids[msid] = true
				}
			case "candidate":
				if mdnsCandidate(a.Value) {
					// A browser that hides its addresses (no camera or
					// microphone permission) names its host candidates
					// <uuid>.local. pion, with mDNS off, skips them; the
					// SFU learns the address from the browser's checks.
					continue
				}
				if err := checkCandidate(webrtc.ICECandidateInit{Candidate: "candidate:" + a.Value}, allowLoopback); err != nil {
					return fmt.Errorf("medium %d: %w", i, err)
				}
			}
		}
		if len(msids) > 1 {
			return fmt.Errorf("medium %d: %d tracks", i, len(msids))
		}
	}
	return nil
}

// mdnsCandidate reports whether an SDP candidate value names its address
// with an mDNS host name (RFC 8445 §5.1.1.1's privacy form).
func mdnsCandidate(value string) bool {
	f := strings.Fields(value)
	return len(f) > 4 && strings.HasSuffix(strings.ToLower(f[4]), ".local")
}

// answerWantedLocked is nil while a subscribe offer awaits its answer.
func (p *Peer) answerWantedLocked() error {
	switch {
	case p.closed:
		return ErrPeerLeft
	case !p.offered:
		return ErrNotNegotiating
	}
	return nil
}

func (p *Peer) subscribeAnswer(sdp string) error {
	if sdp == "" {
		return fmt.Errorf("%w: empty sdp", ErrBadMessage)
	}
	p.mu.Lock()
	if err := p.answerWantedLocked(); err != nil {
		p.mu.Unlock()
		return err
	}
	var offer string
	if d := p.sub.PendingLocalDescription(); d != nil {
		offer = d.SDP
	}
	p.mu.Unlock()
	offerPTs, err := payloadTypesOf(offer)
	if err != nil {
		return fmt.Errorf("sfu: subscribe offer: %w", err)
	}
	answerPTs, err := payloadTypesOf(sdp)
	if err != nil {
		return fmt.Errorf("%w: subscribe answer: %v", ErrBadMessage, err)
	}
	if err := answerPTs.within(offerPTs); err != nil {
		return fmt.Errorf("%w: subscribe answer: %v", ErrBadMessage, err)
	}
	if err := p.s.tryAnswer(sdp); err != nil {
		return fmt.Errorf("%w: subscribe answer: %v", ErrBadMessage, err)
	}
	p.mu.Lock()
	if err := p.answerWantedLocked(); err != nil {
		p.mu.Unlock()
		return err
	}
	if err := p.sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		p.mu.Unlock()
		return fmt.Errorf("%w: subscribe answer: %v", ErrBadMessage, err)
	}
	p.offered = false
	for _, c := range p.pendingSub {
		if err := p.sub.AddICECandidate(c); err != nil {
			p.log.Info("candidate ignored", "pc", pcSubscribe, "err", err)
		}
	}
	p.pendingSub = nil
	if p.needNeg {
		p.negotiateLocked()
	}
	p.mu.Unlock()
	return nil
}

func (p *Peer) addCandidate(pc string, c webrtc.ICECandidateInit) error {
	if err := checkCandidate(c, p.s.cfg.IncludeLoopback); err != nil {
		p.log.Info("candidate refused", "pc", pc, "err", err)
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrPeerLeft
	}
	var conn *webrtc.PeerConnection
	var pending *[]webrtc.ICECandidateInit
	switch pc {
	case pcPublish:
		conn, pending = p.pub, &p.pendingPub
	case pcSubscribe:
		conn, pending = p.sub, &p.pendingSub
	default:
		return fmt.Errorf("%w: candidate for pc %q", ErrBadMessage, pc)
	}
	if conn.RemoteDescription() == nil || (pc == pcSubscribe && p.offered && conn.CurrentRemoteDescription() == nil) ||
		c.UsernameFragment != nil && *c.UsernameFragment != "" && *c.UsernameFragment != remoteUfrag(conn) {
		// No description yet, or the candidate belongs to the next one
		// (an ICE restart whose offer is still on its way): keep it.
		if len(*pending) >= maxPendingCandidates {
			return fmt.Errorf("%w: too many candidates before the description", ErrBadCandidate)
		}
		*pending = append(*pending, c)
		return nil
	}
	if err := conn.AddICECandidate(c); err != nil {
		return fmt.Errorf("%w: %v", ErrBadCandidate, err)
	}
	return nil
}

// restart answers the client's resume: a new subscribe offer with an ICE
// restart (the client re-offers publish with iceRestart on its side).
func (p *Peer) restart() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrPeerLeft
	}
	if !p.everOffer {
		p.mu.Unlock()
		return nil
	}
	if p.offered {
		// The outstanding offer may have been lost with the connection.
		if err := p.sub.SetLocalDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeRollback}); err != nil {
			p.mu.Unlock()
			return fmt.Errorf("sfu: rollback subscribe offer: %w", err)
		}
		p.offered = false
	}
	p.needICE = true
	p.negotiateLocked()
	p.mu.Unlock()
	return nil
}

// negotiateLocked makes and sends a new subscribe offer, preceded by the
// track map, unless one is outstanding; then it is made when the answer
// comes. sendMu is held across SetLocalDescription so that no candidate
// overtakes the offer. Called locked.
func (p *Peer) negotiateLocked() {
	if p.closed {
		return
	}
	if p.offered || p.everOffer && !p.needICE && !p.subConnected() {
		// A renegotiation before ICE has started on both sides makes a
		// pion answerer see changed credentials and restart ICE, so
		// later offers wait for the first connection.
		p.needNeg = true
		return
	}
	p.needNeg = false
	offer, err := p.sub.CreateOffer(&webrtc.OfferOptions{ICERestart: p.needICE})
	if err != nil {
		p.log.Error("subscribe offer", "err", err)
		return
	}
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	if err := p.sub.SetLocalDescription(offer); err != nil {
		p.log.Error("subscribe offer", "err", err)
		return
	}
	p.needICE = false
	p.offered, p.everOffer = true, true
	p.send(mustJSON(tracksMsg{Type: msgTracks, Tracks: p.trackInfosLocked()}))
	p.send(mustJSON(sdpMsg{Type: msgSubscribeOffer, SDP: offer.SDP}))
}

// requestKeyframes asks the publishers of everything p receives for a
// keyframe: pion drops writes until DTLS is up, so the keyframe asked for at
// Bind may never have reached p.
func (p *Peer) requestKeyframes() {
	p.mu.Lock()
	downs := make([]*downTrack, 0, len(p.downs))
	for _, d := range p.downs {
		downs = append(downs, d)
	}
	p.mu.Unlock()
	now := p.s.now()
	for _, d := range downs {
		d.t.requestKeyframe(d.curLayer(), now)
	}
}

// remoteUfrag is the ICE username fragment of conn's remote description.
func remoteUfrag(conn *webrtc.PeerConnection) string {
	d := conn.RemoteDescription()
	if d == nil {
		return ""
	}
	_, rest, ok := strings.Cut(d.SDP, "a=ice-ufrag:")
	if !ok {
		return ""
	}
	if i := strings.IndexAny(rest, "\r\n"); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

func (p *Peer) subConnected() bool {
	switch webrtc.ICEConnectionState(p.q.subICE.Load()) {
	case webrtc.ICEConnectionStateConnected, webrtc.ICEConnectionStateCompleted:
		return true
	}
	return false
}

func (p *Peer) trackInfosLocked() []TrackInfo {
	infos := []TrackInfo{}
	mids := make(map[*webrtc.RTPSender]string)
	for _, tr := range p.sub.GetTransceivers() {
		if s := tr.Sender(); s != nil {
			mids[s] = tr.Mid()
		}
	}
	for t, d := range p.downs {
		infos = append(infos, TrackInfo{
			Participant: t.peer.id, StreamID: d.streamID, TrackID: t.id,
			Mid: mids[d.sender], Kind: t.kind.String(), Simulcast: t.simulcast,
		})
	}
	return infos
}

// subscribe sends t to p (idempotent).
func (p *Peer) subscribe(t *pubTrack) {
	p.mu.Lock()
	if p.closed || p.downs[t] != nil || t.peer == p {
		p.mu.Unlock()
		return
	}
	d := newDownTrack(p, t)
	sender, err := p.sub.AddTrack(d)
	if err != nil {
		p.mu.Unlock()
		p.log.Error("subscribe", "track", t.id, "err", err)
		return
	}
	d.sender = sender
	if !t.addDown(d) {
		_ = p.sub.RemoveTrack(sender)
		p.mu.Unlock()
		return
	}
	p.downs[t] = d
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		d.rtcpLoop()
	}()
	p.negotiateLocked()
	p.mu.Unlock()
}

// unsubscribe stops sending t to p.
func (p *Peer) unsubscribe(t *pubTrack) {
	p.mu.Lock()
	d := p.downs[t]
	if p.closed || d == nil {
		p.mu.Unlock()
		return
	}
	delete(p.downs, t)
	t.removeDown(d)
	pk, oc, rs, ms := d.counters()
	p.dropped.ForwardedPackets += pk
	p.dropped.ForwardedBytes += oc
	p.dropped.Retransmitted += rs
	p.dropped.NACKMisses += ms
	p.dropped.LayerSwitches += d.layerSwitches()
	if err := p.sub.RemoveTrack(d.sender); err != nil {
		p.log.Warn("unsubscribe", "track", t.id, "err", err)
	}
	p.negotiateLocked()
	p.mu.Unlock()
}

// Leave tears down both PCs, unsubscribes the others from this peer's
// tracks and waits for the peer's goroutines. Safe to call twice.
func (p *Peer) Leave() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	close(p.done)
	var tracks []*pubTrack
	for _, t := range p.tracks {
		tracks = append(tracks, t)
	}
	var downs []*downTrack
	for _, d := range p.downs {
		downs = append(downs, d)
	}
	p.mu.Unlock()

	p.room.remove(p)
	for _, d := range downs {
		d.t.removeDown(d)
	}
	for _, t := range tracks {
		p.unpublish(t)
	}
	p.closePCs()
	p.wg.Wait()
	p.s.retire(p)
	p.s.dropRoomIfEmpty(p.room)
	p.log.Info("peer left")
}

func (p *Peer) closePCs() {
	err := errors.Join(p.pub.Close(), p.sub.Close())
	if err != nil {
		p.log.Warn("close peer connections", "err", err)
	}
}

func (p *Peer) addStats(st *Stats) {
	p.mu.Lock()
	downs := make([]*downTrack, 0, len(p.downs))
	for _, d := range p.downs {
		downs = append(downs, d)
	}
	st.Tracks += len(p.tracks)
	st.ForwardedPackets += p.dropped.ForwardedPackets
	st.ForwardedBytes += p.dropped.ForwardedBytes
	st.Retransmitted += p.dropped.Retransmitted
	st.NACKMisses += p.dropped.NACKMisses
	st.LayerSwitches += p.dropped.LayerSwitches
	p.mu.Unlock()
	for _, d := range downs {
		pk, oc, rs, ms := d.counters()
		st.ForwardedPackets += pk
		st.ForwardedBytes += oc
		st.Retransmitted += rs
		st.NACKMisses += ms
		st.LayerSwitches += d.layerSwitches()
	}
	st.PLIsSent += p.plis.Load()
}
