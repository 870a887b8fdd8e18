// The callbox web app (issue 12): sign-in with an invite link or, on a
// --dev server, any name; contacts with presence; call history; and the
// call screens of call.js. Plain ES modules on the browser SDK.

import TRTCCalling from '/sdk/trtc-calling.mjs';
import { CallUI } from './call.js';
import { h, icon, initials, hue, duration, when, list, signInMessage, callError, validUserID, userIDFromName } from './text.js';

const $ = (id) => document.getElementById(id);
const STORE = 'callbox.session';
const HISTORY_SEEN = 'callbox.historySeen';
const MAX_GROUP = 8; // others in a group call: the grid holds 9
const STATUS_TEXT = { online: 'Online', busy: 'In a call', offline: 'Offline' };
const STATUS_ORDER = { online: 0, busy: 1, offline: 2 };
const RESULT_TEXT = {
  normal_end: '', cancel: 'Cancelled', reject: 'Declined', not_answer: 'No answer',
  call_busy: 'Busy', interrupt: 'Interrupted', '': 'In progress',
};

class App {
  constructor() {
    this.trtc = null;
    this.me = { userID: '', name: '', sdkappid: 0 };
    this.contacts = new Map(); // userID -> {userID, name, status, signedIn, added}
    this.history = { calls: [], next: '' };
    this.group = new Set(); // picked for a group call
    this.groupMode = false;
    this.sigExpired = false;
    this.call = new CallUI(this);
    this._wire();
  }

  // --- screens and messages ---

  screen(name) {
    document.body.dataset.screen = name;
    $('loading').hidden = name !== 'loading';
    $('signin').hidden = name !== 'signin';
    $('app').hidden = name === 'signin' || name === 'loading';
    $('app').inert = name !== 'main';
  }

  toast(text, kind) {
    const box = $('toasts');
    for (const t of box.children) if (t.textContent === text) t.remove();
    const t = h('div.toast' + (kind ? '.' + kind : ''), { role: kind === 'error' ? 'alert' : undefined, text });
    box.append(t);
    setTimeout(() => t.remove(), kind === 'error' ? 9000 : 5000);
  }

  banner(text) {
    const b = $('banner');
    b.textContent = text || '';
    b.hidden = !text;
  }

  signInScreen(message, { join, dev, link } = {}) {
    this.screen('signin');
    const msg = $('signin-msg');
    msg.textContent = message || '';
    msg.hidden = !message;
    $('join-form').hidden = !join;
    $('dev-form').hidden = !dev;
    $('need-link').hidden = !link;
    const focus = join ? $('join-name') : dev ? $('dev-name') : null;
    if (focus) focus.focus();
  }

  // --- sign-in ---

  async boot() {
    const frag = location.hash.length > 1 ? new URLSearchParams(location.hash.slice(1)) : null;
    if (frag && (frag.has('sig') || frag.has('sdkappid') || frag.has('user'))) {
      // The sig must not stay in the address bar, the history or a bookmark.
      history.replaceState(null, '', '/');
      return this.invite(frag);
    }
    const saved = this.saved();
    if (saved) {
      if (saved.expiresAt && saved.expiresAt * 1000 <= Date.now()) {
        localStorage.removeItem(STORE);
        return this.noSession('Your sign-in has expired. Ask your team for a new invite link.');
      }
      return this.connect(saved, true);
    }
    return this.noSession('');
  }

  saved() {
    try {
      const s = JSON.parse(localStorage.getItem(STORE) || 'null');
      return s && s.sdkappid && s.userID ? s : null;
    } catch (e) {
      return null;
    }
  }

