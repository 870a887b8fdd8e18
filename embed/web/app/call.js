// The call screens: outgoing (with cancel), incoming (ring, accept audio
// or video, decline; Enter/Esc), and the call itself (a grid of 1-9
// tiles with the active speaker and each one's network quality; mute,
// camera, audio/video switch, devices and quality, invite, hang up, a
// timer). It drives the SDK (docs/sdk.md) and tells the app when a call
// is over.

import { h, icon, initials, hue, duration, list, callError } from './text.js';
import { Ringer } from './ring.js';

const $ = (id) => document.getElementById(id);
const AUDIO = 1;
const VIDEO = 2;
const MAX_PEOPLE = 9; // the grid's size: the user and 8 others

// Network quality (docs/sdk.md §3): 0 unknown, 1 excellent ... 6 down.
const QUALITY = ['', 'Excellent', 'Good', 'Poor', 'Bad', 'Very bad', 'Disconnected'];

export class CallUI {
  constructor(app) {
    this.app = app;
    this.ringer = new Ringer();
    this.state = 'idle'; // idle, outgoing, incoming, incall
    this.call = null; // {type, group, begin, tiles: Map, pending: Set, note, camOn, micMuted}
    this.invite = null; // {callID, sponsor, type, group, others}
    this._timer = null;
    this._flash = null;
    this._notification = null;
    this._wire();
  }

  get busy() { return this.state !== 'idle'; }

  _wire() {
    $('out-cancel').addEventListener('click', () => this.cancel());
    $('in-reject').addEventListener('click', () => this.reject());
    $('in-audio').addEventListener('click', () => this.accept(false));
    $('in-video').addEventListener('click', () => this.accept(true));
    $('c-mic').addEventListener('click', () => this.toggleMic());
    $('c-cam').addEventListener('click', () => this.toggleCamera());
    $('c-switch').addEventListener('click', () => this.switchType());
    $('c-invite').addEventListener('click', () => this.openPicker());
    $('c-settings').addEventListener('click', () => this.openSettings());
    $('c-hangup').addEventListener('click', () => this.hangup());
    document.addEventListener('keydown', (e) => this._key(e));
    document.addEventListener('visibilitychange', () => this._titleFlash());
    $('set-cam').addEventListener('change', (e) => this._device('video', e.target.value));
    $('set-mic').addEventListener('change', (e) => this._device('audio', e.target.value));
    $('set-spk').addEventListener('change', (e) => this.app.trtc.setSpeaker(e.target.value).catch((err) => this.app.toast(callError(err), 'error')));
    $('set-quality').addEventListener('change', (e) => this._quality(e.target.value));
    $('picker').addEventListener('close', () => this._pickerClosed());
  }

  // events subscribes to the SDK's events; called with each new SDK.
  events(trtc, E, X) {
    const on = (name, fn) => trtc.on(name, (d) => {
      try { fn.call(this, d || {}); } catch (e) { console.error('callbox app:', name, e); }
    });
    on(E.INVITED, this._invited);
    on(E.CALLING_CANCEL, (d) => this._inviteGone(d, 'cancel'));
    on(E.CALLING_TIMEOUT, (d) => this._inviteGone(d, 'timeout'));
    on(E.REJECT, (d) => this._peerNote(d.userID, 'declined the call'));
    on(E.NO_RESP, (d) => this._peerNote(d.userID, 'did not answer'));
    on(E.LINE_BUSY, (d) => this._peerNote(d.userID, 'is in another call'));
    on(E.USER_ACCEPT, (d) => this._joined(d.userID));
    on(E.USER_ENTER, (d) => this._joined(d.userID));
    on('onCallBegin', () => this._begin());
    on(E.USER_LEAVE, (d) => this._left(d.userID));
    on(E.CALL_END, (d) => this._ended(d));
    on('onCallCancelled', () => this._ended({}));
    on(E.USER_VIDEO_AVAILABLE, (d) => this._video(d.userID, d.isVideoAvailable));
    on(E.USER_AUDIO_AVAILABLE, (d) => this._audio(d.userID, d.isAudioAvailable));
    on(E.USER_VOICE_VOLUME, (d) => this._volume(d));
    on(X.NETWORK_QUALITY_CHANGED, (m) => this._networkQuality(m));
    on(E.GROUP_CALL_INVITEE_LIST_UPDATE, (d) => this._ringingList(d.userIDList || []));
    on(X.CALL_MEDIA_TYPE_CHANGED, (d) => this._typeChanged(d.newCallMediaType));
    on(X.RECONNECTING, () => this._connection(false));
    on(X.RECONNECTED, () => this._connection(true));
    on(E.ERROR, (d) => { if (this.busy && d.code >= 60003 && d.code <= 60006) this.app.toast(callError(d), 'error'); });
  }

