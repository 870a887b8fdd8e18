// callbox browser SDK, part 2 of 5: the signaling connection
// (docs/protocol.md): one WebSocket (Socket), and the Link that logs in on
// it, keeps it alive and logs in again after an unexpected close (§3.6).

// Close codes after which the SDK does not reconnect (docs/protocol.md §3):
// logout, kicked out, sig expired or revoked, app deleted.
const FINAL_CLOSE = new Set([1000, 4001, 4002, 4006]);

const REQUEST_TIMEOUT_MS = 15000;
const PING_EVERY_MS = 15000; // the server's own ping comes after 20 s idle
const PING_TIMEOUT_MS = 8000;
const WAIT_READY_MS = 10000; // how long a request waits for a reconnect
const BACKOFF_MS = [250, 500, 1000, 2000, 3000, 5000, 10000];

// Socket is one WebSocket: requests matched to replies by id (§2), events
// handed on in order. It reports its end once, through onClose.
class Socket {
  constructor(url, onEvent, onClose) {
    this._url = url;
    this._onEvent = onEvent;
    this._onClose = onClose;
    this._nextID = 0;
    this._pending = new Map();
    this._ended = false;
    this._ping = null;
  }

  open() {
    return new Promise((resolve, reject) => {
      let ws;
      try {
        ws = new WebSocket(this._url);
      } catch (e) {
        reject(new CallError(ERR.NOT_CONNECTED, 'websocket: ' + e.message));
        return;
      }
      this._ws = ws;
      ws.onopen = () => resolve();
      ws.onmessage = (ev) => this._message(ev.data);
      ws.onclose = (ev) => {
        reject(new CallError(ERR.NOT_CONNECTED, openFailure(this._url, ev.code)));
        this._end(ev.code, ev.reason);
      };
      ws.onerror = () => {}; // onclose follows with the code
    });
  }

  // keepAlive sends the ping request (§4.12) so that a vanished server is
  // noticed; the socket ends when a ping goes unanswered.
  keepAlive() {
    if (this._ping) return;
    this._ping = setInterval(() => {
      this.request('ping', undefined, PING_TIMEOUT_MS).catch(() => this.kill('ping timeout'));
    }, PING_EVERY_MS);
  }

  request(type, data, timeoutMs) {
    if (this._ended || !this._ws || this._ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new CallError(ERR.NOT_CONNECTED, type + ': not connected'));
    }
    const id = ++this._nextID;
    const msg = { id, type };
    if (data !== undefined) msg.data = data;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(id);
        reject(new CallError(ERR.NOT_CONNECTED, type + ': no reply'));
      }, timeoutMs || REQUEST_TIMEOUT_MS);
      this._pending.set(id, { resolve, reject, timer });
      this._ws.send(JSON.stringify(msg));
    });
  }

  _message(text) {
    let m;
    try {
      m = JSON.parse(text);
    } catch (e) {
      return; // the server never sends this
    }
    if (m.type === 'reply') {
      const p = this._pending.get(m.id);
      if (!p) return; // an error about a frame the server could not parse
      this._pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.ok) p.resolve(m.data || {});
      else p.reject(new CallError(m.code, m.error));
    } else if (m.type === 'event') {
      this._onEvent(m.event, m.callID || '', m.data || {});
    }
  }

  // kill drops the socket at once, as if the network had: a dead server
  // may never complete the close handshake, so nothing waits for it.
  kill(reason) {
    if (this._ended) return;
    try {
      this._ws.close(4000, reason);
    } catch (e) { /* already closing */ }
    this._end(1006, reason);
  }

  // close ends the socket on purpose (no reconnect).
  close() {
    this._onClose = null;
    this.kill('closed by the client');
  }

  _end(code, reason) {
    if (this._ended) return;
    this._ended = true;
    clearInterval(this._ping);
    if (this._ws) {
      this._ws.onmessage = this._ws.onclose = this._ws.onopen = null;
    }
    for (const p of this._pending.values()) {
      clearTimeout(p.timer);
      p.reject(new CallError(ERR.NOT_CONNECTED, 'connection closed (' + code + ')'));
    }
    this._pending.clear();
    if (this._onClose) this._onClose(code, reason || '');
  }
}

// openFailure says why a WebSocket closed before it opened, as far as a
// page can know: the browser hides the HTTP status, so a server that
// refused the page's origin (403, docs/protocol.md §1) looks like one that
// is down, but a page of another origin than the server's is told what
// the server needs.
function openFailure(url, code) {
  const msg = 'cannot open ' + url + ' (closed with ' + code + ' before it opened): the server is down or unreachable';
  if (typeof location === 'undefined' || !/^https?:$/.test(location.protocol)) return msg;
  const server = new URL(url.replace(/^ws/i, 'http')).origin;
  if (server === location.origin) return msg;
  return msg + ', or it does not allow pages of ' + location.origin +
    ' (the server needs --allowed-origin ' + location.origin + ')';
}

