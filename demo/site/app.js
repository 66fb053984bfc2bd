// The Gatehouse demo website: plain ES module, no build step, no framework.
//
// It talks only to Gatehouse, on the same origin. The session lives in an HttpOnly cookie this
// script can neither read nor write; nothing is ever stored in localStorage or sessionStorage.
// Every request carries `X-CSRF: 1` (SPEC §4.3): a header a cross-site form cannot send.

const WEATHER = '/api/weather/v1';

const $ = (id) => {
  const element = document.getElementById(id);
  if (!element) throw new Error(`missing #${id}`);
  return element;
};

const views = ['loading', 'login', 'password', 'dashboard'];

const state = {
  user: null,
  /** {createdAt, expiresAt, idleExpiresAt} as milliseconds since the epoch. */
  session: null,
  countdownTimer: 0,
  /** Running "try again in N s" countdowns, by the id of the alert that shows them. */
  waits: new Map(),
  sessionCheck: null,
  lastSessionCheck: 0,
};

// ---------------------------------------------------------------------------------------------
// Talking to Gatehouse

/**
 * One request to Gatehouse. Resolves to {ok, status, data, code, message, retryAfter}; never
 * throws, so every caller handles failures as values.
 */
async function api(method, path, body) {
  const headers = { 'X-CSRF': '1', Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store', redirect: 'error' };
  if (method !== 'GET' && method !== 'HEAD') {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body ?? {});
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    return { ok: false, status: 0, data: null, code: 'network', message: 'Gatehouse cannot be reached. Is it running?', retryAfter: null };
  }
  let data = null;
  const text = await response.text().catch(() => '');
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  const error = data && typeof data === 'object' && data.error && typeof data.error === 'object' ? data.error : null;
  const retry = Number.parseInt(response.headers.get('Retry-After') ?? '', 10);
  return {
    ok: response.ok,
    status: response.status,
    data: error ? null : data,
    code: error ? String(error.code) : null,
    message: error && typeof error.message === 'string' ? error.message : `Gatehouse answered ${response.status}.`,
    retryAfter: Number.isFinite(retry) && retry >= 0 ? retry : null,
  };
}

// ---------------------------------------------------------------------------------------------
// Views

function show(name) {
  for (const view of views) $(`view-${view}`).hidden = view !== name;
  const signedIn = name === 'dashboard' || name === 'password';
  $('account').hidden = !signedIn || !state.user;
  $('open-password').hidden = name !== 'dashboard';
  if (name !== 'dashboard') stopCountdown();
  const focus = { login: 'login-username', password: 'password-current' }[name];
  if (focus) $(focus).focus();
}

/** Shows `message` in an alert (null hides it), replacing any countdown running there. */
function setAlert(id, message) {
  stopWait(id);
  writeAlert(id, message);
}

/** `resolved`: the error alert turns calm, because what it reported is over. */
function writeAlert(id, message, resolved = false) {
  const element = $(id);
  element.textContent = message ?? '';
  element.hidden = !message;
  element.classList.toggle('alert-resolved', resolved);
  element.removeAttribute('aria-live');
}

function clear(element) {
  while (element.firstChild) element.firstChild.remove();
}

function el(tag, className, text) {
  const element = document.createElement(tag);
  if (className) element.className = className;
  if (text !== undefined) element.textContent = text;
  return element;
}

/** Forget everything about the signed-in user: data, timers, the DOM that showed it. */
function forget() {
  state.user = null;
  state.session = null;
  stopCountdown();
  $('account-name').textContent = '';
  for (const id of ['forecast-days', 'notes-list', 'trail-headers']) clear($(id));
  for (const id of ['today-location', 'today-high', 'today-wind', 'today-rain']) $(id).textContent = '—';
  for (const id of ['today-date', 'today-condition', 'today-low']) $(id).textContent = '';
  $('notes-empty').hidden = false;
  for (const id of ['dashboard-notice', 'dashboard-error', 'note-error']) setAlert(id, null);
}

function showLogin(notice) {
  forget();
  setAlert('login-notice', notice);
  setAlert('login-error', null);
  setAlert('password-error', null);
  show('login');
}

// ---------------------------------------------------------------------------------------------
// Throttled and blocked (SPEC §5): refusals that end by themselves

const SESSION_ENDED = 'Your session has ended. Please sign in again.';

/** What a refusal stops while it lasts on the dashboard. */
const DASHBOARD_CONTROLS = ['refresh', 'note-submit'];

const refusals = {
  too_many_attempts: 'Too many failed sign-in attempts.',
  rate_limited: 'Too many requests in a short time.',
  blocked: 'Access is temporarily blocked.',
  ip_blocked: 'Access from your network address is not allowed.',
};

