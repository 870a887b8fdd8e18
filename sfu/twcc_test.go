package sfu_test

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// probeClient is a publisher that writes its own RTP, as Chromium does:
// every packet carries a transport-wide sequence number, and some are
// padding-only bandwidth probes on the RTX stream. It records which
// sequence numbers the SFU's transport-cc feedback reports as received.
type probeClient struct {
	interceptor.NoOp
	mu       sync.Mutex
	info     *interceptor.StreamInfo
	writer   interceptor.RTPWriter
	bound    chan struct{}
	received map[uint16]bool // from feedback: true = received
	fb       chan struct{}   // a feedback packet arrived
}

func (c *probeClient) NewInterceptor(string) (interceptor.Interceptor, error) { return c, nil }

func (c *probeClient) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	c.mu.Lock()
	if info.MimeType == webrtc.MimeTypeVP8 && c.writer == nil {
		c.info, c.writer = info, w
		close(c.bound)
	}
	c.mu.Unlock()
	return w
}

func (c *probeClient) BindRTCPReader(r interceptor.RTCPReader) interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, a, err := r.Read(b, a)
		if err != nil {
			return n, a, err
		}
		pkts, perr := rtcp.Unmarshal(b[:n])
		if perr != nil {
			return n, a, err
		}
		for _, p := range pkts {
			if cc, ok := p.(*rtcp.TransportLayerCC); ok {
				c.note(cc)
			}
		}
		return n, a, err
	})
}

// note records the status of each sequence number a feedback packet covers.
func (c *probeClient) note(cc *rtcp.TransportLayerCC) {
	c.mu.Lock()
	defer c.mu.Unlock()
	seq := cc.BaseSequenceNumber
	left := int(cc.PacketStatusCount)
	mark := func(sym uint16) {
		if left > 0 {
			c.received[seq] = c.received[seq] || sym != rtcp.TypeTCCPacketNotReceived
			seq++
			left--
		}
	}
	for _, ch := range cc.PacketChunks {
		switch ch := ch.(type) {
		case *rtcp.RunLengthChunk:
			for range ch.RunLength {
				mark(ch.PacketStatusSymbol)
			}
		case *rtcp.StatusVectorChunk:
			for _, s := range ch.SymbolList {
				mark(s)
			}
		}
	}
	select {
	case c.fb <- struct{}{}:
	default:
	}
}

func (c *probeClient) covered(seqs []uint16) (missing []uint16) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range seqs {
		if !c.received[s] {
			missing = append(missing, s)
		}
	}
	return missing
}