  // --- placing a call ---

  // start places a call; opts.timeout (seconds) is for tests.
  async start(userIDs, type, opts = {}) {
    if (this.busy) {
      this.app.toast('You are already in a call.', 'error');
      return;
    }
    userIDs = [...new Set(userIDs)].slice(0, MAX_PEOPLE - 1);
    const group = userIDs.length > 1;
    this.ringer.unlock();
    this.call = this._newCall(type, group);
    for (const u of userIDs) this.call.pending.add(u);
    this._setState('outgoing');
    const names = userIDs.map((u) => this.app.nameOf(u));
    $('out-avatars').replaceChildren(...userIDs.slice(0, 4).map((u) => this._avatar(u, 'big')));
    $('out-title').textContent = 'Calling ' + list(names) + '…';
    $('out-sub').textContent = (group ? 'Group ' : '') + (type === VIDEO ? 'video call' : 'audio call');
    this.ringer.start('ringback');
    $('out-cancel').focus();
    try {
      const timeout = opts.timeout;
      if (group) await this.app.trtc.groupCall({ userIDList: userIDs, type, timeout });
      else await this.app.trtc.call({ userID: userIDs[0], type, timeout });
      if (this.call) this.call.placed = true;
    } catch (e) {
      if (this.state === 'outgoing') this._finish(callError(e), 'error');
    }
  }

  async cancel() {
    if (this.state !== 'outgoing') return;
    this._finish('Call cancelled.', '', this.app.trtc.hangup());
  }

  // --- an incoming call ---

  _invited(d) {
    if (this.busy) return; // the server answers busy for the user in a call
    const type = d.inviteData && d.inviteData.callType === VIDEO ? VIDEO : AUDIO;
    const others = (d.userIDList || []).filter((u) => u !== this.app.me.userID);
    this.invite = { callID: d.inviteID, sponsor: d.sponsor, type, group: !!d.isFromGroup || others.length > 0, others };
    this._setState('incoming');
    const name = this.app.nameOf(d.sponsor);
    $('in-avatars').replaceChildren(this._avatar(d.sponsor, 'big'));
    $('in-title').textContent = name + ' is calling';
    const kind = type === VIDEO ? 'video call' : 'audio call';
    $('in-sub').textContent = others.length
      ? 'Group ' + kind + ' with ' + list(others.map((u) => this.app.nameOf(u)))
      : kind[0].toUpperCase() + kind.slice(1);
    $('in-video-wrap').hidden = type !== VIDEO;
    this.ringer.start('incoming');
    (type === VIDEO ? $('in-video') : $('in-audio')).focus();
    this._titleFlash();
    this._notify(name, $('in-sub').textContent);
  }

  async accept(video) {
    if (this.state !== 'incoming') return;
    const inv = this.invite;
    this._stopRinging();
    this.call = this._newCall(inv.type, inv.group);
    this._setState('incall');
    this._enterCall();
    try {
      await this.app.trtc.accept();
    } catch (e) {
      // Not joined (no microphone, say): decline, so the caller is not
      // left waiting for the timeout.
      this.app.trtc.reject().catch(() => {});
      if (this.call) this._finish(callError(e), 'error');
      return;
    }
    if (!this.call) return; // ended meanwhile
    this._begin();
    this._localTile();
    if (inv.type === VIDEO && !video) await this._setCamera(false);
  }

