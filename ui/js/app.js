// <hp-app>: the root. It owns the state (messages, covenants, settings), talks to the
// gateway, turns stream events into state through events.js and repaints the components
// once per animation frame, however many events arrived in between.

import { api, covenantIdOf } from './api.js';
import { apiKey, forgetApiKey, setKeyAsker } from './auth.js';
import { applyTheme, commandList, copyText, effectiveTheme, PATTERNS } from './commands.js';
import { applyEvent, isTerminal, newCovenant, snapshot } from './events.js';
import { CovenantStream } from './stream.js';
import './components/agent-tree.js';
import './components/chat.js';
import './components/composer.js';
import './components/covenant-card.js';
import './components/key-dialog.js';
import './components/palette.js';
import './components/panel.js';
import './components/sidebar.js';
import './components/toasts.js';

const CONN_LABEL = { idle: 'idle', connecting: 'connecting…', open: 'live', reconnecting: 'reconnecting…' };

function stored(key, fallback) {
  try { return JSON.parse(localStorage.getItem(key)) ?? fallback; } catch { return fallback; }
}

function userId() {
  let id = localStorage.getItem('harpoon.userId');
  if (!id) { id = `web-${Math.random().toString(36).slice(2, 10)}`; localStorage.setItem('harpoon.userId', id); }
  return id;
}

/** The catalog as the columns worth a glance, prices per million tokens. */
function modelRows(data) {
  const models = (data && (data.models || data.data)) || [];
  return models.map((m) => ({
    id: m.id, tier: m.tier, provider: m.provider, 'in $/M': m.input_price_per_m,
    'out $/M': m.output_price_per_m, quality: m.quality, 'ttft s': m.ttft_s,
    'tokens/s': m.tokens_per_s, simulated: m.simulated == null ? '–' : m.simulated ? 'yes' : 'no',
  }));
}

class HpApp extends HTMLElement {
  connectedCallback() {
    if (this.state) return;
    this.state = {
      userId: userId(),
      pattern: stored('harpoon.pattern', null),
      constraints: stored('harpoon.constraints', {}),
      theme: stored('harpoon.theme', 'system'),
      messages: [],
      covenants: new Map(),
      currentId: null,
      conn: 'idle',
    };
    this.streams = new Map();
    this.nextId = 1;
    applyTheme(this.state.theme);
    const $ = (sel) => this.querySelector(sel);
    this.ui = {
      chat: $('hp-chat'), composer: $('hp-composer'), card: $('hp-covenant-card'), tree: $('hp-agent-tree'),
      sidebar: $('hp-sidebar'), toasts: $('hp-toasts'), palette: $('hp-palette'), panel: $('hp-panel'),
      conn: $('#conn'), activity: $('#activity'), keyDialog: $('hp-key-dialog'),
    };
    setKeyAsker((message) => {
      if (this.ui.palette.isOpen) this.ui.palette.close();
      return this.ui.keyDialog.ask(message);
    });
    this.addEventListener('hp-send', (e) => this.send(e.detail.text));
    this.addEventListener('hp-stop', () => this.cancel());
    this.addEventListener('hp-command', (e) => this.run(e.detail.id));
    this.addEventListener('hp-constraints', (e) => this.#setConstraints(e.detail.constraints));
    $('#open-palette').addEventListener('click', () => this.openPalette());
    document.addEventListener('keydown', (e) => {
      if ((e.ctrlKey || e.metaKey) && !e.altKey && e.key.toLowerCase() === 'k') {
        e.preventDefault();
        if (!this.ui.keyDialog.isOpen) this.openPalette(); // the key question comes first
      }
    });
    window.harpoon = {
      state: this.state,
      snapshot: (id) => { const cv = this.state.covenants.get(id || this.state.currentId); return cv ? snapshot(cv) : null; },
      streams: this.streams,
      run: (id) => this.run(id),
      expand: (agentId, open = true) => this.ui.tree.setExpanded(agentId, open),
    };
    const follow = new URLSearchParams(location.hash.slice(1)).get('covenant');
    if (follow) this.follow(follow, this.#reply(''));
    this.invalidate();
    this.ui.composer.focusInput();
    performance.mark('harpoon:ready'); // read by benchmarks/bench_ui.py (time to interactive)
  }

  get current() { return this.state.covenants.get(this.state.currentId) || null; }

  get running() { const cv = this.current; return Boolean(cv && !isTerminal(cv.status)); }

  invalidate() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => { this.frame = 0; this.#render(); });
  }

  #render() {
    const { state, ui } = this;
    const cv = this.current;
    ui.chat.update(state.messages);
    ui.composer.update({ running: this.running, pattern: state.pattern, constraints: state.constraints });
    ui.card.update(cv);
    ui.tree.update(cv);
    ui.conn.dataset.state = state.conn;
    ui.conn.textContent = CONN_LABEL[state.conn] || state.conn;
    ui.conn.hidden = state.conn === 'idle'; // no socket: the activity beside it says idle
    const busy = [...state.covenants.values()].filter((c) => !isTerminal(c.status));
    ui.activity.dataset.busy = String(busy.length > 0);
    const agents = busy.reduce((n, c) => n + c.counts.running, 0);
    ui.activity.textContent = busy.length ? `working · ${agents} agent${agents === 1 ? '' : 's'} running` : 'idle';
  }

  #reply(text) {
    if (text) this.state.messages.push({ id: `m${this.nextId++}`, role: 'user', text });
    const reply = { id: `m${this.nextId++}`, role: 'assistant', text: '', streaming: true, covenantId: null };
    this.state.messages.push(reply);
    return reply;
  }

