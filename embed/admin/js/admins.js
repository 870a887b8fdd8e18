// Admins: the console's accounts (docs/admin.md §1): create one, set a
// password (which ends that account's sessions), delete one but never the
// last.
import { api } from "./api.js";
import { h, clear, confirm, toast, fmtTime, errorLine } from "./dom.js";

export async function render(main, me) {
  const admins = await api("GET", "/admins");
  const err = errorLine();
  const name = h("input", { name: "name", required: true, maxlength: 32, autocomplete: "off" });
  const pw = h("input", { name: "password", type: "password", required: true, minlength: 10, autocomplete: "new-password" });
  const create = h("form", { class: "inline", id: "create-admin" },
    h("div", {}, h("label", {}, "Name"), name),
    h("div", {}, h("label", {}, "Password (10+ characters)"), pw),
    h("button", { class: "primary", type: "submit" }, "Create admin"));
  create.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.set("");
    try {
      await api("POST", "/admins", { Name: name.value.trim(), Password: pw.value });
      toast(`Created ${name.value.trim()}`);
      render(main, me);
    } catch (e) { err.set(e.message); }
  });
  clear(main, h("h1", {}, "Admins"),
    h("div", { class: "card" }, create, err),
    h("div", { class: "card" }, h("table", { id: "admins" },
      h("thead", {}, h("tr", {}, ["Name", "Created", "Password changed", ""].map((t) => h("th", {}, t)))),
      h("tbody", {}, admins.map((a) => row(main, me, a, admins.length))))));
}

function row(main, me, a, count) {
  const tr = h("tr", { dataset: { admin: a.name } },
    h("td", { class: "mono" }, a.name, a.name === me ? h("span", { class: "muted" }, " (you)") : ""),
    h("td", {}, fmtTime(a.created)),
    h("td", { class: "changed" }, fmtTime(a.passwordChanged)),
    h("td", { class: "actions" },
      h("button", { class: "passwd", onclick: () => passwd(main, me, tr, a) }, "Set password"),
      h("button", { class: "delete danger", disabled: count < 2, title: count < 2 ? "The last admin cannot be deleted" : null,
        onclick: () => remove(main, me, a) }, "Delete")));
  return tr;
}

function passwd(main, me, tr, a) {
  const td = tr.querySelector("td.changed");
  const pw = h("input", { name: "password", type: "password", required: true, minlength: 10, autocomplete: "new-password" });
  const err = errorLine();
  const f = h("form", { class: "inline" }, pw, h("button", { class: "primary", type: "submit" }, "Save"),
    h("button", { type: "button", onclick: () => render(main, me) }, "Cancel"), err);
  f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const r = await api("POST", `/admins/${encodeURIComponent(a.name)}/password`, { Password: pw.value });
      // Our own sessions ended too: the next request finds none.
      toast(`Password of ${a.name} changed; ${r.revoked} session(s) ended`);
      render(main, me);
    } catch (e) { err.set(e.message); }
  });
  clear(td, f);
  pw.focus();
}

async function remove(main, me, a) {
  const self = a.name === me ? " You will be logged out." : "";
  if (!(await confirm(`Delete ${a.name}?`, h("p", {}, `The account ${a.name} is deleted and its sessions end.${self}`), "Delete admin"))) return;
  try {
    await api("DELETE", `/admins/${encodeURIComponent(a.name)}`);
    toast(`Deleted ${a.name}`);
  } catch (e) { toast(e.message, true); }
  render(main, me);
}
