package call

import (
	"strconv"
	"time"

	"callbox/signaling/call/record"
)

// maxUserData caps Invite.UserData.
const maxUserData = 4096

// ValidUserID reports whether s is a user id callbox accepts: 1-32 bytes of
// printable ASCII without space or ','.
func ValidUserID(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' || s[i] == ',' {
			return false
		}
	}
	return true
}

// Call starts a 1:1 or group call. The caller is joined at once (it enters
// the media room before the invitations go out, call-semantics §1). Busy
// invitees are answered LINE_BUSY at once; a 1:1 call whose callee is busy
// ends in the same Transition with CallResult call_busy (S4), a group call
// whose invitees are all busy ends with normal_end.
func (e *Engine) Call(now time.Time, inv Invite) (Transition, error) {
	e.prune(now)
	callees, err := e.checkInvite(inv)
	if err != nil {
		return Transition{}, err
	}
	timeout := e.cfg.DefaultTimeout
	if inv.Timeout != nil {
		timeout = *inv.Timeout
	}
	typ := inv.RoomIDType
	if typ == 0 {
		typ = 1
	}
	room := inv.RoomID
	if room == "" {
		if room, err = e.newRoom(inv.SDKAppID); err != nil {
			return Transition{}, err
		}
	}
	c := &call{
		group:   inv.Group,
		media:   inv.Media,
		room:    roomRef(room, typ),
		idx:     make(map[string]int),
		ringAt:  make(map[string]time.Time),
		graceAt: make(map[string]time.Time),
		rec: record.Call{
			SDKAppID:   inv.SDKAppID,
			CallID:     e.cfg.NewCallID(),
			RoomID:     room,
			RoomIDType: typ,
			MediaType:  inv.Media.String(),
			CallType:   "single",
			Caller:     inv.Caller,
			State:      record.CallRinging,
			Timeout:    timeout,
			UserData:   inv.UserData,
			StartAt:    now,
		},
	}
	if inv.Group {
		c.rec.CallType = "group"
	}
	c.add(record.Participant{UserID: inv.Caller, Role: roleCallerString, State: record.PartJoined, JoinedAt: now})
	e.touch(callKey{inv.SDKAppID, c.rec.CallID})
	e.calls[callKey{inv.SDKAppID, c.rec.CallID}] = c
	e.addRoom(callKey{inv.SDKAppID, c.rec.CallID}, c.rec.RoomID)
	e.setUser(userKey{inv.SDKAppID, inv.Caller}, c.rec.CallID)

	b := e.begin(c, now)
	b.tr.Joined = append(b.tr.Joined, inv.Caller)
	b.hook(inv.Caller, roleCallerString, HookStartCall, "")
	for _, u := range callees {
		b.invite(inv.Caller, u, false)
	}
	b.deliverNew(callees)
	if !c.alive() {
		b.afterInvitee(record.ResultBusy, callees[0], false)
	}
	return b.done(), nil
}

// InviteMore invites more users into a live group call (midway invite, S7).
// by must be joined. Users already invited, ringing or joined are skipped;
// users whose earlier invitation ended are invited again. Others get
// onUserInviting per new invitee and an invitee list update (§7.5).
func (e *Engine) InviteMore(now time.Time, app uint32, by, callID string, callees []string) (Transition, error) {
	e.prune(now)
	c, err := e.lookup(app, callID)
	if err != nil {
		return Transition{}, err
	}
	if !c.group {
		return Transition{}, errf(ErrNotGroup, "%q", callID)
	}
	if p := c.part(by); p == nil || p.State != record.PartJoined {
		return Transition{}, errf(ErrNotInCall, "%q not joined to %q", by, callID)
	}
	list, err := cleanCallees(by, callees)
	if err != nil {
		return Transition{}, err
	}
	var fresh []string
	for _, u := range list {
		if p := c.part(u); p != nil && (p.State == record.PartInvited || p.State == record.PartRinging || p.State == record.PartJoined) {
			continue
		}
		fresh = append(fresh, u)
	}
	if len(fresh) == 0 {
		return Transition{}, nil
	}
	added := 0 // re-invites reuse their entry
	for _, u := range fresh {
		if c.part(u) == nil {
			added++
		}
	}
	if n := len(c.rec.Participants) - 1 + added; n > e.cfg.MaxInvitees {
		return Transition{}, errf(ErrTooManyInvitees, "%d > %d", n, e.cfg.MaxInvitees)
	}
	b := e.begin(c, now)
	var invited []string
	for _, u := range fresh {
		if b.invite(by, u, true) {
			invited = append(invited, u)
		}
	}
	b.deliverNew(invited)
	if len(invited) > 0 {
		for _, j := range c.joined() {
			if j == by {
				continue
			}
			for _, u := range invited {
				b.emit(j, EvUserInviting, userRef(u))
			}
		}
		b.listUpdate()
	}
	c.updateState()
	return b.done(), nil
}

// checkInvite validates an Invite and returns its callee list.
func (e *Engine) checkInvite(inv Invite) ([]string, error) {
	if inv.SDKAppID == 0 {
		return nil, errf(ErrBadParam, "SDKAppID 0")
	}
	if !ValidUserID(inv.Caller) {
		return nil, errf(ErrBadParam, "caller %q: bad user id", inv.Caller)
	}
	if inv.Media != MediaAudio && inv.Media != MediaVideo {
		return nil, errf(ErrBadParam, "media type %d", inv.Media)
	}
	if inv.Timeout != nil && *inv.Timeout < 0 {
		return nil, errf(ErrBadParam, "negative timeout")
	}
	if len(inv.UserData) > maxUserData {
		return nil, errf(ErrBadParam, "user data longer than %d bytes", maxUserData)
	}
	if err := e.checkRoom(inv); err != nil {
		return nil, err
	}
	callees, err := cleanCallees(inv.Caller, inv.Callees)
	if err != nil {
		return nil, err
	}
	if len(callees) > e.cfg.MaxInvitees {
		return nil, errf(ErrTooManyInvitees, "%d > %d", len(callees), e.cfg.MaxInvitees)
	}
	if !inv.Group && len(callees) != 1 {
		return nil, errf(ErrBadParam, "a 1:1 call needs exactly one callee, got %d", len(callees))
	}
	if _, busy := e.users[userKey{inv.SDKAppID, inv.Caller}]; busy {
		return nil, errf(ErrBusy, "%q", inv.Caller)
	}
	return callees, nil
}

