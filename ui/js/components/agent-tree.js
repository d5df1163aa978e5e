// <hp-agent-tree>: the live orchestration tree on the ARIA tree pattern. Only the rows in
// view are in the DOM (plus the active one), so 10,000 agents scroll and stream smoothly.
// Expansion and the active row are view state, kept here; the covenant comes from the root.

import { MEDIATOR_ID, ORCHESTRATOR_ID, overallProgress } from '../events.js';
import { count, el, pct } from '../format.js';
import { domId, flatten, offsets, paintDetail, paintNode, ROW_H, rowAt } from './tree-rows.js';

const OVERSCAN_PX = 300;

/** "3/8 agents · 2 running", plus failed and cancelled when there are any. */
function describeCounts(c) {
  let text = `${count(c.completed)}/${count(c.total)} agents · ${count(c.running)} running`;
  if (c.failed) text += ` · ${count(c.failed)} failed`;
  if (c.cancelled) text += ` · ${count(c.cancelled)} cancelled`;
  return text;
}

class HpAgentTree extends HTMLElement {
  connectedCallback() {
    if (this.viewport) return;
    this.cv = null;
    this.rows = [];
    this.tops = offsets([]);
    this.index = new Map();
    this.expanded = new Set([MEDIATOR_ID, ORCHESTRATOR_ID]);
    this.activeKey = `n:${MEDIATOR_ID}`;
    this.flatFor = null;
    this.rendered = new Map();

    const head = el('div', 'tree-head');
    const title = el('h2', null, 'Orchestration');
    title.id = 'tree-title';
    const overall = el('div', 'overall');
    this.overallBar = el('div', 'bar');
    this.overallBar.append(el('i'));
    this.overallBar.setAttribute('role', 'progressbar');
    this.overallBar.setAttribute('aria-label', 'Overall progress');
    this.overallBar.setAttribute('aria-valuemin', '0');
    this.overallBar.setAttribute('aria-valuemax', '100');
    this.overallText = el('span', 'overall-text', 'no agents');
    overall.append(this.overallBar, this.overallText);
    head.append(title, overall);

    this.viewport = el('div', 'viewport');
    this.viewport.setAttribute('role', 'tree');
    this.viewport.setAttribute('aria-labelledby', 'tree-title');
    this.viewport.tabIndex = 0;
    this.spacer = el('div', 'spacer-rows');
    this.viewport.append(this.spacer);
    this.append(head, this.viewport);

    this.viewport.addEventListener('scroll', () => this.#schedule(), { passive: true });
    this.viewport.addEventListener('keydown', (e) => this.#onKey(e));
    this.viewport.addEventListener('click', (e) => {
      const row = e.target.closest('[data-key]');
      if (!row) return;
      this.activeKey = row.dataset.key;
      if (row.classList.contains('row')) this.#toggle(this.rows[this.index.get(row.dataset.key)]);
      else this.#paint();
    });
    new ResizeObserver(() => this.#schedule()).observe(this.viewport);
  }

  /** @param {object|null} cv the covenant to show */
  update(cv) {
    if (cv !== this.cv) {
      this.cv = cv;
      this.expanded = new Set([MEDIATOR_ID, ORCHESTRATOR_ID]);
      this.activeKey = `n:${MEDIATOR_ID}`;
      this.flatFor = null;
      this.viewport.scrollTop = 0;
    }
    this.#paint();
  }

  /** Expand or collapse an agent by id (for commands and tests). */
  setExpanded(id, open) {
    if (open) this.expanded.add(id); else this.expanded.delete(id);
    this.flatFor = null;
    this.#paint();
  }

  #schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => { this.frame = 0; this.#paint(); });
  }

  #reflatten() {
    const sig = this.cv ? `${this.cv.id}|${this.cv.structure}` : '';
    if (this.flatFor === sig) return;
    this.flatFor = sig;
    this.rows = flatten(this.cv, this.expanded);
    this.tops = offsets(this.rows);
    this.index = new Map(this.rows.map((r, i) => [r.key, i]));
    if (!this.index.has(this.activeKey)) this.activeKey = this.rows.length ? this.rows[0].key : null;
    this.spacer.style.height = `${this.tops[this.rows.length]}px`;
  }

  #paint() {
    this.#reflatten();
    const cv = this.cv;
    const overall = cv ? overallProgress(cv) : 0;
    this.overallBar.firstChild.style.width = pct(overall);
    this.overallBar.dataset.status = cv ? cv.status : '';
    this.overallBar.setAttribute('aria-valuenow', String(Math.round(overall * 100)));
    this.overallText.textContent = cv && cv.counts.total ? describeCounts(cv.counts) : 'no agents';

    const top = this.viewport.scrollTop;
    const bottom = top + (this.viewport.clientHeight || 600);
    const first = this.rows.length ? rowAt(this.tops, Math.max(0, top - OVERSCAN_PX)) : 0;
    const last = this.rows.length ? rowAt(this.tops, bottom + OVERSCAN_PX) : -1;
    const want = new Set();
    for (let i = first; i <= last; i++) want.add(i);
    const activeIndex = this.index.get(this.activeKey);
    if (activeIndex !== undefined) want.add(activeIndex);

    const keep = new Set();
    for (const i of want) {
      const row = this.rows[i];
      keep.add(row.key);
      let node = this.rendered.get(row.key);
      if (!node) { node = el('div'); this.rendered.set(row.key, node); this.spacer.append(node); }
      node.style.top = `${this.tops[i]}px`;
      const active = row.key === this.activeKey;
      if (row.kind === 'node') paintNode(node, row, cv, this.expanded.has(row.id), active, overall);
      else paintDetail(node, row, cv, active);
    }
    for (const [key, node] of this.rendered) if (!keep.has(key)) { node.remove(); this.rendered.delete(key); }
    if (this.activeKey) this.viewport.setAttribute('aria-activedescendant', domId(this.activeKey));
    else this.viewport.removeAttribute('aria-activedescendant');
  }

