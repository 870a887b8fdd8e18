// Package sfuclient is a small pion client of the SFU's media messages
// (docs/media.md), used by the sfu tests and sfubench. It plays the role the
// browser SDK plays in production: a publish PC it offers, a subscribe PC the
// SFU offers. It owns nothing of the SFU and must not reach into it: it talks
// to a Handler (an *sfu.Peer) and receives messages through Deliver.
package sfuclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Handler receives the client's messages (an *sfu.Peer).
type Handler interface{ Handle(json.RawMessage) error }

// Config configures a Client.
type Config struct {
	// DropEvery > 0 drops every n-th incoming RTP datagram of the subscribe
	// PC on the wire, to exercise NACK recovery.
	DropEvery int
	// DropSentEvery > 0 drops every n-th outgoing RTP datagram of the
	// publish PC, to exercise the SFU's NACKs to publishers.
	DropSentEvery int
	// NoNACK disables the client's NACK generator/responder.
	NoNACK bool
	// Buffer is the UDP socket buffer size for the client's sockets.
	Buffer int
	// ICEServers are STUN/TURN servers for both PCs (from the login
	// reply); with RelayOnly the client uses TURN relay candidates only
	// (ICETransportPolicy "relay"), as a client behind a strict firewall.
	ICEServers []webrtc.ICEServer
	RelayOnly  bool
	// TCPOnly makes the client use ICE-TCP only (active candidates toward
	// the SFU's passive ones), as a client whose network blocks UDP.
	TCPOnly bool
	// TWCC negotiates transport-wide-cc on both PCs, and the subscribe PC
	// sends transport-cc feedback (pion's interceptor) as a browser does,
	// so the SFU estimates the bandwidth towards this client.
	TWCC bool
}

// Event is an SFU media event ({"type":"event"}).
type Event struct {
	Name string          `json:"event"`
	Data json.RawMessage `json:"data"`
}

// Remote is a track received on the subscribe PC.
type Remote struct {
	Participant string
	Kind        string
	TrackID     string // for {"type":"layer","track":...}
	Track       *webrtc.TrackRemote
}

// Client is one participant.
type Client struct {
	Pub, Sub *webrtc.PeerConnection
	h        Handler
	in       chan json.RawMessage
	events   chan Event
	layers   chan Layers
	remotes  chan *Remote
	errs     chan error
	muxes    []ice.UDPMux
	nacks    *nackLog // the NACKs the client sent; nil with NoNACK
	conns    []net.PacketConn
	wg       sync.WaitGroup
	cancel   context.CancelFunc

	offerMu sync.Mutex // held from SetLocalDescription until the offer is sent
	mu      sync.Mutex
	byMsid  map[string]string // stream id -> participant
	byMid   map[string]string // mid -> participant, from the last tracks message
	closed  bool
}

// New creates the two PCs. Call Start once the Handler exists.
func New(cfg Config) (*Client, error) {
	c := &Client{
		in:      make(chan json.RawMessage, 4096),
		events:  make(chan Event, 4096),
		layers:  make(chan Layers, 64),
		remotes: make(chan *Remote, 64),
		errs:    make(chan error, 16),
		byMsid:  make(map[string]string),
	}
	if !cfg.NoNACK {
		c.nacks = newNACKLog()
	}
	var err error
	if c.Pub, err = c.newPC(cfg, 0, cfg.DropSentEvery, false); err != nil {
		return nil, err
	}
	if c.Sub, err = c.newPC(cfg, cfg.DropEvery, 0, cfg.TWCC); err != nil {
		c.Close()
		return nil, err
	}
	c.Sub.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		c.mu.Lock()
		who := c.byMsid[tr.StreamID()]
		c.mu.Unlock()
		c.remotes <- &Remote{Participant: who, Kind: tr.Kind().String(), TrackID: tr.ID(), Track: tr}
	})
	return c, nil
}

