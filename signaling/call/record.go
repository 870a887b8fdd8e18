package call

import (
	"math"
	"slices"
	"strconv"
	"time"

	"callbox/signaling/call/record"
)

// call is one live call: its record plus the engine's timers.
type call struct {
	rec   record.Call
	group bool
	media MediaType
	room  RoomRef
	idx   map[string]int // user -> index in rec.Participants
	// ringAt holds the invite deadline of each pending invitee (none when
	// the call's timeout is 0); graceAt the grace expiry of each joined
	// participant whose connection dropped.
	ringAt  map[string]time.Time
	graceAt map[string]time.Time
}

// due reports whether user's deadline in m (ringAt or graceAt) is at or
// before now.
func (c *call) due(m map[string]time.Time, user string, now time.Time) bool {
	t, ok := m[user]
	return ok && !t.After(now)
}

// snapshot returns a deep copy of the record.
func (c *call) snapshot() record.Call {
	r := c.rec
	r.Participants = slices.Clone(c.rec.Participants)
	return r
}

// part returns the participant entry of user, or nil.
func (c *call) part(user string) *record.Participant {
	i, ok := c.idx[user]
	if !ok {
		return nil
	}
	return &c.rec.Participants[i]
}

// add appends a participant, or reuses the entry of a user re-invited
// after its earlier participation ended (one entry per user and call).
func (c *call) add(p record.Participant) *record.Participant {
	if i, ok := c.idx[p.UserID]; ok {
		c.rec.Participants[i] = p
		return &c.rec.Participants[i]
	}
	c.idx[p.UserID] = len(c.rec.Participants)
	c.rec.Participants = append(c.rec.Participants, p)
	return &c.rec.Participants[len(c.rec.Participants)-1]
}

// users returns, in participant order, the users in one of the states.
func (c *call) users(states ...string) []string {
	var out []string
	for _, p := range c.rec.Participants {
		if slices.Contains(states, p.State) {
			out = append(out, p.UserID)
		}
	}
	return out
}

func (c *call) joined() []string  { return c.users(record.PartJoined) }
func (c *call) pending() []string { return c.users(record.PartInvited, record.PartRinging) }

// alive is the lifetime rule (call-semantics §7.2): two parties joined, or
// one joined while someone still rings.
func (c *call) alive() bool {
	j := len(c.joined())
	return j >= 2 || (j == 1 && len(c.pending()) > 0)
}

// updateState recomputes the record's state of a call that goes on.
func (c *call) updateState() {
	if len(c.joined()) >= 2 {
		c.rec.State = record.CallActive
	} else {
		c.rec.State = record.CallRinging
	}
}

// callEndSecs is TRTCCalling's callEnd / TUICallKit's totalTime: rounded
// seconds from the first accept, 0 when nobody accepted (call-semantics §2).
func (c *call) callEndSecs(now time.Time) int {
	if c.rec.AcceptAt.IsZero() {
		return 0
	}
	return int(math.Round(now.Sub(c.rec.AcceptAt).Seconds()))
}

// roomValue is inviteData.roomID: a number for RoomIdType 1.
func (c *call) roomValue() any {
	if c.room.StrRoomID != "" {
		return c.room.StrRoomID
	}
	return c.room.IntRoomID
}

// roleOf returns TUICallKit's callRole and the webhook role of a user.
func (c *call) roleOf(user string) (int, string) {
	if user == c.rec.Caller {
		return RoleCaller, roleCallerString
	}
	return RoleCallee, roleCalleeString
}

// calleeList is the invitee list of INVITED/onCallReceived: the callees
// invited, ringing or joined.
func (c *call) calleeList() []string {
	var out []string
	for _, p := range c.rec.Participants {
		if p.Role == roleCalleeString && (p.State == record.PartInvited || p.State == record.PartRinging || p.State == record.PartJoined) {
			out = append(out, p.UserID)
		}
	}
	return out
}

func roomRef(roomID string, typ int) RoomRef {
	if typ == 2 {
		return RoomRef{StrRoomID: roomID}
	}
	n, _ := strconv.ParseUint(roomID, 10, 32)
	return RoomRef{IntRoomID: uint32(n)}
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}
