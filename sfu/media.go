package sfu

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/pion/dtls/v3"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Header extension URIs we use on the publish side.
const audioLevelURI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level" // RFC 6464

// codecs lists what the SFU accepts and forwards. Opus and VP8 are always
// there; VP9 and H.264 are used only when the publisher offers them (the
// MediaEngine keeps the intersection) and a subscriber accepts them.
func codecs(rtx bool) []webrtc.RTPCodecParameters {
	videoFB := []webrtc.RTCPFeedback{
		{Type: webrtc.TypeRTCPFBNACK}, {Type: webrtc.TypeRTCPFBNACK, Parameter: "pli"},
		{Type: webrtc.TypeRTCPFBCCM, Parameter: "fir"}, {Type: webrtc.TypeRTCPFBGoogREMB},
	}
	video := func(mime, fmtp string, pt webrtc.PayloadType) []webrtc.RTPCodecParameters {
		c := []webrtc.RTPCodecParameters{{
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 90000, SDPFmtpLine: fmtp, RTCPFeedback: videoFB},
			PayloadType:        pt,
		}}
		if rtx {
			c = append(c, webrtc.RTPCodecParameters{
				RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeRTX, ClockRate: 90000, SDPFmtpLine: fmt.Sprintf("apt=%d", pt)},
				PayloadType:        pt + 1,
			})
		}
		return c
	}
	var cs []webrtc.RTPCodecParameters
	cs = append(cs, video(webrtc.MimeTypeVP8, "", 96)...)
	cs = append(cs, video(webrtc.MimeTypeVP9, "profile-id=0", 98)...)
	cs = append(cs, video(webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", 102)...)
	cs = append(cs, video(webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f", 104)...)
	return cs
}

var opus = webrtc.RTPCodecParameters{
	RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"},
	PayloadType:        111,
}

func (s *Server) settingEngine() webrtc.SettingEngine {
	var se webrtc.SettingEngine
	se.LoggerFactory = loggerFactory{s.log}
	se.SetICEUDPMux(s.udpMux)
	if s.tcpMux != nil {
		se.SetICETCPMux(s.tcpMux)
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6, webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6})
	} else {
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	}
	if len(s.cfg.PublicIPs) > 0 {
		se.SetNAT1To1IPs(s.cfg.PublicIPs, webrtc.ICECandidateTypeHost)
	}
	se.SetIncludeLoopbackCandidate(s.cfg.IncludeLoopback)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetLite(false)
	// The SFU is the controlling agent on subscribe PCs. Clients reach it
	// through candidates it learns from their checks (peer-reflexive:
	// trickle is slower than the first check), and pion waits 1 s by
	// default before it nominates such a pair: every callee's remote media
	// started a second late. The SFU has no better pair to wait for.
	se.SetPrflxAcceptanceMinWait(0)
	se.SetSrflxAcceptanceMinWait(0)
	// GCM first: CM-HMAC-SHA1-80 costs ~2 µs more per forwarded packet
	// (perf-notes §1, rule 6); it stays as a fallback.
	se.SetSRTPProtectionProfiles(dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AEAD_AES_256_GCM, dtls.SRTP_AES128_CM_HMAC_SHA1_80)
	se.SetSRTPReplayProtectionWindow(srtpReplayWindow)
	se.SetSRTCPReplayProtectionWindow(512)
	return se
}

// buildAPIs makes the subscribe API and the publish media engine (perf-notes
// §3). The feedback publishers need (NACK, receiver reports, TWCC) is
// written in feedback.go without allocations; the publish PC's one
// interceptor only notes transport-wide sequence numbers (twcc.go), so each
// publish PC gets its own API (pubAPI). Nothing runs on a subscribe PC,
// where it would run once per subscriber per packet.
func (s *Server) buildAPIs() error {
	se := s.settingEngine()

	pubME := &webrtc.MediaEngine{}
	if err := pubME.RegisterCodec(opus, webrtc.RTPCodecTypeAudio); err != nil {
		return fmt.Errorf("sfu: register opus: %w", err)
	}
	for _, c := range codecs(true) {
		if err := pubME.RegisterCodec(c, webrtc.RTPCodecTypeVideo); err != nil {
			return fmt.Errorf("sfu: register %s: %w", c.MimeType, err)
		}
	}
	if err := pubME.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: audioLevelURI}, webrtc.RTPCodecTypeAudio); err != nil {
		return fmt.Errorf("sfu: register audio level: %w", err)
	}
	for _, uri := range []string{sdp.SDESMidURI, sdp.SDESRTPStreamIDURI, sdp.SDESRepairRTPStreamIDURI} {
		if err := pubME.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: uri}, webrtc.RTPCodecTypeVideo); err != nil {
			return fmt.Errorf("sfu: register %s: %w", uri, err)
		}
	}
	if err := pubME.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.SDESMidURI}, webrtc.RTPCodecTypeAudio); err != nil {
		return fmt.Errorf("sfu: register mid: %w", err)
	}
	// Feedback to publishers is ours (feedback.go), so no interceptors.
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		pubME.RegisterFeedback(webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBTransportCC}, kind)
		if err := pubME.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.TransportCCURI}, kind); err != nil {
			return fmt.Errorf("sfu: register transport-cc: %w", err)
		}
	}
	s.pubME, s.pubSE = pubME, se

	subME, err := subMediaEngine()
	if err != nil {
		return err
	}
	s.subME = subME
	s.subAPI = webrtc.NewAPI(webrtc.WithMediaEngine(subME), webrtc.WithSettingEngine(se),
		webrtc.WithInterceptorRegistry(&interceptor.Registry{}))
	return nil
}

