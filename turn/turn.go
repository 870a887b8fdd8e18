// Package turn is callbox's embedded TURN server (pion/turn v4) and the
// ephemeral TURN credentials of spec §5.
//
// It owns the TURN sockets (UDP and TCP on one port, TLS on another), the
// credential check, the peer filter that keeps the relay away from the host's
// own and private networks, and the per-user allocation quota; the Linux UDP
// packet path is its subpackage fastpath. It must not know about calls, rooms
// or the store: the secret arrives in Config, and the login reply gets its
// ICE servers from ICEServers (of an Endpoint). New binds; Run serves.
package turn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	pionturn "github.com/pion/turn/v4"

	"callbox/turn/fastpath"
)

// Defaults applied by New; the CLI uses them for its flag defaults.
const (
	DefaultRealm         = "callbox"
	DefaultListenIP      = "0.0.0.0"
	DefaultPort          = 3478
	DefaultTLSPort       = 5349
	DefaultUserQuota     = 10
	DefaultCredentialTTL = 24 * time.Hour
)

// closeWait bounds how long Close waits for pion to tear allocations down.
const closeWait = 2 * time.Second

// channelBindTTL is the channel binding lifetime (RFC 5766 §11: 10 min),
// set explicitly because the UDP packet path keeps a copy of the bindings.
const channelBindTTL = 10 * time.Minute

// Config configures the TURN server. Zero values get the Default* constants,
// except Port, where 0 asks for an ephemeral port (tests).
type Config struct {
	Secret    string      // HMAC secret of spec §5; required
	Realm     string      // default DefaultRealm
	ListenIP  string      // default DefaultListenIP
	Port      int         // UDP and TCP; 0 = ephemeral, the same for both
	TLSPort   int         // used when TLSConfig != nil; 0 = DefaultTLSPort, or ephemeral when Port is 0
	TLSConfig *tls.Config // nil: no TLS listener
	// PublicIP is the relay address advertised in Allocate replies. Default:
	// ListenIP when it is specific, else the host's outbound IPv4 address.
	PublicIP   string
	AllowPeers []netip.Prefix // peers allowed despite the private-range filter (--turn-allow-peer)
	// SelfAddrs are the host's own addresses (the SFU's host candidates and
	// public IPs). Permissions to them are always granted, whatever their
	// range, but datagrams reach them only on SelfPorts and on the ports of
	// this server's live relay sockets; AllowPeers does not widen that.
	SelfAddrs []netip.Addr
	SelfPorts []uint16         // the SFU's ICE ports (UDP mux, ICE-TCP)
	UserQuota int              // live allocations per user; default DefaultUserQuota
	Logger    *slog.Logger     // default slog.Default()
	Now       func() time.Time // default time.Now; used for credential expiry

	// bindClock is the UDP packet path's clock for its copy of the channel
	// bindings. It must run with pion's binding timers, i.e. real time, and
	// never with Now (which may be skewed or frozen); tests skew it.
	bindClock func() time.Time
	planeErr  error // fails the packet path's setup (tests)
}