func (c *Client) newPC(cfg Config, dropEvery, dropSentEvery int, twccFeedback bool) (*webrtc.PeerConnection, error) {
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: "urn:ietf:params:rtp-hdrext:ssrc-audio-level"}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	if err := webrtc.ConfigureSimulcastExtensionHeaders(me); err != nil {
		return nil, err
	}
	reg := &interceptor.Registry{}
	if !cfg.NoNACK {
		reg.Add(c.nacks) // first: it must see the generator's NACKs (StreamCheck)
		if err := webrtc.ConfigureNack(me, reg); err != nil {
			return nil, err
		}
	}
	if twccFeedback {
		if err := webrtc.ConfigureTWCCSender(me, reg); err != nil {
			return nil, err
		}
	}
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	// The SFU resends NACKed packets on the original SSRC; pion's default
	// replay window (64) would refuse ones that come back later than 64
	// packets. Browsers keep a larger window.
	se.SetSRTPReplayProtectionWindow(512)
	if cfg.TCPOnly {
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeTCP4})
		return c.newAPIPC(cfg, me, reg, se)
	}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	// One mux per PC (never shared: the SFU would see one 5-tuple).
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	if cfg.Buffer > 0 {
		_ = udp.SetReadBuffer(cfg.Buffer)
		_ = udp.SetWriteBuffer(cfg.Buffer)
	}
	var pc net.PacketConn = udp
	if dropEvery > 0 || dropSentEvery > 0 {
		pc = &lossy{PacketConn: udp, every: dropEvery, everySent: dropSentEvery}
	}
	mux := ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: pc})
	c.muxes = append(c.muxes, mux)
	c.conns = append(c.conns, udp)
	se.SetICEUDPMux(mux)
	return c.newAPIPC(cfg, me, reg, se)
}

func (c *Client) newAPIPC(cfg Config, me *webrtc.MediaEngine, reg *interceptor.Registry, se webrtc.SettingEngine) (*webrtc.PeerConnection, error) {
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se))
	pcCfg := webrtc.Configuration{BundlePolicy: webrtc.BundlePolicyMaxBundle, ICEServers: cfg.ICEServers}
	if cfg.RelayOnly {
		pcCfg.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	return api.NewPeerConnection(pcCfg)
}

// lossy drops every n-th RTP datagram it reads, and every m-th it writes
// (not RTCP, STUN or DTLS).
type lossy struct {
	net.PacketConn
	every, n         int
	everySent, nSent int
	mu               sync.Mutex
}

func isRTP(b []byte) bool {
	return len(b) >= 2 && b[0]&0xc0 == 0x80 && (b[1] < 192 || b[1] > 223)
}

func (l *lossy) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := l.PacketConn.ReadFrom(b)
		if err != nil || l.every == 0 || !isRTP(b[:n]) {
			return n, addr, err
		}
		l.n++
		if l.n%l.every != 0 {
			return n, addr, err
		}
	}
}

func (l *lossy) WriteTo(b []byte, addr net.Addr) (int, error) {
	if l.everySent > 0 && isRTP(b) {
		l.mu.Lock()
		l.nSent++
		drop := l.nSent%l.everySent == 0
		l.mu.Unlock()
		if drop {
			return len(b), nil
		}
	}
	return l.PacketConn.WriteTo(b, addr)
}

// Deliver is the send function to give Join: it queues the SFU's message.
func (c *Client) Deliver(msg json.RawMessage) {
	select {
	case c.in <- append(json.RawMessage(nil), msg...):
	default:
		c.fail(errors.New("sfuclient: inbox full"))
	}
}

func (c *Client) fail(err error) {
	select {
	case c.errs <- err:
	default:
	}
}

// ParticipantByMid maps a subscribe transceiver's mid to its participant,
// from the last "tracks" message.
func (c *Client) ParticipantByMid(mid string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byMid[mid]
}

// Errors reports asynchronous failures (bad SDP from the SFU, ...).
func (c *Client) Errors() <-chan error { return c.errs }

// Layers is the SFU's "layers" message: the simulcast encodings (rids)
// of the publish transceiver Mid that somebody watches.
type Layers struct {
	Mid  string   `json:"mid"`
	RIDs []string `json:"rids"`
}

// Layers delivers the SFU's "layers" messages in order (the client does
// not act on them: pion cannot pause an encoding).
func (c *Client) Layers() <-chan Layers { return c.layers }

// Events delivers media events in order.
func (c *Client) Events() <-chan Event { return c.events }

// Remotes delivers tracks received from the SFU.
func (c *Client) Remotes() <-chan *Remote { return c.remotes }

// Start connects the client to h and starts processing the SFU's messages.
func (c *Client) Start(h Handler) {
	c.h = h
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.Pub.OnICECandidate(func(ca *webrtc.ICECandidate) { c.candidate("publish", ca) })
	c.Sub.OnICECandidate(func(ca *webrtc.ICECandidate) { c.candidate("subscribe", ca) })
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case m := <-c.in:
				if err := c.handle(m); err != nil {
					c.fail(err)
				}
			}
		}
	}()
}

