// callbox browser SDK, part 1 of 5: constants, the event emitter, errors.
//
// The parts under embed/sdk/parts/ are classic-script fragments. The server
// (package ui) serves /sdk/trtc-calling.js as their concatenation, in name
// order, inside one function scope, so they share these declarations and
// leak nothing but globalThis.TRTCCalling. docs/sdk.md says why.

const SDK_VERSION = '1.0.0-callbox';

// TRTCCalling.EVENT: keys and values of spec tencent-compat.md §4, exactly.
const EVENT = Object.freeze({
  SDK_READY: 'sdkReady',
  INVITED: 'onInvited',
  REJECT: 'onReject',
  NO_RESP: 'onNoResp',
  LINE_BUSY: 'onLineBusy',
  CALLING_CANCEL: 'onCallingCancel',
  CALLING_TIMEOUT: 'onCallingTimeout',
  USER_ACCEPT: 'onUserAccept',
  USER_ENTER: 'onUserEnter',
  USER_LEAVE: 'onUserLeave',
  CALL_END: 'onCallEnd',
  CALLING_END: 'onCallEnd',
  KICKED_OUT: 'onKickedOut',
  USER_VIDEO_AVAILABLE: 'onUserVideoAvailable',
  USER_AUDIO_AVAILABLE: 'onUserAudioAvailable',
  USER_VOICE_VOLUME: 'onUserVoiceVolume',
  GROUP_CALL_INVITEE_LIST_UPDATE: 'onGroupCallInviteeListUpdate',
  ERROR: 'onError',
});

// Events callbox adds (docs/sdk.md). TUICallKit-style names the server
// sends (onCallBegin, onUserSigExpired, ...) are emitted under their own
// names too; these are the ones the SDK itself makes.
const CALLBOX_EVENT = Object.freeze({
  RECONNECTING: 'onReconnecting',
  RECONNECTED: 'onReconnected',
  RECONNECT_FAILED: 'onReconnectFailed',
  DISCONNECTED: 'onDisconnected',
  USER_SIG_EXPIRED: 'onUserSigExpired',
  VOICE_VOLUME_CHANGED: 'onUserVoiceVolumeChanged',
  NETWORK_QUALITY_CHANGED: 'onUserNetworkQualityChanged',
  CALL_MEDIA_TYPE_CHANGED: 'onCallMediaTypeChanged',
});

const CALL_TYPE = Object.freeze({ AUDIO_CALL: 1, VIDEO_CALL: 2 });

// Error codes (spec tencent-compat.md §4; docs/protocol.md §6 for the rest).
const ERR = Object.freeze({
  SWITCH_TO_AUDIO: 60001,
  SWITCH_TO_VIDEO: 60002,
  NO_MICROPHONE: 60003,
  NO_CAMERA: 60004,
  PERMISSION_DENIED: 60005,
  NO_WEBRTC: 60006,
  NOT_CONNECTED: -1, // callbox: the request could not reach the server
});

// Video profiles (spec call-semantics §2: 480p is the default). The small
// ones ask the camera for 15 fps, as Tencent's profiles do, to spare
// phones; 720p and 1080p are the "good picture" choices and ask for 30,
// so motion stays smooth where the bitrate allows it (docs/sdk.md §5).
const PROFILES = Object.freeze({
  '240p': { width: 320, height: 240, fps: 15, bitrate: 250000 },
  '360p': { width: 640, height: 360, fps: 15, bitrate: 500000 },
  '480p': { width: 640, height: 480, fps: 15, bitrate: 900000 },
  '720p': { width: 1280, height: 720, fps: 30, bitrate: 1500000 },
  '1080p': { width: 1920, height: 1080, fps: 30, bitrate: 2500000 },
});

// CallError is what rejected promises carry: code is the wire code
// (700xx for a bad sig, 60001-60006, 40xx/5000 from the server).
class CallError extends Error {
  constructor(code, message) {
    super(message || ('callbox error ' + code));
    this.name = 'CallError';
    this.code = code;
    this.msg = this.message;
  }
}

// Emitter keeps listeners per event name, with the context on() was given.
class Emitter {
  constructor() { this._ls = new Map(); }

  on(name, fn, ctx) {
    if (typeof fn !== 'function') return;
    if (!this._ls.has(name)) this._ls.set(name, []);
    this._ls.get(name).push({ fn, ctx });
  }

  off(name, fn, ctx) {
    const ls = this._ls.get(name);
    if (!ls) return;
    const keep = ls.filter((l) => !(l.fn === fn && (ctx === undefined || l.ctx === ctx)));
    if (keep.length) this._ls.set(name, keep); else this._ls.delete(name);
  }

  emit(name, payload) {
    const ls = this._ls.get(name);
    if (!ls) return;
    for (const l of ls.slice()) {
      try {
        l.fn.call(l.ctx, payload);
      } catch (e) {
        // An application handler's bug must not break the SDK's state.
        console.error('TRTCCalling: handler for ' + name + ' threw', e);
      }
    }
  }
}

// wsURL turns the server option (http(s)://, ws(s):// or empty for this
// page's origin) into the signaling endpoint <server>/ws.
function wsURL(server) {
  let base = server;
  if (!base) {
    if (typeof location === 'undefined' || !/^https?:$/.test(location.protocol)) {
      throw new CallError(4000, 'TRTCCalling: no server option and no http(s) page origin');
    }
    base = location.origin;
  }
  base = String(base).replace(/\/+$/, '');
  if (/^https:/i.test(base)) base = 'wss:' + base.slice(6);
  else if (/^http:/i.test(base)) base = 'ws:' + base.slice(5);
  else if (!/^wss?:/i.test(base)) throw new CallError(4000, 'TRTCCalling: server must be an http(s) or ws(s) URL');
  return base + '/ws';
}

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

function hasWebRTC() {
  return typeof RTCPeerConnection === 'function' &&
    typeof navigator !== 'undefined' && !!navigator.mediaDevices &&
    typeof navigator.mediaDevices.getUserMedia === 'function';
}
