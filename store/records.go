package store

import (
	"encoding/json"
	"time"
)

// App is one SDKAppID with its secret key (tencent-compat.md §1).
type App struct {
	SDKAppID uint32    `json:"SDKAppID"`
	Name     string    `json:"Name"`
	Key      string    `json:"Key"`
	Created  time.Time `json:"Created"`
	// Admins are the userIDs that may call the REST API (§2 identifier);
	// empty means DefaultRESTAdmin alone.
	Admins []string `json:"Admins,omitempty"`
	// RobotAudio and RobotVideo name the robot's clips (files in the
	// data directory's robot-media/); "" = the built-in ones.
	RobotAudio string `json:"RobotAudio,omitempty"`
	RobotVideo string `json:"RobotVideo,omitempty"`
}

// OutboxEntry is a webhook event waiting for delivery, written in the same
// transaction as the call record change that caused it.
type OutboxEntry struct {
	Seq      uint64          `json:"Seq"`     // assigned by the store, monotonic
	EventID  string          `json:"EventId"` // stable across retries; X-Callbox-Event-Id
	SDKAppID uint32          `json:"SDKAppID"`
	Command  string          `json:"Command"` // e.g. "caller_start_call"
	Body     json.RawMessage `json:"Body"`
	Created  time.Time       `json:"Created"`
}
