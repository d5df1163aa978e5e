// The orchestration tree as rows: flattening (mediator → orchestrator → agents, only the
// expanded parts) and drawing one row. Kept apart from the component so the virtual
// scroller stays small; nothing here touches more than the row it is given.

import { failedAttempts, MEDIATOR_ID, ORCHESTRATOR_ID } from '../events.js';
import { count, el, pct, seconds, usd } from '../format.js';

export const ROW_H = 28;
export const DETAIL_H = 220;

/**
 * Visible rows in order. Each: {key, kind: 'node'|'detail', id, level, setsize, posinset, parentKey}.
 * Iterative, so a deep tree cannot blow the stack.
 */
export function flatten(cv, expanded) {
  const rows = [];
  if (!cv) return rows;
  const kids = (id) => (id === MEDIATOR_ID ? [ORCHESTRATOR_ID] : cv.children.get(id) || []);
  const stack = [{ id: MEDIATOR_ID, level: 1, setsize: 1, posinset: 1, parentKey: null }];
  while (stack.length) {
    const item = stack.pop();
    if (item.detail) { rows.push(item.detail); continue; }
    const key = `n:${item.id}`;
    rows.push({ key, kind: 'node', id: item.id, level: item.level, setsize: item.setsize, posinset: item.posinset, parentKey: item.parentKey });
    if (!expanded.has(item.id)) continue;
    const children = kids(item.id);
    // Pushed in reverse so they pop in order; an agent's detail comes before its children.
    for (let i = children.length - 1; i >= 0; i--) {
      stack.push({ id: children[i], level: item.level + 1, setsize: children.length, posinset: i + 1, parentKey: key });
    }
    if (item.id !== MEDIATOR_ID && item.id !== ORCHESTRATOR_ID) {
      stack.push({ detail: { key: `d:${item.id}`, kind: 'detail', id: item.id, level: item.level + 1, setsize: 1, posinset: 1, parentKey: key } });
    }
  }
  return rows;
}

/** Top offset of every row plus the total height, for the virtual scroller. */
export function offsets(rows) {
  const tops = new Float64Array(rows.length + 1);
  for (let i = 0; i < rows.length; i++) tops[i + 1] = tops[i] + (rows[i].kind === 'detail' ? DETAIL_H : ROW_H);
  return tops;
}

/** Index of the row covering pixel `y` (binary search over `tops`). */
export function rowAt(tops, y) {
  let lo = 0;
  let hi = tops.length - 2;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (tops[mid] <= y) lo = mid; else hi = mid - 1;
  }
  return Math.max(0, lo);
}

export function domId(key) { return `tree-${key.replace(/[^\w-]/g, '_')}`; }

function nodeInfo(cv, id, overall) {
  if (id === MEDIATOR_ID) {
    return { title: 'Mediator', role: 'covenant', status: cv.status, progress: overall, model: null };
  }
  if (id === ORCHESTRATOR_ID) {
    const n = cv.counts.total;
    return { title: `Orchestrator${cv.pattern ? ` · ${cv.pattern}` : ''}`, role: `${count(n)} agent${n === 1 ? '' : 's'}`, status: cv.status === 'draft' ? 'pending' : cv.status === 'active' ? 'running' : cv.status, progress: overall, model: null };
  }
  const a = cv.agents.get(id);
  return { title: a.title || a.id, role: a.role, status: a.status, progress: a.progress, model: a.model };
}

/** Draw or refresh a node row; cheap enough to run for every visible row each frame. */
export function paintNode(node, row, cv, expanded, active, overall) {
  const info = nodeInfo(cv, row.id, overall);
  const sig = `${info.title}|${info.role}|${info.status}|${info.progress.toFixed(3)}|${expanded}|${active}|${info.model}`;
  if (node.dataset.sig === sig) return;
  node.dataset.sig = sig;
  if (!node.firstChild) {
    node.className = 'row';
    node.setAttribute('role', 'treeitem');
    node.id = domId(row.key);
    node.append(el('span', 'twisty'), el('span', 'dot'), el('span', 'label'), el('span', 'role'), el('span', 'bar'));
    node.lastChild.append(el('i'));
  }
  const [twisty, dot, label, role, bar] = node.children;
  node.dataset.key = row.key;
  node.dataset.status = info.status;
  node.style.paddingLeft = `${(row.level - 1) * 14 + 4}px`;
  node.setAttribute('aria-level', String(row.level));
  node.setAttribute('aria-setsize', String(row.setsize));
  node.setAttribute('aria-posinset', String(row.posinset));
  node.setAttribute('aria-expanded', String(expanded));
  node.setAttribute('aria-selected', String(active));
  node.setAttribute('aria-label', `${info.title}, ${info.role}, ${info.status}, ${pct(info.progress)}`);
  node.classList.toggle('active', active);
  twisty.textContent = expanded ? '▼' : '▶';
  dot.dataset.status = info.status;
  label.textContent = info.title;
  // The row names the model without its provider (the details show the full id).
  role.textContent = info.model ? `${info.role} · ${info.model.slice(info.model.indexOf('/') + 1)}` : info.role;
  role.title = info.model ? `${info.role} · ${info.model}` : info.role;
  bar.dataset.status = info.status;
  bar.firstChild.style.width = pct(info.progress);
}

/** Draw an agent's thoughts, actions (model calls) and output, when they changed. */
export function paintDetail(node, row, cv, active) {
  const a = cv.agents.get(row.id);
  const sig = `${a.thoughts.length}|${a.actions.length}|${a.output.length}|${a.tokens.length}|${a.status}|${active}`;
  if (node.dataset.sig === sig) return;
  node.dataset.sig = sig;
  node.className = 'detail';
  node.id = domId(row.key);
  node.dataset.key = row.key;
  node.setAttribute('role', 'treeitem');
  node.setAttribute('aria-level', String(row.level));
  node.setAttribute('aria-label', `Details of ${a.title || a.id}`);
  node.setAttribute('aria-selected', String(active));
  node.classList.toggle('active', active);
  node.style.height = `${DETAIL_H}px`;
  node.style.paddingLeft = `${(row.level - 1) * 14 + 8}px`;
  const section = (title, cls) => { const s = el('section', cls); s.append(el('h3', null, title)); return s; };

  const thoughts = section('Thoughts', 'thoughts');
  if (a.thoughts.length) { const ul = el('ul'); for (const t of a.thoughts) ul.append(el('li', null, t)); thoughts.append(ul); }
  else thoughts.append(el('div', 'none', 'none yet'));

  const actions = section('Actions', 'actions');
  if (a.actions.length) {
    const ul = el('ul');
    for (const act of a.actions) {
      const fb = failedAttempts(act).map((f) => `${f.model}${f.error_type ? ` (${f.error_type})` : ''}`);
      const text = `${act.model || '?'} · ${count(act.input_tokens ?? 0)} → ${count(act.output_tokens ?? 0)} tokens · ${usd(act.cost_usd)} · ${seconds(act.latency_s)}`
        + (fb.length ? ` · fallbacks: ${fb.join(', ')}` : '') + (act.ok === false ? ` · failed: ${act.error || ''}` : '') + (act.simulated ? ' · simulated' : '');
      ul.append(el('li', null, text));
    }
    actions.append(ul);
  } else actions.append(el('div', 'none', 'none yet'));

  const output = section('Output', 'output');
  const text = a.error ? `Error: ${a.error}` : a.output || a.tokens;
  output.append(text ? el('pre', null, text) : el('div', 'none', 'none yet'));
  node.replaceChildren(thoughts, actions, output);
}
