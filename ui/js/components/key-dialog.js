// <hp-key-dialog>: asks for the gateway's API key when a call was refused for want of it.
// A labelled modal in the palette's look; keyboard-first: focus starts in the field,
// stays inside while open (Tab wraps), Enter submits, Esc cancels.

import { el } from '../format.js';

class HpKeyDialog extends HTMLElement {
  connectedCallback() {
    if (this.overlay) return;
    this.resolve = null;
    this.returnFocus = null;
    this.overlay = el('div', 'overlay');
    this.overlay.hidden = true;
    this.dialog = el('div', 'dialog key-dialog');
    this.dialog.setAttribute('role', 'dialog');
    this.dialog.setAttribute('aria-modal', 'true');
    this.dialog.setAttribute('aria-labelledby', 'key-title');
    this.dialog.setAttribute('aria-describedby', 'key-help');
    const header = el('header');
    const title = el('h2', null, 'API key required');
    title.id = 'key-title';
    header.append(title);
    const form = el('form', 'key-form');
    form.noValidate = true;
    const help = el('p', 'help', 'This gateway asks for its API key (HARPOON_API_KEY). It is kept for this tab only.');
    help.id = 'key-help';
    const label = el('label', null, 'API key');
    this.input = el('input', 'palette-input');
    Object.assign(this.input, { type: 'password', id: 'key-input', autocomplete: 'off', spellcheck: false });
    label.htmlFor = this.input.id;
    this.error = el('p', 'error');
    this.error.setAttribute('role', 'alert');
    const actions = el('div', 'actions');
    const cancel = el('button', null, 'Cancel');
    cancel.type = 'button';
    cancel.addEventListener('click', () => this.#finish(null));
    const submit = el('button', 'primary', 'Use key');
    submit.type = 'submit';
    actions.append(cancel, submit);
    form.append(help, label, this.input, this.error, actions);
    this.dialog.append(header, form);
    this.overlay.append(this.dialog);
    this.append(this.overlay);

    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const key = this.input.value.trim();
      if (!key) { this.error.textContent = 'Enter the key, or press Esc to go on without it.'; this.input.focus(); return; }
      this.#finish(key);
    });
    this.dialog.addEventListener('keydown', (e) => this.#onKey(e));
  }

  get isOpen() { return !this.overlay.hidden; }

  /** Show the dialog; resolves to the key typed, or null when cancelled. */
  ask(message) {
    if (this.resolve) this.resolve(null);
    this.returnFocus = this.isOpen ? this.returnFocus : document.activeElement;
    this.error.textContent = message || '';
    this.input.value = '';
    if (message) this.input.setAttribute('aria-invalid', 'true');
    else this.input.removeAttribute('aria-invalid');
    this.overlay.hidden = false;
    this.input.focus();
    return new Promise((resolve) => { this.resolve = resolve; });
  }

  #finish(key) {
    const resolve = this.resolve;
    this.resolve = null;
    this.overlay.hidden = true;
    this.input.value = '';
    const back = this.returnFocus;
    this.returnFocus = null;
    if (back && back.isConnected && typeof back.focus === 'function') back.focus();
    resolve?.(key);
  }

  #onKey(e) {
    if (e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); this.#finish(null); return; }
    if (e.key !== 'Tab') return;
    // Focus trap: Tab from the last control wraps to the first, Shift+Tab the other way.
    const stops = [...this.dialog.querySelectorAll('input, button')];
    const first = stops[0];
    const last = stops[stops.length - 1];
    if (e.shiftKey && document.activeElement === first) { e.preventDefault(); last.focus(); }
    else if (!e.shiftKey && document.activeElement === last) { e.preventDefault(); first.focus(); }
  }
}

customElements.define('hp-key-dialog', HpKeyDialog);