func (c *Client) candidate(pc string, ca *webrtc.ICECandidate) {
	if ca == nil {
		return
	}
	// A candidate of a new description must not overtake its offer.
	c.offerMu.Lock()
	defer c.offerMu.Unlock()
	// As a browser's RTCIceCandidate.toJSON(), name the ICE generation
	// (pion leaves usernameFragment out), so that a candidate that
	// overtakes its answer after an ICE restart is kept for the next
	// description, not tried against the old one.
	init := ca.ToJSON()
	if ic, err := ca.ToICE(); err == nil {
		if ext, ok := ic.GetExtension("ufrag"); ok && ext.Value != "" {
			init.UsernameFragment = &ext.Value
		}
	}
	b, _ := json.Marshal(map[string]any{"type": "candidate", "pc": pc, "candidate": init})
	if err := c.h.Handle(b); err != nil {
		c.fail(fmt.Errorf("sfuclient: candidate: %w", err))
	}
}

func (c *Client) handle(raw json.RawMessage) error {
	var m struct {
		Type      string                   `json:"type"`
		SDP       string                   `json:"sdp"`
		PC        string                   `json:"pc"`
		Candidate *webrtc.ICECandidateInit `json:"candidate"`
		Tracks    []struct {
			Participant string `json:"participant"`
			StreamID    string `json:"streamId"`
			Mid         string `json:"mid"`
		} `json:"tracks"`
		Event string          `json:"event"`
		Data  json.RawMessage `json:"data"`
		Mid   string          `json:"mid"`
		RIDs  []string        `json:"rids"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return err
	}
	switch m.Type {
	case "publish-answer":
		return c.Pub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP})
	case "subscribe-offer":
		if err := c.Sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: m.SDP}); err != nil {
			return err
		}
		ans, err := c.Sub.CreateAnswer(nil)
		if err != nil {
			return err
		}
		if err := c.Sub.SetLocalDescription(ans); err != nil {
			return err
		}
		b, _ := json.Marshal(map[string]string{"type": "subscribe-answer", "sdp": ans.SDP})
		return c.h.Handle(b)
	case "candidate":
		pc := c.Pub
		if m.PC == "subscribe" {
			pc = c.Sub
		}
		if m.Candidate == nil {
			return nil
		}
		return pc.AddICECandidate(*m.Candidate)
	case "tracks":
		c.mu.Lock()
		c.byMid = map[string]string{}
		for _, t := range m.Tracks {
			c.byMsid[t.StreamID] = t.Participant
			c.byMid[t.Mid] = t.Participant
		}
		c.mu.Unlock()
	case "event":
		select {
		case c.events <- Event{Name: m.Event, Data: m.Data}:
		default: // a test that ignores events must not block the client
		}
	case "layers":
		select {
		case c.layers <- Layers{Mid: m.Mid, RIDs: m.RIDs}:
		default:
		}
	}
	return nil
}

// Offer sends a publish offer for the tracks added so far.
func (c *Client) Offer(iceRestart bool) error {
	offer, err := c.Pub.CreateOffer(&webrtc.OfferOptions{ICERestart: iceRestart})
	if err != nil {
		return err
	}
	c.offerMu.Lock()
	defer c.offerMu.Unlock()
	if err := c.Pub.SetLocalDescription(offer); err != nil {
		return err
	}
	b, _ := json.Marshal(map[string]string{"type": "publish-offer", "sdp": offer.SDP})
	return c.h.Handle(b)
}

// Send sends any message to the SFU.
func (c *Client) Send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.h.Handle(b)
}

// Track is a published track; WriteRTP fills SSRC and payload type.
type Track struct {
	Local  *webrtc.TrackLocalStaticRTP
	Sender *webrtc.RTPSender
	levels uint8 // audio level extension id
	mid    uint8 // simulcast: mid and rid extension ids
	rid    uint8
	ridVal string
	midVal string
	// PLI receives a value for each PLI or FIR the SFU sends for this
	// stream (dropped if nobody reads).
	PLI chan struct{}
}

// PublishAV adds an audio track and one (non-simulcast) video track and
// offers them: what a client in a call publishes.
func (c *Client) PublishAV() (audio, video *Track, err error) {
	if audio, err = c.AddAudio(); err != nil {
		return nil, nil, err
	}
	v, err := c.AddVideo()
	if err != nil {
		return nil, nil, err
	}
	if err := c.Offer(false); err != nil {
		return nil, nil, err
	}
	return audio, v[0], nil
}

// AddAudio adds an Opus track.
func (c *Client) AddAudio() (*Track, error) {
	l, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "client")
	if err != nil {
		return nil, err
	}
	s, err := c.Pub.AddTrack(l)
	if err != nil {
		return nil, err
	}
	t := &Track{Local: l, Sender: s}
	for _, e := range s.GetParameters().HeaderExtensions {
		if e.URI == "urn:ietf:params:rtp-hdrext:ssrc-audio-level" {
			t.levels = uint8(e.ID)
		}
	}
	c.drainRTCP(s)
	return t, nil
}

// AddVideo adds a VP8 track; with rids, one Track per simulcast layer.
func (c *Client) AddVideo(rids ...string) ([]*Track, error) {
	return c.AddVideoCodec(webrtc.MimeTypeVP8, rids...)
}

// AddVideoCodec adds a video track of codec mime (VP8, VP9, H264).
func (c *Client) AddVideoCodec(mime string, rids ...string) ([]*Track, error) {
	mk := func(rid string) (*webrtc.TrackLocalStaticRTP, error) {
		var opts []func(*webrtc.TrackLocalStaticRTP)
		if rid != "" {
			opts = append(opts, webrtc.WithRTPStreamID(rid))
		}
		return webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 90000}, "video", "client", opts...)
	}
	if len(rids) == 0 {
		rids = []string{""}
	}
	var out []*Track
	var sender *webrtc.RTPSender
	for i, rid := range rids {
		l, err := mk(rid)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			if sender, err = c.Pub.AddTrack(l); err != nil {
				return nil, err
			}
		} else if err := sender.AddEncoding(l); err != nil {
			return nil, err
		}
		out = append(out, &Track{Local: l, Sender: sender, ridVal: rid, PLI: make(chan struct{}, 16)})
	}
	for _, t := range out {
		c.watchPLI(t)
	}
	return out, nil
}

// PrepareSimulcast records the mid/rid extension ids; call after Offer.
func (c *Client) PrepareSimulcast(ts []*Track) {
	var mid string
	for _, tr := range c.Pub.GetTransceivers() {
		if tr.Sender() == ts[0].Sender {
			mid = tr.Mid()
		}
	}
	for _, t := range ts {
		for _, e := range t.Sender.GetParameters().HeaderExtensions {
			switch e.URI {
			case "urn:ietf:params:rtp-hdrext:sdes:mid":
				t.mid = uint8(e.ID)
			case "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id":
				t.rid = uint8(e.ID)
			}
		}
		t.midVal = mid
	}
}

// watchPLI reads the RTCP of one (simulcast) stream and signals keyframe
// requests on t.PLI.
func (c *Client) watchPLI(t *Track) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for {
			var pkts []rtcp.Packet
			var err error
			if t.ridVal == "" {
				pkts, _, err = t.Sender.ReadRTCP()
			} else {
				pkts, _, err = t.Sender.ReadSimulcastRTCP(t.ridVal)
			}
			if err != nil {
				return
			}
			for _, p := range pkts {
				switch p.(type) {
				case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
					select {
					case t.PLI <- struct{}{}:
					default:
					}
				}
			}
		}
	}()
}

// drainRTCP keeps the sender's interceptors fed (pion requires a reader).
func (c *Client) drainRTCP(s *webrtc.RTPSender) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		buf := make([]byte, 1500)
		for {
			if _, _, err := s.Read(buf); err != nil {
				return
			}
		}
	}()
}

// Write sends one packet; level >= 0 adds an RFC 6464 audio level.
func (t *Track) Write(seq uint16, ts uint32, payload []byte, level int) error {
	// Each packet is a whole frame (marker set): the SFU may put its
	// probes' padding after it.
	p := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts, Marker: true}, Payload: payload}
	if level >= 0 && t.levels != 0 {
		if err := p.Header.SetExtension(t.levels, []byte{0x80 | byte(level)}); err != nil {
			return err
		}
	}
	if t.ridVal != "" && t.rid != 0 {
		if err := p.Header.SetExtension(t.mid, []byte(t.midVal)); err != nil {
			return err
		}
		if err := p.Header.SetExtension(t.rid, []byte(t.ridVal)); err != nil {
			return err
		}
	}
	return t.Local.WriteRTP(p)
}

// WritePacket sends a prepared packet as is (SSRC and payload type are
// filled in by pion); the caller may reuse p afterwards.
func (t *Track) WritePacket(p *rtp.Packet) error { return t.Local.WriteRTP(p) }

// Close closes both PCs and waits for the client's goroutines.
func (c *Client) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.mu.Unlock()
	if c.Pub != nil {
		_ = c.Pub.Close()
	}
	if c.Sub != nil {
		_ = c.Sub.Close()
	}
	if c.cancel != nil {
		c.cancel()
	}
	c.wg.Wait()
	for _, m := range c.muxes {
		_ = m.Close()
	}
	for _, u := range c.conns {
		_ = u.Close()
	}
}
