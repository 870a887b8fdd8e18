// DOM helpers of the admin console. Text goes in as text nodes, never as
// HTML: names, user IDs and room IDs come from users.

// h builds an element: h("td", {class: "x", onclick: fn}, "text", child).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k in el && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

export function clear(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c !== undefined && c !== null && c !== false));
  return el;
}

let toastTimer;
// toast shows a short message at the bottom; bad marks an error.
export function toast(msg, bad = false) {
  const t = document.getElementById("toast");
  t.textContent = msg;
  t.className = bad ? "bad" : "";
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, bad ? 6000 : 3000);
}

// settle answers the confirmation in progress, if any.
let settle = null;

// confirm asks in a modal dialog; resolves true when okLabel is pressed.
// A close event is a task of its own, so the previous dialog's may arrive
// after this one opened: only the latest confirmation is answered, and
// only by a close that left the dialog shut.
export function confirm(title, body, okLabel) {
  const d = document.getElementById("confirm");
  if (settle) settle(false);
  document.getElementById("confirm-title").textContent = title;
  clear(document.getElementById("confirm-body"), body);
  document.getElementById("confirm-ok").textContent = okLabel;
  d.returnValue = "";
  if (!d.open) d.showModal();
  return new Promise((resolve) => {
    const onClose = () => {
      if (!d.open) done(d.returnValue === "ok");
    };
    const done = (v) => {
      d.removeEventListener("close", onClose);
      if (settle === done) settle = null;
      resolve(v);
    };
    settle = done;
    d.addEventListener("close", onClose);
  });
}

export function pill(text, cls = text) {
  return h("span", { class: "pill " + cls }, text);
}

export function fmtTime(s) {
  if (!s || s.startsWith("0001-")) return "–";
  return new Date(s).toLocaleString();
}

export function fmtDuration(ms) {
  if (!(ms >= 0)) return "–";
  const s = Math.floor(ms / 1000);
  const hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
  const two = (n) => String(n).padStart(2, "0");
  return hh ? `${hh}:${two(mm)}:${two(ss)}` : `${mm}:${two(ss)}`;
}

export function fmtBytes(n) {
  if (!(n >= 0)) return "–";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${i ? n.toFixed(1) : n} ${u[i]}`;
}

export function fmtBitrate(bps) {
  if (!(bps > 0)) return "0";
  return bps >= 1e6 ? `${(bps / 1e6).toFixed(2)} Mbit/s` : `${Math.round(bps / 1e3)} kbit/s`;
}

// errorLine is the red line under a form; set(msg) fills or empties it.
export function errorLine() {
  const p = h("p", { class: "error", role: "alert", hidden: true });
  p.set = (msg) => { p.textContent = msg || ""; p.hidden = !msg; };
  return p;
}

// appSelect is a <select> of the apps, the first selected.
export function appSelect(apps, selected) {
  return h("select", { name: "app", "aria-label": "App" },
    apps.map((a) => h("option", { value: String(a.SDKAppID), selected: String(a.SDKAppID) === String(selected) },
      `${a.Name} (${a.SDKAppID})`)));
}