  // noSession shows how to sign in: a name on a --dev server, else the
  // invite link to ask for.
  async noSession(message) {
    let cfg = { dev: false };
    try {
      const r = await fetch('/config.json', { cache: 'no-store' });
      if (r.ok) cfg = await r.json();
    } catch (e) { /* a server that is down: the link text still helps */ }
    if (cfg.dev && cfg.apps && cfg.apps.length) {
      const sel = $('dev-app');
      sel.replaceChildren(...cfg.apps.map((a) => h('option', { value: a.sdkappid, text: `${a.name} (${a.sdkappid})` })));
      sel.hidden = $('dev-app-label').hidden = cfg.apps.length < 2;
      return this.signInScreen(message, { dev: true });
    }
    return this.signInScreen(message, { link: true });
  }

  invite(frag) {
    const idText = frag.get('sdkappid') || '';
    const user = frag.get('user') || '';
    const sig = frag.get('sig') || '';
    const id = /^[0-9]{1,10}$/.test(idText) ? Number(idText) : 0;
    if (!id || id > 4294967295 || !user || !sig) {
      return this.signInScreen('This invite link is incomplete or damaged. Ask for a new link, and copy it whole.', { link: true });
    }
    if (!validUserID(user)) {
      return this.signInScreen(`This invite link is for the user ID “${user.slice(0, 40)}”, which the server refuses (1–32 letters, digits or symbols, no spaces or commas). Ask for a new invite link.`, { link: true });
    }
    const prev = this.saved();
    this.pending = { sdkappid: id, userID: user, userSig: sig, name: prev && prev.userID === user ? prev.name || '' : '' };
    $('join-user').textContent = user;
    $('join-name').value = this.pending.name;
    this.signInScreen('', { join: true });
  }

  async connect(sess, stored) {
    this.screen('loading');
    this.me = { userID: sess.userID, name: sess.name || '', sdkappid: sess.sdkappid };
    if (this.trtc) this.trtc.logout().catch(() => {});
    const trtc = new TRTCCalling({ SDKAppID: sess.sdkappid });
    this.trtc = trtc;
    this._events(trtc);
    let reply;
    try {
      reply = await trtc.login({ userID: sess.userID, userSig: sess.userSig || '', presence: true, status: true, name: sess.name || undefined });
    } catch (e) {
      if (this.trtc !== trtc) return;
      const code = e.code || -1;
      if (code !== -1 && code !== 4011) localStorage.removeItem(STORE);
      const msg = stored && code === 70001 ? 'Your sign-in has expired. Ask your team for a new invite link.' : signInMessage(code, sess.sdkappid);
      return code === -1 || code === 4011 ? this.signInScreen(msg) : this.noSession(msg);
    }
    this.sigExpired = false;
    localStorage.setItem(STORE, JSON.stringify({ ...sess, expiresAt: reply.expiresAt || 0 }));
    this.showMe();
    this.screen('main');
    this.notifyButton();
    await Promise.all([this.loadContacts(), this.loadHistory(false)]);
  }

  showMe() {
    const name = this.me.name || this.me.userID;
    const av = $('me-avatar');
    av.className = 'avatar ' + hue(this.me.userID);
    av.textContent = initials(name);
    $('me-name').textContent = name;
    $('me-name').title = this.me.name ? this.me.userID : 'Set your name';
  }

