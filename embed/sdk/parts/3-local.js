// callbox browser SDK, part 3 of 5: the local microphone and camera, and
// the errors of getting them (spec tencent-compat.md §4: 60003 no
// microphone, 60004 no camera, 60005 permission denied, 60006 no WebRTC).

// gumCode classifies a getUserMedia failure for one kind of device.
function gumCode(err, kind) {
  const name = err && err.name;
  if (name === 'NotAllowedError' || name === 'SecurityError' || name === 'PermissionDeniedError') {
    return ERR.PERMISSION_DENIED;
  }
  return kind === 'audio' ? ERR.NO_MICROPHONE : ERR.NO_CAMERA;
}

// LocalMedia owns the local tracks: at most one microphone and one camera
// track. onChange(kind, track) tells the call when a track appears, is
// replaced or goes (track null).
class LocalMedia {
  constructor(onChange) {
    this._onChange = onChange;
    this.audio = null;
    this.video = null;
    this.profile = '480p';
    this.deviceIds = { audio: '', video: '' };
    this.micMuted = false;
  }

  _constraints(kind) {
    const id = this.deviceIds[kind];
    if (kind === 'audio') {
      return id ? { deviceId: { exact: id } } : true;
    }
    const p = PROFILES[this.profile] || PROFILES['480p'];
    const c = { width: { ideal: p.width }, height: { ideal: p.height }, frameRate: { ideal: p.fps } };
    if (id) c.deviceId = { exact: id };
    return c;
  }

  async _get(kinds) {
    const c = {};
    for (const k of kinds) c[k] = this._constraints(k);
    return navigator.mediaDevices.getUserMedia(c);
  }

  // ensure gets the tracks a call of type needs that are not there yet.
  // The microphone is required: its failure throws (60003 / 60005). A
  // camera failure does not: onVideoError(code) is told and the call goes
  // on audio-only (60004 / 60005).
  async ensure(type, onVideoError) {
    if (!hasWebRTC()) throw new CallError(ERR.NO_WEBRTC, 'this browser has no WebRTC (RTCPeerConnection, getUserMedia)');
    const kinds = [];
    if (!this.audio) kinds.push('audio');
    if (type === CALL_TYPE.VIDEO_CALL && !this.video) kinds.push('video');
    if (!kinds.length) return;
    let stream;
    try {
      stream = await this._get(kinds);
    } catch (err) {
      if (kinds.length === 1) {
        if (kinds[0] === 'audio') throw new CallError(gumCode(err, 'audio'), 'microphone: ' + err.message);
        onVideoError(gumCode(err, 'video'), 'camera: ' + err.message);
        return;
      }
      // Both were asked for: find out which one failed.
      try {
        stream = await this._get(['audio']);
      } catch (err2) {
        throw new CallError(gumCode(err2, 'audio'), 'microphone: ' + err2.message);
      }
      onVideoError(gumCode(err, 'video'), 'camera: ' + err.message);
    }
    for (const t of stream.getTracks()) this._set(t.kind, t);
  }

  // openCamera gets the camera (or keeps the one there is).
  async openCamera() {
    if (!hasWebRTC()) throw new CallError(ERR.NO_WEBRTC, 'this browser has no WebRTC');
    if (this.video) return this.video;
    let stream;
    try {
      stream = await this._get(['video']);
    } catch (err) {
      throw new CallError(gumCode(err, 'video'), 'camera: ' + err.message);
    }
    this._set('video', stream.getVideoTracks()[0]);
    return this.video;
  }

  // switchDevice replaces the track of kind with one from deviceId.
  async switchDevice(kind, deviceId) {
    this.deviceIds[kind] = deviceId || '';
    if (!this[kind]) return; // used when the device is next opened
    let stream;
    try {
      stream = await this._get([kind]);
    } catch (err) {
      throw new CallError(gumCode(err, kind), kind + ': ' + err.message);
    }
    this._set(kind, stream.getTracks()[0]);
  }

  setMicMuted(muted) {
    this.micMuted = !!muted;
    if (this.audio) this.audio.enabled = !this.micMuted;
  }

  // stop ends the track of kind (the camera light goes off).
  stop(kind) {
    if (this[kind]) this._set(kind, null);
  }

  stopAll() {
    this.stop('audio');
    this.stop('video');
  }

  _set(kind, track) {
    const old = this[kind];
    if (old === track) return;
    this[kind] = track;
    if (track && kind === 'audio') track.enabled = !this.micMuted;
    if (old) old.stop();
    this._onChange(kind, track);
  }
}

async function listDevices(kind) {
  if (typeof navigator === 'undefined' || !navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) {
    throw new CallError(ERR.NO_WEBRTC, 'this browser cannot list media devices');
  }
  const all = await navigator.mediaDevices.enumerateDevices();
  return all.filter((d) => d.kind === kind);
}
