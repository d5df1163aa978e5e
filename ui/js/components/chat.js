// <hp-chat>: the conversation. Messages come down from the root; each is rendered once
// and then patched, text always through textContent. Auto-scroll follows new text until
// the user scrolls up, and resumes when they come back to the bottom.

import { count, el, seconds, usd } from '../format.js';

const STICK_PX = 32;

class HpChat extends HTMLElement {
  connectedCallback() {
    if (this.views) return;
    this.views = new Map();
    this.stick = true;
    this.setAttribute('role', 'log');
    this.setAttribute('aria-label', 'Messages');
    this.setAttribute('aria-live', 'polite');
    this.setAttribute('tabindex', '0');
    this.empty = el('div', 'empty');
    this.empty.append('Ask anything. ', el('kbd', null, 'Ctrl'), '+', el('kbd', null, 'K'), ' for commands.');
    this.jump = el('button', 'jump', 'Jump to latest ↓');
    this.jump.type = 'button';
    this.jump.hidden = true;
    this.jump.addEventListener('click', () => { this.stick = true; this.#scrollToEnd(); });
    this.append(this.empty, this.jump);
    this.addEventListener('scroll', () => {
      this.stick = this.scrollTop + this.clientHeight >= this.scrollHeight - STICK_PX;
      if (this.stick) this.jump.hidden = true;
    }, { passive: true });
  }

  /** @param {object[]} messages the whole history, oldest first */
  update(messages) {
    this.empty.hidden = messages.length > 0;
    const keep = new Set();
    let grew = false;
    for (const m of messages) {
      keep.add(m.id);
      let v = this.views.get(m.id);
      if (!v) { v = this.#create(m); this.views.set(m.id, v); this.insertBefore(v.node, this.jump); grew = true; }
      grew = this.#patch(v, m) || grew;
    }
    for (const [id, v] of this.views) if (!keep.has(id)) { v.node.remove(); this.views.delete(id); }
    if (!grew) return;
    if (this.stick) this.#scrollToEnd(); else this.jump.hidden = false;
  }

  #scrollToEnd() {
    this.scrollTop = this.scrollHeight;
    this.jump.hidden = true;
  }

  #create(m) {
    const node = el('article', `msg ${m.role}`);
    node.dataset.id = m.id;
    const who = el('div', 'who', m.role === 'user' ? 'You' : 'Harpoon');
    const body = el('div', 'body');
    const meta = el('div', 'meta');
    meta.hidden = true;
    node.append(who, body, meta);
    return { node, body, meta, text: null, streaming: null, metaKey: null, error: null };
  }

  #patch(v, m) {
    let changed = false;
    const text = m.error ? m.error : m.text;
    if (text !== v.text) { v.body.textContent = text; v.text = text; changed = true; }
    const streaming = Boolean(m.streaming);
    if (streaming !== v.streaming) { v.node.dataset.streaming = String(streaming); v.streaming = streaming; }
    if (Boolean(m.error) !== v.error) { v.node.classList.toggle('error', Boolean(m.error)); v.error = Boolean(m.error); }
    const metaKey = m.meta ? JSON.stringify(m.meta) : '';
    if (metaKey !== v.metaKey) { this.#renderMeta(v.meta, m.meta); v.metaKey = metaKey; changed = true; }
    return changed;
  }

  #renderMeta(node, meta) {
    node.replaceChildren();
    node.hidden = !meta;
    if (!meta) return;
    const add = (label, value, cls) => {
      const s = el('span', cls || null, value == null ? label : `${label} ${value}`);
      s.dataset.field = label.replace(/\W+/g, '').toLowerCase() || 'badge';
      node.append(s);
    };
    if (meta.model) add('model', meta.model);
    if (meta.tier) add('tier', meta.tier);
    if (meta.pattern) add('pattern', meta.pattern);
    if (meta.inputTokens != null || meta.outputTokens != null) {
      add('tokens', `${count(meta.inputTokens ?? 0)} → ${count(meta.outputTokens ?? 0)}`);
    }
    add('cost', usd(meta.cost));
    add('latency', seconds(meta.latency));
    if (meta.saving != null) add('saved', `${usd(meta.saving)} vs flagship`);
    if (meta.simulated) add('simulated', null, 'badge-sim');
  }
}

customElements.define('hp-chat', HpChat);