  _events(trtc) {
    const E = TRTCCalling.EVENT;
    const X = TRTCCalling.CALLBOX_EVENT;
    const mine = (fn) => (d) => { if (this.trtc === trtc) fn.call(this, d || {}); };
    this.call.events(trtc, E, X);
    trtc.on('onUserStatus', mine((d) => this.statusChanged(d)));
    trtc.on(X.RECONNECTING, mine(() => {
      this.banner('Connection to the server lost. Reconnecting…');
      $('conn').dataset.state = 'connecting';
      $('conn').textContent = 'Reconnecting…';
    }));
    trtc.on(X.RECONNECTED, mine(() => {
      this.banner('');
      $('conn').dataset.state = 'online';
      $('conn').textContent = 'Online';
      this.loadContacts();
      this.loadHistory(false);
    }));
    trtc.on(X.RECONNECT_FAILED, mine((d) => this.lost(signInMessage(d.code, this.me.sdkappid), true)));
    trtc.on(X.DISCONNECTED, mine((d) => {
      if (d.code === 4001) return; // KICKED_OUT says it
      if (d.code === 4006) return this.lost('This app was deleted on the server. Ask your team for a new invite link.', true);
      if (d.code === 4002) return this.lost('Your sign-in has expired or was revoked. Ask your team for a new invite link.', true);
      return this.lost('The server closed the connection. Reload the page to sign in again.', false);
    }));
    trtc.on(E.KICKED_OUT, mine(() => this.lost('You signed in on another tab or device, so this one was signed out. Reload the page to use this one instead.', false)));
    trtc.on('onUserSigExpired', mine(() => {
      this.sigExpired = true;
      localStorage.removeItem(STORE);
      if (this.call.busy) this.banner('Your sign-in has expired: ask your team for a new invite link. The current call goes on for up to 5 minutes.');
      else this.lost('Your sign-in has expired. Ask your team for a new invite link.', true);
    }));
  }

  // lost ends the session on screen; forget drops the stored sign-in.
  lost(message, forget) {
    if (this.call.busy) this.call._finish('');
    if (forget) localStorage.removeItem(STORE);
    this.banner('');
    const t = this.trtc;
    this.trtc = null;
    if (t) t.logout().catch(() => {});
    if (forget) this.noSession(message);
    else this.signInScreen(message);
  }

  // callOver follows a call's end; done, when given, is the request that
  // ends it on the server (the record is stored when it resolves).
  async callOver(done) {
    if (done) await done.catch(() => {}); // the call may have ended already
    if (this.sigExpired) return this.lost('Your sign-in has expired. Ask your team for a new invite link.', true);
    this.loadHistory(false);
  }

  signOut() {
    localStorage.removeItem(STORE);
    const t = this.trtc;
    this.trtc = null;
    const done = () => location.assign('/');
    if (t) t.logout().then(done, done);
    else done();
  }

  // --- contacts ---

  nameOf(userID) {
    if (userID === this.me.userID) return this.me.name || userID;
    const c = this.contacts.get(userID);
    return (c && c.name) || userID;
  }

  contactList() {
    return [...this.contacts.values()].sort((a, b) =>
      (STATUS_ORDER[a.status] - STATUS_ORDER[b.status]) || this.nameOf(a.userID).localeCompare(this.nameOf(b.userID)));
  }

  async loadContacts() {
    const t = this.trtc;
    try {
      const r = await t.request('contacts');
      if (t !== this.trtc) return;
      this.contacts = new Map(r.contacts.map((c) => [c.userID, c]));
      $('contacts-more').hidden = !r.truncated;
      this.renderContacts();
    } catch (e) {
      this.toast('The contact list could not be loaded (' + (e.code || e.message) + '). It reloads when the connection is back.', 'error');
    }
  }

  statusChanged(d) {
    const c = this.contacts.get(d.userID) || { userID: d.userID, signedIn: true, added: false };
    c.status = d.status;
    c.signedIn = true;
    if (d.name) c.name = d.name;
    this.contacts.set(d.userID, c);
    this.renderContacts();
    // A call the user left goes on without them; its record is final when
    // its last participants are out of it.
    if (d.status !== 'busy' && this.history.calls.some((h) => h.result === '' && h.participants.some((p) => p.userID === d.userID))) {
      clearTimeout(this._historyTimer);
      this._historyTimer = setTimeout(() => this.loadHistory(false), 300);
    }
  }