/** Gatehouse throttled or blocked the request: nothing is wrong with what was sent. */
function isRefusal(result) {
  return !result.ok && Object.hasOwn(refusals, result.code ?? '');
}

/**
 * Shows a refusal in the alert `alertId`. With a Retry-After it counts down ("Try again in 42 s")
 * with `controls` disabled, and says so when the wait is over: asking earlier would only be
 * refused again (and, for a sign-in, reveal nothing new).
 */
function showRefusal(alertId, result, controls) {
  const message = refusals[result.code];
  stopWait(alertId);
  if (result.retryAfter === null) {
    writeAlert(alertId, message);
    return;
  }
  const element = $(alertId);
  const until = Date.now() + result.retryAfter * 1000;
  let shown = '';
  const tick = () => {
    const left = Math.ceil((until - Date.now()) / 1000);
    if (left <= 0) {
      stopWait(alertId);
      writeAlert(alertId, 'You can try again now.', true);
      return;
    }
    for (const id of controls) $(id).disabled = true;
    const wait = formatWait(left);
    if (wait === shown) return;
    // Screen readers announce the message once, not every second of the countdown.
    if (shown) element.setAttribute('aria-live', 'off');
    shown = wait;
    clear(element);
    element.append(el('strong', 'alert-title', message), ' ', el('span', 'alert-detail', `Try again in ${wait}.`));
    element.classList.remove('alert-resolved');
    element.hidden = false;
  };
  state.waits.set(alertId, { timer: setInterval(tick, 250), controls });
  tick();
}

/** Ends the countdown in `alertId`, enabling its controls unless another countdown holds them. */
function stopWait(alertId) {
  const wait = state.waits.get(alertId);
  if (!wait) return;
  clearInterval(wait.timer);
  state.waits.delete(alertId);
  for (const id of wait.controls) release(id);
}

/** Enables a control again, unless a running countdown holds it. */
function release(id) {
  $(id).disabled = [...state.waits.values()].some((w) => w.controls.includes(id));
}

// ---------------------------------------------------------------------------------------------
// Login

async function onLogin(event) {
  event.preventDefault();
  const form = $('login-form');
  const username = $('login-username').value.trim();
  const password = $('login-password').value;
  setAlert('login-notice', null);
  if (!username || !password) {
    setAlert('login-error', 'Enter your user name and password.');
    return;
  }
  $('login-submit').disabled = true;
  setAlert('login-error', null);
  const result = await api('POST', '/auth/login', { username, password });
  release('login-submit');
  $('login-password').value = '';

  if (!result.ok) {
    if (isRefusal(result)) showRefusal('login-error', result, ['login-submit']);
    else setAlert('login-error', result.code === 'invalid_credentials' ? 'The user name or password is wrong.' : result.message);
    $('login-password').focus();
    return;
  }

  form.reset();
  state.user = result.data.user;
  $('account-name').textContent = state.user.name;
  if (result.data.mfaRequired) {
    // Second factors (SPEC §4.5) are not in this demo website yet: end the pending session.
    await api('POST', '/auth/logout');
    showLogin(null);
    setAlert('login-error', 'This account uses a second factor, which this demo website does not support yet.');
    return;
  }
  if (result.data.passwordResetRequired) {
    showPasswordForm({ required: true });
    return;
  }
  await enterDashboard();
}

// ---------------------------------------------------------------------------------------------
// Password change

function showPasswordForm({ required }) {
  $('password-form').reset();
  $('password-username').value = state.user?.name ?? '';
  setAlert('password-error', null);
  $('password-title').textContent = required ? 'Choose a new password' : 'Change your password';
  $('password-intro').textContent = required
    ? 'Your account needs a new password before you can continue.'
    : 'Your other sessions will be signed out; this one continues.';
  $('password-cancel').hidden = required;
  show('password');
}

const codePoints = (text) => [...text].length;

async function onPasswordChange(event) {
  event.preventDefault();
  const currentPassword = $('password-current').value;
  const newPassword = $('password-new').value;
  const repeat = $('password-repeat').value;
  if (!currentPassword) return setAlert('password-error', 'Enter your current password.');
  if (codePoints(newPassword) < 12) return setAlert('password-error', 'The new password must be at least 12 characters long.');
  if (codePoints(newPassword) > 1024) return setAlert('password-error', 'The new password must be at most 1024 characters long.');
  if (newPassword !== repeat) return setAlert('password-error', 'The two new passwords are not the same.');
  if (newPassword === currentPassword) return setAlert('password-error', 'The new password must differ from the current one.');

  $('password-submit').disabled = true;
  setAlert('password-error', null);
  const result = await api('POST', '/auth/password', { currentPassword, newPassword });
  release('password-submit');

  if (result.ok) {
    $('password-form').reset();
    await enterDashboard('Your password was changed.');
    return;
  }
  $('password-current').value = '';
  if (result.code === 'unauthenticated') return showLogin(SESSION_ENDED);
  if (result.code === 'invalid_credentials') return setAlert('password-error', 'The current password is wrong.');
  if (isRefusal(result)) return showRefusal('password-error', result, ['password-submit']);
  setAlert('password-error', result.message);
}