// cleanCallees checks the ids, drops duplicates and refuses self.
func cleanCallees(self string, in []string) ([]string, error) {
	if len(in) == 0 {
		return nil, errf(ErrBadParam, "no callees")
	}
	seen := make(map[string]bool, len(in))
	out := make([]string, 0, len(in))
	for _, u := range in {
		if !ValidUserID(u) {
			return nil, errf(ErrBadParam, "callee %q: bad user id", u)
		}
		if u == self {
			return nil, errf(ErrSelfInvite, "%q", u)
		}
		if !seen[u] {
			seen[u] = true
			out = append(out, u)
		}
	}
	return out, nil
}

// checkRoom validates a given room id and refuses one a live call uses.
func (e *Engine) checkRoom(inv Invite) error {
	switch inv.RoomIDType {
	case 0, 1:
		if inv.RoomID == "" {
			return nil
		}
		n, err := strconv.ParseUint(inv.RoomID, 10, 32)
		if err != nil || n == 0 || strconv.FormatUint(n, 10) != inv.RoomID {
			return errf(ErrBadParam, "room id %q: want a decimal integer 1..4294967295", inv.RoomID)
		}
	case 2:
		if inv.RoomID == "" {
			return nil
		}
		if len(inv.RoomID) > 64 || !printable(inv.RoomID) {
			return errf(ErrBadParam, "room id %q: want 1-64 printable ASCII bytes", inv.RoomID)
		}
	default:
		return errf(ErrBadParam, "room id type %d", inv.RoomIDType)
	}
	if e.roomInUse(inv.SDKAppID, inv.RoomID) {
		return errf(ErrRoomInUse, "%q", inv.RoomID)
	}
	return nil
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// newRoom generates a room id no live call of the app uses.
func (e *Engine) newRoom(app uint32) (string, error) {
	for range 16 {
		r := e.cfg.NewRoomID()
		if r != "" && !e.roomInUse(app, r) {
			return r, nil
		}
	}
	return "", errf(ErrRoomInUse, "no free room id")
}

// invite adds user as an invitee of by. A busy user is answered LINE_BUSY
// at once (§7.8) and invite returns false. A midway invitee gets the
// invite_user webhook (§7.12) before receive_call.
func (b *builder) invite(by, user string, midway bool) bool {
	c, e := b.c, b.e
	uk := userKey{c.rec.SDKAppID, user}
	// A caller who left a group call may be invited back; its entry keeps
	// the caller role.
	_, role := c.roleOf(user)
	p := record.Participant{UserID: user, Role: role, InvitedBy: by, InvitedAt: b.now}
	if _, busy := e.users[uk]; busy {
		p.State = record.PartBusy
		c.add(p)
		busyData := LineBusyData{Sponsor: by, UserID: user, TUIUserID: user}
		b.emit(by, EvLineBusy, busyData)
		b.emit(by, EvUserLineBusy, busyData)
		b.emit(user, EvLineBusy, busyData)
		b.hook(c.rec.Caller, roleCallerString, HookCallBusy, record.ResultBusy)
		return false
	}
	p.State = record.PartInvited
	c.add(p)
	e.setUser(uk, c.rec.CallID)
	if c.rec.Timeout > 0 {
		c.ringAt[user] = b.now.Add(c.rec.Timeout)
	}
	if midway {
		b.hook(user, roleCalleeString, HookInviteUser, "")
	}
	b.hook(user, roleCalleeString, HookReceiveCall, "")
	return true
}

// deliverNew rings the new invitees that are online. It runs after all of
// them were added, so each invitation lists the whole batch.
func (b *builder) deliverNew(users []string) {
	for _, u := range users {
		p := b.c.part(u)
		if p.State == record.PartInvited && b.e.online[userKey{b.c.rec.SDKAppID, u}] {
			b.deliver(p)
		}
	}
}

// deliver shows an invitation to its invitee: invited -> ringing.
func (b *builder) deliver(p *record.Participant) {
	c := b.c
	p.State = record.PartRinging
	if p.RingingAt.IsZero() {
		p.RingingAt = b.now
	}
	list := c.calleeList()
	b.emit(p.UserID, EvInvited, InvitedData{
		Sponsor:     p.InvitedBy,
		UserIDList:  list,
		IsFromGroup: c.group,
		InviteID:    c.rec.CallID,
		InviteData:  InviteData{Version: 4, CallType: c.media, RoomID: c.roomValue()},
	})
	b.emit(p.UserID, EvCallReceived, CallReceivedData{
		CallerID:      p.InvitedBy,
		CalleeIDList:  list,
		CallMediaType: c.media,
		UserData:      c.rec.UserData,
		RoomID:        c.room,
	})
}

// listUpdate tells the joined participants of a group call who still rings.
func (b *builder) listUpdate() {
	if !b.c.group {
		return
	}
	list := b.c.pending()
	if list == nil {
		list = []string{}
	}
	b.emitAll(b.c.joined(), EvInviteeListUpdate, ListUpdateData{UserIDList: list})
}
