// callbox browser SDK, part 5 of 5: the TRTCCalling class (the API of
// trtc-calling-js 1.0.x, seeds/trtccalling-web-api.md) on top of the link
// (part 2), the local media (part 3) and the call's media (part 4).

// Events that end the user's part in the call they name (signaling/call's
// table): the SDK drops that call's media before the app hears of it.
const TERMINAL = new Set(['onCallEnd', 'onCallCancelled', 'onCallingCancel', 'onCallingTimeout']);

const ICE_RESTART_MIN_MS = 5000;
const VOLUME_EVERY_MS = 1000; // spec call-semantics §2

class TRTCCalling {
  constructor(options) {
    const o = options || {};
    this.SDKAppID = o.SDKAppID;
    this._em = new Emitter();
    this.local = new LocalMedia((kind, track) => this._localChanged(kind, track));
    this.link = new Link(wsURL(o.server), {
      event: (name, callID, data) => this._onEvent(name, callID, data),
      reconnecting: (info) => this._emit(CALLBOX_EVENT.RECONNECTING, info),
      relogged: (reply) => this._relogged(reply),
      failed: (err) => this._lost(CALLBOX_EVENT.RECONNECT_FAILED, { code: err.code, message: err.message }),
      closed: (code, reason) => this._lost(CALLBOX_EVENT.DISCONNECTED, { code, reason }),
    });
    this._userID = '';
    this._iceServers = [];
    this._status = 'idle';
    this._call = null; // {callID, roomID, type, group, media, since}
    this._invite = null; // {callID, type, group}
    this._seen = []; // invitation events the app already heard
    this._localView = null;
    this._videoOff = false; // told the SFU the camera is off
    this._vol = { last: 0, timer: null, data: null };
    this._lastRestart = 0;
    this._speaker = ''; // setSpeaker's device, '' = the default
  }

  on(eventName, callback, context) { this._em.on(eventName, callback, context); }

  off(eventName, callback, context) { this._em.off(eventName, callback, context); }

  _emit(name, payload) { this._em.emit(name, payload); }

  _error(code, message) { this._emit(EVENT.ERROR, { code, msg: message, message }); }

  getCallStatus() { return this._status; }

  // login resolves to the server's login reply (docs/protocol.md §4.1); a
  // bad sig rejects with its 700xx code. callbox: presence, status and
  // name are passed to the server (a contact list's subscriptions and the
  // user's display name, §4.1).
  async login({ userID, userSig, presence, status, name } = {}) {
    if (!hasWebRTC()) this._error(ERR.NO_WEBRTC, 'this browser has no WebRTC: calls cannot have media');
    const args = { version: 1, sdkappid: Number(this.SDKAppID), userID, userSig };
    if (presence) args.presence = true;
    if (status) args.status = true;
    if (name) args.name = String(name);
    const reply = await this.link.login(args);
    this._userID = userID;
    this._iceServers = reply.iceServers || [];
    this._emit(EVENT.SDK_READY, { name: 'sdkStateReady' });
    return reply;
  }

  async logout() {
    this._endLocal();
    this._invite = null;
    this._status = 'idle';
    await this.link.logout();
  }

  // renewSig replaces the session's UserSig after onUserSigExpired without
  // dropping the call (docs/protocol.md §4.2); resolves to {expiresAt}.
  async renewSig(userSig) {
    const r = await this.link.request('renewSig', { userSig });
    this.link.setSig(userSig);
    return r;
  }

  call({ userID, type, timeout, offlinePushInfo, roomID, userData } = {}) {
    return this._start('call', { userID, type }, { timeout, offlinePushInfo, roomID, userData }, false);
  }

  // groupCall during a call invites more people into it (midway invite).
  groupCall({ userIDList, type, groupID, offlinePushInfo, timeout, roomID, userData } = {}) {
    if (this._call) {
      return this.link.request('groupCall', this._opt({ userIDList, type: type || this._call.type, callID: this._call.callID },
        { groupID, offlinePushInfo, timeout, userData }));
    }
    return this._start('groupCall', { userIDList, type }, { groupID, timeout, offlinePushInfo, roomID, userData }, true);
  }

  _opt(data, optional) {
    for (const k of Object.keys(optional)) if (optional[k] !== undefined) data[k] = optional[k];
    return data;
  }

