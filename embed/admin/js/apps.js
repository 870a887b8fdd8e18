// Apps: create, rename, rotate the key (after a confirmation that says
// what breaks), delete.
import { api } from "./api.js";
import { h, clear, confirm, toast, fmtTime, errorLine } from "./dom.js";

export async function render(main) {
  const list = await api("GET", "/apps");
  const err = errorLine();
  const name = h("input", { name: "name", placeholder: "My app", maxlength: 64, required: true });
  const create = h("form", { class: "inline", id: "create-app" },
    h("div", {}, h("label", {}, "New app name"), name),
    h("button", { class: "primary", type: "submit" }, "Create app"));
  create.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.set("");
    try {
      const app = await api("POST", "/apps?name=" + encodeURIComponent(name.value));
      toast(`Created ${app.Name} (${app.SDKAppID})`);
      render(main);
    } catch (e) { err.set(e.message); }
  });
  clear(main,
    h("h1", {}, "Apps"),
    h("div", { class: "card" }, create, err),
    h("div", { class: "card" }, h("table", { id: "apps" },
      h("thead", {}, h("tr", {}, h("th", {}, "SDKAppID"), h("th", {}, "Name"), h("th", {}, "Key"), h("th", {}, "Created"), h("th", {}, ""))),
      h("tbody", {}, list.map((app) => row(main, app))))));
}

function row(main, app) {
  const key = h("code", { class: "key" }, "•".repeat(16));
  const show = h("button", { class: "link", onclick: () => {
    const shown = key.textContent === app.Key;
    key.textContent = shown ? "•".repeat(16) : app.Key;
    show.textContent = shown ? "show" : "hide";
  } }, "show");
  const tr = h("tr", { dataset: { app: String(app.SDKAppID) } },
    h("td", { class: "mono" }, String(app.SDKAppID)),
    h("td", { class: "name" }, app.Name),
    h("td", {}, h("span", { class: "secret" }, key, show)),
    h("td", {}, fmtTime(app.Created)),
    h("td", { class: "actions" },
      h("button", { class: "rename", onclick: () => rename(main, tr, app) }, "Rename"),
      h("button", { class: "rotate danger", onclick: () => rotate(main, app) }, "Rotate key"),
      h("button", { class: "delete danger", onclick: () => remove(main, app) }, "Delete")));
  return tr;
}

function rename(main, tr, app) {
  const td = tr.querySelector("td.name");
  const input = h("input", { name: "rename", value: app.Name, maxlength: 64, required: true });
  const err = errorLine();
  const f = h("form", { class: "inline" }, input, h("button", { class: "primary", type: "submit" }, "Save"),
    h("button", { type: "button", onclick: () => render(main) }, "Cancel"), err);
  f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await api("PATCH", `/apps/${app.SDKAppID}?name=` + encodeURIComponent(input.value));
      toast("Renamed");
      render(main);
    } catch (e) { err.set(e.message); }
  });
  clear(td, f);
  input.focus();
}

async function rotate(main, app) {
  const ok = await confirm(`Rotate the key of ${app.Name}?`, [
    h("p", {}, `App ${app.Name} (${app.SDKAppID}) gets a new key. What breaks at once:`),
    h("ul", {},
      h("li", {}, "every user logged in with a UserSig signed by the old key is signed out;"),
      h("li", {}, "every UserSig and invite link issued with the old key stops working;"),
      h("li", {}, "your backend must sign new UserSigs with the new key (update its configuration).")),
    h("p", { class: "warnbox" }, "This cannot be undone: the old key is gone."),
  ], "Rotate key");
  if (!ok) return;
  try {
    await api("POST", `/apps/${app.SDKAppID}/rotate-key`);
    toast(`New key for ${app.Name}`);
  } catch (e) { toast(e.message, true); }
  render(main);
}

async function remove(main, app) {
  const ok = await confirm(`Delete ${app.Name}?`, [
    h("p", {}, `App ${app.Name} (${app.SDKAppID}) and its key are deleted: its users are signed out, its live calls end, `,
      "its webhook stops. Its call records stay."),
  ], "Delete app");
  if (!ok) return;
  try {
    await api("DELETE", `/apps/${app.SDKAppID}`);
    toast(`Deleted ${app.Name}`);
  } catch (e) { toast(e.message, true); }
  render(main);
}
