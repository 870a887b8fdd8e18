package client

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Media types (docs/protocol.md §4.4).
const (
	Audio = 1
	Video = 2
)

// Event names (docs/protocol.md §5; call-semantics §3, §7). TRTCCalling
// and TUICallKit names of the same moment both arrive.
const (
	EvInvited           = "onInvited"
	EvCallReceived      = "onCallReceived"
	EvUserAccept        = "onUserAccept"
	EvUserEnter         = "onUserEnter"
	EvUserJoin          = "onUserJoin"
	EvCallBegin         = "onCallBegin"
	EvUserLeave         = "onUserLeave"
	EvUserReject        = "onUserReject"
	EvUserNoResponse    = "onUserNoResponse"
	EvUserLineBusy      = "onUserLineBusy"
	EvCallCancelled     = "onCallCancelled"
	EvUserInviting      = "onUserInviting"
	EvReject            = "onReject"
	EvNoResp            = "onNoResp"
	EvLineBusy          = "onLineBusy"
	EvCallingCancel     = "onCallingCancel"
	EvCallingTimeout    = "onCallingTimeout"
	EvCallEnd           = "onCallEnd"
	EvInviteeListUpdate = "onGroupCallInviteeListUpdate"
	EvMediaTypeChanged  = "onCallMediaTypeChanged"
	EvKickedOut         = "onKickedOut"
	EvKickedOffline     = "onKickedOffline"
	EvUserSigExpired    = "onUserSigExpired"
	EvUserOnline        = "onUserOnline"
	EvUserOffline       = "onUserOffline"
	EvMedia             = "media"
)

// LoginArgs is the data of a login request (§4.1).
type LoginArgs struct {
	Version  int    `json:"version,omitempty"`
	SDKAppID uint32 `json:"sdkappid"`
	UserID   string `json:"userID"`
	UserSig  string `json:"userSig"`
	Presence bool   `json:"presence,omitempty"`
	// Resume takes over a session of this user that the server still
	// holds (a reconnect after a network change), keeping its call.
	Resume bool `json:"resume,omitempty"`
}

// LoginReply is the login reply's data.
type LoginReply struct {
	Version    int             `json:"version"`
	UserID     string          `json:"userID"`
	SDKAppID   uint32          `json:"sdkappid"`
	ExpiresAt  int64           `json:"expiresAt"`
	ICEServers json.RawMessage `json:"iceServers"`
	Online     []string        `json:"online"`
	Resumed    bool            `json:"resumed"`
}

// CallReply is the reply data of call, groupCall and accept.
type CallReply struct {
	CallID string `json:"callID"`
	RoomID string `json:"roomID"`
	Type   int    `json:"type"`
}

// CallArgs is the data of call (§4.4) and groupCall (§4.5).
type CallArgs struct {
	UserID     string   `json:"userID,omitempty"`
	UserIDList []string `json:"userIDList,omitempty"`
	Type       int      `json:"type,omitempty"`
	Timeout    *int     `json:"timeout,omitempty"` // seconds; nil = server default
	RoomID     any      `json:"roomID,omitempty"`
	UserData   string   `json:"userData,omitempty"`
	GroupID    string   `json:"groupID,omitempty"`
	CallID     string   `json:"callID,omitempty"`
}

type callRef struct {
	CallID string `json:"callID,omitempty"`
}

func (c *Client) do(ctx context.Context, typ string, args, out any) error {
	data, err := c.Request(ctx, typ, args)
	if err != nil {
		return err
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("decode %s reply: %w", typ, err)
		}
	}
	return nil
}

// Login logs in on this connection.
func (c *Client) Login(ctx context.Context, args LoginArgs) (LoginReply, error) {
	var r LoginReply
	err := c.do(ctx, "login", args, &r)
	return r, err
}