  async send(text, pattern = this.state.pattern) {
    const reply = this.#reply(text);
    // The card shows the covenant as a draft while the mediator drafts it.
    const draftKey = `draft-${reply.id}`;
    const draft = newCovenant(null);
    Object.assign(draft, { intent: text, query: text, pattern, constraints: this.state.constraints, history: ['draft'] });
    this.state.covenants.set(draftKey, draft);
    this.state.currentId = draftKey;
    this.invalidate();
    const { userId, constraints } = this.state;
    try {
      const data = pattern
        ? await api.orchestrate(pattern, { query: text, user_id: userId, constraints })
        : await api.command(userId, { command: 'query', query: text, constraints });
      const id = covenantIdOf(data);
      if (!id) throw new Error('The gateway answered without a covenant id.');
      this.state.covenants.delete(draftKey);
      draft.id = id;
      this.follow(id, reply, draft);
    } catch (err) {
      draft.status = 'failed';
      draft.error = err.message;
      draft.history.push('failed');
      reply.streaming = false;
      reply.error = `Could not start: ${err.message}`;
      this.ui.toasts.show({ kind: 'bad', text: reply.error });
      this.invalidate();
    }
  }

  /** Follow a covenant's events live, feeding `reply` with its answer. */
  follow(id, reply, view = null) {
    const cv = this.state.covenants.get(id) || view || newCovenant(id);
    this.state.covenants.set(id, cv);
    this.state.currentId = id;
    reply.covenantId = id;
    const done = () => isTerminal(cv.status) && (cv.status !== 'completed' || cv.meta !== null);
    const stream = new CovenantStream(id, {
      lastSeq: () => cv.lastSeq,
      done,
      onEvent: (ev) => {
        const notice = applyEvent(cv, ev);
        if (notice) this.ui.toasts.show(notice);
        this.#syncReply(reply, cv);
        this.invalidate();
      },
      onError: (frame) => this.ui.toasts.show({ kind: 'bad', text: (frame.error && frame.error.message) || 'stream error' }),
      onState: (s) => { if (this.state.currentId === id) { this.state.conn = s === 'closed' ? 'idle' : s; this.invalidate(); } },
    });
    this.streams.get(id)?.stop();
    this.streams.set(id, stream);
    stream.start();
    this.invalidate();
  }

