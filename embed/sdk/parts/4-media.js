// callbox browser SDK, part 4 of 5: the media of one call (docs/media.md):
// a publish PC the client offers, a subscribe PC the SFU offers, trickle
// ICE, remote tracks by participant, and the <video> views.

const DISCONNECT_GRACE_MS = 2500; // ICE "disconnected" often heals alone
const ANSWER_TIMEOUT_MS = 10000;

// Simulcast layers of the published video (docs/media.md §1, §5): rids
// q, h, f = quarter, half, full size. Chromium encodes no more layers than
// its table allows for the frame size (three from 960x540, two from
// 480x270, one below) and drops the largest ones, so three layers of a
// 640x480 camera would never carry more than 320x240. A smaller frame
// gets fewer layers, the largest kept: h and f, or f alone (no
// simulcast), so that a large view can have the camera's full size.
function encodings(profile, track) {
  const p = PROFILES[profile] || PROFILES['480p'];
  const s = (track && typeof track.getSettings === 'function' && track.getSettings()) || {};
  const pixels = (s.width || p.width) * (s.height || p.height);
  const top = p.bitrate;
  if (pixels < 480 * 270) return [{ maxBitrate: top }];
  const all = [
    { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: Math.round(top / 8) },
    { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: Math.round(top / 3) },
    { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: top },
  ];
  return pixels < 960 * 540 ? all.slice(1) : all;
}

// mountVideo puts a <video> into the element the app named; the SDK owns
// that <video> and removes it again in unmountVideo.
function mountVideo(domID, muted) {
  const box = typeof document !== 'undefined' && document.getElementById(domID);
  if (!box) throw new CallError(4000, 'TRTCCalling: no element with id "' + domID + '"');
  const v = document.createElement('video');
  v.autoplay = true;
  v.playsInline = true;
  v.setAttribute('playsinline', '');
  v.muted = !!muted; // remote audio plays through its own <audio>
  v.style.width = '100%';
  v.style.height = '100%';
  v.style.objectFit = 'cover';
  v.dataset.trtcCalling = '';
  box.appendChild(v);
  return v;
}

function unmountVideo(v) {
  if (!v) return;
  v.srcObject = null;
  v.remove();
}

// showTrack makes v show track (or nothing); it keeps playing across a
// track replacement.
function showTrack(v, track) {
  if (!v) return;
  const cur = v.srcObject && v.srcObject.getTracks()[0];
  if (cur === track) return;
  v.srcObject = track ? new MediaStream([track]) : null;
  if (track) v.play().catch(() => {}); // autoplay of muted video is allowed
}

