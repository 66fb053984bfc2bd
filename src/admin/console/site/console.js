// The admin console's only script (SPEC §11). No inline code anywhere: the page's CSP forbids it.
// Data is put into the page with textContent only, never as HTML.
'use strict';

const pollMs = 3000;
const main = document.getElementById('page');
const loginForm = document.getElementById('login');
let pollTimer = null;

async function api(path, options = {}) {
  const init = { method: options.method || 'GET', headers: {}, credentials: 'same-origin' };
  if (init.method !== 'GET') {
    init.headers['x-csrf'] = '1';
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(options.body || {});
  }
  const res = await fetch(path, init);
  if (res.status === 401) {
    showLogin();
    throw new Error('Please sign in.');
  }
  const text = await res.text();
  const data = text ? JSON.parse(text) : null;
  if (!res.ok) throw new Error(data && data.error ? data.error.message : `HTTP ${res.status}`);
  return data;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === 'text') node.textContent = value;
    else if (key === 'on') for (const [event, fn] of Object.entries(value)) node.addEventListener(event, fn);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function table(headers, rows) {
  return el('table', {}, el('thead', {}, el('tr', {}, ...headers.map((h) => el('th', { text: h })))),
    el('tbody', {}, ...rows.map((cells) => el('tr', {}, ...cells.map((c) => (c instanceof Node ? el('td', {}, c) : el('td', { text: c === null || c === undefined ? '' : String(c) })))))));
}

function status() {
  return el('p', { class: 'notice', id: 'status', role: 'status' });
}

function say(text, isError) {
  const node = document.getElementById('status');
  if (!node) return;
  node.className = isError ? 'error' : 'notice';
  node.textContent = text;
}

function action(label, run) {
  return el('button', { type: 'button', text: label, on: { click: async () => {
    try {
      await run();
    } catch (error) {
      say(error.message, true);
    }
  } } });
}

function showLogin() {
  stopPolling();
  document.getElementById('nav').hidden = true;
  main.hidden = true;
  loginForm.hidden = false;
}

function stopPolling() {
  if (pollTimer) clearInterval(pollTimer);
  pollTimer = null;
}

loginForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = new FormData(loginForm);
  const error = document.getElementById('login-error');
  error.textContent = '';
  try {
    await api('/api/login', { method: 'POST', body: { username: form.get('username'), password: form.get('password'), code: form.get('code') } });
    loginForm.reset();
    await start();
  } catch (e) {
    error.textContent = e.message;
  }
});

// A passkey is both factors (SPEC §4.5); needs a browser with the WebAuthn JSON helpers.
document.getElementById('passkey').addEventListener('click', async () => {
  const error = document.getElementById('login-error');
  error.textContent = '';
  try {
    if (typeof PublicKeyCredential === 'undefined' || typeof PublicKeyCredential.parseRequestOptionsFromJSON !== 'function') {
      throw new Error('This browser cannot use passkeys here.');
    }
    const username = new FormData(loginForm).get('username') || undefined;
    const options = await api('/api/passkey/options', { method: 'POST', body: username ? { username } : {} });
    const credential = await navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options) });
    await api('/api/passkey/verify', { method: 'POST', body: { response: credential.toJSON() } });
    loginForm.reset();
    await start();
  } catch (e) {
    error.textContent = e.message;
  }
});

document.getElementById('logout').addEventListener('click', async () => {
  await api('/api/logout', { method: 'POST' }).catch(() => undefined);
  showLogin();
});

const charts = [
  { title: 'Logins', series: [['loginsOk', 'ok', '#0a7d32'], ['loginsFailed', 'failed', '#c62828']] },
  { title: 'Rule actions and blocks', series: [['ruleActions', 'rule actions', '#6a1b9a'], ['blocks', 'blocks', '#ef6c00']] },
  { title: 'Leaks and CSRF refusals', series: [['leaks', 'leaks blocked', '#b71c1c'], ['csrf', 'CSRF refused', '#1565c0']] },
];

/** From the metrics registry (data.requests): one point per sample interval, not per audit bucket. */
const metricCharts = [
  { title: 'Requests per second', id: 'requests', key: 'requestsPerSecond', series: [['2xx', '2xx', '#0a7d32'], ['3xx', '3xx', '#1565c0'], ['4xx', '4xx', '#ef6c00'], ['5xx', '5xx', '#c62828']] },
  { title: 'Upstream latency (ms)', id: 'latency', key: null, series: [['upstreamP50Ms', 'p50', '#1565c0'], ['upstreamP99Ms', 'p99', '#6a1b9a']] },
];

