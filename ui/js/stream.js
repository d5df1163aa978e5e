// One covenant's live event stream over the orchestrator WebSocket. It resumes after the
// last `seq` it handed on, so a dropped socket loses and doubles nothing. A frame is one
// object (an event or a control frame) or an array of events sent together. With an API
// key set, the key rides as `?token=` (a browser socket cannot send headers).

import { api, ApiError } from './api.js';
import { apiKey } from './auth.js';

const BACKOFF_MIN_MS = 200;
const CLOSE_NOT_FOUND = 4404;
const CLOSE_POLICY = 1008; // the gateway's refusal of a missing or wrong key
const BACKOFF_MAX_MS = 5000;
// After the covenant ends, late events (a final update) still arrive for this long.
const LINGER_MS = 1000;
// A frame may hold a chunk's whole report (thousands of events): they are applied in
// slices of about this long, so the page still paints and answers keys between them.
const SLICE_MS = 8;

export function wsUrl(path) {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  return `${scheme}://${location.host}${path}`;
}

export class CovenantStream {
  /**
   * @param {string} covenantId
   * @param {{onEvent: (ev: object) => void, onState: (state: string) => void,
   *          onError?: (frame: object) => void, lastSeq: () => number, done: () => boolean}} hooks
   */
  constructor(covenantId, hooks) {
    this.id = covenantId;
    this.hooks = hooks;
    this.ws = null;
    this.state = 'idle';
    this.attempt = 0;
    this.connects = 0;
    this.stopped = false;
    this.ended = false; // the server said the log is complete
    this.timer = null;
    this.queue = []; // frames' items received, not yet handed on, in order
    this.head = 0;
    this.queuedSeq = 0; // the last seq in `queue`: a reconnect resumes after it
    this.slice = null;
  }

  start() {
    this.stopped = false;
    this.#open();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.linger);
    clearTimeout(this.slice);
    this.queue = []; this.head = 0; this.queuedSeq = 0; this.slice = null;
    if (this.ws) { this.ws.onclose = null; this.ws.close(1000); this.ws = null; }
    this.#setState('closed');
  }

  #setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.hooks.onState(state);
  }

  #open() {
    const after = Math.max(this.hooks.lastSeq(), this.queuedSeq);
    const key = apiKey();
    const token = key ? `&token=${encodeURIComponent(key)}` : '';
    const url = wsUrl(`/api/agents/orchestrator/${encodeURIComponent(this.id)}/ws?after=${after}${token}`);
    this.#setState(this.connects ? 'reconnecting' : 'connecting');
    let ws;
    try { ws = new WebSocket(url); } catch { this.#retry(); return; }
    this.ws = ws;
    let opened = false;
    ws.onopen = () => { opened = true; this.connects++; this.attempt = 0; this.#setState('open'); };
    ws.onmessage = (msg) => this.#receive(msg.data);
    ws.onerror = () => {}; // onclose follows and decides
    ws.onclose = (e) => {
      this.ws = null;
      if (e.code === CLOSE_NOT_FOUND) {
        this.stopped = true;
        this.hooks.onError?.({ error: { type: 'not_found', message: e.reason || `unknown covenant ${this.id}` } });
      }
      if (this.stopped || this.ended || this.hooks.done()) { this.#setState('closed'); return; }
      // A refusal before the handshake reaches the page as 1006, not 1008: either way,
      // ask the REST side, which says 401 in words and asks for the key, then go again.
      if (e.code === CLOSE_POLICY || !opened) { this.#checkKey(); return; }
      this.#retry();
    };
  }

  #receive(data) {
    let frame;
    try { frame = JSON.parse(data); } catch { return; }
    // Several events ready at once arrive as one array frame, in seq order.
    const items = Array.isArray(frame) ? frame : [frame];
    for (const ev of items) {
      if (!ev || typeof ev !== 'object') continue;
      // The log is complete: known at once, so a close right after it is not a drop.
      if (ev.type === 'end' && typeof ev.seq !== 'number') { this.ended = true; continue; }
      this.queue.push(ev);
      if (typeof ev.seq === 'number') this.queuedSeq = ev.seq;
    }
    if (this.slice === null) this.#drain();
  }

  /** Hand queued items on in order, for at most SLICE_MS, then yield to the page. */
  #drain() {
    this.slice = null;
    const until = performance.now() + SLICE_MS;
    let gotEvent = false;
    while (this.head < this.queue.length) {
      const ev = this.queue[this.head++];
      if (typeof ev.seq !== 'number') { // control frames: heartbeat, error
        if (ev.type === 'error') this.hooks.onError?.(ev);
      } else {
        this.hooks.onEvent(ev);
        gotEvent = true;
      }
      if ((this.head & 63) === 0 && performance.now() >= until) break;
    }
    if (this.head < this.queue.length) {
      this.slice = setTimeout(() => this.#drain(), 0);
    } else {
      this.queue = []; this.head = 0; this.queuedSeq = 0;
    }
    if (gotEvent && this.hooks.done()) {
      clearTimeout(this.linger);
      this.linger = setTimeout(() => { if (this.ws) { this.stopped = true; this.ws.close(1000); } }, LINGER_MS);
    }
  }

  async #checkKey() {
    this.#setState('reconnecting');
    try {
      await api.covenant(this.id);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) { // no key given: nothing to follow
        this.stopped = true;
        this.hooks.onError?.({ error: { type: err.type, message: err.message } });
        this.#setState('closed');
        return;
      }
    }
    if (!this.stopped) this.#retry();
  }

  #retry() {
    this.#setState('reconnecting');
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt++);
    this.timer = setTimeout(() => this.#open(), base / 2 + Math.random() * base / 2);
  }
}