  async _start(req, data, optional, group) {
    if (this._status !== 'idle' || this._call || this._invite) {
      throw new CallError(4007, req + ': already in a call or ringing');
    }
    this._status = 'calling';
    let reply;
    try {
      await this._prepare(data.type);
      reply = await this.link.request(req, this._opt(data, optional));
    } catch (e) {
      this._status = 'idle';
      this.local.stopAll();
      throw e;
    }
    try {
      this._begin(reply, data.type, group);
    } catch (e) {
      // No connection for the call's media could be made at all: end the
      // call as a failed start (the caller_call_failed webhook).
      this._endLocal();
      this._status = 'idle';
      this.link.request('hangup', { callID: reply.callID, failed: true }).catch(() => {});
      const err = new CallError(ERR.NO_WEBRTC, req + ': media connection failed: ' + e.message);
      this._error(err.code, err.message);
      throw err;
    }
    return reply;
  }

  // join enters a live group call this user was invited to before (it
  // rejected, missed or left it): callbox's form of TUICallKit's join
  // (docs/protocol.md §4.13). Resolves to {callID, roomID, type}.
  async join({ callID, type } = {}) {
    if (this._status !== 'idle' || this._call || this._invite) {
      throw new CallError(4007, 'join: already in a call or ringing');
    }
    if (!callID) throw new CallError(4000, 'join: callID is required');
    this._status = 'connected';
    let reply;
    try {
      await this._prepare(type || CALL_TYPE.VIDEO_CALL);
      reply = await this.link.request('join', { callID });
    } catch (e) {
      this._status = 'idle';
      this.local.stopAll();
      throw e;
    }
    this._begin(reply, reply.type, true);
    return reply;
  }

  // ignore silences the ringing invitation: the caller hears the line
  // busy, this side nothing more (TUICallEngine's ignore()).
  async ignore() {
    const inv = this._invite;
    if (!inv || this._call) return;
    this._invite = null;
    this._status = 'idle';
    await this.link.request('ignore', { callID: inv.callID });
  }

  // _prepare gets the microphone (and camera for video): a missing
  // microphone fails the call, a missing camera makes it audio-only.
  async _prepare(type) {
    try {
      await this.local.ensure(type, (code, msg) => this._error(code, msg));
    } catch (e) {
      this._error(e.code, e.message);
      throw e;
    }
  }

  _begin(reply, type, group) {
    const media = new MediaCall(this, this._iceServers);
    this._call = { callID: reply.callID, roomID: reply.roomID, type, group, media, since: Date.now() };
    this._videoOff = false;
    media.start(type === CALL_TYPE.VIDEO_CALL);
    if (this.local.micMuted) media.mute('audio', true);
  }

  // accept and reject with no invitation ringing do nothing (the package
  // behaves so, spec call-semantics §3).
  async accept() {
    const inv = this._invite;
    if (!inv || this._call || inv.accepting) return;
    inv.accepting = true;
    let reply;
    try {
      await this._prepare(inv.type);
      reply = await this.link.request('accept', { callID: inv.callID });
    } catch (e) {
      inv.accepting = false;
      this.local.stopAll();
      throw e;
    }
    if (this._invite === inv) this._invite = null;
    this._status = 'connected';
    this._begin(reply, reply.type || inv.type, inv.group);
    return reply;
  }

  async reject() {
    const inv = this._invite;
    if (!inv || this._call) return;
    this._invite = null;
    this._status = 'idle';
    this._forget(inv.callID);
    await this.link.request('reject', { callID: inv.callID });
  }

  // hangup leaves (or, unanswered, cancels) the call; a ringing callee
  // rejects (the server would refuse a hangup, docs/protocol.md §4.8).
  async hangup() {
    if (!this._call) return this.reject();
    const callID = this._call.callID;
    this._endLocal();
    try {
      await this.link.request('hangup', { callID });
    } catch (e) {
      if (e.code !== 4005) throw e; // 4005: the call had ended already
    }
  }

  startRemoteView({ userID, videoViewDomID } = {}) {
    if (!this._call) return Promise.reject(new CallError(4005, 'startRemoteView: not in a call'));
    this._call.media.startView(userID, videoViewDomID);
    return Promise.resolve();
  }

  stopRemoteView({ userID } = {}) {
    if (this._call) this._call.media.stopView(userID);
    return Promise.resolve();
  }

  startLocalView({ videoViewDomID } = {}) {
    this.stopLocalView();
    this._localView = mountVideo(videoViewDomID, true);
    showTrack(this._localView, this.local.video);
    return Promise.resolve();
  }