// subMediaEngine is the media engine of subscribe PCs (and of tryAnswer's
// trial PC, since what pion refuses in an answer depends on it).
func subMediaEngine() (*webrtc.MediaEngine, error) {
	subME := &webrtc.MediaEngine{}
	if err := subME.RegisterCodec(opus, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("sfu: register opus: %w", err)
	}
	for _, c := range codecs(false) {
		if err := subME.RegisterCodec(c, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, fmt.Errorf("sfu: register %s: %w", c.MimeType, err)
		}
	}
	// Transport-wide sequence numbers on everything sent to a subscriber,
	// and its feedback, drive the estimate towards it (subcc.go).
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		subME.RegisterFeedback(webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBTransportCC}, kind)
		if err := subME.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.TransportCCURI}, kind); err != nil {
			return nil, fmt.Errorf("sfu: register transport-cc: %w", err)
		}
	}
	return subME, nil
}

// loggerFactory routes pion's logs into slog. pion's Info is chatty, so it
// becomes Debug; its Warn and Error keep their level (they carry the reason a
// bad packet or candidate was dropped).
type loggerFactory struct{ log *slog.Logger }

func (f loggerFactory) NewLogger(scope string) logging.LeveledLogger {
	return pionLog{f.log.With("pion", scope)}
}

func pionLogger(log *slog.Logger, scope string) logging.LeveledLogger {
	return pionLog{log.With("pion", scope)}
}

type pionLog struct{ l *slog.Logger }

func (p pionLog) logf(lvl slog.Level, format string, args ...any) {
	if !p.l.Enabled(context.Background(), lvl) {
		return
	}
	p.l.Log(context.Background(), lvl, fmt.Sprintf(format, args...))
}

// warnf logs a pion warning at Warn unless it is the noise every PC makes
// while it starts or closes (issue 11, item 5): a call that ends cleanly
// printed some twenty such lines. Those go to Debug.
func (p pionLog) warnf(format string, args ...any) {
	lvl := slog.LevelWarn
	if !p.l.Enabled(context.Background(), lvl) {
		return
	}
	msg := fmt.Sprintf(format, args...)
	if expectedNoise(msg) {
		lvl = slog.LevelDebug
		if !p.l.Enabled(context.Background(), lvl) {
			return
		}
	}
	p.l.Log(context.Background(), lvl, msg)
}