func (c Config) withDefaults() Config {
	if c.Realm == "" {
		c.Realm = DefaultRealm
	}
	if c.ListenIP == "" {
		c.ListenIP = DefaultListenIP
	}
	if c.TLSPort == 0 && c.Port != 0 {
		c.TLSPort = DefaultTLSPort
	}
	if c.UserQuota <= 0 {
		c.UserQuota = DefaultUserQuota
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.bindClock == nil {
		c.bindClock = time.Now
	}
	return c
}

// Server is a TURN server: New binds its sockets, Run serves them.
type Server struct {
	cfg      Config
	log      *slog.Logger
	peers    peerFilter
	quota    *quota
	relay    fastpath.Counters
	listenIP netip.Addr
	publicIP netip.Addr
	udp      *net.UDPConn // closed once the packet path took its socket over
	udpAdr   netip.AddrPort
	path     packetPath // the UDP packet path (Linux); nil: pion reads udp
	tcp      *trackingListener
	tlsLn    *trackingListener
	tlsAdr   netip.AddrPort
	stop     chan struct{} // closed by Close, to end Run

	authRefused, quotaRefused, refusedPeers, portRefused atomic.Uint64

	mu      sync.Mutex
	pion    *pionturn.Server // made by Run
	live    int              // allocations, from pion's events
	drained chan struct{}    // closed when live drops to 0 during Close
	changed chan struct{}    // closed and replaced whenever live changes
	closed  bool
}

// packetPath is what the server uses of its UDP packet path
// (fastpath.Plane): the listening socket and the relay sockets for pion, the
// allocation events, and the loop Run owns.
type packetPath interface {
	Conn() net.PacketConn
	Relay(*net.UDPConn) (net.PacketConn, error)
	Claim(client, relay net.Addr)
	Run() error
	Close()
}

var _ packetPath = (*fastpath.Plane)(nil)

// Stats is a snapshot of the server's counters.
type Stats struct {
	Allocations     int            `json:"allocations"`
	PerUser         map[string]int `json:"perUser"`
	ToPeerPackets   uint64         `json:"toPeerPackets"` // client -> relay -> peer
	FromPeerPackets uint64         `json:"fromPeerPackets"`
	ToPeerBytes     uint64         `json:"toPeerBytes"`
	FromPeerBytes   uint64         `json:"fromPeerBytes"`
	AuthRefused     uint64         `json:"authRefused"`
	QuotaRefused    uint64         `json:"quotaRefused"`
	PeersRefused    uint64         `json:"peersRefused"`
	// PortRefused counts datagrams dropped for a host address's port.
	PortRefused uint64 `json:"portRefused"`
	// PathSyscalls counts the datagram I/O calls of the Linux packet path
	// (recvmmsg, sendmmsg, sendto); 0 without it.
	PathSyscalls uint64 `json:"pathSyscalls"`
}

// New binds the TURN sockets and takes the UDP one over for the packet
// path; it starts no goroutine. Run serves; Close releases the sockets,
// whether Run ran or not.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if cfg.Secret == "" {
		return nil, errors.New("turn: secret is empty")
	}
	listenIP, err := netip.ParseAddr(cfg.ListenIP)
	if err != nil {
		return nil, fmt.Errorf("turn: listen ip %q: %w", cfg.ListenIP, err)
	}
	publicIP, err := choosePublicIP(cfg.PublicIP, listenIP)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "turn"),
		peers:    newPeerFilter(cfg.AllowPeers, cfg.SelfAddrs, cfg.SelfPorts),
		quota:    newQuota(cfg.UserQuota, cfg.Now),
		listenIP: listenIP,
		publicIP: publicIP,
		stop:     make(chan struct{}),
	}
	if err := s.listen(listenIP); err != nil {
		return nil, err
	}
	s.path = s.newPath()
	attrs := []any{"udp", s.udpAdr.String(), "tcp", s.tcp.Addr().String(), "relay_ip", publicIP.String()}
	if s.tlsLn != nil {
		attrs = append(attrs, "tls", s.tlsAdr.String())
	}
	s.log.Info("turn listening", attrs...)
	return s, nil
}

// newPath sets up the UDP packet path over s.udp, or returns nil and leaves
// the socket untouched for pion to read (other systems, or a failed setup).
func (s *Server) newPath() packetPath {
	err := s.cfg.planeErr
	if err == nil {
		var p *fastpath.Plane
		p, err = fastpath.New(s.udp, fastpath.Config{
			Counters: &s.relay, Now: s.cfg.bindClock, BindTTL: channelBindTTL, Direct: s.peers.direct,
		})
		if err == nil {
			return p
		}
	}
	if !errors.Is(err, errors.ErrUnsupported) {
		s.log.Warn("turn udp packet path unavailable, using pion's", "err", err)
	}
	return nil
}

// Run serves until ctx ends or Close is called, then closes the server
// (see Close) and returns. It starts pion, whose goroutines end with its
// sockets, and the packet loop, which Run waits for.
func (s *Server) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.closed || s.pion != nil {
		s.mu.Unlock()
		return errors.New("turn: Run after Close, or twice")
	}
	// Under the lock, so that a concurrent Close finds pion or stops it
	// from starting. pion's goroutines wait for the lock in addLive.
	err := s.start()
	s.mu.Unlock()
	if err != nil {
		return errors.Join(err, s.Close())
	}
	loop := make(chan struct{}) // closed when the packet loop has returned
	if s.path == nil {
		close(loop)
	} else {
		go func() {
			defer close(loop)
			if err := s.path.Run(); err != nil {
				s.log.Error("turn packet loop stopped", "err", err)
			}
		}()
	}
	select {
	case <-ctx.Done():
	case <-s.stop:
	}
	err = s.Close()
	<-loop
	return err
}

