// Live calls: participants, duration, room and media of every live call,
// refreshed every 2 s; end one for everyone.
import { api } from "./api.js";
import { h, clear, confirm, toast, pill, fmtDuration, fmtTime } from "./dom.js";

export async function render(main) {
  const body = h("tbody");
  const count = h("span", { class: "muted" });
  clear(main, h("h1", {}, "Live calls ", count),
    h("div", { class: "card" }, h("table", { id: "calls" },
      h("thead", {}, h("tr", {}, ["Call", "App", "Room", "Media", "Participants", "State", "Duration", ""].map((t) => h("th", {}, t)))),
      body)));
  let calls = [];
  const draw = () => {
    const now = Date.now();
    count.textContent = `(${calls.length})`;
    clear(body, calls.length ? calls.map((c) => row(main, c, now))
      : h("tr", {}, h("td", { colspan: 8, class: "muted" }, "No call right now.")));
  };
  const refresh = async () => {
    try {
      calls = await api("GET", "/calls");
      draw();
    } catch (e) { if (e.status !== 401) toast(e.message, true); }
  };
  await refresh();
  const timers = [setInterval(refresh, 2000), setInterval(draw, 1000)];
  return () => timers.forEach(clearInterval);
}

function row(main, c, now) {
  const since = c.AcceptAt || c.StartAt;
  return h("tr", { dataset: { call: c.CallId } },
    h("td", { class: "mono", title: "started " + fmtTime(c.StartAt) }, c.CallId),
    h("td", { class: "mono" }, String(c.SDKAppID)),
    h("td", { class: "mono" }, c.RoomId),
    h("td", {}, `${c.MediaType}, ${c.CallType}`),
    h("td", {}, c.Participants.map((p) => h("div", {}, h("span", { class: "mono" }, p.UserId), " ", pill(p.State)))),
    h("td", {}, pill(c.State)),
    h("td", { class: "duration" }, fmtDuration(now - new Date(since).getTime())),
    h("td", {}, h("button", { class: "danger end", onclick: () => end(main, c) }, "End call")));
}

async function end(main, c) {
  const who = c.Participants.map((p) => p.UserId).join(", ");
  const ok = await confirm("End this call?", h("p", {}, `Call ${c.CallId} ends for everyone in it (${who}).`), "End call");
  if (!ok) return;
  try {
    await api("POST", `/calls/${c.SDKAppID}/${encodeURIComponent(c.CallId)}/end`);
    toast("Call ended");
  } catch (e) { toast(e.message, true); }
}