// Link is the logged-in connection across reconnects. Its handler gets:
// event(name, callID, data); reconnecting({attempt, code, reason});
// relogged(loginReply) after a successful login on a new socket;
// failed(error) when it gives up (a sig no longer valid); closed(code,
// reason) on a final close (kick-out, logout, expiry, app deleted).
class Link {
  constructor(url, handler) {
    this._url = url;
    this._h = handler;
    this._sock = null;
    this._args = null; // login data, kept for reconnects
    this._ready = false;
    this._waiters = [];
    this._reconnecting = false;
    this._stopped = false;
  }

  get loggedIn() { return !!this._args; }

  async login(args) {
    this._stopped = false;
    if (!this._sock) {
      const s = this._newSocket();
      await s.open();
      this._sock = s;
    }
    const reply = await this._sock.request('login', args);
    this._args = Object.assign({}, args);
    this._setReady(true);
    this._sock.keepAlive();
    return reply;
  }

  setSig(userSig) { if (this._args) this._args.userSig = userSig; }

  // request sends now, or waits (a bounded time) for a reconnect.
  async request(type, data) {
    if (!this._ready) {
      if (!this._reconnecting) throw new CallError(ERR.NOT_CONNECTED, type + ': not logged in');
      await new Promise((resolve, reject) => {
        const w = { resolve, reject };
        w.timer = setTimeout(() => {
          this._waiters = this._waiters.filter((x) => x !== w);
          reject(new CallError(ERR.NOT_CONNECTED, type + ': reconnect did not finish in time'));
        }, WAIT_READY_MS);
        this._waiters.push(w);
      });
    }
    return this._sock.request(type, data);
  }

  // send is request without waiting: media messages of a connection that
  // is gone are useless, a resume restarts ICE anyway (docs/media.md §2.5).
  send(type, data) {
    if (!this._ready) return Promise.reject(new CallError(ERR.NOT_CONNECTED, type + ': not connected'));
    return this._sock.request(type, data);
  }

  // probe checks the connection with a ping; a silent server makes the
  // link reconnect. It resolves to whether the connection answered.
  async probe(timeoutMs) {
    if (!this._ready) return false;
    const s = this._sock;
    try {
      await s.request('ping', undefined, timeoutMs);
      return true;
    } catch (e) {
      s.kill('ping timeout');
      return false;
    }
  }

  // drop kills the socket as a network failure would (tests, probes).
  drop() { if (this._sock) this._sock.kill('dropped'); }

  // logout sends logout (§4.3); the server closes with 1000 afterwards.
  async logout() {
    const s = this._sock;
    this._args = null;
    this._stopped = true;
    this._setReady(false);
    this._sock = null;
    if (!s) return;
    try {
      await s.request('logout');
    } finally {
      s.close();
    }
  }

  // close ends the link without telling the server.
  close() {
    this._args = null;
    this._stopped = true;
    this._setReady(false);
    if (this._sock) this._sock.close();
    this._sock = null;
  }

  _newSocket() {
    const s = new Socket(this._url,
      (name, callID, data) => { if (this._sock === s) this._h.event(name, callID, data); },
      (code, reason) => this._socketClosed(s, code, reason));
    return s;
  }

  _setReady(ready) {
    this._ready = ready;
    if (!ready) return;
    const ws = this._waiters;
    this._waiters = [];
    for (const w of ws) {
      clearTimeout(w.timer);
      w.resolve();
    }
  }

  _socketClosed(s, code, reason) {
    if (s !== this._sock) return;
    this._sock = null;
    this._setReady(false);
    if (!this._args || this._stopped) return;
    if (FINAL_CLOSE.has(code)) {
      this._args = null;
      this._failWaiters(new CallError(ERR.NOT_CONNECTED, 'connection closed: ' + reason));
      this._h.closed(code, reason);
      return;
    }
    this._reconnect(code, reason);
  }

  _failWaiters(err) {
    const ws = this._waiters;
    this._waiters = [];
    for (const w of ws) {
      clearTimeout(w.timer);
      w.reject(err);
    }
  }

  async _reconnect(code, reason) {
    if (this._reconnecting) return;
    this._reconnecting = true;
    for (let attempt = 1; this._args && !this._stopped; attempt++) {
      this._h.reconnecting({ attempt, code, reason });
      const base = BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length) - 1];
      await sleep(base * (0.8 + 0.4 * Math.random()));
      if (!this._args || this._stopped) break;
      const s = this._newSocket();
      try {
        await s.open();
        this._sock = s;
        // resume: the server may not have seen the old connection close
        // (a network change); take its session over instead of kicking
        // it out, so the call goes on (docs/protocol.md §3.6).
        const reply = await s.request('login', { ...this._args, resume: true });
        this._reconnecting = false;
        this._setReady(true);
        s.keepAlive();
        this._h.relogged(reply);
        return;
      } catch (e) {
        if (this._sock === s) this._sock = null;
        s.close();
        if (e.code >= 70000 && e.code < 71000) { // the sig is no longer valid
          this._args = null;
          this._reconnecting = false;
          this._failWaiters(e);
          this._h.failed(e);
          return;
        }
      }
    }
    this._reconnecting = false;
  }
}
