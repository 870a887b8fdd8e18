// Runs the served SDK bundle (argv[2]) in node against a fake WebSocket
// server: the EVENT table and method list of spec tencent-compat.md §4 and
// seeds/trtccalling-web-api.md, the ws URL, login errors, event
// re-emission, and the reconnect logic of docs/protocol.md §3. Media needs
// a browser: ui/browsertest covers it. Run by ui_test.go (TestSDKInNode).
'use strict';
const assert = require('node:assert/strict');

const sockets = [];
let serve = () => {}; // (ws, msg) -> the fake server's answer

class FakeWS {
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    sockets.push(this);
    setTimeout(() => { this.readyState = 1; if (this.onopen) this.onopen(); }, 0);
  }
  send(text) {
    const m = JSON.parse(text);
    this.sent.push(m);
    setTimeout(() => serve(this, m), 0);
  }
  close(code, reason) { this.drop(code || 1005, reason); }
  drop(code, reason) {
    if (this.readyState === 3) return;
    this.readyState = 3;
    setTimeout(() => { if (this.onclose) this.onclose({ code, reason: reason || '' }); }, 0);
  }
  reply(m, data) { this.onmessage({ data: JSON.stringify({ id: m.id, type: 'reply', ok: true, data }) }); }
  fail(m, code) { this.onmessage({ data: JSON.stringify({ id: m.id, type: 'reply', ok: false, code, error: 'no' }) }); }
  event(event, data, callID) { this.onmessage({ data: JSON.stringify({ type: 'event', event, callID, data }) }); }
}
FakeWS.OPEN = 1;
globalThis.WebSocket = FakeWS;

// defaultServe: a good sig is "good" (or "fresh"); everything else works.
function defaultServe(ws, m) {
  if (m.type === 'login') {
    if (!['good', 'fresh'].includes(m.data.userSig)) return ws.fail(m, 70009);
    return ws.reply(m, { version: 1, userID: m.data.userID, resumed: false });
  }
  ws.reply(m, {});
}
serve = defaultServe;

require(process.argv[2]);
const T = globalThis.TRTCCalling;

function until(cond, what) {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const iv = setInterval(() => {
      if (cond()) { clearInterval(iv); resolve(); } else if (Date.now() - t0 > 5000) {
        clearInterval(iv); reject(new Error('timed out waiting for ' + what));
      }
    }, 5);
  });
}

function recorder(tc, names) {
  const got = [];
  for (const n of names) tc.on(n, (d) => got.push([n, d]));
  return got;
}

// start logs a new instance in as user, recording the events named.
async function start(user, names) {
  const tc = new T({ SDKAppID: 1, server: 'http://h' });
  const got = recorder(tc, names || []);
  await tc.login({ userID: user, userSig: 'good' });
  return { tc, got, ws: sockets[sockets.length - 1] };
}

