// Package sfu is callbox's embedded selective forwarding unit: it owns the
// ICE sockets (one UDP port through a mux, plus ICE-TCP), two PeerConnections
// per participant (publish, subscribe), the forwarding of RTP from every
// published track to the other participants of a room, the RTCP feedback
// around it (NACK, PLI, receiver and sender reports, TWCC, REMB), simulcast
// layer selection, and the media events (audio/video availability, voice
// volume, network quality).
//
// It must not know anything about calls, users' signatures or signaling: a
// room is a name, a participant is a name, and messages go in and out as JSON
// objects (docs/media.md) that the caller relays.
//
// The forwarding path follows perf-notes §2: each published stream fans
// out serially to a copy-on-write subscriber slice, parses into one reused
// rtp.Header, writes through our own TrackLocal (no interceptors on
// subscribe PCs), and serves NACKs from one ring per stream. The UDP mux
// socket is read with recvmmsg (batch.go); once a publisher's stream is
// bound to a layer, the mux's reader goroutine decrypts its packets with
// its own SRTP context and forwards them itself (fastpath.go), so every
// send a received batch produces, across sessions, leaves in one
// sendmmsg. pion keeps ICE, DTLS, RTCP and everything else, and the
// stream's own reader goroutine (layer.run) forwards what pion still
// delivers (the first packets, and any stream the fast path cannot take).
// It allocates nothing per forwarded packet (BenchmarkForward,
// TestFastPathAllocatesNothing).
package sfu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

// Defaults applied by New to zero fields of Config.
const (
	DefaultUDPPort  = 7882
	DefaultTCPPort  = 7881
	DefaultListenIP = "0.0.0.0"
	// socketBuffer is the size asked for the mux socket's kernel buffers
	// (perf-notes §3: rmem_max = wmem_max = 4 MiB on our hosts).
	socketBuffer = 4 << 20
)

// Config configures a Server. Zero values mean the Default* constants.
type Config struct {
	UDPPort         int      // one UDP port for all ICE (UDP mux); default 7882; 0 = ephemeral (tests)
	TCPPort         int      // ICE-TCP; default 7881; 0 = ephemeral; -1 = off
	ListenIP        string   // default "0.0.0.0"; tests use "127.0.0.1"
	PublicIPs       []string // NAT 1:1 host candidates (--public-ip)
	IncludeLoopback bool     // offer loopback candidates (tests)
	// NoFastPath leaves every received packet to pion's receive path
	// (fastpath.go) and every sent one to pion's send path
	// (fastsend.go), for comparison and as a way out.
	NoFastPath bool
	Logger     *slog.Logger
	Now        func() time.Time
}

// Sentinel errors callers can branch on.
var (
	ErrClosed         = errors.New("sfu: closed")
	ErrDuplicate      = errors.New("sfu: participant already in room")
	ErrBadMessage     = errors.New("sfu: bad message")
	ErrBadCandidate   = errors.New("sfu: candidate refused")
	ErrPeerLeft       = errors.New("sfu: peer has left")
	ErrUnknownTrack   = errors.New("sfu: unknown track")
	ErrNotNegotiating = errors.New("sfu: no subscribe offer outstanding")
)

// Server is the SFU. Create it with New, drive its tickers with Run, and
// release it with Close.
type Server struct {
	cfg   Config
	log   *slog.Logger
	now   func() time.Time
	udp   *net.UDPConn
	batch *batchConn // recvmmsg/sendmmsg wrapper of udp, under the mux
	fast  *fastPath  // SRTP receive fast path in the mux's reader; nil = off
	// fastSent counts RTP packets the send fast path sealed and sent
	// (fastsend.go).
	fastSent atomic.Uint64
	udpMux   *ice.UDPMuxDefault
	tcpLn    *net.TCPListener
	tcpMux   *ice.TCPMuxDefault
	pubME    *webrtc.MediaEngine // shared by every publish PC (pion copies it)
	subME    *webrtc.MediaEngine // the same for subscribe PCs and tryAnswer's trial
	pubSE    webrtc.SettingEngine
	subAPI   *webrtc.API

	mu     sync.Mutex
	rooms  map[string]*room
	closed bool
	nextID uint64
	// totals of peers that have left, so Stats stays monotonic
	gone Stats

	// junk on the ICE ports (junk.go)
	udpDrops, tcpDrops logLimiter
}

