// <hp-covenant-card>: what was agreed for the current covenant (intent, constraints,
// the mediator's pattern and models with its reason, the plan) and its live status.

import { el, seconds, usd } from '../format.js';

class HpCovenantCard extends HTMLElement {
  connectedCallback() {
    if (this.card) return;
    this.key = null;
    this.card = el('section', 'card');
    this.card.setAttribute('aria-labelledby', 'covenant-title');
    this.append(this.card);
    this.update(null);
  }

  /** @param {object|null} cv a covenant view from events.js */
  update(cv) {
    const key = cv
      ? `${cv.id}|${cv.status}|${cv.history.length}|${cv.counts.total}|${cv.counts.completed}|${cv.counts.failed}|${cv.counts.cancelled}|${cv.counts.running}|${cv.cost}|${cv.plan.length}|${cv.pattern}`
      : '';
    if (key === this.key) return;
    this.key = key;
    const head = el('h2', null, 'Covenant ');
    head.id = 'covenant-title';
    this.card.replaceChildren(head);
    if (!cv) {
      this.card.append(el('p', 'empty-card', 'No covenant yet. Send a message to draft one.'));
      return;
    }
    const status = el('span', 'status', cv.status);
    status.dataset.status = cv.status;
    status.id = 'covenant-status';
    status.setAttribute('aria-label', `status ${cv.status}`);
    head.append(status);
    this.card.dataset.status = cv.status;
    const timeline = el('ol', 'timeline');
    timeline.setAttribute('aria-label', 'Status history');
    for (const st of cv.history) { const li = el('li', null, st); li.dataset.status = st; timeline.append(li); }
    this.card.append(timeline);
    this.card.append(el('p', 'intent', cv.intent || cv.query || '…'));

    const dl = el('dl');
    const row = (term, value) => {
      if (value == null || value === '') return;
      const dd = el('dd', null, value);
      dd.dataset.field = term;
      dl.append(el('dt', null, term), dd);
    };
    row('id', cv.id);
    row('pattern', cv.pattern);
    row('why', cv.patternReason);
    row('models', cv.models && cv.models.length ? cv.models.join(', ') : null);
    row('constraints', describeConstraints(cv.constraints));
    const c = cv.counts;
    row('agents', c.total ? `${c.completed}/${c.total} done, ${c.running} running, ${c.failed} failed${c.cancelled ? `, ${c.cancelled} cancelled` : ''}` : null);
    row('cost', cv.cost ? usd(cv.cost) : null);
    row('latency', cv.latency ? seconds(cv.latency) : null);
    if (cv.simulated) row('provider', 'simulated');
    // A cancelled covenant's error is the word "cancelled": the status already says so.
    if (cv.error && cv.error !== cv.status) row('error', cv.error);
    this.card.append(dl);

    if (cv.plan && cv.plan.length) {
      const plan = el('ol');
      plan.setAttribute('aria-label', 'Plan');
      const shown = cv.plan.slice(0, 50);
      for (const step of shown) plan.append(el('li', null, step.title || step.instruction || step.id || String(step)));
      this.card.append(el('h2', null, `Plan (${cv.plan.length} step${cv.plan.length === 1 ? '' : 's'})`), plan);
      if (cv.plan.length > shown.length) this.card.append(el('p', 'more', `… and ${cv.plan.length - shown.length} more`));
    }
    if (cv.notes && cv.notes.length) {
      const notes = el('ul');
      for (const n of cv.notes) notes.append(el('li', null, n));
      this.card.append(el('h2', null, 'Notes'), notes);
    }
  }
}

function describeConstraints(c) {
  if (!c) return 'none';
  const parts = [];
  if (c.max_cost_usd != null) parts.push(`max cost ${usd(c.max_cost_usd)}`);
  if (c.max_latency_s != null) parts.push(`max latency ${seconds(c.max_latency_s)}`);
  if (c.min_quality != null) parts.push(`min quality ${c.min_quality}`);
  return parts.length ? parts.join(', ') : 'none';
}

customElements.define('hp-covenant-card', HpCovenantCard);
