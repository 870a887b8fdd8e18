// Package call is callbox's call engine: one state machine per call
// (ringing, accept, reject, busy, timeout, cancel, hang-up, midway invite,
// media switch, kick-out, reconnect grace) following the project spec
// spec/call-semantics.md (cited as "call-semantics §N" in this package):
// the scenarios of §4 and the binding decisions of §7.
//
// The engine owns the live calls (their records, of package record), the
// user-to-call index that the busy rule reads and who is online. It is
// pure and deterministic: no goroutines, no I/O, no clock (every operation
// takes now), no locks (the signaling server calls it under its own
// mutex). Each operation returns a Transition: the call record after the
// change, the client events to deliver and the webhook outbox entries. The
// caller persists record and hooks in one store transaction, then delivers
// the events; Checkpoint and Undo take back the changes of a batch that
// could not be stored. Timers are data: NextDeadline says when to call
// Expire. An ended call leaves the engine with the Transition that
// ends it; only a tombstone (its participants) stays for tombstoneTTL, so
// that a late answer gets ErrNotRinging rather than ErrNoCall. Interrupt
// is the restart rule for calls a previous process left live.
//
// It must not sleep, touch sockets or the store, or know about media.
//
// # Events
//
// Names are the SDK wire names. Where TRTCCalling and TUICallKit name the
// same moment differently, both are sent (onReject and onUserReject); where
// they share a name (onCallEnd, onUserLeave) one event carries the union of
// both payloads (§7.13). "joined" means the participants joined at that
// moment; events go only to the call's participants, once each (§7.10).
// Events to a user who is offline are the signaling layer's to drop.
//
//	moment                        recipients                 events (in order)                                     payload
//	invitation delivered          the invitee (online)       onInvited, onCallReceived                             InvitedData, CallReceivedData
//	  (Call, InviteMore, Online;  shown again on each Online while it rings)
//	invitee busy (§7.8)           the inviter                onLineBusy, onUserLineBusy                            LineBusyData{sponsor, userID}
//	                              the busy invitee           onLineBusy                                            LineBusyData
//	midway invite (S7)            joined except the inviter  onUserInviting (per invitee), then                    UserRef
//	                              joined                     onGroupCallInviteeListUpdate                          ListUpdateData
//	accept (S1, S6, §7.4)         joined others              onUserEnter{B}, onUserJoin{B}, onUserAccept{B},        UserRef
//	                                                         onCallBegin (first accept only)                       CallBeginData
//	                              the accepter B             onUserEnter{X}, onUserJoin{X} per joined X,           UserRef
//	                                                         onCallBegin                                           CallBeginData
//	                              joined incl. B (group)     onGroupCallInviteeListUpdate                          ListUpdateData
//	reject (S2, S6)               joined                     onReject, onUserReject                                UserRef
//	                              joined (group, call goes on) onGroupCallInviteeListUpdate                        ListUpdateData
//	timeout (S3, S6, §7.1)        the invitee if it rang     onCallingTimeout, onCallCancelled                     TimeoutData, CancelData
//	                              joined                     onNoResp, onUserNoResponse                            NoRespData{sponsor, userID, userIDList}
//	                              joined (group, call goes on) onGroupCallInviteeListUpdate                        ListUpdateData
//	1:1 ends unanswered           the caller                 onCallCancelled (reject, busy, timeout)               CancelData
//	  (S2, S3, S4, §7.9)          caller + invitee if it rang onCallEnd{userID: caller, callEnd: 0} (timeout only)  CallEndData
//	cancel: caller hangs up       ringing invitees           onCallingCancel, onCallCancelled                      CancelData
//	  before any accept, or End   the caller                 onCallCancelled                                       CancelData
//	hang-up (S1, S8)              joined others              onUserLeave                                           UserRef
//	call ends (§7.2, §7.3)        still joined               onCallEnd{userID: caller}                             CallEndData
//	                              the leaver who ended it    onCallEnd{userID: remaining peer, else caller}        CallEndData
//	                              still ringing              onCallingCancel, onCallCancelled                      CancelData
//	kick-out / grace expiry (§7.7) as hang-up, but the interrupted user gets nothing
//	media switch (S10, §7.6)      joined + ringing           onCallMediaTypeChanged                                MediaChangedData
//	reconnect within grace        nobody                     -
//
// Not sent: onInvited to an offline invitee (it gets it on Online, if the
// invitation still rings), an invitee list update when a group call starts
// or ends, onKickedOut (the signaling layer's).
//
// # Errors and races
//
// Every refused operation returns an *Error (errors.Is with the sentinels
// of errors.go) and changes nothing. Duplicate accept: ErrAlreadyJoined.
// Accept or reject of an invitation that timed out (even if Expire has not
// run yet), was cancelled or was answered: ErrNotRinging; that also holds
// for tombstoneTTL after the call ended, then ErrNoCall. Both parties
// hanging up at once: the second gets ErrNoCall (or ErrNotInCall in a
// group call that goes on). A ringing callee's Hangup: ErrMustReject.
// Someone else's call: ErrNotInCall. Self-invite: ErrSelfInvite. More than
// MaxInvitees: ErrTooManyInvitees. A caller that is busy: ErrBusy.
//
// # Webhooks
//
// Hooks follow tencent-compat.md §3: command = role + "_" + event. Call:
// caller_start_call, then per invitee callee_receive_call (when the
// invitation is created, even if the invitee is offline: the invitation
// exists from then on and its timer runs) or caller_call_busy. Accept:
// callee_accept_call, caller_call_accepted. Reject: callee_reject_call,
// caller_call_rejected. Timeout: callee_not_answer_call, caller_call_missed.
// Cancel: caller_cancel_call, callee_call_canceled per pending invitee.
// Hang-up: <role>_call_end(normal_end); kick-out/grace expiry:
// <role>_call_interrupted(interrupt), and when that ends the call the rest
// get call_end(interrupt). Midway: callee_invite_user, callee_receive_call
// per new invitee (a caller invited back into a group call it left gets
// these callee-role invitation hooks too). Nothing for a busy invitee. The caller-side hooks name
// the call's caller even for a midway invitee. CallResult is set on
// terminal events only; a group call reports it only on call_end,
// call_interrupted, cancel_call and call_canceled (normal_end/interrupt).
//
// # Records
//
// A 1:1 call ends with cancel, reject, not_answer, call_busy, normal_end or
// interrupt; a group call with normal_end, or interrupt when an
// interruption ended it. Participant entries are unique per user; a user
// re-invited midway reuses its entry. Call state: ringing while fewer than
// two are joined, active while two or more are, ended.
package call