function chartBox(grid, title, series) {
  const box = el('div', { class: 'chart', 'data-chart': title }, el('h3', { text: title }));
  grid.append(box);
  const opts = {
    width: 440, height: 200,
    series: [{}, ...series.map(([, label, stroke]) => ({ label, stroke, width: 2 }))],
    axes: [{}, { size: 40 }],
    scales: { y: { range: (u, min, max) => [0, Math.max(4, max)] } },
  };
  return { box, plot: new window.uPlot(opts, [[], ...series.map(() => [])], box) };
}

async function overviewPage() {
  const totals = el('p', { class: 'muted', id: 'totals' });
  const grid = el('div', { class: 'charts' });
  main.append(el('h2', { text: 'Overview' }),
    el('p', { class: 'muted', text: 'The last 5 minutes, refreshed every 3 seconds. Requests and upstream latency: sampled every 5 seconds from the gateway\'s metrics, summed over its workers if it has several; p50/p99 interpolated within histogram buckets. Events per 5 seconds: from the audit log.' }),
    totals, grid);
  const requestPlots = metricCharts.map((chart) => ({ chart, ...chartBox(grid, chart.title, chart.series) }));
  const plots = charts.map((chart) => ({ chart, ...chartBox(grid, chart.title, chart.series) }));
  const refresh = async () => {
    const data = await api('/api/overview');
    const xs = data.times.map((t) => t / 1000);
    let sum = 0;
    for (const { chart, plot } of plots) {
      plot.setData([xs, ...chart.series.map(([key]) => data.series[key])]);
      for (const [key] of chart.series) sum += data.series[key].reduce((a, b) => a + b, 0);
    }
    totals.textContent = `${sum} events in the window`;
    totals.dataset.total = String(sum);
    const requests = data.requests;
    for (const { chart, plot, box } of requestPlots) {
      if (!requests) continue;
      const values = chart.series.map(([key]) => (chart.key ? requests[chart.key][key] : requests[key]));
      plot.setData([requests.times.map((t) => t / 1000), ...values]);
      // The newest point's requests per second, all classes: what the browser test watches move.
      if (chart.id === 'requests') {
        box.dataset.rate = String(values.reduce((sum, v) => sum + (v.at(-1) ?? 0), 0));
        box.dataset.time = String(requests.times.at(-1) ?? '');
      }
    }
  };
  await refresh();
  pollTimer = setInterval(() => refresh().catch(() => undefined), pollMs);
}

async function usersPage() {
  const search = el('input', { name: 'q', placeholder: 'search users' });
  const holder = el('div');
  main.append(el('h2', { text: 'Users' }), el('div', { class: 'filters' }, search, action('Search', () => load())), status(), holder);
  const act = (path, name, done) => action(path.split('/').pop().replace('-', ' '), async () => {
    await api(`/api/users/${path}`, { method: 'POST', body: { name } });
    say(`${name}: ${done}`);
    await load();
  });
  async function load() {
    const { users } = await api(`/api/users?q=${encodeURIComponent(search.value)}`);
    holder.replaceChildren(table(['user', 'roles', 'state', 'second factor', 'last login', ''], users.map((u) => [
      u.name, u.roles.join(', '), u.locked ? 'locked' : u.passwordResetRequired ? 'must reset password' : 'active', u.mfaEnabled ? 'yes' : 'no', u.lastLoginAt,
      el('span', { 'data-user': u.name },
        u.locked ? act('unlock', u.name, 'unlocked') : act('lock', u.name, 'locked; their sessions were revoked'),
        act('require-reset', u.name, 'must choose a new password'),
        act('mfa-reset', u.name, 'second factors removed'),
        el('a', { href: `/sessions?user=${encodeURIComponent(u.name)}`, text: 'sessions' })),
    ])));
  }
  search.addEventListener('keydown', (e) => { if (e.key === 'Enter') load(); });
  await load();
}

async function sessionsPage() {
  const user = el('input', { name: 'user', placeholder: 'user', value: new URLSearchParams(location.search).get('user') || '' });
  const holder = el('div');
  main.append(el('h2', { text: 'Sessions' }), el('div', { class: 'filters' }, user, action('Filter', () => load())), status(), holder);
  async function load() {
    const { sessions } = await api(`/api/sessions${user.value ? `?user=${encodeURIComponent(user.value)}` : ''}`);
    holder.replaceChildren(table(['id', 'user', 'created', 'last seen', 'address', 'browser', ''], sessions.map((s) => [
      s.id, s.user, s.createdAt, s.lastSeenAt, s.ip, s.userAgent,
      action('revoke', async () => {
        await api('/api/sessions/revoke', { method: 'POST', body: { handle: s.id } });
        say(`session ${s.id} revoked`);
        await load();
      }),
    ])));
  }
  await load();
}

