// Users: issue a UserSig, make an invite link to the web app (with its QR
// code and expiry), see who is online.
import { api } from "./api.js";
import { h, clear, toast, fmtTime, errorLine, appSelect } from "./dom.js";

const expiries = [["1 hour", 3600], ["1 day", 86400], ["7 days", 604800], ["30 days", 2592000]];

export async function render(main) {
  const apps = await api("GET", "/apps");
  if (!apps.length) {
    clear(main, h("h1", {}, "Users"), h("p", { class: "card" }, "Create an app first."));
    return;
  }
  const sel = appSelect(apps, sessionStorage.getItem("cb-app") || apps[0].SDKAppID);
  const online = h("div", { id: "online" });
  const out = h("div", { id: "issued" });
  const err = errorLine();
  const user = h("input", { name: "user", required: true, maxlength: 32, placeholder: "alice" });
  const expire = h("select", { name: "expire" }, expiries.map(([l, s]) => h("option", { value: String(s), selected: s === 86400 }, l)));
  const issue = async (kind) => {
    err.set("");
    clear(out);
    const body = { user: user.value.trim(), expire: Number(expire.value) };
    try {
      if (kind === "invite") {
        body.base = location.origin;
        showInvite(out, await api("POST", `/apps/${sel.value}/invite`, body), body.user);
      } else {
        showSig(out, await api("POST", `/apps/${sel.value}/usersig`, body));
      }
    } catch (e) { err.set(e.message); }
  };
  const f = h("form", { class: "inline", id: "issue" },
    h("div", {}, h("label", {}, "User ID"), user),
    h("div", {}, h("label", {}, "Valid for"), expire),
    h("button", { class: "primary", type: "submit", name: "invite" }, "Make invite link"),
    h("button", { type: "button", name: "usersig", onclick: () => f.reportValidity() && issue("usersig") }, "Issue UserSig"));
  f.addEventListener("submit", (ev) => { ev.preventDefault(); issue("invite"); });

  const refresh = async () => {
    try {
      const users = await api("GET", `/apps/${sel.value}/online`);
      clear(online, users.length
        ? h("ul", {}, users.map((u) => h("li", { class: "mono" }, u)))
        : h("p", { class: "muted" }, "Nobody is logged in."));
    } catch (e) { clear(online, h("p", { class: "error" }, e.message)); }
  };
  sel.addEventListener("change", () => { sessionStorage.setItem("cb-app", sel.value); clear(out); refresh(); });
  clear(main,
    h("h1", {}, "Users"),
    h("div", { class: "card" }, h("form", { class: "inline" }, h("div", {}, h("label", {}, "App"), sel))),
    h("div", { class: "cols" },
      h("div", { class: "card" }, h("h2", {}, "Sign a user in"),
        h("p", { class: "muted" }, "An invite link opens the web app signed in as that user; a UserSig is for your own app."),
        f, err, out),
      h("div", { class: "card" }, h("h2", {}, "Online now"), online)));
  await refresh();
  const timer = setInterval(refresh, 3000);
  return () => clearInterval(timer);
}

function copyButton(text) {
  return h("button", { type: "button", onclick: async () => {
    try { await navigator.clipboard.writeText(text); toast("Copied"); } catch { toast("Copy failed: select the text", true); }
  } }, "Copy");
}

function showSig(out, s) {
  clear(out, h("dl", { class: "grid" },
    h("dt", {}, "UserSig for"), h("dd", { class: "mono" }, s.user),
    h("dt", {}, "Expires"), h("dd", {}, fmtTime(s.expiresAt)),
    h("dt", {}, "UserSig"), h("dd", {}, h("code", { id: "usersig" }, s.sig), " ", copyButton(s.sig))));
}

function showInvite(out, inv, user) {
  clear(out,
    h("dl", { class: "grid" },
      h("dt", {}, "Invite for"), h("dd", { class: "mono" }, user),
      h("dt", {}, "Expires"), h("dd", {}, fmtTime(inv.expiresAt)),
      h("dt", {}, "Link"), h("dd", {}, h("a", { id: "invite-link", href: inv.url, target: "_blank", rel: "noopener" }, inv.url), " ", copyButton(inv.url))),
    h("p", {}, h("img", { class: "qr", id: "invite-qr", src: inv.qr, alt: "QR code of the invite link" })),
    h("p", { class: "muted" }, "Anyone with the link is signed in as this user until it expires; rotating the app's key revokes it."));
}