  #toggle(row) {
    if (!row || row.kind !== 'node') return;
    if (this.expanded.has(row.id)) this.expanded.delete(row.id); else this.expanded.add(row.id);
    this.flatFor = null;
    this.#paint();
  }

  #moveTo(i) {
    if (!this.rows.length) return;
    const idx = Math.max(0, Math.min(this.rows.length - 1, i));
    this.activeKey = this.rows[idx].key;
    const top = this.tops[idx];
    const h = this.tops[idx + 1] - top;
    const vp = this.viewport;
    if (top < vp.scrollTop) vp.scrollTop = top;
    else if (top + h > vp.scrollTop + vp.clientHeight) vp.scrollTop = top + h - vp.clientHeight;
    this.#paint();
  }

  #onKey(e) {
    const i = this.index.get(this.activeKey) ?? 0;
    const row = this.rows[i];
    const page = Math.max(1, Math.floor(this.viewport.clientHeight / ROW_H) - 1);
    const handled = {
      ArrowDown: () => this.#moveTo(i + 1),
      ArrowUp: () => this.#moveTo(i - 1),
      Home: () => this.#moveTo(0),
      End: () => this.#moveTo(this.rows.length - 1),
      PageDown: () => this.#moveTo(i + page),
      PageUp: () => this.#moveTo(i - page),
      ArrowRight: () => {
        if (row && row.kind === 'node' && !this.expanded.has(row.id)) this.#toggle(row);
        else this.#moveTo(i + 1);
      },
      ArrowLeft: () => {
        if (row && row.kind === 'node' && this.expanded.has(row.id)) this.#toggle(row);
        else if (row && row.parentKey) this.#moveTo(this.index.get(row.parentKey));
      },
      Enter: () => this.#toggle(row),
      ' ': () => this.#toggle(row),
    }[e.key];
    if (!handled) return;
    e.preventDefault();
    handled();
  }
}

customElements.define('hp-agent-tree', HpAgentTree);
