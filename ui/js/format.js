// Number formatting shared by the chat, the card, the tree and the panels.

export function usd(v) {
  if (v == null || Number.isNaN(Number(v))) return '–';
  const n = Number(v);
  if (n === 0) return '$0';
  if (Math.abs(n) < 0.01) return `$${n.toFixed(6)}`;
  return `$${n.toFixed(4)}`;
}

export function seconds(v) {
  if (v == null || Number.isNaN(Number(v))) return '–';
  const n = Number(v);
  return n < 1 ? `${Math.round(n * 1000)} ms` : `${n.toFixed(2)} s`;
}

export function count(v) {
  if (v == null) return '–';
  return Number(v).toLocaleString('en-US');
}

export function pct(v) {
  return `${Math.round(Math.max(0, Math.min(1, Number(v) || 0)) * 100)}%`;
}

/** Create an element with a class and text (always text: model output is never HTML). */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text != null) node.textContent = String(text);
  return node;
}
