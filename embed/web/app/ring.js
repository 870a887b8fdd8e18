// Ring tones made with Web Audio, so the app needs no sound files: the
// incoming ring (two-tone bursts) and the caller's ringback (a soft tone
// every few seconds). Browsers start an AudioContext only after a user
// gesture; unlock() is called on the first one.

export class Ringer {
  constructor() {
    this.ctx = null;
    this.timer = null;
    this.kind = ''; // '', 'incoming' or 'ringback'
  }

  _context() {
    if (!this.ctx) {
      const AC = window.AudioContext || window.webkitAudioContext;
      if (!AC) return null;
      this.ctx = new AC();
    }
    return this.ctx;
  }

  unlock() {
    const ctx = this._context();
    if (ctx && ctx.state === 'suspended') ctx.resume().catch(() => {});
  }

  // playing says whether a tone is scheduled and the context runs (the
  // tests read it as body[data-ringing]).
  get playing() { return !!this.kind && !!this.ctx && this.ctx.state === 'running'; }

  start(kind) {
    this.stop();
    const ctx = this._context();
    if (!ctx) return;
    if (ctx.state === 'suspended') ctx.resume().catch(() => {});
    this.kind = kind;
    const period = kind === 'incoming' ? 3000 : 4000;
    const burst = () => (kind === 'incoming' ? this._incoming(ctx) : this._ringback(ctx));
    burst();
    this.timer = setInterval(burst, period);
    document.body.dataset.ringing = kind;
  }

  stop() {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.kind = '';
    if (this._nodes) for (const n of this._nodes) try { n.stop(); } catch (e) { /* already stopped */ }
    this._nodes = [];
    delete document.body.dataset.ringing;
  }

  _tone(ctx, freqs, start, length, gainValue) {
    const gain = ctx.createGain();
    gain.gain.setValueAtTime(0, start);
    gain.gain.linearRampToValueAtTime(gainValue, start + 0.02);
    gain.gain.setValueAtTime(gainValue, start + length - 0.05);
    gain.gain.linearRampToValueAtTime(0, start + length);
    gain.connect(ctx.destination);
    for (const f of freqs) {
      const o = ctx.createOscillator();
      o.type = 'sine';
      o.frequency.value = f;
      o.connect(gain);
      o.start(start);
      o.stop(start + length);
      this._nodes.push(o);
      o.onended = () => { this._nodes = this._nodes.filter((n) => n !== o); };
    }
  }

  _incoming(ctx) {
    const t = ctx.currentTime + 0.01;
    // A rising pair of chords, twice: noticeable, not harsh.
    for (const [i, f] of [[0, 660], [1, 880], [3, 660], [4, 880]]) this._tone(ctx, [f, f * 1.25], t + i * 0.2, 0.18, 0.12);
  }

  _ringback(ctx) {
    this._tone(ctx, [440, 480], ctx.currentTime + 0.01, 1.6, 0.05);
  }
}