  // join enters a live group call this user declined, missed or left,
  // from its row in the history (the SDK's join, docs/protocol.md §4.13).
  async join(callID, type) {
    if (this.busy) {
      this.app.toast('You are already in a call.', 'error');
      return;
    }
    this.ringer.unlock();
    this.call = this._newCall(type, true);
    this._setState('incall');
    this._enterCall();
    try {
      await this.app.trtc.join({ callID, type });
    } catch (e) {
      if (this.call) this._finish(e.code === 4005 ? 'That call has ended.' : callError(e), 'error');
      this.app.loadHistory(false);
      return;
    }
    if (!this.call) return; // ended meanwhile
    this._begin();
    this._localTile();
  }

  async reject() {
    if (this.state !== 'incoming') return;
    const inv = this.invite;
    this._finish('You declined ' + this.app.nameOf(inv.sponsor) + "'s call.", '', this.app.trtc.reject());
  }

  _inviteGone(d, why) {
    if (this.state !== 'incoming') return;
    const who = this.app.nameOf(this.invite.sponsor);
    this._finish('Missed call from ' + who + (why === 'timeout' ? '.' : ' (cancelled).'), 'missed');
  }

  // --- the call ---

  _newCall(type, group) {
    return { type, group, begin: 0, tiles: new Map(), pending: new Set(), note: '', camOn: type === VIDEO, micMuted: false };
  }

  _joined(user) {
    if (!this.call || !user || user === this.app.me.userID) return;
    this.call.pending.delete(user);
    if (this.state === 'outgoing') {
      this._stopRinging();
      this._setState('incall');
      this._enterCall();
      this._localTile();
      for (const u of this.call.pending) if (u !== user) this._tile(u); // still ringing
    }
    if (this.state !== 'incall') return;
    this._tile(user).dataset.pending = 'false';
    this._layout();
  }

  _begin() {
    if (!this.call || this.call.begin) return;
    this.call.begin = Date.now();
    this._tick();
  }

  _enterCall() {
    $('grid').replaceChildren();
    this.call.tiles.clear();
    this._controls();
    this._tick();
    this._timer = setInterval(() => this._tick(), 1000);
    $('c-hangup').focus();
  }

  _localTile() {
    const me = this.app.me.userID;
    const t = this._tile(me, true);
    t.dataset.pending = 'false';
    if (this.call.camOn) {
      t.dataset.video = 'on';
      this.app.trtc.startLocalView({ userID: me, videoViewDomID: t.querySelector('.video').id });
    }
    this._layout();
  }

  _tile(user, self) {
    let t = this.call.tiles.get(user);
    if (t) return t;
    const name = self ? this.app.me.name || user : this.app.nameOf(user);
    t = h('div.tile', { dataset: { user, video: 'off', muted: 'false', pending: 'true', self: self ? 'true' : 'false' }, role: 'group', 'aria-label': self ? 'You' : name },
      h('div.video', { id: 'v-' + user }),
      h('div.placeholder', {}, this._avatar(user, 'huge')),
      h('div.label', {}, h('span.mic-off', { 'aria-label': 'microphone off', title: 'microphone off' }, icon('micOff')), h('span.name', { text: self ? name + ' (you)' : name })),
      h('span.quality', { dataset: { q: '0' }, 'aria-label': 'network quality unknown' }, h('i'), h('i'), h('i')),
      h('span.ringing-label', { text: 'Ringing…' }));
    this.call.tiles.set(user, t);
    if (self) $('grid').prepend(t);
    else $('grid').append(t);
    this._layout();
    return t;
  }

  _layout() {
    if (!this.call) return;
    const n = this.call.tiles.size;
    $('grid').dataset.count = String(Math.min(Math.max(n, 1), MAX_PEOPLE));
    const names = [...this.call.tiles.keys()].filter((u) => u !== this.app.me.userID).map((u) => this.app.nameOf(u));
    $('call-title').textContent = (this.call.type === VIDEO ? 'Video call' : 'Audio call') + (names.length ? ' with ' + list(names) : '');
    $('c-invite').hidden = !this.call.group;
    $('c-switch').hidden = this.call.group;
  }

  _left(user) {
    if (!this.call) return;
    const t = this.call.tiles.get(user);
    if (t) {
      t.remove();
      this.call.tiles.delete(user);
      this._layout();
      if (this.call.group && this.state === 'incall') this._note(this.app.nameOf(user) + ' left the call.');
    }
  }

