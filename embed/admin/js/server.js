// Server: version, uptime, ports, public IPs, TURN settings and
// allocations, rooms with their tracks and bitrates, store size and the
// last backup; refreshed every 3 s.
import { api } from "./api.js";
import { h, clear, fmtBytes, fmtBitrate, fmtTime, fmtDuration } from "./dom.js";

export async function render(main) {
  const root = h("div", { id: "server" });
  clear(main, h("h1", {}, "Server"), root);
  const refresh = async () => {
    try { draw(root, await api("GET", "/stats")); } catch (e) { if (e.status !== 401) clear(root, h("p", { class: "error" }, e.message)); }
  };
  await refresh();
  const timer = setInterval(refresh, 3000);
  return () => clearInterval(timer);
}

function dl(pairs) {
  return h("dl", { class: "grid" }, pairs.filter(Boolean).flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function draw(root, s) {
  const t = s.turn;
  const turnRows = [["Mode", t.mode]];
  if (t.mode === "embedded") {
    turnRows.push(["Host", h("span", { class: "mono" }, t.host)], ["Port (UDP+TCP)", String(t.port)],
      t.tlsPort ? ["TLS port", String(t.tlsPort)] : null, ["Quota per user", String(t.quota)],
      ["Allocations", h("span", { id: "turn-allocations" }, String(t.stats.allocations))],
      ["Relayed", `${fmtBytes(t.stats.toPeerBytes)} out, ${fmtBytes(t.stats.fromPeerBytes)} in`],
      ["Refused", `${t.stats.authRefused} auth, ${t.stats.quotaRefused} quota, ${t.stats.peersRefused} peers`]);
    const per = Object.entries(t.stats.perUser || {});
    if (per.length) turnRows.push(["By user", per.map(([u, n]) => `${u}: ${n}`).join(", ")]);
  } else if (t.mode === "external") {
    turnRows.push(["Server", h("span", { class: "mono" }, t.external)]);
  }
  const sf = s.sfu.stats;
  clear(root,
    h("div", { class: "cols" },
      h("div", { class: "card" }, h("h2", {}, "callbox"), dl([
        ["Version", `${s.version}${s.commit ? " (" + s.commit + ")" : ""}, ${s.goVersion}`],
        ["Up for", h("span", { id: "uptime" }, fmtDuration(s.uptime * 1000))],
        ["Started", fmtTime(s.startedAt)],
        ["Apps", String(s.apps)], ["Live calls", String(s.liveCalls)],
        ["Store size", h("span", { id: "store-size" }, fmtBytes(s.storeBytes))],
        ["Last backup", s.lastBackup ? `${fmtTime(s.lastBackup.at)} (${fmtBytes(s.lastBackup.bytes)})` : "never (callbox backup --out FILE)"],
      ])),
      h("div", { class: "card" }, h("h2", {}, "Network"), dl([
        ["HTTP", h("span", { class: "mono" }, s.httpAddr)],
        ["Media UDP port", String(s.rtcUdpPort)],
        ["Media TCP port", s.rtcTcpPort ? String(s.rtcTcpPort) : "off"],
        ["Public IPs", s.publicIps.length ? s.publicIps.join(", ") : "none set (--public-ip)"],
      ])),
      h("div", { class: "card" }, h("h2", {}, "TURN"), dl(turnRows))),
    h("div", { class: "card mt" },
      h("h2", {}, `Media: ${count(sf.Rooms, "room")}, ${count(sf.Peers, "peer")}, ${count(sf.Tracks, "track")}`),
      h("p", { class: "muted" }, `Forwarded ${fmtBytes(sf.ForwardedBytes)} in ${sf.ForwardedPackets} packets; `,
        `${sf.Retransmitted} retransmitted, ${sf.PLIsSent} keyframe requests.`),
      s.sfu.rooms.length ? h("table", { id: "rooms" },
        h("thead", {}, h("tr", {}, ["Room", "Participant", "Track", "Codec", "Layers", "Subscribers"].map((x) => h("th", {}, x)))),
        h("tbody", {}, s.sfu.rooms.flatMap((r) => r.peers.flatMap((p) => (p.tracks.length ? p.tracks : [null]).map((tr, i) =>
          h("tr", {},
            h("td", { class: "mono" }, i === 0 ? r.name : ""),
            h("td", { class: "mono" }, i === 0 ? p.participant : ""),
            h("td", {}, tr ? tr.kind : h("span", { class: "muted" }, "publishes nothing")),
            h("td", { class: "mono" }, tr ? tr.codec : ""),
            h("td", {}, tr ? tr.layers.map((l) => h("div", { class: "bitrate" },
              `${l.rid ? l.rid + ": " : ""}${fmtBitrate(l.bitrate)}${l.width ? ` ${l.width}×${l.height}` : ""}`)) : ""),
            h("td", {}, tr ? String(tr.subscribers) : "")))))))
        : h("p", { class: "muted" }, "No room is open.")));
}

// count says "1 room", "2 rooms".
function count(n, noun) {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}
