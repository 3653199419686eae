// Hash routes (#/functions/<id>): the page changes without a request, and nothing secret is
// ever part of a URL. Each page's render(view, ctx, ...params) may return a cleanup function
// (to stop its timers), called when the user leaves the page. Every render gets its own view
// element, so a slow page that finishes after the user moved on changes nothing on screen.

import { errorBox } from './dom.js';

const routes = [];
let cleanup = null;
let current = null;

export function route(pattern, load) {
  const re = new RegExp(`^${pattern.replace(/:(\w+)/g, '([^/?]+)')}(?:\\?.*)?$`);
  routes.push({ re, load });
}

export async function show(main, ctx) {
  if (cleanup) { cleanup(); cleanup = null; }
  const path = location.hash.replace(/^#/, '') || '/overview';
  const found = routes.map((r) => ({ r, m: path.match(r.re) })).find((x) => x.m);
  markCurrent(path);
  const view = document.createElement('div');
  current = view;
  main.replaceChildren(view);
  if (!found) {
    view.append(Object.assign(document.createElement('h1'), { textContent: 'Not found' }));
    return;
  }
  const params = found.m.slice(1).map(decodeURIComponent);
  let done;
  try {
    const page = await found.r.load();
    done = await page.render(view, ctx, ...params);
  } catch (err) {
    view.append(errorBox(err));
  }
  if (current !== view) {
    if (typeof done === 'function') done();
    return;
  }
  if (typeof done === 'function') cleanup = done;
  const h1 = view.querySelector('h1');
  if (h1 && ctx.navigated) h1.focus();
  ctx.navigated = true;
}

function markCurrent(path) {
  for (const a of document.querySelectorAll('#nav a')) {
    const target = a.getAttribute('href').slice(1);
    if (path === target || path.startsWith(`${target}/`) || path.startsWith(`${target}?`)) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}