  #syncReply(reply, cv) {
    reply.text = cv.answer;
    reply.streaming = !isTerminal(cv.status);
    if (cv.status === 'failed') reply.error = `Failed: ${cv.error || 'the covenant failed'}`;
    if (cv.status === 'cancelled' && !reply.text) reply.text = 'Cancelled.';
    if (cv.meta) reply.meta = { ...cv.meta, pattern: cv.pattern };
  }

  async cancel() {
    const cv = this.current;
    if (!cv || !cv.id || isTerminal(cv.status)) return;
    try {
      this.ui.toasts.show({ kind: 'warn', text: 'Cancelling…' });
      await api.cancel(cv.id);
    } catch (err) {
      this.ui.toasts.show({ kind: 'bad', text: `Cancel failed: ${err.message}` });
    }
  }

  openPalette() {
    if (this.ui.panel.isOpen) this.ui.panel.close();
    this.ui.palette.open(commandList({
      running: this.running, hasCovenant: Boolean(this.current),
      sidebarOpen: !this.ui.sidebar.hidden, theme: effectiveTheme(), hasKey: Boolean(apiKey()),
    }));
  }

  async run(id) {
    const { state, ui } = this;
    if (id.startsWith('run:')) {
      const p = id.slice(4);
      state.pattern = PATTERNS.includes(p) ? p : null;
      localStorage.setItem('harpoon.pattern', JSON.stringify(state.pattern));
      const draft = ui.composer.draft;
      if (draft.trim()) { ui.composer.input.value = ''; this.send(draft); }
      else ui.toasts.show({ kind: 'info', text: `Pattern: ${state.pattern || 'auto'}` });
      ui.composer.focusInput();
    } else if (id === 'new') {
      for (const s of this.streams.values()) s.stop();
      this.streams.clear();
      state.messages.length = 0;
      state.covenants.clear();
      state.currentId = null;
      state.conn = 'idle';
      ui.composer.focusInput();
    } else if (id === 'constraints') ui.panel.openConstraints(state.constraints);
    else if (id === 'constraints:clear') this.#setConstraints({});
    else if (id === 'cancel') await this.cancel();
    else if (id === 'sidebar') ui.sidebar.toggle();
    else if (id === 'theme') {
      state.theme = effectiveTheme() === 'dark' ? 'light' : 'dark';
      localStorage.setItem('harpoon.theme', JSON.stringify(state.theme));
      applyTheme(state.theme);
    } else if (id === 'models' || id === 'metrics') {
      const title = id === 'models' ? 'Models' : 'Metrics';
      ui.panel.loading(title);
      try {
        const data = await api[id]();
        ui.panel.open(title, id === 'models' ? modelRows(data) : data);
      } catch (err) { ui.panel.open(title, `Could not load: ${err.message}`); }
    } else if (id === 'copy') await this.#copyCovenant();
    else if (id === 'forget-key') {
      forgetApiKey();
      ui.toasts.show({ kind: 'info', text: 'API key forgotten for this tab' });
    }
    this.invalidate();
  }

  async #copyCovenant() {
    const cv = this.current;
    if (!cv) return;
    let data;
    try { data = await api.covenant(cv.id); } catch { data = snapshot(cv); }
    const ok = await copyText(JSON.stringify(data, null, 2));
    this.ui.toasts.show(ok ? { kind: 'ok', text: 'Covenant JSON copied' } : { kind: 'bad', text: 'Copy failed' });
  }

  #setConstraints(c) {
    this.state.constraints = c;
    localStorage.setItem('harpoon.constraints', JSON.stringify(c));
    this.ui.toasts.show({ kind: 'info', text: Object.keys(c).length ? 'Constraints saved' : 'Constraints cleared' });
    this.invalidate();
  }
}

customElements.define('hp-app', HpApp);
