// The one way the dashboard talks to Ridge: the public /v1 API, with the session's token in
// X-Auth-Token. Every failure becomes an ApiError carrying the server's faultstring.

import { token } from './session.js';

export class ApiError extends Error {
  constructor(status, message, path) {
    super(message);
    this.status = status;
    this.path = path;
  }
}

function withQuery(path, query) {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
  }
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

async function call(method, path, { query, body, text } = {}) {
  const headers = { Accept: 'application/json' };
  const t = token();
  if (t) headers['X-Auth-Token'] = t;
  let payload;
  if (body instanceof FormData) {
    payload = body;
  } else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(withQuery(path, query), {
      method, headers, body: payload, cache: 'no-store', credentials: 'omit',
    });
  } catch (e) {
    throw new ApiError(0, `cannot reach the server: ${e.message}`, path);
  }
  const raw = await res.text();
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`;
    try {
      const fault = JSON.parse(raw).faultstring;
      if (fault) message = fault;
    } catch { /* not JSON: keep the status line */ }
    if (res.status === 401) window.dispatchEvent(new CustomEvent('ridge:unauthorized', { detail: message }));
    throw new ApiError(res.status, message, path);
  }
  if (text) return raw;
  return raw ? JSON.parse(raw) : null;
}

export const api = {
  get: (path, query) => call('GET', path, { query }),
  text: (path) => call('GET', path, { text: true }),
  post: (path, body) => call('POST', path, { body }),
  put: (path, body) => call('PUT', path, { body }),
  del: (path) => call('DELETE', path),
};

// Path segments are always encoded, so no id can change which route is called.
export const seg = (value) => encodeURIComponent(String(value));
