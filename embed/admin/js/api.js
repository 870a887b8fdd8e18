// The admin API client: every request carries the session's CSRF token
// (docs/admin.md §2); the cookie goes by itself.

let csrf = "";

export class APIError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// send fetches; a 401 outside the login forms means the session ended.
async function send(path, opts, quiet401 = false) {
  const resp = await fetch(path, { credentials: "same-origin", ...opts });
  const type = resp.headers.get("Content-Type") || "";
  if (!resp.ok) {
    let body = {};
    if (type.startsWith("application/json")) body = await resp.json().catch(() => ({}));
    const err = new APIError(resp.status, body.code || "", body.error || `${resp.status} ${resp.statusText}`);
    if (resp.status === 401 && onLoggedOut && !quiet401) onLoggedOut(err);
    throw err;
  }
  return type.startsWith("application/json") ? resp.json() : resp.blob();
}

let onLoggedOut = null;
// whenLoggedOut registers what to do when a request finds no session.
export function whenLoggedOut(fn) { onLoggedOut = fn; }

// api calls an admin API route: api("GET", "/apps").
export function api(method, path, body) {
  const headers = { "X-CSRF-Token": csrf };
  const opts = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  return send("/admin/api" + path, opts);
}

function form(path, body) {
  return send(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) }, true);
}

// session returns {admin, csrf} of the current session, or null.
export async function session() {
  try {
    const s = await send("/admin/api/session", {}, true);
    csrf = s.csrf;
    return s;
  } catch (e) {
    if (e.status === 401) return null;
    throw e;
  }
}

export async function login(user, password) {
  const s = await form("/admin/api/login", { user, password });
  csrf = s.csrf;
  return s;
}

export async function setup(token, user, password) {
  const s = await form("/admin/api/setup", { token, user, password });
  csrf = s.csrf;
  return s;
}

export async function logout() {
  await api("POST", "/logout");
  csrf = "";
}
