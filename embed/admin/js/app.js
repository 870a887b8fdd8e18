// The admin console's shell: the setup link, login, navigation between
// pages (#apps, #users, ...), logout. Each page is a module whose
// render(main) draws it and returns an optional stop function (timers).
import * as api from "./api.js";
import { h, clear, errorLine, toast } from "./dom.js";
import * as apps from "./apps.js";
import * as users from "./users.js";
import * as calls from "./calls.js";
import * as records from "./records.js";
import * as server from "./server.js";
import * as webhooks from "./webhooks.js";
import * as admins from "./admins.js";

const pages = { apps, users, calls, records, server, webhooks, admins };
const main = document.getElementById("main");
let stopPage = null;
let me = "";

function showNav(admin) {
  document.getElementById("nav").hidden = !admin;
  document.getElementById("who").hidden = !admin;
  document.getElementById("who-name").textContent = admin || "";
}

// route draws the page the hash names into a view of its own: a page
// still loading when the next one is chosen draws into a detached view,
// and its timers are stopped as soon as it returns.
let routeGen = 0;
async function route() {
  const gen = ++routeGen;
  if (stopPage) { stopPage(); stopPage = null; }
  const name = location.hash.slice(1).split("?")[0] || "apps";
  const page = pages[name] || apps;
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.page === name);
  const view = h("div", { class: "view" }, h("p", { class: "muted" }, "Loading…"));
  clear(main, view);
  try {
    const stop = (await page.render(view, me)) || null;
    if (gen === routeGen) stopPage = stop;
    else if (stop) stop();
  } catch (e) {
    if (gen === routeGen && e.status !== 401) clear(view, h("p", { class: "error" }, e.message));
  }
}

function credentialsForm(title, intro, button, newPassword, submit) {
  const err = errorLine();
  const user = h("input", { name: "user", autocomplete: "username", required: true, maxlength: 32 });
  const pw = h("input", { name: "password", type: "password", required: true,
    autocomplete: newPassword ? "new-password" : "current-password" });
  const f = h("form", { class: "card narrow", id: "auth-form" },
    h("h1", {}, title), intro,
    h("label", {}, "User name", user),
    h("label", {}, "Password", pw),
    err,
    h("p", { class: "actions" }, h("button", { class: "primary", type: "submit" }, button)));
  f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.set("");
    try {
      const s = await submit(user.value.trim(), pw.value);
      pw.value = "";
      start(s.admin);
    } catch (e) {
      err.set(e.message);
    }
  });
  return f;
}

function showLogin() {
  showNav(null);
  routeGen++;
  if (stopPage) { stopPage(); stopPage = null; }
  clear(main, credentialsForm("Log in", null, "Log in", false, (u, p) => api.login(u, p)));
  main.querySelector("input").focus();
}

function showSetup(token) {
  showNav(null);
  const intro = h("p", { class: "muted" },
    "Create the first admin account. This link works once; the password needs at least 10 characters.");
  clear(main, credentialsForm("Set up callbox", intro, "Create account", true, (u, p) => api.setup(token, u, p)));
  main.querySelector("input").focus();
}

function start(admin) {
  me = admin;
  showNav(admin);
  if (!location.hash || location.hash.startsWith("#setup=")) {
    // Drop the used token from the address bar and history.
    history.replaceState(null, "", location.pathname + "#apps");
  }
  route();
}

api.whenLoggedOut((e) => {
  showLogin();
  if (e.code === "unauthorized" && /expired/.test(e.message)) toast(e.message, true);
});

document.getElementById("logout").addEventListener("click", async () => {
  try { await api.logout(); } catch { /* the session may be gone already */ }
  showLogin();
});

window.addEventListener("hashchange", () => {
  if (!document.getElementById("nav").hidden) route();
});

async function boot() {
  const m = location.hash.match(/^#setup=([A-Za-z0-9_-]{1,100})$/);
  if (m) {
    showSetup(m[1]);
    return;
  }
  const s = await api.session();
  if (s) start(s.admin);
  else showLogin();
}

boot().catch((e) => clear(main, h("p", { class: "error" }, e.message)));