// RenewSig replaces the session's UserSig; it returns the new expiry.
func (c *Client) RenewSig(ctx context.Context, sig string) (time.Time, error) {
	var r struct {
		ExpiresAt int64 `json:"expiresAt"`
	}
	err := c.do(ctx, "renewSig", map[string]string{"userSig": sig}, &r)
	return time.Unix(r.ExpiresAt, 0), err
}

// Logout ends the session; the server then closes the connection.
func (c *Client) Logout(ctx context.Context) error { return c.do(ctx, "logout", nil, nil) }

// Call starts a 1:1 call.
func (c *Client) Call(ctx context.Context, userID string, media int) (CallReply, error) {
	return c.CallWith(ctx, CallArgs{UserID: userID, Type: media})
}

// CallWith starts a 1:1 call with all arguments.
func (c *Client) CallWith(ctx context.Context, args CallArgs) (CallReply, error) {
	var r CallReply
	err := c.do(ctx, "call", args, &r)
	return r, err
}

// GroupCall starts a group call, or invites more people into the group
// call the user is joined to (args.CallID or implicit).
func (c *Client) GroupCall(ctx context.Context, args CallArgs) (CallReply, error) {
	var r CallReply
	err := c.do(ctx, "groupCall", args, &r)
	return r, err
}

// Invite invites more users into a live group call (midway invite).
func (c *Client) Invite(ctx context.Context, callID string, userIDs ...string) (CallReply, error) {
	return c.GroupCall(ctx, CallArgs{UserIDList: userIDs, CallID: callID})
}

// Accept accepts an invitation ("" = the one ringing).
func (c *Client) Accept(ctx context.Context, callID string) (CallReply, error) {
	var r CallReply
	err := c.do(ctx, "accept", callRef{callID}, &r)
	return r, err
}

// Reject rejects an invitation ("" = the one ringing).
func (c *Client) Reject(ctx context.Context, callID string) error {
	return c.do(ctx, "reject", callRef{callID}, nil)
}

// Hangup leaves or cancels a call ("" = the user's call).
func (c *Client) Hangup(ctx context.Context, callID string) error {
	return c.do(ctx, "hangup", callRef{callID}, nil)
}

// HangupFailed ends, as its caller, a call whose start failed before any
// answer (the call_failed webhook, docs/protocol.md §4.8).
func (c *Client) HangupFailed(ctx context.Context, callID string) error {
	return c.do(ctx, "hangup", struct {
		CallID string `json:"callID,omitempty"`
		Failed bool   `json:"failed"`
	}{callID, true}, nil)
}

// Join enters a live group call the user was invited to before (§4.13).
func (c *Client) Join(ctx context.Context, callID string) (CallReply, error) {
	var r CallReply
	err := c.do(ctx, "join", callRef{callID}, &r)
	return r, err
}

// Ignore silences a ringing invitation; the inviter hears busy (§4.14).
func (c *Client) Ignore(ctx context.Context, callID string) error {
	return c.do(ctx, "ignore", callRef{callID}, nil)
}

// SwitchToAudio / SwitchToVideo change a 1:1 call's media type.
func (c *Client) SwitchToAudio(ctx context.Context, callID string) error {
	return c.do(ctx, "switchToAudio", callRef{callID}, nil)
}

func (c *Client) SwitchToVideo(ctx context.Context, callID string) error {
	return c.do(ctx, "switchToVideo", callRef{callID}, nil)
}

// Media sends an SFU message (docs/media.md) in the media envelope.
func (c *Client) Media(ctx context.Context, data any) error {
	return c.do(ctx, "media", data, nil)
}

// Presence lists the app's other online users.
func (c *Client) Presence(ctx context.Context) ([]string, error) {
	var r struct {
		Online []string `json:"online"`
	}
	err := c.do(ctx, "presence", nil, &r)
	return r.Online, err
}

// Ping round-trips a ping request.
func (c *Client) Ping(ctx context.Context) error { return c.do(ctx, "ping", nil, nil) }
