// Small hand-written SVG charts: bars for counts, a line for a series over time. Each has a
// text alternative (the numbers) for screen readers.

const NS = 'http://www.w3.org/2000/svg';

function svg(tag, attrs = {}) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

// bars: [{ label, value, cls }]
export function barChart(title, bars) {
  const width = 320;
  const rowH = 26;
  const max = Math.max(1, ...bars.map((b) => b.value));
  const root = svg('svg', { viewBox: `0 0 ${width} ${bars.length * rowH}`, role: 'img', class: 'chart' });
  const t = svg('title');
  t.textContent = `${title}: ${bars.map((b) => `${b.label} ${b.value}`).join(', ')}`;
  root.append(t);
  bars.forEach((b, i) => {
    const y = i * rowH;
    const label = svg('text', { x: 0, y: y + 17, class: 'chart-label' });
    label.textContent = b.label;
    const w = Math.round((b.value / max) * (width - 140));
    const bar = svg('rect', { x: 80, y: y + 4, width: Math.max(w, 1), height: rowH - 8, rx: 3, class: `bar ${b.cls || ''}` });
    const value = svg('text', { x: 86 + w, y: y + 17, class: 'chart-value' });
    value.textContent = String(b.value);
    root.append(label, bar, value);
  });
  return root;
}

// series: [{ name, cls, points: [number|null] }] over the same x steps.
export function lineChart(title, series, unit = '') {
  const width = 320;
  const height = 120;
  const all = series.flatMap((s) => s.points.filter((p) => p !== null));
  const max = Math.max(1e-9, ...all);
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', class: 'chart' });
  const t = svg('title');
  const last = series.map((s) => `${s.name} ${s.points.length ? s.points[s.points.length - 1] ?? '—' : '—'}${unit}`);
  t.textContent = `${title}, latest: ${last.join(', ')}`;
  root.append(t, svg('line', { x1: 0, y1: height - 1, x2: width, y2: height - 1, class: 'axis' }));
  for (const s of series) {
    // One sample is drawn as a flat line across, so a chart is never empty once data came.
    const points = s.points.length === 1 ? [s.points[0], s.points[0]] : s.points;
    const n = Math.max(2, points.length);
    const d = points.map((p, i) => (p === null ? null : `${(i / (n - 1)) * width},${height - 4 - (p / max) * (height - 16)}`))
      .filter(Boolean).join(' ');
    if (d) root.append(svg('polyline', { points: d, class: `line ${s.cls}` }));
  }
  const top = svg('text', { x: 2, y: 11, class: 'chart-label' });
  top.textContent = `max ${Math.round(max * 1000) / 1000}${unit}`;
  root.append(top);
  return root;
}