// Stats is a snapshot for /metrics and the admin console.
type Stats struct {
	Rooms            int
	Peers            int
	Tracks           int    // published tracks (a simulcast track counts once)
	ForwardedPackets uint64 // RTP packets written to subscribers, retransmissions included
	ForwardedBytes   uint64 // their payload bytes
	DroppedDatagrams uint64 // UDP datagrams routed to no session (garbage, scans)
	DroppedTCPConns  uint64 // ICE-TCP connections refused (no STUN binding first) or failed
	Retransmitted    uint64 // packets resent from the NACK ring
	NACKMisses       uint64 // NACKed packets the ring no longer (or never) held
	PLIsSent         uint64 // keyframe requests sent to publishers
	LayerSwitches    uint64 // simulcast layer changes for a subscriber (the first layer is none)
	// Socket calls on the UDP mux (recvfrom/recvmmsg, sendto/sendmmsg),
	// for syscalls per forwarded packet (callbox bench sfu).
	UDPReadCalls  uint64
	UDPWriteCalls uint64
	// UDP GSO in the batch flush (batch.go): whether it is in use (the
	// kernel has UDP_SEGMENT and has not refused it), and messages sent
	// with UDP_SEGMENT, each a run of datagrams to one address.
	GSO         bool
	GSOMessages uint64
	// The receive fast path (fastpath.go): whether it is on (not
	// Config.NoFastPath), packets it forwarded, streams it handed back to
	// pion, packets that did not authenticate, packets it dropped (not
	// authenticated, replayed or cut short, once the stream was past its
	// first packets).
	FastPath          bool
	FastPathPackets   uint64
	FastPathFallbacks uint64
	FastPathAuthFails uint64
	FastPathDropped   uint64
	// FastSendPackets: RTP packets to subscribers that the send fast path
	// sealed and sent itself (fastsend.go), as against pion's writer.
	FastSendPackets uint64
}

// New binds the sockets and prepares the pion APIs. It starts no goroutine of
// its own (pion's mux readers belong to the sockets and stop in Close).
func New(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ListenIP == "" {
		cfg.ListenIP = DefaultListenIP
	}
	ip := net.ParseIP(cfg.ListenIP)
	if ip == nil {
		return nil, fmt.Errorf("sfu: listen ip %q: not an IP address", cfg.ListenIP)
	}
	for _, p := range cfg.PublicIPs {
		if net.ParseIP(p) == nil {
			return nil, fmt.Errorf("sfu: public ip %q: not an IP address", p)
		}
	}
	s := &Server{
		cfg:   cfg,
		log:   cfg.Logger.With("component", "sfu"),
		now:   cfg.Now,
		rooms: make(map[string]*room),
	}
	if err := s.listen(ip); err != nil {
		s.closeSockets()
		return nil, err
	}
	if err := s.buildAPIs(); err != nil {
		s.closeSockets()
		return nil, err
	}
	s.log.Info("sfu listening", "udp", s.udp.LocalAddr().String(), "tcp", s.TCPAddr())
	return s, nil
}

func (s *Server) listen(ip net.IP) error {
	port := s.cfg.UDPPort // 0 = ephemeral; callers apply DefaultUDPPort
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip, Port: port})
	if err != nil {
		return fmt.Errorf("sfu: listen udp %s: %w", net.JoinHostPort(ip.String(), strconv.Itoa(port)), err)
	}
	s.udp = udp
	// Short of 4 MiB is not fatal (the kernel caps at rmem_max); log it.
	if err := udp.SetReadBuffer(socketBuffer); err != nil {
		s.log.Warn("udp read buffer", "err", err)
	}
	if err := udp.SetWriteBuffer(socketBuffer); err != nil {
		s.log.Warn("udp write buffer", "err", err)
	}
	if s.batch, err = newBatchConn(udp); err != nil {
		return err
	}
	if !s.cfg.NoFastPath {
		s.fast = newFastPath(s.now)
		s.batch.setFast(s.fast)
	}
	s.udpMux = ice.NewUDPMuxDefault(ice.UDPMuxParams{
		UDPConn: s.batch,
		// On 0.0.0.0 pion warns that it "should not listen on unspecified
		// address"; we do so on purpose (one socket for sendmmsg batching,
		// candidates from every interface), so its warnings go to Info.
		Logger:            quietWarnings{pionLogger(s.log, "udpmux")},
		OnUnhandledPacket: s.unhandled,
	})
	if s.cfg.TCPPort < 0 {
		return nil
	}
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: ip, Port: s.cfg.TCPPort})
	if err != nil {
		return fmt.Errorf("sfu: listen tcp %s: %w", net.JoinHostPort(ip.String(), strconv.Itoa(s.cfg.TCPPort)), err)
	}
	s.tcpLn = ln
	s.tcpMux = ice.NewTCPMuxDefault(ice.TCPMuxParams{
		Listener:        ln,
		Logger:          tcpMuxLog{pionLog{s.log.With("pion", "tcpmux")}, s},
		ReadBufferSize:  64,
		WriteBufferSize: socketBuffer,
	})
	return nil
}

// UDPAddr is the bound address of the ICE UDP mux (useful with port 0).
func (s *Server) UDPAddr() *net.UDPAddr { return s.udp.LocalAddr().(*net.UDPAddr) }

// TCPAddr is the ICE-TCP listener's address, or "" when ICE-TCP is off.
func (s *Server) TCPAddr() string {
	if s.tcpLn == nil {
		return ""
	}
	return s.tcpLn.Addr().String()
}