  renderContacts() {
    const q = $('search').value.trim().toLowerCase();
    const all = this.contactList();
    const shown = q ? all.filter((c) => c.userID.toLowerCase().includes(q) || (c.name || '').toLowerCase().includes(q)) : all;
    // Presence changes re-render the list: keep the keyboard focus where it was.
    const list = $('contact-list');
    const active = list.contains(document.activeElement) ? document.activeElement : null;
    const keep = active && { user: active.closest('li').dataset.user, cls: active.className, tag: active.tagName };
    list.replaceChildren(...shown.map((c) => this.contactRow(c)));
    if (keep) {
      const li = list.querySelector(`li[data-user="${CSS.escape(keep.user)}"]`);
      const el = li && [...li.querySelectorAll(keep.tag)].find((e) => e.className === keep.cls);
      if (el) el.focus();
    }
    const empty = $('contacts-empty');
    empty.hidden = shown.length > 0;
    empty.textContent = q ? `No one matches “${q}”.` : 'Nobody else has signed in yet. Send your team invite links, or add someone by user ID below.';
    this.updateGroupBar();
  }

  contactRow(c) {
    const name = this.nameOf(c.userID);
    const status = c.signedIn || c.status !== 'offline' ? STATUS_TEXT[c.status] : 'Not signed in yet';
    const info = h('div.info', {},
      h('span.name', { text: name }),
      h('span.meta', {}, h('span.dot', { 'aria-hidden': 'true' }), status + (c.name ? ' · ' + c.userID : '')));
    const li = h('li.contact', { dataset: { user: c.userID, status: c.status } }, h('span.avatar.' + hue(c.userID), { 'aria-hidden': 'true', text: initials(name) }), info);
    if (this.groupMode) {
      const box = h('input', { type: 'checkbox', 'aria-label': 'Pick ' + name + ' for the group call', checked: this.group.has(c.userID) });
      box.checked = this.group.has(c.userID);
      box.disabled = !box.checked && this.group.size >= MAX_GROUP;
      box.addEventListener('change', () => {
        if (box.checked) this.group.add(c.userID);
        else this.group.delete(c.userID);
        this.renderContacts();
      });
      li.append(h('label.pick', {}, box));
    } else {
      li.append(h('div.actions', {},
        h('button.call-btn.audio', { type: 'button', 'aria-label': 'Audio call ' + name, title: 'Audio call', onclick: () => this.call.start([c.userID], 1) }, icon('phone')),
        h('button.call-btn.video', { type: 'button', 'aria-label': 'Video call ' + name, title: 'Video call', onclick: () => this.call.start([c.userID], 2) }, icon('video'))));
    }
    return li;
  }

  setGroupMode(on) {
    this.groupMode = on;
    this.group.clear();
    $('group-btn').setAttribute('aria-pressed', String(on));
    $('group-btn').textContent = on ? 'Cancel group' : 'Group call';
    $('group-bar').hidden = !on;
    this.renderContacts();
  }

  updateGroupBar() {
    const n = this.group.size;
    $('group-count').textContent = n ? `${n} picked (up to ${MAX_GROUP})` : 'Pick people to call';
    $('group-audio').disabled = $('group-video').disabled = n === 0;
  }

  startGroup(type) {
    const ids = [...this.group];
    this.setGroupMode(false);
    this.call.start(ids, type);
  }

  async addContact(e) {
    e.preventDefault();
    const input = $('add-id');
    const id = input.value.trim();
    if (!validUserID(id)) {
      this.toast(`“${id.slice(0, 40)}” is not a user ID: 1–32 letters, digits or symbols, no spaces or commas.`, 'error');
      input.focus();
      return;
    }
    if (id === this.me.userID) {
      this.toast('That is you.', 'error');
      return;
    }
    try {
      const c = await this.trtc.request('addContact', { userID: id });
      this.contacts.set(c.userID, { ...this.contacts.get(c.userID), ...c });
      input.value = '';
      this.renderContacts();
      this.toast(`${this.nameOf(c.userID)} is in your contacts.`);
    } catch (err) {
      this.toast(err.code === 4004 ? 'The server does not accept that user ID.' : 'Could not add: ' + (err.message || err.code), 'error');
    }
  }