// MediaCall is the media of the current call. sdk supplies link (to send
// media messages), local (LocalMedia), emitMedia(event, data) for the
// SFU's events, and iceTrouble() when ICE breaks.
class MediaCall {
  constructor(sdk, iceServers) {
    this._sdk = sdk;
    this._cfg = { iceServers: iceServers || [], bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' };
    this.pub = null;
    this.sub = null;
    this._senders = { audio: null, video: null };
    this._chain = Promise.resolve(); // the SFU's messages, one at a time
    this._pubChain = Promise.resolve(); // publish negotiations, one at a time
    this._pubAnswer = null;
    this._held = { publish: null, subscribe: null }; // candidates held back
    this._tracks = []; // the last "tracks" message
    this._remote = new Map(); // userID -> {audio, video, videoID, audioEl, view}
    this._closed = false;
  }

  // setSink sends every remote user's audio to the loudspeaker deviceId.
  async setSink(deviceId) {
    await Promise.all([...this._remote.values()].filter((r) => r.audioEl).map((r) => this._sinkOf(r.audioEl, deviceId)));
  }

  _sinkOf(el, deviceId) {
    if (typeof el.setSinkId !== 'function') return Promise.resolve();
    return el.setSinkId(deviceId).catch((e) => console.warn('TRTCCalling: cannot play through', deviceId, e.name));
  }

  // start publishes the microphone, and the camera if withVideo.
  start(withVideo) {
    this.pub = this._newPC('publish');
    this._stream = new MediaStream();
    const l = this._sdk.local;
    if (l.audio) this._addSender('audio', l.audio);
    if (withVideo && l.video) this._addSender('video', l.video);
    return this._negotiate(false);
  }

  _newPC(name) {
    const pc = new RTCPeerConnection(this._cfg);
    pc.onicecandidate = (e) => this._candidate(name, e.candidate);
    let timer = null;
    pc.oniceconnectionstatechange = () => {
      const st = pc.iceConnectionState;
      clearTimeout(timer);
      if (this._closed) return;
      if (st === 'failed') this._sdk.iceTrouble();
      else if (st === 'disconnected') {
        timer = setTimeout(() => {
          if (!this._closed && pc.iceConnectionState === 'disconnected') this._sdk.iceTrouble();
        }, DISCONNECT_GRACE_MS);
      }
    };
    return pc;
  }

  _addSender(kind, track) {
    const init = { direction: 'sendonly', streams: [this._stream] };
    if (kind === 'video') init.sendEncodings = encodings(this._sdk.local.profile, track);
    this._senders[kind] = this.pub.addTransceiver(track, init).sender;
  }

  // setTrack follows a change of the local track of kind: a replacement
  // goes on the same sender; a first track of its kind is a renegotiation.
  setTrack(kind, track) {
    if (this._closed || !this.pub) return;
    const s = this._senders[kind];
    if (s) {
      s.replaceTrack(track).catch((e) => console.warn('TRTCCalling: replaceTrack', e));
      return;
    }
    if (!track) return;
    this._addSender(kind, track);
    this._negotiate(false);
  }

  // send wraps an SFU message in the media envelope (docs/protocol.md §4.10).
  _send(msg) {
    return this._sdk.link.send('media', msg).catch((e) => {
      if (!this._closed) console.warn('TRTCCalling: media ' + msg.type + ' refused', e.code, e.message);
    });
  }

  // _sendOffer sends a publish offer; it resolves to whether the SFU
  // refused it (a 4000 reply: docs/protocol.md §4.10). No reply, or no
  // connection, is no refusal: the answer may still come, or a resume
  // renegotiates.
  _sendOffer(sdp) {
    return this._sdk.link.send('media', { type: 'publish-offer', sdp }).then(() => false, (e) => {
      if (this._closed) return false;
      console.warn('TRTCCalling: media publish-offer refused', e.code, e.message);
      return e.code === 4000;
    });
  }

  _candidate(pc, c) {
    if (this._closed || !c || !c.candidate) return; // end of gathering needs no marker
    // The SFU refuses mDNS names (docs/media.md §6); it learns such an
    // address from our connectivity checks instead.
    if (/\s\S+\.local\s/.test(c.candidate)) return;
    const msg = { type: 'candidate', pc, candidate: c.toJSON() };
    if (this._held[pc]) this._held[pc].push(msg);
    else this._send(msg);
  }

  _release(pc) {
    const held = this._held[pc] || [];
    this._held[pc] = null;
    for (const m of held) this._send(m);
  }

  // _negotiate offers the publish PC's current state (with an ICE restart
  // on resume) and applies the answer; negotiations run one at a time.
  _negotiate(iceRestart) {
    const run = async () => {
      const pc = this.pub;
      if (this._closed || !pc) return;
      if (pc.signalingState === 'have-local-offer') {
        await pc.setLocalDescription({ type: 'rollback' }); // its answer was lost
      }
      const offer = await pc.createOffer({ iceRestart });
      this._held.publish = this._held.publish || [];
      await pc.setLocalDescription(offer);
      const answered = new Promise((resolve) => {
        this._pubAnswer = resolve;
        setTimeout(resolve, ANSWER_TIMEOUT_MS);
      });
      const refused = this._sendOffer(offer.sdp);
      this._release('publish');
      if (!(await Promise.race([refused, answered.then(() => false)]))) {
        await answered;
        return;
      }
      // The SFU refused the offer and kept its publish PC as it was
      // (docs/media.md §6): take ours back too, so the two agree and the
      // next negotiation starts from there.
      if (!this._closed && pc.signalingState === 'have-local-offer') await pc.setLocalDescription({ type: 'rollback' });
    };
    this._pubChain = this._pubChain.then(run).catch((e) => console.warn('TRTCCalling: publish negotiation', e));
    return this._pubChain;
  }

  // resume restarts ICE on both PCs (docs/media.md §2.5).
  resume() {
    if (this._closed) return;
    if (this._pubAnswer) this._pubAnswer(); // an answer that was lost
    this._send({ type: 'restart' });
    if (this.pub) this._negotiate(true);
  }

  // setIceServers gives both PCs the TURN credentials of a new login.
  setIceServers(servers) {
    this._cfg.iceServers = servers || [];
    for (const pc of [this.pub, this.sub]) {
      if (pc) try { pc.setConfiguration(this._cfg); } catch (e) { /* keep the old ones */ }
    }
  }

  mute(kind, muted) {
    if (!this._closed) this._send({ type: 'mute', kind, muted: !!muted });
  }

  // handle takes one SFU message (docs/media.md §3), in arrival order.
  handle(msg) {
    this._chain = this._chain.then(() => this._handle(msg)).catch((e) => {
      if (!this._closed) console.warn('TRTCCalling: media message ' + msg.type, e);
    });
  }

  async _handle(m) {
    if (this._closed) return;
    switch (m.type) {
      case 'publish-answer':
        if (this.pub && this.pub.signalingState === 'have-local-offer') {
          await this.pub.setRemoteDescription({ type: 'answer', sdp: m.sdp });
        }
        if (this._pubAnswer) this._pubAnswer();
        return;
      case 'tracks':
        this._tracks = m.tracks || [];
        return;
      case 'subscribe-offer':
        return this._subscribeOffer(m.sdp);
      case 'candidate': {
        const pc = m.pc === 'subscribe' ? this.sub : this.pub;
        if (pc && m.candidate) await pc.addIceCandidate(m.candidate).catch(() => {});
        return;
      }
      case 'event':
        this._sdk.emitMedia(m.event, m.data || {});
        return;
      case 'layers':
        return this._setActiveLayers(m.mid, m.rids);
    }
  }

  // _setActiveLayers pauses the simulcast encodings nobody watches
  // (docs/media.md §5): those of the publish transceiver mid whose rid is
  // not in rids get active:false, the others active:true.
  async _setActiveLayers(mid, rids) {
    if (!this.pub || !Array.isArray(rids)) return;
    const tr = this.pub.getTransceivers().find((t) => t.mid === mid);
    if (!tr || !tr.sender) return;
    const p = tr.sender.getParameters();
    if (!p.encodings || p.encodings.length < 2) return;
    let changed = false;
    for (const e of p.encodings) {
      const on = !e.rid || rids.includes(e.rid);
      if (e.active !== on) {
        e.active = on;
        changed = true;
      }
    }
    if (changed) await tr.sender.setParameters(p);
  }

  async _subscribeOffer(sdp) {
    if (!this.sub) {
      this.sub = this._newPC('subscribe');
      this.sub.ontrack = () => this._reconcile();
    }
    const pc = this.sub;
    await pc.setRemoteDescription({ type: 'offer', sdp });
    this._reconcile();
    const answer = await pc.createAnswer();
    this._held.subscribe = this._held.subscribe || [];
    await pc.setLocalDescription(answer);
    this._send({ type: 'subscribe-answer', sdp: answer.sdp });
    this._release('subscribe');
  }

  // _reconcile maps the subscribe PC's receivers to participants by mid,
  // from the last "tracks" message (docs/media.md §3).
  _reconcile() {
    if (!this.sub) return;
    const byMid = new Map();
    for (const t of this._tracks) byMid.set(t.mid, t);
    const want = new Map(); // userID -> {audio, video, videoID}
    for (const tr of this.sub.getTransceivers()) {
      const info = tr.mid != null && byMid.get(tr.mid);
      if (!info || !tr.receiver || !tr.receiver.track) continue;
      const w = want.get(info.participant) || {};
      w[info.kind] = tr.receiver.track;
      if (info.kind === 'video') w.videoID = info.trackId;
      want.set(info.participant, w);
    }
    for (const [user, r] of this._remote) {
      if (!want.has(user)) this._update(user, r, {});
    }
    for (const [user, w] of want) {
      this._update(user, this._remote.get(user) || { view: null }, w);
    }
  }

  _update(user, r, w) {
    r.audio = w.audio || null;
    r.video = w.video || null;
    const newID = w.videoID || '';
    const idChanged = r.videoID !== newID;
    r.videoID = newID;
    if (r.audio && !r.audioEl) {
      r.audioEl = new Audio();
      r.audioEl.autoplay = true;
      if (this._sdk._speaker) this._sinkOf(r.audioEl, this._sdk._speaker);
    }
    if (r.audioEl) {
      const cur = r.audioEl.srcObject && r.audioEl.srcObject.getTracks()[0];
      if (cur !== r.audio) {
        r.audioEl.srcObject = r.audio ? new MediaStream([r.audio]) : null;
        if (r.audio) r.audioEl.play().catch((e) => console.warn('TRTCCalling: remote audio of ' + user + ' cannot play yet', e.name));
      }
    }
    if (r.view) {
      showTrack(r.view, r.video);
      if (idChanged && r.videoID) this._sendLayer(r);
    }
    if (r.audio || r.video || r.view) this._remote.set(user, r);
    else this._remote.delete(user);
  }

  // startView renders user's video into domID (now, or when it arrives).
  startView(user, domID) {
    const r = this._remote.get(user) || { audio: null, video: null, videoID: '', audioEl: null, view: null };
    if (r.view) unmountVideo(r.view);
    r.view = mountVideo(domID, true);
    this._remote.set(user, r);
    showTrack(r.view, r.video);
    if (r.videoID) this._sendLayer(r);
    if (typeof ResizeObserver === 'function') {
      let t = null;
      r.resize = new ResizeObserver(() => {
        clearTimeout(t);
        t = setTimeout(() => this._sendLayer(r), 300);
      });
      r.resize.observe(r.view);
    }
  }

  stopView(user) {
    const r = this._remote.get(user);
    if (!r || !r.view) return;
    if (r.resize) r.resize.disconnect();
    unmountVideo(r.view);
    r.view = null;
    r.resize = null;
    if (r.videoID) this._send({ type: 'layer', track: r.videoID, maxWidth: 1, maxHeight: 1 });
  }

  // _sendLayer tells the SFU the size the view shows (docs/media.md §3).
  _sendLayer(r) {
    if (!r.view || !r.videoID || this._closed) return;
    const dpr = (typeof devicePixelRatio === 'number' && devicePixelRatio) || 1;
    const w = Math.min(16384, Math.round(r.view.clientWidth * dpr));
    const h = Math.min(16384, Math.round(r.view.clientHeight * dpr));
    this._send({ type: 'layer', track: r.videoID, maxWidth: w, maxHeight: h });
  }

  // stats is the subscribe PC's getStats (tests and diagnostics).
  stats() { return this.sub ? this.sub.getStats() : Promise.resolve(new Map()); }

  close() {
    if (this._closed) return;
    this._closed = true;
    for (const r of this._remote.values()) {
      if (r.resize) r.resize.disconnect();
      unmountVideo(r.view);
      if (r.audioEl) {
        r.audioEl.pause();
        r.audioEl.srcObject = null;
      }
    }
    this._remote.clear();
    if (this._pubAnswer) this._pubAnswer();
    for (const pc of [this.pub, this.sub]) if (pc) pc.close();
  }
}