// ---------------------------------------------------------------------------------------------
// Dashboard

/** Handles what any signed-in request can answer; true when the caller should stop. */
function handleSessionFailure(result) {
  if (result.status === 401) {
    // Logged out elsewhere, expired, or ended by Gatehouse (a `revoke` rate rule): sign in again.
    showLogin(SESSION_ENDED);
    return true;
  }
  if (result.code === 'password_reset_required') {
    showPasswordForm({ required: true });
    return true;
  }
  return false;
}

async function enterDashboard(notice) {
  const wasSignedIn = state.user !== null;
  forget();
  const session = await loadSession(wasSignedIn);
  if (!session) return;
  show('dashboard');
  setAlert('dashboard-notice', notice ?? null);
  await loadWeather();
}

/** GET /auth/session (not activity: it does not move the idle deadline). */
async function loadSession(wasSignedIn = state.user !== null) {
  state.lastSessionCheck = Date.now();
  const result = await api('GET', '/auth/session');
  if (!result.ok) {
    if (result.status === 401) {
      showLogin(wasSignedIn ? SESSION_ENDED : null);
    } else if (isRefusal(result) && !$('view-dashboard').hidden) {
      // Throttled or blocked while signed in: the session may well be fine, so stay and say so.
      showRefusal('dashboard-error', result, DASHBOARD_CONTROLS);
    } else {
      showLogin(null);
      if (isRefusal(result)) showRefusal('login-error', result, ['login-submit']);
      else setAlert('login-error', result.message);
    }
    return null;
  }
  state.user = result.data.user;
  state.session = {
    createdAt: Date.parse(result.data.session.createdAt),
    expiresAt: Date.parse(result.data.session.expiresAt),
    idleExpiresAt: Date.parse(result.data.session.idleExpiresAt),
  };
  $('account-name').textContent = state.user.name;
  $('session-created').textContent = formatDateTime(state.session.createdAt);
  startCountdown();
  return state.session;
}

async function loadWeather() {
  setAlert('dashboard-error', null);
  const [today, forecast, whoami] = await Promise.all([
    api('GET', `${WEATHER}/today`),
    api('GET', `${WEATHER}/forecast`),
    api('GET', `${WEATHER}/whoami`),
  ]);
  const results = [today, forecast, whoami];
  for (const result of results) if (handleSessionFailure(result)) return;
  // What did load is shown; what was refused keeps its last data under the message.
  if (today.ok) renderToday(today.data);
  if (forecast.ok) renderForecast(forecast.data);
  if (whoami.ok) renderTrail(whoami.data);
  const refused = results.find(isRefusal);
  const failed = results.find((r) => !r.ok);
  if (refused) {
    showRefusal('dashboard-error', refused, DASHBOARD_CONTROLS);
    // A block refuses every request, /auth/session too: asking now would only be refused again.
    if (refused.code !== 'rate_limited') return;
  } else if (failed) {
    setAlert('dashboard-error', `The weather service could not be loaded: ${failed.message}`);
  }
  // API requests count as activity: the idle deadline moved.
  await loadSession();
}

function renderToday(data) {
  $('today-location').textContent = data.location;
  $('today-date').textContent = formatDate(data.date);
  $('today-condition').textContent = capitalise(data.condition);
  $('today-high').textContent = `${data.temperatureC.high}°`;
  $('today-low').textContent = ` / ${data.temperatureC.low}°C`;
  $('today-wind').textContent = `${data.windKph} km/h`;
  $('today-rain').textContent = `${data.precipitationChance} %`;
}

function renderForecast(data) {
  const list = $('forecast-days');
  clear(list);
  for (const day of data.days) {
    const item = el('li', 'forecast-day');
    item.append(
      el('span', 'forecast-weekday', formatWeekday(day.date)),
      el('span', `forecast-condition condition-${day.condition.replace(/\s+/g, '-')}`, capitalise(day.condition)),
      el('span', 'forecast-temp', `${day.temperatureC.high}° / ${day.temperatureC.low}°`),
      el('span', 'forecast-rain muted', `${day.precipitationChance} % rain`),
    );
    list.append(item);
  }
}

