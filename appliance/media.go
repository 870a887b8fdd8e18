package appliance

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"callbox/sfu"
	"callbox/store"
	"callbox/turn"
)

// settingTURNSecret names the TURN REST secret in the store's settings; it
// is generated on first start so credentials survive restarts.
const settingTURNSecret = "turn_secret"

// TURNSecret returns the secret kept in st, creating it on first use.
func TURNSecret(st *store.Store) (string, error) {
	var secret string
	err := st.Update(func(tx *store.Tx) error {
		v, err := tx.Setting(settingTURNSecret)
		if err == nil {
			secret = string(v)
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		var b [32]byte
		rand.Read(b[:])
		secret = hex.EncodeToString(b[:])
		return tx.PutSetting(settingTURNSecret, []byte(secret))
	})
	if err != nil {
		return "", fmt.Errorf("turn secret: %w", err)
	}
	return secret, nil
}

// startTURN starts the embedded TURN server (or points at an external one)
// and returns where clients reach it; both nil when TURN is off.
func (a *Appliance) startTURN(sfuAddrs []netip.Addr) (*turn.Server, *turn.Endpoint, error) {
	cfg := a.cfg
	if cfg.TURNDisabled {
		return nil, nil, nil
	}
	secret := cfg.TURNSecret
	if secret == "" {
		var err error
		if secret, err = TURNSecret(a.store); err != nil {
			return nil, nil, err
		}
	}
	if cfg.TURNExternal != "" {
		return nil, &turn.Endpoint{External: cfg.TURNExternal, Secret: secret}, nil
	}
	srv, err := turn.New(turn.Config{
		Secret:     secret,
		ListenIP:   cfg.TURNListenIP,
		Port:       cfg.TURNPort,
		PublicIP:   firstOr(cfg.PublicIPs, ""),
		AllowPeers: cfg.TURNAllow,
		SelfAddrs:  sfuAddrs,
		SelfPorts:  sfuPorts(a.sfu),
		UserQuota:  cfg.TURNQuota,
		TLSConfig:  a.turnTLS(),
		TLSPort:    max(cfg.TURNTLSPort, 0),
		Logger:     a.log,
		Now:        cfg.Now,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("start turn: %w", err)
	}
	ep := srv.Endpoint(turnHost(cfg))
	return srv, &ep, nil
}

// iceServers is the RTCIceServer list for userID (turn.ICEServers), or nil
// when TURN is off.
func (a *Appliance) iceServers(userID string, now time.Time, ttl time.Duration) []turn.ICEServer {
	if a.ice == nil {
		return nil
	}
	return turn.ICEServers(*a.ice, userID, now, ttl)
}

// turnHost picks the host clients should use in TURN URIs.
func turnHost(cfg Config) string {
	if cfg.TURNHost != "" {
		return cfg.TURNHost
	}
	if cfg.TLS.Domain != "" { // the name TURN's TLS certificate has
		return cfg.TLS.Domain
	}
	if len(cfg.PublicIPs) > 0 {
		return cfg.PublicIPs[0]
	}
	if host, _, err := net.SplitHostPort(cfg.HTTPAddr); err == nil && host != "" {
		if ip, err := netip.ParseAddr(host); err != nil || !ip.IsUnspecified() {
			return host
		}
	}
	if conn, err := net.Dial("udp4", "192.0.2.1:9"); err == nil { // no packet is sent
		defer conn.Close()
		return conn.LocalAddr().(*net.UDPAddr).IP.String()
	}
	return "127.0.0.1"
}

func firstOr(s []string, def string) string {
	if len(s) > 0 {
		return s[0]
	}
	return def
}

// ParseTURNExternal checks a --turn-external URI.
func ParseTURNExternal(uri string) error {
	rest, ok := strings.CutPrefix(uri, "turn:")
	if !ok {
		if rest, ok = strings.CutPrefix(uri, "turns:"); !ok {
			return fmt.Errorf("invalid --turn-external %q: want turn:HOST[:PORT][?transport=udp|tcp]", uri)
		}
	}
	hostport := strings.SplitN(rest, "?", 2)[0]
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = hostport, "3478"
	}
	if n, err := strconv.Atoi(port); host == "" || err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("invalid --turn-external %q: bad host or port", uri)
	}
	return nil
}

// sfuPorts are the SFU's bound ICE ports (UDP mux, ICE-TCP when on):
// cfg.RTCUDPPort and RTCTCPPort may be 0, "any free port".
func sfuPorts(s *sfu.Server) []uint16 {
	ports := []uint16{uint16(s.UDPAddr().Port)}
	if ap, err := netip.ParseAddrPort(s.TCPAddr()); err == nil {
		ports = append(ports, ap.Port())
	}
	return ports
}

// sfuAddrs are the addresses the SFU's host candidates carry, which TURN
// must relay to even when they are private: the public IPs, the listen IP
// or, when it is unspecified, every non-loopback interface address, and
// loopback only when the SFU offers loopback candidates.
func sfuAddrs(cfg Config) []netip.Addr {
	var out []netip.Addr
	add := func(s string) {
		if ip, err := netip.ParseAddr(s); err == nil && !ip.IsUnspecified() {
			out = append(out, ip.Unmap())
		}
	}
	for _, ip := range cfg.PublicIPs {
		add(ip)
	}
	if ip, err := netip.ParseAddr(cfg.RTCListenIP); err == nil && !ip.IsUnspecified() {
		add(cfg.RTCListenIP)
	} else if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() {
				add(n.IP.String())
			}
		}
	}
	if cfg.IncludeLoopback {
		add("127.0.0.1")
	}
	return out
}