// pionNoise are pion warnings that say a PC is starting or closing, not
// that something went wrong: reads and writes racing the close of their
// socket or stream, ICE checks asked for before the first candidate pair
// exists, and streams accepted after the PC closed.
var pionNoise = []string{
	"read/write on closed pipe",               // ice, dtls, srtp: the socket closed under a read
	"use of closed network connection",        // the same, from net
	"Failed to ping without candidate pairs",  // ice: checks start before a remote candidate arrives
	"stream is already closed",                // pc: "Failed to accept RTP/RTCP stream is already closed"
	"the agent is closed",                     // ice: a trickled candidate that arrives after Leave
	"no endpoint for packet starting with 21", // mux: the peer's DTLS close_notify (alert, 21) after ours
}

func expectedNoise(msg string) bool {
	for _, n := range pionNoise {
		if strings.Contains(msg, n) {
			return true
		}
	}
	return earlyMedia(msg) || unmappedIPv6(msg)
}

// unmappedIPv6 says msg is ICE finding no public address for an IPv6
// interface address: with --public-ip naming IPv4 addresses only, every
// PC of a dual-stack host says it of each IPv6 address, link-local ones
// included. An IPv4 address with no mapping stays a warning.
func unmappedIPv6(msg string) bool {
	const pre = "no external IP is found for "
	i := strings.Index(msg, pre)
	return i >= 0 && strings.Contains(msg[i+len(pre):], ":")
}

// earlyMedia says msg is pion's mux queueing an SRTP or SRTCP packet (first
// byte 128..191, RFC 7983) that arrived before the session's SRTP had
// started: the client's first media right behind its last DTLS flight,
// which a recvmmsg batch hands over back to back. pion delivers the packet
// once SRTP starts.
func earlyMedia(msg string) bool {
	const pre = "no endpoint for packet starting with "
	i := strings.Index(msg, pre)
	if i < 0 || !strings.Contains(msg, ", adding to queue") {
		return false
	}
	rest := msg[i+len(pre):]
	j := strings.IndexByte(rest, ',')
	if j < 0 {
		return false
	}
	b, err := strconv.Atoi(rest[:j])
	return err == nil && b >= 128 && b <= 191
}

func (p pionLog) Trace(msg string)                  {}
func (p pionLog) Tracef(format string, args ...any) {}
func (p pionLog) Debug(msg string)                  { p.logf(slog.LevelDebug-4, "%s", msg) }
func (p pionLog) Debugf(format string, args ...any) { p.logf(slog.LevelDebug-4, format, args...) }
func (p pionLog) Info(msg string)                   { p.logf(slog.LevelDebug, "%s", msg) }
func (p pionLog) Infof(format string, args ...any)  { p.logf(slog.LevelDebug, format, args...) }
func (p pionLog) Warn(msg string)                   { p.warnf("%s", msg) }
func (p pionLog) Warnf(format string, args ...any)  { p.warnf(format, args...) }
func (p pionLog) Error(msg string)                  { p.logf(slog.LevelError, "%s", msg) }
func (p pionLog) Errorf(format string, args ...any) { p.logf(slog.LevelError, format, args...) }

// quietWarnings demotes a pion logger's warnings to Info.
type quietWarnings struct{ logging.LeveledLogger }

func (q quietWarnings) Warn(msg string)                  { q.Info(msg) }
func (q quietWarnings) Warnf(format string, args ...any) { q.Infof(format, args...) }

// pubAPI is the API of one publish PC: the shared media engine (pion copies
// it per PC) and an interceptor registry bound to that peer's TWCC state.
func (s *Server) pubAPI(tw *twccState) *webrtc.API {
	reg := &interceptor.Registry{}
	reg.Add(twccFactory{state: tw, now: s.now})
	return webrtc.NewAPI(webrtc.WithMediaEngine(s.pubME), webrtc.WithSettingEngine(s.pubSE), webrtc.WithInterceptorRegistry(reg))
}