func (s *Server) closeSockets() error {
	var errs []error
	if s.udpMux != nil {
		errs = append(errs, s.udpMux.Close())
	}
	if s.udp != nil {
		if err := s.udp.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	if s.tcpMux != nil {
		errs = append(errs, s.tcpMux.Close())
	}
	if s.tcpLn != nil {
		if err := s.tcpLn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Close tears down every peer and room, then the sockets. It waits for every
// goroutine the server's peers own.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	var peers []*Peer
	for _, r := range s.rooms {
		peers = append(peers, r.peerList()...)
	}
	s.mu.Unlock()
	for _, p := range peers {
		p.Leave()
	}
	err := s.closeSockets()
	s.log.Info("sfu closed")
	return err
}

// Join adds participant to room and returns its Peer. send delivers the SFU's
// messages for that participant (docs/media.md) in order; it is never called
// concurrently for one peer, may be called while the SFU holds the peer's
// lock, and so must neither block for long nor call the Peer back
// synchronously: queue the message and return.
func (s *Server) Join(roomName, participant string, send func(json.RawMessage)) (*Peer, error) {
	if roomName == "" || participant == "" || send == nil {
		return nil, fmt.Errorf("sfu: join: empty room, participant or send: %w", ErrBadMessage)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	r := s.rooms[roomName]
	if r == nil {
		r = newRoom(s, roomName)
		s.rooms[roomName] = r
	}
	s.nextID++
	id := s.nextID
	s.mu.Unlock()

	p, err := newPeer(s, r, participant, id, send)
	if err != nil {
		s.dropRoomIfEmpty(r)
		return nil, err
	}
	if err := r.add(p); err != nil {
		p.closePCs()
		s.dropRoomIfEmpty(r)
		return nil, err
	}
	s.log.Info("peer joined", "room_id", roomName, "user_id", participant)
	r.subscribeNewcomer(p)
	return p, nil
}

func (s *Server) dropRoomIfEmpty(r *room) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.empty() && s.rooms[r.name] == r {
		delete(s.rooms, r.name)
	}
}

func (s *Server) roomList() []*room { return s.appendRooms(nil) }

// appendRooms appends the live rooms to dst: Run's 20 ms NACK tick reuses
// one slice rather than allocate one per tick.
func (s *Server) appendRooms(dst []*room) []*room {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.rooms {
		dst = append(dst, r)
	}
	return dst
}

// Stats sums the counters of every live peer and of those that left.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	st := s.gone
	st.Rooms = len(s.rooms)
	st.DroppedDatagrams = s.udpDrops.total()
	st.DroppedTCPConns = s.tcpDrops.total()
	st.UDPReadCalls, st.UDPWriteCalls = s.batch.readCalls.Load(), s.batch.writeCalls.Load()
	st.GSO, st.GSOMessages = !s.batch.noGSO.Load(), s.batch.gsoRuns.Load()
	st.FastSendPackets = s.fastSent.Load()
	if s.fast != nil {
		st.FastPath = true
		st.FastPathPackets, st.FastPathFallbacks = s.fast.packets.Load(), s.fast.fallbacks.Load()
		st.FastPathAuthFails, st.FastPathDropped = s.fast.authFails.Load(), s.fast.dropped.Load()
	}
	st.Peers, st.Tracks = 0, 0
	s.mu.Unlock()
	for _, r := range s.roomList() {
		for _, p := range r.peerList() {
			st.Peers++
			p.addStats(&st)
		}
	}
	return st
}

// retire folds a leaving peer's counters into the server totals.
func (s *Server) retire(p *Peer) {
	var st Stats
	p.addStats(&st)
	s.mu.Lock()
	s.gone.ForwardedPackets += st.ForwardedPackets
	s.gone.ForwardedBytes += st.ForwardedBytes
	s.gone.Retransmitted += st.Retransmitted
	s.gone.NACKMisses += st.NACKMisses
	s.gone.PLIsSent += st.PLIsSent
	s.gone.LayerSwitches += st.LayerSwitches
	s.mu.Unlock()
}

// Run drives the periodic work (feedback to publishers, voice volume,
// layer selection, sender reports, network quality) until ctx is done.
func (s *Server) Run(ctx context.Context) error {
	volume := time.NewTicker(volumeInterval)
	defer volume.Stop()
	report := time.NewTicker(reportInterval)
	defer report.Stop()
	quality := time.NewTicker(qualityInterval)
	defer quality.Stop()
	feedback := time.NewTicker(feedbackInterval)
	defer feedback.Stop()
	nack := time.NewTicker(nackInterval)
	defer nack.Stop()
	var rooms []*room
	var peers []*Peer
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-nack.C:
			now := s.now()
			rooms = s.appendRooms(rooms[:0])
			for _, r := range rooms {
				peers = r.appendPeers(peers[:0])
				for _, p := range peers {
					p.nackTick(now)
				}
			}
			clear(rooms)
			clear(peers) // let rooms and peers that go be collected
		case <-feedback.C:
			now := s.now()
			for _, r := range s.roomList() {
				for _, p := range r.peerList() {
					p.feedbackTick(now)
				}
			}
		case <-volume.C:
			now := s.now()
			for _, r := range s.roomList() {
				r.volumeTick(now)
			}
		case <-report.C:
			now := s.now()
			for _, r := range s.roomList() {
				r.reportTick(now)
			}
		case <-quality.C:
			for _, r := range s.roomList() {
				r.qualityTick()
			}
		}
	}
}