// start hands the bound sockets to pion, which starts serving them; called
// with s.mu held.
func (s *Server) start() error {
	gen := func() *relayGen { return &relayGen{bindIP: s.listenIP, publicIP: s.publicIP, s: s} }
	udpConn, udpGen := fastpath.UDP(s.udp), gen()
	if s.path != nil {
		udpConn, udpGen.path = s.path.Conn(), s.path
	}
	lcs := []pionturn.ListenerConfig{{Listener: s.tcp, RelayAddressGenerator: gen(), PermissionHandler: s.permissionHandler}}
	if s.tlsLn != nil {
		lcs = append(lcs, pionturn.ListenerConfig{
			Listener:              tls.NewListener(s.tlsLn, s.cfg.TLSConfig),
			RelayAddressGenerator: gen(),
			PermissionHandler:     s.permissionHandler,
		})
	}
	srv, err := pionturn.NewServer(pionturn.ServerConfig{
		PacketConnConfigs: []pionturn.PacketConnConfig{{
			PacketConn: udpConn, RelayAddressGenerator: udpGen, PermissionHandler: s.permissionHandler,
		}},
		ListenerConfigs:    lcs,
		LoggerFactory:      pionLogs{log: s.log},
		Realm:              s.cfg.Realm,
		AuthHandler:        s.authHandler,
		QuotaHandler:       s.quotaHandler,
		EventHandler:       s.events(),
		ChannelBindTimeout: channelBindTTL,
	})
	if err != nil {
		return fmt.Errorf("turn: start pion server: %w", err)
	}
	s.pion = srv
	return nil
}

// Close stops the listeners, ends TCP sessions and waits (briefly) for pion
// to delete the remaining allocations; Run, if running, then returns.
// Without Run it just releases the sockets. Later calls do nothing.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.stop)
	s.drained = make(chan struct{})
	if s.live == 0 {
		close(s.drained)
	}
	drained, srv := s.drained, s.pion
	s.mu.Unlock()

	if srv == nil {
		s.closeSockets()
		return nil
	}
	err := srv.Close() // closes the sockets, the packet path's with its Conn
	s.tcp.closeConns()
	if s.tlsLn != nil {
		s.tlsLn.closeConns()
	}
	select {
	case <-drained:
	case <-time.After(closeWait):
		s.log.Warn("turn close: allocations still open", "allocations", srv.AllocationCount())
	}
	if err != nil {
		return fmt.Errorf("close turn: %w", err)
	}
	return nil
}

// Addr returns the bound UDP and TCP addresses (the same port).
func (s *Server) Addr() (udp, tcp netip.AddrPort) {
	return s.udpAdr, s.tcp.Addr().(*net.TCPAddr).AddrPort()
}

// TLSAddr returns the bound TLS address, or the zero AddrPort without TLS.
func (s *Server) TLSAddr() netip.AddrPort { return s.tlsAdr }

// Stats returns the current counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	srv := s.pion
	s.mu.Unlock()
	allocs := 0
	if srv != nil {
		allocs = srv.AllocationCount()
	}
	return Stats{
		Allocations:     allocs,
		PerUser:         s.quota.snapshot(),
		ToPeerPackets:   s.relay.ToPeer.Load(),
		FromPeerPackets: s.relay.FromPeer.Load(),
		ToPeerBytes:     s.relay.ToPeerBytes.Load(),
		FromPeerBytes:   s.relay.FromPeerBytes.Load(),
		AuthRefused:     s.authRefused.Load(),
		QuotaRefused:    s.quotaRefused.Load(),
		PeersRefused:    s.refusedPeers.Load(),
		PortRefused:     s.portRefused.Load(),
		PathSyscalls:    s.relay.Syscalls.Load(),
	}
}

// Endpoint is this server as clients reach it by host (the name or
// address they use): its bound TCP port (the UDP port is the same) and
// TLS port, and the secret. ICEServers builds their list from it.
func (s *Server) Endpoint(host string) Endpoint {
	_, tcp := s.Addr()
	return Endpoint{Host: host, Port: int(tcp.Port()), TLSPort: int(s.tlsAdr.Port()), Secret: s.cfg.Secret}
}
