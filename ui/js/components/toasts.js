// <hp-toasts>: short notices (fallbacks, failures, completions) in a polite live region.
// Each fades after a while; a burst is capped so 10,000 failing agents cannot flood it.

import { el } from '../format.js';

const SHOW_MS = 5000;
const MAX_SHOWN = 4;

class HpToasts extends HTMLElement {
  connectedCallback() {
    this.setAttribute('role', 'status');
    this.setAttribute('aria-live', 'polite');
    this.setAttribute('aria-label', 'Notifications');
  }

  /** @param {{kind: 'ok'|'warn'|'bad'|'info', text: string}} notice */
  show({ kind = 'info', text }) {
    const same = [...this.children].find((t) => t.dataset.text === text);
    if (same) {
      const n = Number(same.dataset.count || 1) + 1;
      same.dataset.count = String(n);
      same.textContent = `${text} (×${n})`;
      return;
    }
    while (this.children.length >= MAX_SHOWN) this.firstElementChild.remove();
    const toast = el('div', 'toast', text);
    toast.dataset.kind = kind;
    toast.dataset.text = text;
    this.append(toast);
    setTimeout(() => toast.remove(), SHOW_MS);
  }
}

customElements.define('hp-toasts', HpToasts);