  _ringingList(ids) {
    if (!this.call || this.state !== 'incall') return;
    for (const [u, t] of this.call.tiles) if (t.dataset.pending === 'true' && !ids.includes(u)) this._left(u);
    for (const u of ids) if (u !== this.app.me.userID) this._tile(u);
  }

  _peerNote(user, what) {
    if (!this.call) return;
    const text = this.app.nameOf(user) + ' ' + what + '.';
    this.call.pending.delete(user);
    if (this.call.group) {
      if (this.call.tiles.has(user) && this.call.tiles.get(user).dataset.pending === 'true') this._left(user);
      this._note(text);
      this.app.toast(text);
    } else {
      this.call.note = text + (what === 'is in another call' ? ' Try again later.' : '');
    }
  }

  _ended(d) {
    if (!this.call && this.state !== 'incoming') return;
    if (this.state === 'incoming') return; // the invite's own events end it
    let note = this.call.note;
    if (!note) {
      if (d.reason === 'interrupted') note = 'The connection was lost and the call ended. Check your network.';
      else if (this.call.begin) note = 'Call ended · ' + duration((Date.now() - this.call.begin) / 1000);
      else note = 'The call ended.';
    }
    this._finish(note);
  }

  _video(user, on) {
    if (!this.call || this.state !== 'incall' || !user) return;
    // A leaver's video goes after its onUserLeave: no tile for it again.
    if (!on && !this.call.tiles.has(user)) return;
    const t = this._tile(user, user === this.app.me.userID);
    t.dataset.pending = 'false';
    t.dataset.video = on ? 'on' : 'off';
    if (user === this.app.me.userID) return;
    if (on) this.app.trtc.startRemoteView({ userID: user, videoViewDomID: t.querySelector('.video').id });
    else this.app.trtc.stopRemoteView({ userID: user });
  }

  _audio(user, on) {
    if (!this.call || !user || user === this.app.me.userID) return;
    const t = this.call.tiles.get(user);
    if (t) t.dataset.muted = on ? 'false' : 'true';
  }

  _volume(d) {
    if (!this.call) return;
    let best = '';
    let loudest = 10; // below this nobody is speaking
    for (const v of d.userVolumes || []) if (v.volume > loudest) { best = v.userID; loudest = v.volume; }
    for (const [u, t] of this.call.tiles) t.dataset.speaking = String(u === best);
  }

  _networkQuality(m) {
    if (!this.call || typeof m.forEach !== 'function') return;
    m.forEach((q, user) => {
      const t = this.call.tiles.get(user);
      if (!t) return;
      const b = t.querySelector('.quality');
      b.dataset.q = String(q);
      b.setAttribute('aria-label', 'network quality ' + (QUALITY[q] || 'unknown').toLowerCase());
      b.title = 'Network: ' + (QUALITY[q] || 'unknown');
    });
  }

  _typeChanged(type) {
    if (!this.call) return;
    this.call.type = type;
    this.call.camOn = type === VIDEO;
    const me = this.call.tiles.get(this.app.me.userID);
    if (me) {
      me.dataset.video = this.call.camOn ? 'on' : 'off';
      if (this.call.camOn) this.app.trtc.startLocalView({ userID: this.app.me.userID, videoViewDomID: me.querySelector('.video').id });
    }
    this._controls();
    this._layout();
    this._note(type === VIDEO ? 'Switched to a video call.' : 'Switched to an audio call.');
  }

  _connection(up) {
    if (up) {
      if (this.state === 'incall') this._note('Reconnected.');
      return;
    }
    if (this.state === 'incoming') this._finish('The connection was lost while a call was ringing. The caller can try again.', 'error');
    else if (this.state === 'outgoing' && !this.call.placed) this._finish('The connection was lost; the call was not placed.', 'error');
    else if (this.state === 'incall' || this.state === 'outgoing') this._note('Connection lost. Reconnecting…', true);
  }

  // --- controls ---

