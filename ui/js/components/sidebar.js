// <hp-sidebar>: the right-hand panel and its drag handle. The width (300–800 px) is kept
// in localStorage so it survives a reload; the handle is a focusable separator, so the
// arrow keys resize it too.

import { el } from '../format.js';

export const MIN_W = 300;
export const MAX_W = 800;
const KEY = 'harpoon.sidebarWidth';
const STEP = 20;

function clamp(w) { return Math.round(Math.max(MIN_W, Math.min(MAX_W, w))); }

function storedWidth() {
  const v = Number(localStorage.getItem(KEY));
  return Number.isFinite(v) && v > 0 ? clamp(v) : 380;
}

class HpSidebar extends HTMLElement {
  connectedCallback() {
    if (this.handle) return;
    this.setAttribute('role', 'complementary');
    this.setAttribute('aria-label', 'Covenant and orchestration');
    this.handle = el('div', 'resizer');
    this.handle.setAttribute('role', 'separator');
    this.handle.setAttribute('aria-orientation', 'vertical');
    this.handle.setAttribute('aria-label', 'Resize sidebar');
    this.handle.setAttribute('aria-valuemin', String(MIN_W));
    this.handle.setAttribute('aria-valuemax', String(MAX_W));
    this.handle.tabIndex = 0;
    this.prepend(this.handle);
    this.setWidth(storedWidth(), false);

    this.handle.addEventListener('pointerdown', (e) => this.#startDrag(e));
    this.handle.addEventListener('keydown', (e) => {
      const delta = { ArrowLeft: STEP, ArrowRight: -STEP }[e.key];
      if (e.key === 'Home') { e.preventDefault(); this.setWidth(MAX_W); }
      else if (e.key === 'End') { e.preventDefault(); this.setWidth(MIN_W); }
      else if (delta) { e.preventDefault(); this.setWidth(this.width + delta); }
    });
  }

  /** Set the width in px (clamped), optionally remembering it. */
  setWidth(w, persist = true) {
    this.width = clamp(w);
    this.style.setProperty('--sidebar-w', `${this.width}px`);
    this.handle.setAttribute('aria-valuenow', String(this.width));
    if (persist) localStorage.setItem(KEY, String(this.width));
  }

  toggle() {
    this.hidden = !this.hidden;
    return !this.hidden;
  }

  #startDrag(e) {
    if (e.button !== 0) return;
    e.preventDefault();
    const startX = e.clientX;
    const startW = this.width;
    this.handle.setPointerCapture(e.pointerId);
    this.handle.classList.add('dragging');
    document.body.style.cursor = 'col-resize';
    const move = (ev) => this.setWidth(startW + (startX - ev.clientX), false);
    const up = (ev) => {
      this.handle.releasePointerCapture(ev.pointerId);
      this.handle.classList.remove('dragging');
      document.body.style.cursor = '';
      this.handle.removeEventListener('pointermove', move);
      this.handle.removeEventListener('pointerup', up);
      this.handle.removeEventListener('pointercancel', up);
      this.setWidth(this.width);
    };
    this.handle.addEventListener('pointermove', move);
    this.handle.addEventListener('pointerup', up);
    this.handle.addEventListener('pointercancel', up);
  }
}

customElements.define('hp-sidebar', HpSidebar);