  stopLocalView() {
    unmountVideo(this._localView);
    this._localView = null;
    return Promise.resolve();
  }

  async openCamera() {
    try {
      await this.local.openCamera();
    } catch (e) {
      this._error(e.code, e.message);
      throw e;
    }
  }

  async closeCamera() { this.local.stop('video'); }

  async setMicMute(isMute) {
    this.local.setMicMuted(isMute);
    if (this._call) this._call.media.mute('audio', !!isMute);
  }

  setVideoQuality(profile) {
    if (!PROFILES[profile]) {
      console.warn('TRTCCalling: unknown video profile ' + profile);
      return;
    }
    this.local.profile = profile;
  }

  switchToAudioCall() { return this._switch('switchToAudio', ERR.SWITCH_TO_AUDIO); }

  switchToVideoCall() { return this._switch('switchToVideo', ERR.SWITCH_TO_VIDEO); }

  // _switch asks the server to change the media type of a 1:1 call; both
  // sides then get onCallMediaTypeChanged and change their tracks.
  async _switch(req, code) {
    const ref = this._call || this._invite;
    try {
      if (!ref || ref.group) throw new CallError(code, req + ': only in a 1:1 call');
      await this.link.request(req, { callID: ref.callID });
    } catch (e) {
      let err = e;
      if (e.code !== code) { // the server's reason (70001, 4005, ...) stays in cause
        err = new CallError(code, req + ': ' + e.message + ' (' + e.code + ')');
        err.cause = e;
      }
      this._error(code, err.message);
      throw err;
    }
  }

  getCameras() { return listDevices('videoinput'); }

  getMicrophones() { return listDevices('audioinput'); }

  // callbox: the loudspeakers, and the one remote audio plays through
  // (HTMLMediaElement.setSinkId; a browser without it keeps the default).
  getSpeakers() { return listDevices('audiooutput'); }

  async setSpeaker(deviceId) {
    this._speaker = String(deviceId || '');
    if (this._call) await this._call.media.setSink(this._speaker);
  }

  // callbox: a signaling request the class has no method for (the web
  // app's contacts, addContact, setName, history: docs/protocol.md
  // §4.15-4.18); resolves to the reply data.
  request(type, data) { return this.link.request(String(type), data); }

  async switchDevice({ deviceType, deviceId } = {}) {
    const kind = deviceType === 'video' ? 'video' : 'audio';
    try {
      await this.local.switchDevice(kind, deviceId);
    } catch (e) {
      this._error(e.code, e.message);
      throw e;
    }
  }

  // _localChanged follows the local tracks into the call and local view.
  _localChanged(kind, track) {
    if (kind === 'video') showTrack(this._localView, track);
    const c = this._call;
    if (!c) return;
    c.media.setTrack(kind, track);
    if (kind === 'video' && this._videoOff !== !track) {
      this._videoOff = !track;
      c.media.mute('video', !track);
    }
  }

  _onEvent(name, callID, data) {
    const c = this._call;
    if (name === 'media') {
      if (c) c.media.handle(data);
      return;
    }
    if (name === 'onInvited') {
      const d = data.inviteData || {};
      callID = callID || data.inviteID;
      this._invite = { callID, type: d.callType, group: !!data.isFromGroup };
      if (!c) this._status = 'calling';
    }
    if (name === 'onInvited' || name === 'onCallReceived') {
      // An invitation still ringing is delivered again after each login:
      // the app has heard of it once.
      const key = name + ' ' + callID;
      if (this._seen.includes(key)) return;
      this._seen.push(key);
      if (this._seen.length > 64) this._seen.shift();
    } else if (name === 'onCallMediaTypeChanged') {
      this._mediaTypeChanged(callID, data);
    } else if ((name === 'onCallBegin' || name === 'onUserAccept') && c && c.callID === callID) {
      this._status = 'connected';
    } else if (name === 'onKickedOut') {
      this._endLocal();
      this._invite = null;
    } else if (TERMINAL.has(name)) {
      this._forget(callID);
      if (c && c.callID === callID) this._endLocal();
      if (this._invite && this._invite.callID === callID) this._invite = null;
      if (!this._call) this._status = this._invite ? 'calling' : 'idle';
    }
    this._emit(name, data);
  }