const tests = {
  'EVENT table and methods'() {
    assert.deepEqual({ ...T.EVENT }, {
      SDK_READY: 'sdkReady', INVITED: 'onInvited', REJECT: 'onReject', NO_RESP: 'onNoResp',
      LINE_BUSY: 'onLineBusy', CALLING_CANCEL: 'onCallingCancel', CALLING_TIMEOUT: 'onCallingTimeout',
      USER_ACCEPT: 'onUserAccept', USER_ENTER: 'onUserEnter', USER_LEAVE: 'onUserLeave', CALL_END: 'onCallEnd',
      CALLING_END: 'onCallEnd', KICKED_OUT: 'onKickedOut', USER_VIDEO_AVAILABLE: 'onUserVideoAvailable',
      USER_AUDIO_AVAILABLE: 'onUserAudioAvailable', USER_VOICE_VOLUME: 'onUserVoiceVolume',
      GROUP_CALL_INVITEE_LIST_UPDATE: 'onGroupCallInviteeListUpdate', ERROR: 'onError',
    });
    assert.deepEqual({ ...T.CALL_TYPE }, { AUDIO_CALL: 1, VIDEO_CALL: 2 });
    const methods = ['on', 'off', 'login', 'logout', 'call', 'groupCall', 'accept', 'reject', 'hangup',
      'startRemoteView', 'stopRemoteView', 'startLocalView', 'stopLocalView', 'openCamera', 'closeCamera',
      'setMicMute', 'setVideoQuality', 'switchToAudioCall', 'switchToVideoCall', 'getCameras',
      'getMicrophones', 'switchDevice', 'renewSig'];
    for (const m of methods) assert.equal(typeof T.prototype[m], 'function', m);
  },

  async 'server URL'() {
    const cases = [['https://h.example:8443/base/', 'wss://h.example:8443/base/ws'],
      ['http://10.0.0.1:7880', 'ws://10.0.0.1:7880/ws'], ['wss://x', 'wss://x/ws']];
    for (const [server, want] of cases) {
      const tc = new T({ SDKAppID: 1, server });
      await tc.login({ userID: 'u', userSig: 'good' });
      assert.equal(sockets[sockets.length - 1].url, want);
      await tc.logout();
    }
    assert.throws(() => new T({ SDKAppID: 1 }), /no server option/); // node has no page origin
  },

  async 'bad sig rejects with its code, then login works'() {
    const tc = new T({ SDKAppID: 1400000000, server: 'http://h' });
    const got = recorder(tc, [T.EVENT.SDK_READY]);
    await assert.rejects(tc.login({ userID: 'alice', userSig: 'forged' }), (e) => e.code === 70009);
    assert.equal(got.length, 0);
    const r = await tc.login({ userID: 'alice', userSig: 'good' });
    assert.equal(r.userID, 'alice');
    assert.equal(got.length, 1);
    const login = sockets[sockets.length - 1].sent.find((m) => m.type === 'login' && m.data.userSig === 'good');
    assert.deepEqual(login.data, { version: 1, sdkappid: 1400000000, userID: 'alice', userSig: 'good' });
    await tc.logout();
  },

  async 'events are re-emitted; off and context work'() {
    const { tc, ws } = await start('alice');
    const ctx = { seen: [] };
    function h(d) { this.seen.push(d.userID); }
    tc.on(T.EVENT.REJECT, h, ctx);
    ws.event('onReject', { userID: 'bob', userId: 'bob' }, 'c1');
    tc.off(T.EVENT.REJECT, h, ctx);
    ws.event('onReject', { userID: 'carol' }, 'c1');
    assert.deepEqual(ctx.seen, ['bob']);
    await tc.logout();
  },

  async 'reconnect: relogin, ringing invitation kept, no second INVITED'() {
    const { tc, got, ws: ws1 } = await start('bob', [T.EVENT.INVITED, 'onReconnecting', 'onReconnected']);
    const inv = { sponsor: 'alice', userIDList: ['bob'], isFromGroup: false, inviteID: 'c1', inviteData: { version: 4, callType: 2, roomID: 5, callEnd: 0 } };
    ws1.event('onInvited', inv, 'c1');
    assert.equal(tc.getCallStatus(), 'calling');
    serve = (ws, m) => {
      defaultServe(ws, m);
      if (m.type === 'login') setTimeout(() => ws.event('onInvited', inv, 'c1'), 0);
    };
    ws1.drop(1006);
    await until(() => got.some(([n]) => n === 'onReconnected'), 'onReconnected');
    serve = defaultServe;
    const ws2 = sockets[sockets.length - 1];
    assert.notEqual(ws2, ws1);
    assert.equal(ws2.sent[0].type, 'login');
    await until(() => ws2.sent.length >= 1 && tc._invite, 'the invitation again');
    assert.deepEqual(got.map(([n]) => n), ['onInvited', 'onReconnecting', 'onReconnected']);
    await tc.reject();
    assert.deepEqual(ws2.sent[ws2.sent.length - 1].data, { callID: 'c1' });
    await tc.logout();
  },

  async 'renewSig is used by the next login'() {
    const { tc, got } = await start('carol', ['onReconnected']);
    const r = await tc.renewSig('fresh');
    assert.deepEqual(r, {});
    sockets[sockets.length - 1].drop(4004, 'keep-alive timeout');
    await until(() => got.length === 1, 'onReconnected');
    assert.equal(sockets[sockets.length - 1].sent[0].data.userSig, 'fresh');
    await tc.logout();
  },

  async 'kick-out: no reconnect'() {
    const { tc, got, ws } = await start('dave', [T.EVENT.KICKED_OUT, 'onDisconnected', 'onReconnecting']);
    const n = sockets.length;
    ws.event('onKickedOut', {});
    ws.drop(4001, 'kicked out: logged in elsewhere');
    await until(() => got.length === 2, 'onDisconnected');
    assert.deepEqual(got.map(([e]) => e), ['onKickedOut', 'onDisconnected']);
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(sockets.length, n);
  },

  async 'reconnect refused by the sig: onReconnectFailed'() {
    const { tc, got } = await start('erin', ['onReconnectFailed']);
    serve = (ws, m) => (m.type === 'login' ? ws.fail(m, 70001) : defaultServe(ws, m));
    sockets[sockets.length - 1].drop(1006);
    await until(() => got.length === 1, 'onReconnectFailed');
    serve = defaultServe;
    assert.equal(got[0][1].code, 70001);
  },

  async 'callbox extensions: login fields, request, re-invite after reject'() {
    const tc = new T({ SDKAppID: 1, server: 'http://h' });
    const got = recorder(tc, ['onInvited', 'onUserStatus']);
    await tc.login({ userID: 'gina', userSig: 'good', presence: true, status: true, name: 'Gina G' });
    const ws = sockets[sockets.length - 1];
    const login = ws.sent.find((m) => m.type === 'login').data;
    assert.deepEqual([login.presence, login.status, login.name], [true, true, 'Gina G']);
    serve = (w, m) => (m.type === 'contacts' ? w.reply(m, { contacts: [{ userID: 'hal', status: 'online' }] }) : defaultServe(w, m));
    assert.deepEqual(await tc.request('contacts'), { contacts: [{ userID: 'hal', status: 'online' }] });
    serve = (w, m) => (m.type === 'history' ? w.fail(m, 4000) : defaultServe(w, m));
    await assert.rejects(tc.request('history', { limit: 0 }), (e) => e.code === 4000);
    serve = defaultServe;
    ws.event('onUserStatus', { userID: 'hal', status: 'busy' });
    // An invitation declined, then the same call inviting her again (a
    // midway invite): it rings again; a re-delivery of a ringing one does not.
    const inv = { sponsor: 'hal', userIDList: ['gina'], isFromGroup: true, inviteID: 'g1', inviteData: { callType: 1 } };
    ws.event('onInvited', inv, 'g1');
    ws.event('onInvited', inv, 'g1');
    await until(() => got.filter(([n]) => n === 'onInvited').length === 1, 'the first invitation');
    await tc.reject();
    ws.event('onInvited', inv, 'g1');
    await until(() => got.filter(([n]) => n === 'onInvited').length === 2, 'the invitation back');
    assert.deepEqual(got.map(([n]) => n), ['onUserStatus', 'onInvited', 'onInvited']);
    await tc.logout();
  },

  async 'no WebRTC: call rejects with 60006 and ERROR says so'() {
    const { tc, got: errs } = await start('frank', [T.EVENT.ERROR]);
    await assert.rejects(tc.call({ userID: 'bob', type: 2 }), (e) => e.code === 60006);
    assert.deepEqual(errs.map(([, d]) => d.code), [60006, 60006]); // at login, and at the call
    assert.equal(tc.getCallStatus(), 'idle');
    await tc.logout();
  },
};

(async () => {
  let failed = 0;
  for (const [name, fn] of Object.entries(tests)) {
    try {
      await fn();
      console.log('ok   ' + name);
    } catch (e) {
      failed++;
      console.log('FAIL ' + name + ': ' + (e && e.stack));
    }
  }
  process.exit(failed ? 1 : 0);
})();
