// <hp-composer>: where the user writes. Enter sends, Shift+Enter adds a line; while a
// covenant runs the send button becomes a stop button. Emits `hp-send` and `hp-stop`.

import { el } from '../format.js';

class HpComposer extends HTMLElement {
  connectedCallback() {
    if (this.input) return;
    const form = el('form', 'composer');
    form.setAttribute('aria-label', 'Ask Harpoon');
    this.input = el('textarea');
    this.input.rows = 1;
    this.input.placeholder = 'Ask anything…';
    this.input.setAttribute('aria-label', 'Message');
    this.input.setAttribute('aria-keyshortcuts', 'Enter Shift+Enter');
    this.send = el('button', 'primary', 'Send');
    this.send.type = 'submit';
    this.stop = el('button', 'stop', 'Stop');
    this.stop.type = 'button';
    this.stop.hidden = true;
    this.stop.setAttribute('aria-label', 'Stop the running covenant');
    form.append(this.input, this.send, this.stop);
    this.hint = el('div', 'hint');
    this.hint.append(
      el('span', null, 'Enter to send · Shift+Enter for a new line'),
      this.settings = el('span', 'settings'),
    );
    this.append(form, this.hint);

    form.addEventListener('submit', (e) => { e.preventDefault(); this.#submit(); });
    this.input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); this.#submit(); }
    });
    this.input.addEventListener('input', () => this.#grow());
    this.stop.addEventListener('click', () => this.dispatchEvent(new CustomEvent('hp-stop', { bubbles: true })));
  }

  /** @param {{running: boolean, pattern: string|null, constraints: object}} props */
  update({ running, pattern, constraints }) {
    this.stop.hidden = !running;
    this.send.hidden = running;
    const parts = [`pattern: ${pattern || 'auto'}`];
    if (constraints.max_cost_usd != null) parts.push(`max cost $${constraints.max_cost_usd}`);
    if (constraints.max_latency_s != null) parts.push(`max latency ${constraints.max_latency_s} s`);
    if (constraints.min_quality != null) parts.push(`min quality ${constraints.min_quality}`);
    this.settings.textContent = parts.join(' · ');
  }

  focusInput() { this.input.focus(); }

  /** The draft text, for commands that run it with a pattern. */
  get draft() { return this.input.value; }

  #submit() {
    const text = this.input.value;
    if (!text.trim()) return;
    this.input.value = '';
    this.#grow();
    this.dispatchEvent(new CustomEvent('hp-send', { bubbles: true, detail: { text } }));
  }

  #grow() {
    this.input.style.height = 'auto';
    this.input.style.height = `${Math.min(this.input.scrollHeight + 2, 200)}px`;
  }
}

customElements.define('hp-composer', HpComposer);
