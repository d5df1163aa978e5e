// <hp-palette>: the command palette, a labelled modal dialog with a combobox over a
// listbox. Opening is the root's call; choosing emits a bubbling `hp-command`.

import { appendHighlighted, fuzzyFilter } from '../fuzzy.js';
import { el } from '../format.js';

class HpPalette extends HTMLElement {
  connectedCallback() {
    if (this.overlay) return;
    this.commands = [];
    this.matches = [];
    this.active = 0;
    this.returnFocus = null;
    this.overlay = el('div', 'overlay');
    this.overlay.hidden = true;
    const dialog = el('div', 'dialog');
    dialog.setAttribute('role', 'dialog');
    dialog.setAttribute('aria-modal', 'true');
    dialog.setAttribute('aria-labelledby', 'palette-title');
    const title = el('h2', 'sr-only', 'Command palette');
    title.id = 'palette-title';
    this.input = el('input', 'palette-input');
    Object.assign(this.input, { type: 'text', placeholder: 'Type a command…', autocomplete: 'off', spellcheck: false });
    this.input.setAttribute('role', 'combobox');
    this.input.setAttribute('aria-expanded', 'true');
    this.input.setAttribute('aria-controls', 'palette-list');
    this.input.setAttribute('aria-autocomplete', 'list');
    this.input.setAttribute('aria-label', 'Search commands');
    this.list = el('ul', 'palette-list');
    this.list.id = 'palette-list';
    this.list.setAttribute('role', 'listbox');
    this.list.setAttribute('aria-label', 'Commands');
    dialog.append(title, this.input, this.list);
    this.overlay.append(dialog);
    this.append(this.overlay);

    this.input.addEventListener('input', () => { this.active = 0; this.#render(); });
    this.input.addEventListener('keydown', (e) => this.#onKey(e));
    this.overlay.addEventListener('mousedown', (e) => { if (e.target === this.overlay) this.close(); });
    this.list.addEventListener('click', (e) => {
      const li = e.target.closest('li[data-index]');
      if (li) this.#choose(Number(li.dataset.index));
    });
  }

  get isOpen() { return !this.overlay.hidden; }

  /** @param {{id: string, title: string, group?: string, enabled?: boolean}[]} commands */
  open(commands) {
    this.commands = commands;
    this.returnFocus = document.activeElement;
    this.input.value = '';
    this.active = 0;
    this.overlay.hidden = false;
    this.#render();
    this.input.focus();
  }

  close() {
    if (!this.isOpen) return;
    this.overlay.hidden = true;
    const back = this.returnFocus;
    this.returnFocus = null;
    if (back && back.isConnected && typeof back.focus === 'function') back.focus();
  }

  #onKey(e) {
    const n = this.matches.length;
    if (e.key === 'ArrowDown') { e.preventDefault(); if (n) this.active = (this.active + 1) % n; this.#render(); }
    else if (e.key === 'ArrowUp') { e.preventDefault(); if (n) this.active = (this.active - 1 + n) % n; this.#render(); }
    else if (e.key === 'Home') { e.preventDefault(); this.active = 0; this.#render(); }
    else if (e.key === 'End') { e.preventDefault(); this.active = Math.max(0, n - 1); this.#render(); }
    else if (e.key === 'Enter') { e.preventDefault(); this.#choose(this.active); }
    else if (e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); this.close(); }
    else if (e.key === 'Tab') e.preventDefault(); // focus stays in the modal
  }

  #choose(index) {
    const m = this.matches[index];
    if (!m || m.item.enabled === false) return;
    this.close();
    this.dispatchEvent(new CustomEvent('hp-command', { bubbles: true, detail: { id: m.item.id } }));
  }

  #render() {
    // The group is searchable too (after the title, so title hits keep their offsets).
    this.matches = fuzzyFilter(this.input.value, this.commands, (c) => `${c.title} ${c.group || ''}`);
    this.list.replaceChildren();
    if (!this.matches.length) {
      const empty = el('li', 'palette-empty', 'No matching command');
      empty.setAttribute('role', 'option');
      empty.setAttribute('aria-disabled', 'true');
      this.list.append(empty);
      this.input.removeAttribute('aria-activedescendant');
      return;
    }
    this.matches.forEach((m, i) => {
      const li = el('li');
      li.id = `cmd-${m.item.id}`;
      li.dataset.index = String(i);
      li.setAttribute('role', 'option');
      li.setAttribute('aria-selected', String(i === this.active));
      if (m.item.enabled === false) li.setAttribute('aria-disabled', 'true');
      const label = el('span');
      appendHighlighted(label, m.item.title, m.hits.filter((h) => h < m.item.title.length));
      li.append(label);
      if (m.item.group) li.append(el('span', 'group', m.item.group));
      this.list.append(li);
    });
    const current = this.list.children[this.active];
    this.input.setAttribute('aria-activedescendant', current.id);
    current.scrollIntoView({ block: 'nearest' });
  }
}

customElements.define('hp-palette', HpPalette);
