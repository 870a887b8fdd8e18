// Words the app shows: what an error code means to a person and what to
// do about it, and how times, durations and names are written.

// signInMessage explains a failed sign-in (docs/protocol.md §6).
export function signInMessage(code, sdkappid) {
  switch (code) {
    case 70001: return 'Your sign-in link has expired. Ask whoever sent it for a new invite link.';
    case 70003:
    case 70009: return 'This sign-in link is damaged or was changed: its signature does not match. Ask for a new invite link, and copy it whole.';
    case 70013: return 'This sign-in link was made for another user. Ask for a new invite link.';
    case 70014:
    case 70016:
    case 70020: return `This server has no app ${sdkappid || ''} any more, or the link names the wrong one. Ask for a new invite link.`;
    case 4004: return 'The server does not accept this user ID. Ask for a new invite link with a user ID of letters, digits and . _ - @.';
    case 4011: return 'Too many sign-in attempts. Wait a minute and reload the page.';
    case -1: return 'The server cannot be reached. Check your connection and reload the page.';
    default: return `Sign-in failed (${code}). Reload the page; if it happens again, ask for a new invite link.`;
  }
}

// callError says why placing, accepting or running a call failed.
export function callError(e) {
  const code = e && e.code;
  switch (code) {
    case 60003: return 'No microphone could be opened. Plug one in, or allow this page to use it (the icon in the address bar), then try again.';
    case 60004: return 'No camera was found: the call goes on with audio only.';
    case 60005: return 'Camera or microphone access is blocked. Allow it for this page (the icon in the address bar), then try again.';
    case 60006: return 'This browser cannot make calls (no WebRTC). Use a current Chrome, Edge, Firefox or Safari over https.';
    case 4007: return 'You are already in a call.';
    case 4004: return 'That user ID is not valid.';
    case 4011: return 'Too many calls in a short time. Wait a moment and try again.';
    case 70001: return 'Your sign-in has expired. Ask for a new invite link.';
    case -1: return 'The server does not answer. Check your connection; the app reconnects by itself.';
    default: return `The call failed${code ? ' (' + code + ')' : ''}: ${e && e.message ? e.message : 'unknown error'}. Try again.`;
  }
}

// validUserID mirrors the server's rule (docs/protocol.md §4): 1-32
// bytes of printable ASCII other than space and comma.
export function validUserID(id) {
  return typeof id === 'string' && /^[\x21-\x2b\x2d-\x7e]{1,32}$/.test(id);
}

// userIDFromName turns a typed name into a user ID the server accepts.
export function userIDFromName(name) {
  return name.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').trim().toLowerCase()
    .replace(/\s+/g, '.').replace(/[^\x21-\x2b\x2d-\x7e]/g, '').slice(0, 32);
}

export function initials(name) {
  const parts = String(name || '?').replace(/[@._-]+/g, ' ').trim().split(/\s+/);
  const s = parts.length > 1 ? parts[0][0] + parts[parts.length - 1][0] : parts[0].slice(0, 2);
  return s.toUpperCase();
}

// hue picks one of 8 avatar colours from a user ID (a class, not a style:
// the CSP refuses inline styles).
export function hue(id) {
  let h = 0;
  for (const ch of String(id)) h = (h * 31 + ch.codePointAt(0)) >>> 0;
  return 'h' + (h % 8);
}

// duration writes seconds as m:ss or h:mm:ss.
export function duration(s) {
  s = Math.max(0, Math.floor(s));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

// when writes a unix time as "14:02", "Yesterday 14:02" or "3 Mar 14:02".
export function when(unix, now = new Date()) {
  const d = new Date(unix * 1000);
  const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  const day = (x) => new Date(x.getFullYear(), x.getMonth(), x.getDate()).getTime();
  const days = Math.round((day(now) - day(d)) / 86400000);
  if (days === 0) return time;
  if (days === 1) return 'Yesterday ' + time;
  const opts = { day: 'numeric', month: 'short' };
  if (d.getFullYear() !== now.getFullYear()) opts.year = 'numeric';
  return d.toLocaleDateString([], opts) + ' ' + time;
}

export function list(names) {
  if (names.length <= 1) return names.join('');
  if (names.length === 2) return names[0] + ' and ' + names[1];
  return names.slice(0, -1).join(', ') + ' and ' + names[names.length - 1];
}

// h builds an element: h('button.call-btn', {type: 'button', 'aria-label': 'x'}, child...).
export function h(tag, attrs, ...children) {
  const [name, ...classes] = tag.split('.');
  const el = document.createElement(name);
  if (classes.length) el.className = classes.join(' ');
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') el.textContent = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

const ICONS = {
  phone: 'M6.6 10.8a15.1 15.1 0 0 0 6.6 6.6l2.2-2.2c.28-.28.67-.36 1.02-.25 1.12.37 2.32.57 3.58.57.55 0 1 .45 1 1V20c0 .55-.45 1-1 1A17 17 0 0 1 3 4c0-.55.45-1 1-1h3.5c.55 0 1 .45 1 1 0 1.25.2 2.45.57 3.57.11.35.03.74-.25 1.02Z',
  video: 'M17 10.5V7a1 1 0 0 0-1-1H4a1 1 0 0 0-1 1v10a1 1 0 0 0 1 1h12a1 1 0 0 0 1-1v-3.5l4 4v-11Z',
  out: 'M9 5v2h6.59L4 18.59 5.41 20 17 8.41V15h2V5Z',
  in: 'M20 5.41 18.59 4 7 15.59V9H5v10h10v-2H8.41Z',
  micOff: 'M19 11h-1.7c0 .74-.16 1.43-.43 2.05l1.23 1.23A6.9 6.9 0 0 0 19 11Zm-4.02.17V5a3 3 0 0 0-5.98-.3ZM4.27 3 3 4.27l6 6V11a3 3 0 0 0 4.53 2.58l1.66 1.66A5 5 0 0 1 7 11H5a7 7 0 0 0 6 6.92V21h2v-3.08a6.9 6.9 0 0 0 2.54-.9L19.73 21 21 19.73Z',
};

export function icon(name) {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  const p = document.createElementNS('http://www.w3.org/2000/svg', 'path');
  p.setAttribute('d', ICONS[name]);
  svg.append(p);
  return svg;
}
