"""Text contrast as WCAG 2 measures it, computed in the page for every visible text.

Each element with text of its own is checked against the background actually behind it:
its own and its ancestors' backgrounds composited (alpha included, so highlights mixed
with `color-mix` count), down to the page. Normal text needs 4.5:1, large text (24 px,
or 18.66 px bold) 3:1. Text faded on purpose (disabled, `opacity` below 1, such as a
toast still fading in) is left out, as WCAG does for inactive components.
"""

from __future__ import annotations

from typing import Any

LOW_CONTRAST_JS = r"""
() => {
  const parse = (c) => {
    let m = c.match(/^rgba?\(([^)]+)\)$/);
    if (m) {
      const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
      return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
    }
    m = c.match(/^color\(srgb ([^)]+)\)$/);
    if (m) {
      const p = m[1].split(/[\s\/]+/).filter(Boolean).map(Number);
      return [p[0] * 255, p[1] * 255, p[2] * 255, p.length > 3 ? p[3] : 1];
    }
    return null;
  };
  const over = (top, under) => {
    const a = top[3];
    return [0, 1, 2].map((i) => top[i] * a + under[i] * (1 - a)).concat(1);
  };
  const lum = (c) => {
    const v = c.slice(0, 3).map((x) => {
      const s = x / 255;
      return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2];
  };
  const ratio = (a, b) => {
    const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05);
  };
  const background = (el) => {
    const layers = [];
    for (let n = el; n && n.nodeType === 1; n = n.parentElement) {
      const c = parse(getComputedStyle(n).backgroundColor);
      if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    let bg = [255, 255, 255, 1];
    for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
    return bg;
  };
  const faded = (el) => {
    for (let n = el; n && n.nodeType === 1; n = n.parentElement) {
      if (Number(getComputedStyle(n).opacity) < 1) return true;
      if (Element.prototype.matches.call(n, '[aria-disabled="true"], :disabled')) return true;
    }
    return false;
  };
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    const texts = [...el.childNodes].filter((t) => t.nodeType === 3);
    const own = texts.map((t) => t.data).join('').trim();
    if (!own || !el.getClientRects().length || faded(el)) continue;
    const style = getComputedStyle(el);
    if (style.visibility !== 'visible') continue;
    const fg = parse(style.color);
    if (!fg) continue;
    const bg = background(el);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    const need = large ? 3 : 4.5;
    const got = ratio(over(fg, bg), bg);
    if (got < need) {
      const cls = el.className ? '.' + String(el.className).split(' ').join('.') : '';
      out.push({ text: own.slice(0, 40), where: el.tagName.toLowerCase() + cls,
                 color: style.color, ratio: Math.round(got * 100) / 100, need });
    }
  }
  return out;
}
"""


def low_contrast_texts(page: Any) -> list[dict[str, Any]]:
    """Every visible text on the page below WCAG AA contrast, with where and how low."""
    return page.evaluate(LOW_CONTRAST_JS)


def assert_readable(page: Any) -> None:
    """Fail naming every text on the page that is below WCAG AA contrast."""
    low = low_contrast_texts(page)
    assert low == [], "text below WCAG AA contrast:\n" + "\n".join(map(str, low))