function renderTrail(data) {
  const list = $('trail-headers');
  clear(list);
  const entries = Object.entries(data.headers ?? {}).sort(([a], [b]) => a.localeCompare(b));
  for (const [name, value] of entries) {
    const row = el('div');
    row.append(el('dt', null, name), el('dd', null, String(value)));
    list.append(row);
  }
}

async function onNote(event) {
  event.preventDefault();
  const input = $('note-text');
  const text = input.value.trim();
  if (!text) return setAlert('note-error', 'Write something first.');
  $('note-submit').disabled = true;
  const result = await api('POST', `${WEATHER}/notes`, { text });
  release('note-submit');
  if (handleSessionFailure(result)) return;
  if (isRefusal(result)) return showRefusal('note-error', result, DASHBOARD_CONTROLS);
  if (!result.ok) return setAlert('note-error', result.message);
  setAlert('note-error', null);
  input.value = '';
  const item = el('li', 'note');
  item.append(el('span', 'note-text', result.data.note.text), el('time', 'note-time muted', formatTime(Date.parse(result.data.note.createdAt))));
  $('notes-list').prepend(item);
  $('notes-empty').hidden = true;
  await loadSession();
}

// ---------------------------------------------------------------------------------------------
// Session countdown

function startCountdown() {
  stopCountdown();
  renderCountdown();
  state.countdownTimer = setInterval(renderCountdown, 1000);
}

function stopCountdown() {
  clearInterval(state.countdownTimer);
  state.countdownTimer = 0;
}

function renderCountdown() {
  const session = state.session;
  if (!session) return;
  const now = Date.now();
  const idleLeft = session.idleExpiresAt - now;
  const absoluteLeft = session.expiresAt - now;
  $('session-idle-left').textContent = formatLeft(idleLeft);
  $('session-idle-at').textContent = `(at ${formatTime(session.idleExpiresAt)})`;
  $('session-absolute-left').textContent = formatLeft(absoluteLeft);
  $('session-absolute-at').textContent = `(${formatDateTime(session.expiresAt)})`;
  setProgress('session-idle-bar', idleLeft, session.idleExpiresAt - Math.min(session.createdAt, now));
  setProgress('session-absolute-bar', absoluteLeft, session.expiresAt - session.createdAt);

  // The server decides; at zero, ask it, and it will answer 401 once the session is really over.
  const checkedRecently = Date.now() - state.lastSessionCheck < 5000;
  if ((idleLeft <= 0 || absoluteLeft <= 0) && !state.sessionCheck && !checkedRecently) {
    state.sessionCheck = loadSession().finally(() => {
      state.sessionCheck = null;
    });
  }
}

function setProgress(id, left, total) {
  const bar = $(id);
  bar.max = Math.max(total, 1);
  bar.value = Math.max(0, Math.min(left, bar.max));
}

// ---------------------------------------------------------------------------------------------
// Formatting

const timeFormat = new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const dateFormat = new Intl.DateTimeFormat(undefined, { weekday: 'long', day: 'numeric', month: 'long', timeZone: 'UTC' });
const weekdayFormat = new Intl.DateTimeFormat(undefined, { weekday: 'short', day: 'numeric', timeZone: 'UTC' });

const formatTime = (ms) => timeFormat.format(ms);
const formatDateTime = (ms) => dateTimeFormat.format(ms);
const formatDate = (isoDay) => dateFormat.format(Date.parse(`${isoDay}T00:00:00Z`));
const formatWeekday = (isoDay) => weekdayFormat.format(Date.parse(`${isoDay}T00:00:00Z`));
const capitalise = (text) => text.charAt(0).toUpperCase() + text.slice(1);

/** A wait in whole seconds as a person reads it: "45 s", "3 min", "2 h" (rounded up). */
function formatWait(seconds) {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.ceil(seconds / 60)} min`;
  return `${Math.ceil(seconds / 3600)} h`;
}

/** "1:05:09" or "29:41"; "expired" at or below zero. */
function formatLeft(ms) {
  if (ms <= 0) return 'expired';
  const total = Math.ceil(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const pad = (n) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
}

// ---------------------------------------------------------------------------------------------
// Wiring

async function onLogout() {
  $('logout').disabled = true;
  await api('POST', '/auth/logout');
  $('logout').disabled = false;
  showLogin('You are signed out.');
}

function boot() {
  $('login-form').addEventListener('submit', onLogin);
  $('password-form').addEventListener('submit', onPasswordChange);
  $('password-cancel').addEventListener('click', () => enterDashboard());
  $('open-password').addEventListener('click', () => showPasswordForm({ required: false }));
  $('note-form').addEventListener('submit', onNote);
  $('refresh').addEventListener('click', () => loadWeather());
  $('logout').addEventListener('click', onLogout);
  enterDashboard();
}

boot();