  _controls() {
    const c = this.call;
    const mic = $('c-mic');
    mic.setAttribute('aria-pressed', String(c.micMuted));
    mic.setAttribute('aria-label', c.micMuted ? 'Unmute microphone' : 'Mute microphone');
    mic.querySelector('span').textContent = c.micMuted ? 'Unmute' : 'Mute';
    const cam = $('c-cam');
    cam.setAttribute('aria-pressed', String(!c.camOn));
    cam.setAttribute('aria-label', c.camOn ? 'Turn camera off' : 'Turn camera on');
    cam.querySelector('span').textContent = c.camOn ? 'Camera' : 'Camera off';
    const sw = $('c-switch');
    sw.setAttribute('aria-label', c.type === VIDEO ? 'Switch to an audio call' : 'Switch to a video call');
    $('c-switch-label').textContent = c.type === VIDEO ? 'Audio only' : 'Video';
  }

  async toggleMic() {
    if (!this.call) return;
    this.call.micMuted = !this.call.micMuted;
    this._controls();
    try { await this.app.trtc.setMicMute(this.call.micMuted); } catch (e) { this.app.toast(callError(e), 'error'); }
  }

  async toggleCamera() {
    if (!this.call) return;
    await this._setCamera(!this.call.camOn);
  }

  async _setCamera(on) {
    const c = this.call;
    c.camOn = on;
    this._controls();
    const me = c.tiles.get(this.app.me.userID);
    try {
      if (on) {
        await this.app.trtc.openCamera();
        if (me) {
          me.dataset.video = 'on';
          this.app.trtc.startLocalView({ userID: this.app.me.userID, videoViewDomID: me.querySelector('.video').id });
        }
      } else {
        await this.app.trtc.closeCamera();
        if (me) me.dataset.video = 'off';
      }
    } catch (e) {
      c.camOn = false;
      if (me) me.dataset.video = 'off';
      this._controls();
      this.app.toast(callError(e), 'error');
    }
  }

  async switchType() {
    if (!this.call || this.call.group) return;
    try {
      if (this.call.type === VIDEO) await this.app.trtc.switchToAudioCall();
      else await this.app.trtc.switchToVideoCall();
    } catch (e) {
      this.app.toast('The call could not be switched: ' + (e.message || e.code) + '.', 'error');
    }
  }

  async hangup() {
    if (this.state !== 'incall') return;
    const note = this.call.begin ? 'Call ended · ' + duration((Date.now() - this.call.begin) / 1000) : 'Call ended.';
    this._finish(note, '', this.app.trtc.hangup());
  }

  async openSettings() {
    const fill = async (sel, list, current) => {
      let devices = [];
      try { devices = await list(); } catch (e) { /* none listed */ }
      sel.replaceChildren(...devices.map((d, i) => h('option', { value: d.deviceId, text: d.label || sel.id.replace('set-', '') + ' ' + (i + 1) })));
      if (!devices.length) sel.append(h('option', { value: '', text: 'Default' }));
      if (current) sel.value = current;
    };
    const t = this.app.trtc;
    const trackID = (kind) => {
      const tr = t.local && t.local[kind];
      return tr && tr.getSettings ? tr.getSettings().deviceId : '';
    };
    await Promise.all([
      fill($('set-cam'), () => t.getCameras(), trackID('video')),
      fill($('set-mic'), () => t.getMicrophones(), trackID('audio')),
      fill($('set-spk'), () => t.getSpeakers(), t._speaker),
    ]);
    $('set-spk').disabled = typeof HTMLMediaElement.prototype.setSinkId !== 'function';
    $('settings').showModal();
  }

  async _device(kind, deviceId) {
    try { await this.app.trtc.switchDevice({ deviceType: kind, deviceId }); } catch (e) { this.app.toast(callError(e), 'error'); }
  }

  async _quality(profile) {
    this.app.trtc.setVideoQuality(profile);
    if (this.call && this.call.camOn) {
      // The profile applies to the next camera opened.
      await this._setCamera(false);
      await this._setCamera(true);
    }
  }

