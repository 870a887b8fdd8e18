// Call records: filter by app, user, result and time; pages of 50, newest
// first; CSV export of the filter; a record's detail with every
// participant's timestamps.
import { api } from "./api.js";
import { h, clear, toast, pill, fmtTime, fmtDuration, errorLine, appSelect } from "./dom.js";

const pageSize = 50;
const results = ["", "normal_end", "cancel", "reject", "not_answer", "call_busy", "interrupt"];

export async function render(main) {
  const apps = await api("GET", "/apps");
  const sel = appSelect([{ SDKAppID: "", Name: "All apps" }, ...apps], "");
  sel.querySelector("option").textContent = "All apps";
  const user = h("input", { name: "user", maxlength: 32, placeholder: "any" });
  const result = h("select", { name: "result" }, results.map((r) => h("option", { value: r }, r || "any")));
  const since = h("input", { name: "since", type: "datetime-local" });
  const until = h("input", { name: "until", type: "datetime-local" });
  const err = errorLine();
  const body = h("tbody");
  const pager = h("div", { class: "pager" });
  const detail = h("div", { id: "detail" });
  // pages[i] is the Until of page i (the start of the previous page's
  // last record): records are paged by start time, newest first.
  let pages = [null];
  let page = 0;

  const filter = () => {
    const f = { Limit: pageSize + 1 };
    if (sel.value) f.SDKAppID = Number(sel.value);
    if (user.value.trim()) f.User = user.value.trim();
    if (result.value) f.Result = result.value;
    if (since.value) f.Since = new Date(since.value).toISOString();
    if (until.value) f.Until = new Date(until.value).toISOString();
    return f;
  };
  const load = async () => {
    err.set("");
    const f = filter();
    if (pages[page]) f.Until = pages[page];
    let recs;
    try {
      recs = await api("POST", "/records", f);
    } catch (e) { err.set(e.message); return; }
    const more = recs.length > pageSize;
    recs = recs.slice(0, pageSize);
    if (more) pages[page + 1] = recs[recs.length - 1].StartAt;
    clear(body, recs.length ? recs.map((r) => row(r, detail)) : h("tr", {}, h("td", { colspan: 8, class: "muted" }, "No record matches.")));
    clear(pager,
      h("span", { class: "muted" }, `Page ${page + 1}`),
      h("button", { name: "prev", disabled: page === 0, onclick: () => { page--; load(); } }, "Newer"),
      h("button", { name: "next", disabled: !more, onclick: () => { page++; load(); } }, "Older"));
  };
  const search = (ev) => { ev && ev.preventDefault(); pages = [null]; page = 0; clear(detail); load(); };
  const exportCSV = async () => {
    err.set("");
    const f = filter();
    delete f.Limit;
    try {
      const blob = await api("POST", "/records/csv", f);
      const a = h("a", { href: URL.createObjectURL(blob), download: "callbox-records.csv" });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    } catch (e) { err.set(e.message); }
  };
  const form = h("form", { class: "inline", id: "filter" },
    h("div", {}, h("label", {}, "App"), sel),
    h("div", {}, h("label", {}, "User"), user),
    h("div", {}, h("label", {}, "Result"), result),
    h("div", {}, h("label", {}, "Started from"), since),
    h("div", {}, h("label", {}, "until"), until),
    h("button", { class: "primary", type: "submit" }, "Filter"),
    h("button", { type: "button", name: "csv", onclick: exportCSV }, "Export CSV"));
  form.addEventListener("submit", search);
  clear(main, h("h1", {}, "Call records"),
    h("div", { class: "card" }, form, err),
    detail,
    h("div", { class: "card" }, h("table", { id: "records" },
      h("thead", {}, h("tr", {}, ["Started", "Call", "App", "Media", "Caller", "Participants", "Result", "Duration"].map((t) => h("th", {}, t)))),
      body), pager));
  await load();
}

function duration(r) {
  if (!r.AcceptAt || !r.EndAt) return "–";
  return fmtDuration(new Date(r.EndAt) - new Date(r.AcceptAt));
}

function row(r, detail) {
  return h("tr", { class: "clickable", dataset: { call: r.CallId }, onclick: () => showDetail(detail, r) },
    h("td", {}, fmtTime(r.StartAt)),
    h("td", { class: "mono" }, r.CallId),
    h("td", { class: "mono" }, String(r.SDKAppID)),
    h("td", {}, `${r.MediaType}, ${r.CallType}`),
    h("td", { class: "mono" }, r.Caller),
    h("td", {}, r.Participants.map((p) => h("div", { class: "mono" }, p.UserId))),
    h("td", {}, r.CallResult ? pill(r.CallResult) : pill(r.State)),
    h("td", {}, duration(r)));
}

async function showDetail(detail, r) {
  try {
    r = await api("GET", `/records/${r.SDKAppID}/${encodeURIComponent(r.CallId)}`);
  } catch (e) { toast(e.message, true); return; }
  clear(detail, h("div", { class: "card", id: "record-detail" },
    h("h2", {}, "Call ", h("span", { class: "mono" }, r.CallId)),
    h("dl", { class: "grid" },
      h("dt", {}, "App"), h("dd", {}, String(r.SDKAppID)),
      h("dt", {}, "Room"), h("dd", { class: "mono" }, r.RoomId),
      h("dt", {}, "Type"), h("dd", {}, `${r.MediaType}, ${r.CallType}`),
      h("dt", {}, "State / result"), h("dd", {}, pill(r.State), r.CallResult ? pill(r.CallResult) : ""),
      h("dt", {}, "Started"), h("dd", {}, fmtTime(r.StartAt)),
      h("dt", {}, "Accepted"), h("dd", {}, fmtTime(r.AcceptAt)),
      h("dt", {}, "Ended"), h("dd", {}, fmtTime(r.EndAt)),
      h("dt", {}, "Talk time"), h("dd", {}, duration(r))),
    h("table", { class: "participants" },
      h("thead", {}, h("tr", {}, ["User", "Role", "State", "Invited", "Ringing", "Joined", "Left"].map((t) => h("th", {}, t)))),
      h("tbody", {}, r.Participants.map((p) => h("tr", {},
        h("td", { class: "mono" }, p.UserId, p.InvitedBy ? h("div", { class: "muted" }, "invited by " + p.InvitedBy) : ""),
        h("td", {}, p.Role),
        h("td", {}, pill(p.State), p.Interrupted ? pill("interrupted", "bad") : ""),
        h("td", {}, fmtTime(p.InvitedAt)), h("td", {}, fmtTime(p.RingingAt)),
        h("td", {}, fmtTime(p.JoinedAt)), h("td", {}, fmtTime(p.LeftAt)))))),
    h("p", { class: "actions" }, h("button", { onclick: () => clear(detail) }, "Close"))));
  detail.scrollIntoView({ block: "nearest" });
}