  _mediaTypeChanged(callID, data) {
    const type = data.newCallMediaType;
    if (this._invite && this._invite.callID === callID) this._invite.type = type;
    const c = this._call;
    if (!c || c.callID !== callID) return;
    c.type = type;
    if (type === CALL_TYPE.AUDIO_CALL) {
      this.local.stop('video');
    } else if (type === CALL_TYPE.VIDEO_CALL) {
      this.local.openCamera().catch((e) => this._error(ERR.SWITCH_TO_VIDEO, e.message));
    }
  }

  // emitMedia re-emits the SFU's events (docs/media.md §4) for the app.
  emitMedia(name, data) {
    if (name === 'onUserVoiceVolume') {
      this._volume(data);
      return;
    }
    if (name === 'onUserNetworkQualityChanged') {
      const m = new Map([[this._userID, data.localQuality]]);
      for (const q of data.remoteQuality || []) m.set(q.userID, q.quality);
      this._emit(name, Object.assign(m, data));
      return;
    }
    if (data.userID !== undefined && data.userId === undefined) data.userId = data.userID;
    this._emit(name, data);
  }

  // _volume thins the SFU's 400 ms volume events to one a second, keeping
  // the latest (the final all-zero one included).
  _volume(data) {
    this._vol.data = data;
    const wait = VOLUME_EVERY_MS - (Date.now() - this._vol.last);
    if (wait <= 0) this._flushVolume();
    else if (!this._vol.timer) this._vol.timer = setTimeout(() => this._flushVolume(), wait);
  }

  _flushVolume() {
    const data = this._vol.data;
    clearTimeout(this._vol.timer);
    this._vol = { last: Date.now(), timer: null, data: null };
    if (!data) return;
    this._emit(EVENT.USER_VOICE_VOLUME, data);
    const m = new Map(Object.entries(data.volumeMap || {}));
    this._emit(CALLBOX_EVENT.VOICE_VOLUME_CHANGED, Object.assign(m, data));
  }

  // iceTrouble: a PC's ICE broke. A live signaling connection means only
  // the media path broke: restart ICE. A dead one reconnects first, and
  // the login's resume restarts ICE (_relogged).
  async iceTrouble() {
    const now = Date.now();
    if (now - this._lastRestart < ICE_RESTART_MIN_MS) return;
    this._lastRestart = now;
    if (await this.link.probe(3000) && this._call) this._call.media.resume();
  }

  _relogged(reply) {
    this._iceServers = reply.iceServers || [];
    this._invite = null; // one still ringing is delivered again
    const c = this._call;
    if (c && reply.resumed) {
      c.media.setIceServers(this._iceServers);
      c.media.resume();
    } else if (c) {
      // The grace ran out: the server ended our part without telling us.
      this._endLocal();
      this._emit(EVENT.CALL_END, {
        userID: this._userID, userId: this._userID, callEnd: Math.round((Date.now() - c.since) / 1000),
        reason: 'interrupted',
      });
    }
    this._emit(CALLBOX_EVENT.RECONNECTED, { resumed: !!reply.resumed });
  }

  _lost(event, info) {
    this._endLocal();
    this._invite = null;
    this._status = 'idle';
    this._emit(event, info);
  }

  // _endLocal drops the call's media and the local devices.
  // _forget drops the memory of a call's invitation once the user's part
  // in it is over: inviting the user back into it (a midway invite of a
  // group call the user left) rings again.
  _forget(callID) {
    if (callID) this._seen = this._seen.filter((k) => !k.endsWith(' ' + callID));
  }

  _endLocal() {
    const c = this._call;
    this._call = null;
    if (c) {
      c.media.close();
      this._forget(c.callID);
    }
    clearTimeout(this._vol.timer);
    this._vol = { last: 0, timer: null, data: null };
    this.local.stopAll();
    this.local.micMuted = false;
    this._videoOff = false;
    this._status = this._invite ? 'calling' : 'idle';
  }
}

TRTCCalling.EVENT = EVENT;
TRTCCalling.CALLBOX_EVENT = CALLBOX_EVENT;
TRTCCalling.CALL_TYPE = CALL_TYPE;
TRTCCalling.VERSION = SDK_VERSION;
TRTCCalling.callbox = true;

// Loaded twice (a classic script and the .mjs), the first class stays.
if (!(globalThis.TRTCCalling && globalThis.TRTCCalling.callbox)) globalThis.TRTCCalling = TRTCCalling;
