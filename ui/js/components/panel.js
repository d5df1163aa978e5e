// <hp-panel>: one modal dialog for everything the palette opens that is not the chat:
// the model catalog, the metrics and the constraints form. Esc or the close button
// closes it and gives focus back.

import { el } from '../format.js';
import { constraintsForm } from './constraints-form.js';

const MAX_COLS = 10;

class HpPanel extends HTMLElement {
  connectedCallback() {
    if (this.overlay) return;
    this.overlay = el('div', 'overlay');
    this.overlay.hidden = true;
    this.dialog = el('div', 'dialog wide');
    this.dialog.setAttribute('role', 'dialog');
    this.dialog.setAttribute('aria-modal', 'true');
    this.dialog.setAttribute('aria-labelledby', 'panel-title');
    const header = el('header');
    this.heading = el('h2');
    this.heading.id = 'panel-title';
    const close = el('button', 'ghost', '✕');
    close.type = 'button';
    close.setAttribute('aria-label', 'Close');
    close.addEventListener('click', () => this.close());
    header.append(this.heading, close);
    this.content = el('div', 'content');
    this.dialog.append(header, this.content);
    this.overlay.append(this.dialog);
    this.append(this.overlay);
    this.overlay.addEventListener('keydown', (e) => { if (e.key === 'Escape') { e.preventDefault(); this.close(); } });
    this.overlay.addEventListener('mousedown', (e) => { if (e.target === this.overlay) this.close(); });
  }

  get isOpen() { return !this.overlay.hidden; }

  /** Show `title` with a body; `body` is a Node or plain data rendered as tables. */
  open(title, body) {
    this.returnFocus = this.returnFocus || document.activeElement;
    this.heading.textContent = title;
    this.content.replaceChildren(body instanceof Node ? body : renderData(body));
    this.overlay.hidden = false;
    const first = this.content.querySelector('input, button, [tabindex]') || this.dialog.querySelector('header button');
    first.focus();
  }

  loading(title) { this.open(title, el('p', null, 'Loading…')); }

  /** The constraints form; submitting emits a bubbling `hp-constraints`. */
  openConstraints(current) {
    this.open('Constraints', constraintsForm(current, (constraints) => {
      this.close();
      this.dispatchEvent(new CustomEvent('hp-constraints', { bubbles: true, detail: { constraints } }));
    }, () => this.close()));
  }

  close() {
    if (!this.isOpen) return;
    this.overlay.hidden = true;
    const back = this.returnFocus;
    this.returnFocus = null;
    if (back && back.isConnected) back.focus();
  }
}

function scalar(v) { return v === null || ['string', 'number', 'boolean'].includes(typeof v); }

function cell(v) {
  if (typeof v === 'number') return Number.isInteger(v) ? v.toLocaleString('en-US') : String(Number(v.toPrecision(4)));
  if (v === null || v === undefined) return '–';
  return String(v);
}

/** Arrays of objects become tables; objects become key/value tables, nested as needed. */
export function renderData(data, depth = 0) {
  if (scalar(data) || data === undefined) return el('span', null, cell(data));
  const unwrapped = !Array.isArray(data) && Object.keys(data).length === 1 && Array.isArray(Object.values(data)[0]) ? Object.values(data)[0] : data;
  if (Array.isArray(unwrapped)) {
    const rows = unwrapped.filter((r) => r && typeof r === 'object');
    if (!rows.length) return el('span', null, unwrapped.map(cell).join(', ') || 'none');
    const cols = [...new Set(rows.flatMap((r) => Object.keys(r).filter((k) => scalar(r[k]))))].slice(0, MAX_COLS);
    const table = el('table', 'data');
    const head = el('tr');
    for (const c of cols) head.append(el('th', typeof rows[0][c] === 'number' ? 'num' : null, c));
    table.append(head);
    for (const r of rows) {
      const tr = el('tr');
      for (const c of cols) tr.append(el('td', typeof r[c] === 'number' ? 'num' : null, cell(r[c])));
      table.append(tr);
    }
    return table;
  }
  const table = el('table', 'data');
  for (const [k, v] of Object.entries(unwrapped)) {
    const tr = el('tr');
    const td = el('td', typeof v === 'number' ? 'num' : null);
    td.append(depth < 4 ? renderData(v, depth + 1) : el('span', null, JSON.stringify(v)));
    tr.append(el('th', null, k), td);
    table.append(tr);
  }
  return table;
}

customElements.define('hp-panel', HpPanel);