  openPicker() {
    if (!this.call || !this.call.group) return;
    const inCall = new Set(this.call.tiles.keys());
    const people = this.app.contactList().filter((c) => c.status === 'online' && !inCall.has(c.userID));
    const room = MAX_PEOPLE - inCall.size;
    const ok = $('picker-ok');
    const update = () => {
      const n = $('picker-list').querySelectorAll('input:checked').length;
      ok.disabled = n === 0;
      for (const box of $('picker-list').querySelectorAll('input:not(:checked)')) box.disabled = n >= room;
    };
    $('picker-list').replaceChildren(...people.map((c) => h('li.contact', {},
      h('label.pick', {}, h('input', { type: 'checkbox', value: c.userID, onchange: update }), this._avatar(c.userID), h('span.name', { text: this.app.nameOf(c.userID) })))));
    $('picker-empty').hidden = people.length > 0;
    update();
    $('picker').returnValue = '';
    $('picker').showModal();
  }

  async _pickerClosed() {
    if ($('picker').returnValue !== 'ok' || !this.call) return;
    const ids = [...$('picker-list').querySelectorAll('input:checked')].map((b) => b.value);
    if (!ids.length) return;
    for (const u of ids) this._tile(u);
    try {
      await this.app.trtc.groupCall({ userIDList: ids, type: this.call.type });
    } catch (e) {
      for (const u of ids) this._left(u);
      this.app.toast(callError(e), 'error');
    }
  }

  // --- screens ---

  _setState(s) {
    this.state = s;
    // A modal dialog sits above every overlay: a call closes the app's.
    const rename = $('rename');
    if (s !== 'idle' && rename.open) rename.close();
    $('outgoing').hidden = s !== 'outgoing';
    $('incoming').hidden = s !== 'incoming';
    $('incall').hidden = s !== 'incall';
    this.app.screen(s === 'idle' ? 'main' : s);
  }

  // _finish ends the call on screen; done is the request that ends it on
  // the server, after which the history has the call.
  _finish(note, kind, done) {
    this._stopRinging();
    clearInterval(this._timer);
    this._timer = null;
    for (const d of [$('settings'), $('picker')]) if (d.open) d.close();
    $('grid').replaceChildren();
    $('call-note').hidden = true;
    this.call = null;
    this.invite = null;
    this._setState('idle');
    if (note) this.app.toast(note, kind);
    this.app.callOver(done);
  }

  _stopRinging() {
    this.ringer.stop();
    if (this._notification) this._notification.close();
    this._notification = null;
    this._titleFlash();
  }

  _tick() {
    const c = this.call;
    $('call-timer').textContent = c && c.begin ? duration((Date.now() - c.begin) / 1000) : 'Connecting…';
  }

  _note(text, sticky) {
    const n = $('call-note');
    n.textContent = text;
    n.hidden = false;
    clearTimeout(this._noteTimer);
    if (!sticky) this._noteTimer = setTimeout(() => { n.hidden = true; }, 4000);
  }

  _key(e) {
    if (this.state === 'incoming') {
      if (e.key === 'Escape') {
        e.preventDefault();
        this.reject();
      } else if (e.key === 'Enter' && !(e.target instanceof HTMLButtonElement)) {
        e.preventDefault();
        this.accept(this.invite.type === VIDEO);
      }
    } else if (this.state === 'outgoing' && e.key === 'Escape') {
      e.preventDefault();
      this.cancel();
    }
  }

  // _titleFlash alternates the tab title while a call rings in a tab
  // that is not in front.
  _titleFlash() {
    clearInterval(this._flash);
    this._flash = null;
    document.title = 'callbox';
    if (this.state !== 'incoming' || !document.hidden) return;
    const alt = '📞 ' + this.app.nameOf(this.invite.sponsor) + ' is calling';
    let on = false;
    this._flash = setInterval(() => {
      on = !on;
      document.title = on ? alt : 'callbox';
    }, 1000);
    document.title = alt;
  }

  _notify(name, body) {
    if (!document.hidden || typeof Notification === 'undefined' || Notification.permission !== 'granted') return;
    try {
      this._notification = new Notification(name + ' is calling', { body, tag: 'callbox-call', requireInteraction: true });
      this._notification.onclick = () => { window.focus(); this._notification.close(); };
    } catch (e) { /* some browsers allow notifications only from a service worker */ }
  }

  _avatar(user, size) {
    const name = user === this.app.me.userID ? this.app.me.name || user : this.app.nameOf(user);
    return h('span.avatar.' + hue(user) + (size ? '.' + size : ''), { 'aria-hidden': 'true', text: initials(name) });
  }
}