async function auditPage() {
  const fields = ['type', 'user', 'ip', 'from', 'to'].map((name) => el('input', { name, placeholder: name === 'from' || name === 'to' ? `${name} (ISO time)` : name }));
  const holder = el('div');
  const exportLink = el('a', { href: '/api/audit.jsonl', download: 'gatehouse-audit.jsonl', text: 'Export as JSON lines' });
  const query = () => new URLSearchParams(fields.filter((f) => f.value).map((f) => [f.name, f.value])).toString();
  main.append(el('h2', { text: 'Audit log' }), el('div', { class: 'filters' }, ...fields, action('Filter', () => load()), exportLink), status(), holder);
  async function load() {
    const q = query();
    exportLink.href = `/api/audit.jsonl${q ? `?${q}` : ''}`;
    const { events } = await api(`/api/audit${q ? `?${q}` : ''}`);
    holder.replaceChildren(table(['time', 'type', 'user', 'address', 'detail'], events.map((e) => [
      e.time, e.type, e.user, e.ip, Object.entries(e.detail).map(([k, v]) => `${k}=${v}`).join(' '),
    ])));
  }
  await load();
}

async function blocksPage() {
  const holder = el('div');
  main.append(el('h2', { text: 'Active blocks' }), status(), holder);
  async function load() {
    const { blocks } = await api('/api/blocks');
    holder.replaceChildren(blocks.length === 0 ? el('p', { class: 'muted', text: 'No active blocks.' }) : table(['rule', 'by', 'key', 'until', ''], blocks.map((b) => [
      b.rule, b.by, b.key, b.until,
      action('lift', async () => {
        await api('/api/blocks/remove', { method: 'POST', body: { rule: b.rule, key: b.key } });
        say(`block of ${b.rule} on ${b.key} lifted`);
        await load();
      }),
    ])));
  }
  await load();
}

async function secretsPage() {
  const holder = el('div');
  const name = el('input', { name: 'name', placeholder: 'name', required: '' });
  const value = el('input', { name: 'value', type: 'password', placeholder: 'new value (8 bytes or more)', autocomplete: 'off', required: '' });
  const form = el('form', { class: 'filters', id: 'secret-form' }, name, value, el('button', { type: 'submit', text: 'Set value' }));
  main.append(el('h2', { text: 'Secrets' }), el('p', { class: 'muted', text: 'Values are never shown; setting one replaces it on every node within 5 seconds.' }), form, status(), holder);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      await api('/api/secrets/set', { method: 'POST', body: { name: name.value, value: value.value } });
      say(`secret ${name.value} set`);
      value.value = '';
      await load();
    } catch (error) {
      say(error.message, true);
    }
  });
  async function load() {
    const { secrets } = await api('/api/secrets');
    holder.replaceChildren(table(['name', 'last set', ''], secrets.map((s) => [
      s.name, s.updatedAt, action('new value…', () => { name.value = s.name; value.focus(); }),
    ])));
  }
  await load();
}

async function configPage() {
  const { config } = await api('/api/config');
  main.append(el('h2', { text: 'Running configuration' }), el('p', { class: 'muted', text: 'Passwords in URLs and the master key sources are masked. The file stays the place to change it.' }),
    el('pre', { id: 'config', text: JSON.stringify(config, null, 2) }));
}

const pages = { '/': overviewPage, '/users': usersPage, '/sessions': sessionsPage, '/audit': auditPage, '/blocks': blocksPage, '/secrets': secretsPage, '/config': configPage };

async function start() {
  let me;
  try {
    me = await api('/api/session');
  } catch {
    showLogin();
    return;
  }
  loginForm.hidden = true;
  document.getElementById('who').textContent = me.user.name;
  document.getElementById('nav').hidden = false;
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('current', a.getAttribute('href') === location.pathname);
  main.replaceChildren();
  main.hidden = false;
  stopPolling();
  try {
    await (pages[location.pathname] || overviewPage)();
  } catch (error) {
    main.append(el('p', { class: 'error', text: error.message }));
  }
}

start();