// TestTWCCCoversProbes: the SFU's transport-cc feedback reports RTX
// padding-only probes as received, as well as media (issue 11, item 1).
// Before, probes were dropped by pion's repair reader and reported lost,
// so Chromium's estimate stayed at its start.
func TestTWCCCoversProbes(t *testing.T) {
	e := newEnv(t)
	cl := &probeClient{bound: make(chan struct{}), received: map[uint16]bool{}, fb: make(chan struct{}, 1)}

	me := &webrtc.MediaEngine{}
	vp8 := webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000,
			RTCPFeedback: []webrtc.RTCPFeedback{{Type: webrtc.TypeRTCPFBTransportCC}, {Type: webrtc.TypeRTCPFBNACK}}},
		PayloadType: 96,
	}
	rtx := webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeRTX, ClockRate: 90000, SDPFmtpLine: "apt=96"},
		PayloadType:        97,
	}
	for _, c := range []webrtc.RTPCodecParameters{vp8, rtx} {
		if err := me.RegisterCodec(c, webrtc.RTPCodecTypeVideo); err != nil {
			t.Fatal(err)
		}
	}
	if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.TransportCCURI}, webrtc.RTPCodecTypeVideo); err != nil {
		t.Fatal(err)
	}
	reg := &interceptor.Registry{}
	reg.Add(cl)
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{BundlePolicy: webrtc.BundlePolicyMaxBundle})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	track, err := webrtc.NewTrackLocalStaticRTP(vp8.RTPCodecCapability, "v", "s")
	if err != nil {
		t.Fatal(err)
	}
	tr, err := pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		t.Fatal(err)
	}
	// RTCP reaches the interceptor only while someone reads it; this
	// reader ends when the PC closes.
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 1500)
		for {
			if _, _, err := tr.Sender().Read(buf); err != nil {
				return
			}
		}
	}()

	msgs := make(chan json.RawMessage, 64)
	p, err := e.s.Join("r", "alice", func(m json.RawMessage) {
		select {
		case msgs <- m:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Leave)
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gathered:
	case <-e.ctx.Done():
		t.Fatal("no candidates")
	}
	b, _ := json.Marshal(map[string]string{"type": "publish-offer", "sdp": pc.LocalDescription().SDP})
	if err := p.Handle(b); err != nil {
		t.Fatal(err)
	}
	connected := make(chan struct{})
	var once sync.Once
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(connected) })
		}
	})
	for done := false; !done; {
		select {
		case raw := <-msgs:
			var m struct {
				Type      string                   `json:"type"`
				SDP       string                   `json:"sdp"`
				Candidate *webrtc.ICECandidateInit `json:"candidate"`
			}
			_ = json.Unmarshal(raw, &m)
			switch {
			case m.Type == "publish-answer":
				if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP}); err != nil {
					t.Fatal(err)
				}
			case m.Type == "candidate" && m.Candidate != nil:
				_ = pc.AddICECandidate(*m.Candidate)
			}
		case <-connected:
			done = true
		case <-e.ctx.Done():
			t.Fatal("publish PC never connected")
		}
	}
	select {
	case <-cl.bound:
	case <-e.ctx.Done():
		t.Fatal("no local stream bound")
	}
	info := cl.info
	if info.SSRCRetransmission == 0 {
		t.Fatal("the SFU's answer has no RTX for VP8")
	}
	var extID uint8
	for _, x := range info.RTPHeaderExtensions {
		if x.URI == sdp.TransportCCURI {
			extID = uint8(x.ID)
		}
	}
	if extID == 0 {
		t.Fatal("transport-cc extension not negotiated")
	}

	var twseq, mseq, rseq uint16
	write := func(probe bool) uint16 {
		twseq++
		h := rtp.Header{Version: 2, SSRC: info.SSRC, PayloadType: info.PayloadType, SequenceNumber: mseq, Timestamp: uint32(mseq) * 3000}
		payload := []byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x55, 0x55}
		if probe {
			rseq++
			h = rtp.Header{Version: 2, SSRC: info.SSRCRetransmission, PayloadType: info.PayloadTypeRetransmission,
				SequenceNumber: rseq, Timestamp: uint32(mseq) * 3000, Padding: true, PaddingSize: 200}
			payload = nil
		} else {
			mseq++
		}
		if err := h.SetExtension(extID, []byte{byte(twseq >> 8), byte(twseq)}); err != nil {
			t.Fatal(err)
		}
		if _, err := cl.writer.Write(&h, payload, nil); err != nil {
			t.Fatal(err)
		}
		return twseq
	}
	// Media until the feedback covers it: the SFU reads the stream, and
	// with it pion's repair reader runs.
	var media []uint16
	for len(media) == 0 || len(cl.covered(media)) > 0 {
		media = append(media, write(false))
		select {
		case <-cl.fb:
		case <-time.After(20 * time.Millisecond): // pacing, not a wait for state
		case <-e.ctx.Done():
			t.Fatalf("media %v never covered by feedback", cl.covered(media))
		}
	}
	// A probe burst between media packets, as Chromium sends.
	var probes []uint16
	for range 20 {
		probes = append(probes, write(true))
	}
	last := write(false)
	for len(cl.covered([]uint16{last})) > 0 {
		select {
		case <-cl.fb:
		case <-e.ctx.Done():
			t.Fatalf("media after the probes never covered by feedback (last %d, probes missing %v, media missing %v)", last, cl.covered(probes), cl.covered(media))
		}
	}
	if miss := cl.covered(probes); len(miss) > 0 {
		t.Errorf("feedback reports %d of %d probes lost: %v", len(miss), len(probes), miss)
	}
}
