package appliance

import (
	"encoding/json"
	"net"

	"callbox/sfu"
	"callbox/store"
	"callbox/turn"
)

// ServerStats is the console's server page (GET /stats): what runs,
// where, and how busy it is. No secret is in it.
type ServerStats struct {
	Health
	HTTPAddr   string   `json:"httpAddr"`
	RTCUDPPort int      `json:"rtcUdpPort"`
	RTCTCPPort int      `json:"rtcTcpPort"` // 0 = off
	PublicIPs  []string `json:"publicIps"`
	TURN       TURNInfo `json:"turn"`
	SFU        SFUInfo  `json:"sfu"`
	Apps       int      `json:"apps"`
	LiveCalls  int      `json:"liveCalls"`
	// StoreBytes is callbox.db's size; LastBackup nil when none was
	// taken through callbox (`callbox backup` or the console).
	StoreBytes int64       `json:"storeBytes"`
	LastBackup *LastBackup `json:"lastBackup"`
}

// TURNInfo is the TURN setup: Mode "embedded", "external" or "off".
type TURNInfo struct {
	Mode     string      `json:"mode"`
	Host     string      `json:"host,omitempty"`
	Port     int         `json:"port,omitempty"`
	TLSPort  int         `json:"tlsPort,omitempty"`
	External string      `json:"external,omitempty"`
	Quota    int         `json:"quota,omitempty"`
	Stats    *turn.Stats `json:"stats,omitempty"` // embedded only
}

// SFUInfo is the media server's counters and rooms.
type SFUInfo struct {
	Stats sfu.Stats      `json:"stats"`
	Rooms []sfu.RoomInfo `json:"rooms"`
}

func (a *Appliance) serverStats() ServerStats {
	s := ServerStats{
		Health:     a.health(),
		HTTPAddr:   a.cfg.HTTPAddr,
		RTCUDPPort: a.sfu.UDPAddr().Port,
		PublicIPs:  append([]string{}, a.cfg.PublicIPs...),
		SFU:        SFUInfo{Stats: a.sfu.Stats(), Rooms: a.sfu.Rooms()},
		LiveCalls:  len(a.calls.Live()),
		StoreBytes: a.store.Size(),
	}
	if s.SFU.Rooms == nil {
		s.SFU.Rooms = []sfu.RoomInfo{}
	}
	if _, port, err := net.SplitHostPort(a.sfu.TCPAddr()); err == nil {
		s.RTCTCPPort, _ = net.LookupPort("tcp", port)
	}
	switch {
	case a.ice == nil:
		s.TURN.Mode = "off"
	case a.ice.External != "":
		s.TURN = TURNInfo{Mode: "external", External: a.ice.External}
	default:
		st := a.turn.Stats()
		quota := a.cfg.TURNQuota
		if quota <= 0 {
			quota = turn.DefaultUserQuota
		}
		s.TURN = TURNInfo{Mode: "embedded", Host: a.ice.Host, Port: a.ice.Port, TLSPort: a.ice.TLSPort,
			Quota: quota, Stats: &st}
	}
	_ = a.store.View(func(tx *store.Tx) error {
		apps, err := tx.Apps()
		s.Apps = len(apps)
		if b, err := tx.Setting(settingLastBackup); err == nil {
			var lb LastBackup
			if json.Unmarshal(b, &lb) == nil {
				s.LastBackup = &lb
			}
		}
		return err
	})
	return s
}
