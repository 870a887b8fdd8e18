// Webhooks: an app's callback URL and events (docs/webhooks.md), a test
// event, the delivery log and dead letters with retry; the same actions
// as `callbox webhook`.
import { api } from "./api.js";
import { h, clear, toast, confirm, pill, fmtTime, errorLine, appSelect } from "./dom.js";

export async function render(main) {
  const apps = await api("GET", "/apps");
  if (!apps.length) {
    clear(main, h("h1", {}, "Webhooks"), h("p", { class: "card" }, "Create an app first."));
    return;
  }
  const sel = appSelect(apps, sessionStorage.getItem("cb-app") || apps[0].SDKAppID);
  const body = h("div");
  sel.addEventListener("change", () => { sessionStorage.setItem("cb-app", sel.value); draw(body, sel.value); });
  clear(main, h("h1", {}, "Webhooks"),
    h("div", { class: "card" }, h("form", { class: "inline" }, h("div", {}, h("label", {}, "App"), sel))), body);
  await draw(body, sel.value);
}

async function draw(root, app) {
  const [info, log, dead] = await Promise.all([
    api("GET", `/webhooks/${app}`), api("GET", `/webhooks/${app}/log?limit=50&failed=0`), api("GET", `/webhooks/${app}/dead`)]);
  const w = info.webhook || { URL: "", Token: "", StatusCallback: true, EventCallbacks: false, Events: [] };
  const err = errorLine();
  const url = h("input", { name: "url", type: "url", value: w.URL, placeholder: "https://backend.example.com/callbox", required: true, size: 50 });
  const token = h("input", { name: "token", value: w.Token || "", placeholder: "none", size: 24 });
  const status = h("input", { name: "status", type: "checkbox", checked: !!w.StatusCallback });
  const events = h("input", { name: "events", type: "checkbox", checked: !!w.EventCallbacks });
  const f = h("form", { class: "inline", id: "webhook" },
    h("div", {}, h("label", {}, "URL"), url),
    h("div", {}, h("label", {}, "Sign token"), token),
    h("div", {}, h("label", {}, "Call status"), status),
    h("div", {}, h("label", {}, "Per-event"), events),
    h("button", { class: "primary", type: "submit" }, "Save"),
    info.webhook ? h("button", { type: "button", name: "test", onclick: () => test(root, app) }, "Send test") : "",
    info.webhook ? h("button", { type: "button", class: "danger", name: "delete", onclick: () => remove(root, app) }, "Delete") : "");
  f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.set("");
    const next = { ...w, SDKAppID: Number(app), URL: url.value.trim(), Token: token.value.trim(),
      StatusCallback: status.checked, EventCallbacks: events.checked };
    delete next.Updated;
    try {
      await api("PUT", `/webhooks/${app}`, next);
      toast("Webhook saved");
      draw(root, app);
    } catch (e) { err.set(e.message); }
  });
  const q = info.queue || {};
  clear(root,
    h("div", { class: "card" }, h("h2", {}, info.webhook ? "Callback" : "No webhook yet"), f, err,
      h("p", { class: "muted" }, `Queue: ${q.pending || 0} pending, ${q.dead || 0} dead, ${q.failures || 0} failures since the last delivery`,
        q.lastError ? ` (last: ${q.lastError})` : "")),
    h("div", { class: "card" }, h("h2", {}, "Dead letters"),
      dead.length ? [h("table", {}, h("tbody", {}, dead.map((d) => h("tr", {},
        h("td", {}, fmtTime(d.DeadAt)), h("td", { class: "mono" }, d.Command), h("td", {}, `${d.Attempts} attempts`),
        h("td", {}, d.LastError),
        h("td", {}, h("button", { onclick: () => retry(root, app, d.EventId) }, "Retry")))))),
      h("p", { class: "actions" }, h("button", { onclick: () => retry(root, app, "") }, "Retry all"))]
        : h("p", { class: "muted" }, "None.")),
    h("div", { class: "card" }, h("h2", {}, "Delivery log"),
      log.length ? h("table", { id: "deliveries" },
        h("thead", {}, h("tr", {}, ["At", "Command", "Attempt", "Status", "Latency", "Error"].map((x) => h("th", {}, x)))),
        h("tbody", {}, log.map((d) => h("tr", {},
          h("td", {}, fmtTime(d.At)), h("td", { class: "mono" }, d.Command, d.Test ? " (test)" : ""),
          h("td", {}, String(d.Attempt)), h("td", {}, d.Error ? pill(String(d.Status || "–"), "bad") : pill(String(d.Status), "ok")),
          h("td", {}, `${Math.round(d.Latency / 1e6)} ms`), h("td", {}, d.Error || "")))))
        : h("p", { class: "muted" }, "Nothing sent yet.")));
}

async function test(root, app) {
  try {
    const r = await api("POST", `/webhooks/${app}/test?command=`);
    toast(r.error ? `Test failed: ${r.error}` : `Test delivered: HTTP ${r.status} in ${Math.round(r.latencyMs)} ms`, !!r.error);
  } catch (e) { toast(e.message, true); }
  draw(root, app);
}

async function retry(root, app, eventID) {
  try {
    const r = await api("POST", `/webhooks/${app}/retry?event=${encodeURIComponent(eventID)}`);
    toast(`${r.retried} event(s) sent again`);
  } catch (e) { toast(e.message, true); }
  draw(root, app);
}

async function remove(root, app) {
  if (!(await confirm("Delete the webhook?", h("p", {}, "Callbacks stop; queued events are dropped."), "Delete webhook"))) return;
  try {
    await api("DELETE", `/webhooks/${app}`);
    toast("Webhook deleted");
  } catch (e) { toast(e.message, true); }
  draw(root, app);
}