  // --- history ---

  async loadHistory(more) {
    const t = this.trtc;
    if (!t) return;
    try {
      const r = await t.request('history', more && this.history.next ? { limit: 30, before: this.history.next } : { limit: 30 });
      if (t !== this.trtc) return;
      this.history = { calls: more ? this.history.calls.concat(r.calls) : r.calls, next: r.next || '' };
      this.renderHistory();
    } catch (e) {
      this.toast('The call history could not be loaded (' + (e.code || e.message) + ').', 'error');
    }
  }

  missed(c) {
    return c.role === 'callee' && ['no_answer', 'cancelled', 'invited', 'ringing'].includes(c.state) && c.result !== '';
  }

  renderHistory() {
    const seen = Number(localStorage.getItem(HISTORY_SEEN) || 0);
    const rows = this.history.calls.map((c) => this.historyRow(c));
    $('history-list').replaceChildren(...rows);
    $('history-empty').hidden = rows.length > 0;
    $('history-more').hidden = !this.history.next;
    const n = this.history.calls.filter((c) => this.missed(c) && c.startAt > seen).length;
    const badge = $('missed-count');
    badge.hidden = n === 0 || $('tab-history').getAttribute('aria-selected') === 'true';
    badge.textContent = String(n);
    badge.setAttribute('aria-label', n + ' missed');
  }

  historyRow(c) {
    const others = c.participants.map((p) => p.userID).filter((u) => u !== this.me.userID);
    const names = list(others.map((u) => this.nameOf(u))) || 'nobody';
    const missed = this.missed(c);
    const outgoing = c.role === 'caller';
    // A group call still live that this user is not in: it may join.
    const joinable = c.group && c.result === '' && ['left', 'rejected', 'no_answer', 'busy'].includes(c.state);
    const result = missed ? 'Missed' : c.result === 'normal_end' ? duration(c.duration)
      : joinable ? 'Going on' : RESULT_TEXT[c.result] || c.result;
    const kind = c.group ? 'Group ' + c.mediaType : c.mediaType === 'video' ? 'Video' : 'Audio';
    const type = c.mediaType === 'video' ? 2 : 1;
    const back = () => this.call.start(others, type);
    return h('li.hist', { dataset: { call: c.callID, result: c.result, missed: String(missed) } },
      h('span.dir', { 'aria-label': missed ? 'missed' : outgoing ? 'outgoing' : 'incoming' }, icon(outgoing ? 'out' : 'in')),
      h('div.info', {},
        h('span.name', { text: names }),
        h('span.meta', { text: `${kind} · ${when(c.startAt)} · ${result}` })),
      others.length ? h('div.actions', {},
        joinable ? h('button.call-btn.join', { type: 'button', text: 'Join', 'aria-label': 'Join the call with ' + names, title: 'Join the call', onclick: () => this.call.join(c.callID, type) })
          : h('button.call-btn.' + (type === 2 ? 'video' : 'audio'), { type: 'button', 'aria-label': 'Call back ' + names + ' (' + kind + ')', title: 'Call back', onclick: back }, icon(type === 2 ? 'video' : 'phone'))) : null);
  }

  selectTab(which) {
    for (const t of ['contacts', 'history']) {
      const on = t === which;
      const tab = $('tab-' + t);
      tab.setAttribute('aria-selected', String(on));
      tab.tabIndex = on ? 0 : -1;
      $(t).dataset.active = String(on);
    }
    document.body.dataset.tab = which;
    if (which === 'history') {
      const newest = this.history.calls.length ? this.history.calls[0].startAt : 0;
      localStorage.setItem(HISTORY_SEEN, String(Math.max(newest, Number(localStorage.getItem(HISTORY_SEEN) || 0))));
      $('missed-count').hidden = true;
    }
  }

  // --- notifications and names ---

