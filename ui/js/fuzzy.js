// Fuzzy matching for the command palette: every query character in order, scored so
// that word starts and runs of adjacent characters rank first.

/**
 * @returns {{score: number, hits: number[]} | null} null when `query` does not match.
 */
export function fuzzyMatch(query, text) {
  const q = query.trim().toLowerCase();
  if (!q) return { score: 0, hits: [] };
  const t = text.toLowerCase();
  const hits = [];
  let score = 0;
  let ti = 0;
  let prev = -2;
  for (const ch of q) {
    if (ch === ' ') continue;
    const at = t.indexOf(ch, ti);
    if (at < 0) return null;
    const wordStart = at === 0 || /[\s:/\-(]/.test(t[at - 1]);
    score += 1 + (at === prev + 1 ? 3 : 0) + (wordStart ? 4 : 0) - Math.min(at - ti, 5) * 0.1;
    hits.push(at);
    prev = at;
    ti = at + 1;
  }
  return { score, hits };
}

/** Items matching `query`, best first; ties keep their given order. */
export function fuzzyFilter(query, items, key = (x) => x) {
  const out = [];
  items.forEach((item, i) => {
    const m = fuzzyMatch(query, key(item));
    if (m) out.push({ item, i, ...m });
  });
  out.sort((a, b) => b.score - a.score || a.i - b.i);
  return out;
}

/** Append `text` to `parent`, wrapping matched characters in <mark> (as text nodes). */
export function appendHighlighted(parent, text, hits) {
  const set = new Set(hits);
  let run = '';
  let marked = false;
  const flush = () => {
    if (!run) return;
    if (marked) { const m = document.createElement('mark'); m.textContent = run; parent.append(m); } else parent.append(run);
    run = '';
  };
  for (let i = 0; i < text.length; i++) {
    const isHit = set.has(i);
    if (isHit !== marked) { flush(); marked = isHit; }
    run += text[i];
  }
  flush();
}
