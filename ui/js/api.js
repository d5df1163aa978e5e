// REST calls to the Gateway. Errors come back as `ApiError` carrying the server's
// `{"error": {"type", "message", "param"}}` so the UI can say what was wrong. When the
// gateway wants a key (401), the person is asked for it once and the call is retried.

import { apiKey, askForKey } from './auth.js';

export class ApiError extends Error {
  constructor(status, type, message, param) {
    super(message);
    this.status = status;
    this.type = type;
    this.param = param;
  }
}

async function request(method, path, body) {
  for (;;) {
    const sent = apiKey();
    try {
      return await attempt(method, path, body, sent);
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 401) throw err;
      if (apiKey() !== sent) continue; // another call already got a new key
      // No key yet: a plain request for one. A refused key: the server says why.
      if (!(await askForKey(sent ? err.message : null))) throw err;
    }
  }
}

async function attempt(method, path, body, key) {
  const init = { method, headers: { accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (key) init.headers.authorization = `Bearer ${key}`;
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, 'network', `The gateway cannot be reached (${err.message}).`);
  }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!res.ok) {
    const e = (data && (data.error || data.detail)) || {};
    const message = typeof e === 'string' ? e : e.message || `${res.status} ${res.statusText}`;
    throw new ApiError(res.status, e.type || 'http', message, e.param);
  }
  return data;
}

/** The covenant id from a 202 answer, whatever envelope the gateway uses. */
export function covenantIdOf(data) {
  return data && (data.covenant_id || data.id || (data.covenant && data.covenant.id));
}

export const api = {
  orchestrate: (pattern, query) => request('POST', `/api/orchestrate/${encodeURIComponent(pattern)}`, query),
  command: (userId, command) => request('POST', `/api/agents/mediator/${encodeURIComponent(userId)}/command`, command),
  cancel: (id) => request('POST', `/api/covenants/${encodeURIComponent(id)}/cancel`),
  covenant: (id) => request('GET', `/api/covenants/${encodeURIComponent(id)}`),
  events: (id, after = 0) => request('GET', `/api/covenants/${encodeURIComponent(id)}/events?after=${after}`),
  models: () => request('GET', '/api/models'),
  metrics: () => request('GET', '/api/metrics'),
};