  notifyButton() {
    const b = $('notify-btn');
    b.hidden = typeof Notification === 'undefined' || Notification.permission !== 'default';
  }

  async askNotifications() {
    // Asked on this click: browsers refuse a request without a gesture.
    try { await Notification.requestPermission(); } catch (e) { /* old Safari: callback form */ }
    this.notifyButton();
    if (Notification.permission === 'granted') this.toast('You will be notified of calls while this tab is in the background.');
    else if (Notification.permission === 'denied') this.toast('Notifications are blocked for this site; calls still ring while the tab is open.');
  }

  openRename() {
    $('rename-input').value = this.me.name;
    $('rename-msg').hidden = true;
    $('rename').returnValue = '';
    $('rename').showModal();
  }

  async renamed() {
    if ($('rename').returnValue !== 'ok') return;
    const name = $('rename-input').value.trim().replace(/\s+/g, ' ');
    if (!name || name === this.me.name) return;
    try {
      const r = await this.trtc.request('setName', { name });
      this.me.name = r.name;
      const s = this.saved();
      if (s) localStorage.setItem(STORE, JSON.stringify({ ...s, name: r.name }));
      this.showMe();
    } catch (e) {
      this.toast('Your name was not changed: ' + (e.message || e.code) + '.', 'error');
    }
  }

  _wire() {
    $('join-form').addEventListener('submit', (e) => {
      e.preventDefault();
      this.call.ringer.unlock(); // a gesture: the ring tone may play later
      const name = $('join-name').value.trim().replace(/\s+/g, ' ');
      this.connect({ ...this.pending, name }, false);
    });
    const devName = $('dev-name');
    devName.addEventListener('input', () => {
      const id = userIDFromName(devName.value);
      $('dev-userid').textContent = id ? 'Your user ID: ' + id : '';
    });
    $('dev-form').addEventListener('submit', (e) => {
      e.preventDefault();
      this.call.ringer.unlock();
      const name = devName.value.trim().replace(/\s+/g, ' ');
      const id = userIDFromName(name);
      if (!validUserID(id)) {
        this.signInScreen('Type a name with at least one letter or digit.', { dev: true });
        return;
      }
      this.connect({ sdkappid: Number($('dev-app').value), userID: id, userSig: '', name: name.slice(0, 64), dev: true }, false);
    });
    $('signout-btn').addEventListener('click', () => this.signOut());
    $('notify-btn').addEventListener('click', () => this.askNotifications());
    $('me-name').addEventListener('click', () => this.openRename());
    $('rename').addEventListener('close', () => this.renamed());
    $('search').addEventListener('input', () => this.renderContacts());
    $('add-form').addEventListener('submit', (e) => this.addContact(e));
    $('group-btn').addEventListener('click', () => this.setGroupMode(!this.groupMode));
    $('group-audio').addEventListener('click', () => this.startGroup(1));
    $('group-video').addEventListener('click', () => this.startGroup(2));
    $('history-more').addEventListener('click', () => this.loadHistory(true));
    for (const t of ['contacts', 'history']) $('tab-' + t).addEventListener('click', () => this.selectTab(t));
    $('tab-contacts').parentElement.addEventListener('keydown', (e) => {
      if (e.key !== 'ArrowLeft' && e.key !== 'ArrowRight') return;
      const next = document.body.dataset.tab === 'history' ? 'contacts' : 'history';
      this.selectTab(next);
      $('tab-' + next).focus();
    });
    // Any gesture unlocks audio for a returning user, who clicks no Join.
    for (const ev of ['pointerdown', 'keydown']) document.addEventListener(ev, () => this.call.ringer.unlock(), { capture: true });
    this.selectTab('contacts');
  }
}

const app = new App();
window.callboxApp = app; // for the browser tests and for debugging
app.boot().catch((e) => {
  console.error('callbox app:', e);
  app.signInScreen('The app could not start: ' + e.message + '. Reload the page.');
});
