// The Gatehouse demo website: plain ES module, no build step, no framework.
//
// It talks only to Gatehouse, on the same origin. The session lives in an HttpOnly cookie this
// script can neither read nor write; nothing is ever stored in localStorage or sessionStorage.
// Every request carries `X-CSRF: 1` (SPEC §4.3): a header a cross-site form cannot send.

const WEATHER = '/api/weather/v1';
/** The route whose upstream gets the user's own access token (demo/gatehouse.yaml, SPEC §9). */
const TOKEN_OWNER = '/api/profile/v1/me';

const $ = (id) => {
  const element = document.getElementById(id);
  if (!element) throw new Error(`missing #${id}`);
  return element;
};

/** The live feed (demo/gatehouse.yaml `websocket: true`, SPEC §10). */
const LIVE = '/api/weather/v1/live';
/** The close code Gatehouse sends when the session ends (revoked, logged out, expired). */
const SESSION_ENDED_CLOSE = 4401;
const LIVE_SHOWN = 5;

const views = ['loading', 'login', 'mfa', 'password', 'dashboard', 'security'];

const state = {
  user: null,
  /** {createdAt, expiresAt, idleExpiresAt} as milliseconds since the epoch. */
  session: null,
  countdownTimer: 0,
  /** Running "try again in N s" countdowns, by the id of the alert that shows them. */
  waits: new Map(),
  sessionCheck: null,
  lastSessionCheck: 0,
  /** The login answered passwordResetRequired: a new password is due once the second factor is done. */
  pendingReset: false,
  /**
   * Whether the user has TOTP on, as GET /auth/mfa last answered or the user's own change on the
   * Security page made it; null until the Security view has asked.
   */
  totpEnabled: null,
  /** Unused recovery codes, from the same answer; null while unknown. */
  recoveryCodesLeft: null,
  /** `mfa.required` and no factor yet: the session may only enrol one (SPEC §4.5). */
  enrolling: false,
  /** The second step of a login asks for an app code ('code') or a recovery code ('recovery'). */
  mfaMode: 'code',
  /** Wrong codes answered in this second step: the fifth ends the pending session. */
  wrongCodes: 0,
  /** The running decision between the code step and an enrolment, if any. */
  secondFactor: null,
  /** The live panel's WebSocket while it is open. */
  live: null,
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
  const signedIn = name === 'dashboard' || name === 'password' || name === 'security';
  const browsing = (name === 'dashboard' || name === 'security') && !state.enrolling;
  $('account').hidden = !signedIn || !state.user;
  $('open-password').hidden = !browsing;
  $('nav').hidden = !browsing || !state.user;
  for (const [link, view] of [['nav-dashboard', 'dashboard'], ['nav-security', 'security']]) {
    if (view === name) $(link).setAttribute('aria-current', 'page');
    else $(link).removeAttribute('aria-current');
  }
  if (name !== 'dashboard') stopCountdown();
  // A TOTP secret and recovery codes stay on screen only while the Security view is.
  if (name !== 'security') forgetSecrets();
  const focus = { login: 'login-username', mfa: state.mfaMode === 'code' ? 'mfa-code' : 'mfa-recovery', password: 'password-current' }[name];
  if (focus) $(focus).focus();
}

/** Keeps the address's #fragment in step with the view, without a history entry or a hashchange. */
function setHash(hash) {
  if (location.hash === hash) return;
  history.replaceState(null, '', `${location.pathname}${location.search}${hash}`);
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
  closeLive();
  $('account-name').textContent = '';
  for (const id of ['forecast-days', 'notes-list', 'trail-headers']) clear($(id));
  for (const id of ['owner-name', 'owner-sub', 'owner-email', 'owner-user']) $(id).textContent = '—';
  $('owner-facts').hidden = true;
  $('owner-status').textContent = 'Not asked yet.';
  for (const id of ['today-location', 'today-high', 'today-wind', 'today-rain']) $(id).textContent = '—';
  for (const id of ['today-date', 'today-condition', 'today-low']) $(id).textContent = '';
  $('notes-empty').hidden = false;
  for (const id of ['dashboard-notice', 'dashboard-error', 'note-error']) setAlert(id, null);
  forgetSecrets();
  for (const id of ['passkey-list', 'session-list']) clear($(id));
  for (const id of SECURITY_ALERTS) setAlert(id, null);
}

/** One "Sign in with the NAME provider" link per provider Gatehouse offers (GET /auth/providers). */
async function loadProviders() {
  const result = await api('GET', '/auth/providers');
  return result.ok && Array.isArray(result.data?.providers) ? result.data.providers : [];
}

function renderProviders(providers) {
  const list = $('sso-providers');
  clear(list);
  for (const { name } of providers) {
    const link = el('a', 'button button-ghost-dark button-block', `Sign in with the ${name} provider`);
    link.href = `/auth/oidc/login?provider=${encodeURIComponent(name)}&returnTo=/`;
    link.dataset.provider = name;
    list.append(link);
  }
  $('sso-login').hidden = providers.length === 0;
}

function showLogin(notice) {
  // Whoever signs in next starts on the dashboard.
  setHash('');
  forget();
  state.pendingReset = false;
  state.totpEnabled = null;
  state.recoveryCodesLeft = null;
  state.enrolling = false;
  state.wrongCodes = 0;
  setAlert('login-notice', notice);
  for (const id of ['login-error', 'passkey-login-error', 'password-error', 'mfa-error']) setAlert(id, null);
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
  state.pendingReset = result.data.passwordResetRequired === true;
  $('account-name').textContent = state.user.name;
  if (result.data.mfaRequired) {
    await beginSecondFactor();
    return;
  }
  await afterFullLogin();
}

/** Both factors are done (or none is due): a forced password change first, else the website. */
async function afterFullLogin(notice) {
  if (state.pendingReset) {
    showPasswordForm({ required: true });
    return;
  }
  await route(notice);
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
    state.pendingReset = false;
    await route('Your password was changed.');
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
  if (result.status === 401 && result.code === 'mfa_required') {
    // The password step is done but the second factor is not (after a reload, say): finish it.
    void beginSecondFactor();
    return true;
  }
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
  setHash('');
  forget();
  const session = await loadSession(wasSignedIn);
  if (!session) return;
  show('dashboard');
  setAlert('dashboard-notice', notice ?? null);
  await loadWeather();
}

// ---------------------------------------------------------------------------------------------
// The live panel

/**
 * Opens the live feed. The browser sends the session cookie and its Origin with the handshake;
 * no X-CSRF header is possible on a WebSocket, so Gatehouse checks the Origin instead (SPEC §10).
 */
function openLive() {
  closeLive();
  const url = new URL(LIVE, location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const socket = new WebSocket(url);
  state.live = socket;
  let readings = 0;
  setLiveStatus('connecting…');
  socket.addEventListener('open', () => setLiveStatus('live'));
  socket.addEventListener('message', (event) => {
    let reading;
    try {
      reading = JSON.parse(String(event.data));
    } catch {
      return;
    }
    if (!reading || reading.type !== 'reading') return;
    readings++;
    $('live-temp').textContent = `${reading.temperatureC} °C`;
    $('live-wind').textContent = `${reading.windKph} km/h`;
    $('live-count').textContent = String(readings);
    const list = $('live-readings');
    list.prepend(el('li', 'live-reading', `${formatTime(Date.parse(reading.at))} · ${reading.temperatureC} °C · ${reading.windKph} km/h`));
    while (list.children.length > LIVE_SHOWN) list.lastElementChild.remove();
  });
  socket.addEventListener('close', (event) => {
    // A socket this page closed itself (forget) says nothing.
    if (state.live !== socket) return;
    state.live = null;
    setLiveStatus(event.code === SESSION_ENDED_CLOSE ? 'disconnected (session ended)' : `disconnected (${event.code || 'no code'})`);
  });
}

function closeLive() {
  const socket = state.live;
  state.live = null;
  if (socket) socket.close(1000);
  setLiveStatus('not connected');
  for (const id of ['live-temp', 'live-wind']) $(id).textContent = '—';
  $('live-count').textContent = '0';
  clear($('live-readings'));
}

function setLiveStatus(text) {
  const badge = $('live-status');
  badge.textContent = text;
  badge.className = text === 'live' ? 'badge badge-on' : 'badge badge-off';
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
  const [today, forecast, whoami, owner] = await Promise.all([
    api('GET', `${WEATHER}/today`),
    api('GET', `${WEATHER}/forecast`),
    api('GET', `${WEATHER}/whoami`),
    // Only a gateway with identity providers can have a route that takes the user's own token.
    providers.then((list) => (list.length > 0 ? api('GET', TOKEN_OWNER) : null)),
  ]);
  const results = [today, forecast, whoami];
  for (const result of owner ? [...results, owner] : results) if (handleSessionFailure(result)) return;
  $('owner').hidden = owner === null;
  if (owner) renderOwner(owner);
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
  } else if (!state.live && !$('view-dashboard').hidden) {
    // Only once the API answers: a session that must first reset its password or finish its
    // second factor, or a throttled one, would only be refused the upgrade too.
    openLive();
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

/** What the user-token upstream answered: whose access token it received, as the provider says. */
function renderOwner(result) {
  const status = $('owner-status');
  if (result.ok && result.data && result.data.tokenOwner) {
    const { tokenOwner, assertion } = result.data;
    $('owner-name').textContent = tokenOwner.name ?? tokenOwner.username ?? '—';
    $('owner-sub').textContent = tokenOwner.sub ?? '—';
    $('owner-email').textContent = tokenOwner.email ?? '—';
    $('owner-user').textContent = assertion?.user ?? state.user?.name ?? '—';
    $('owner-facts').hidden = false;
    status.textContent = 'The API received your own access token and the identity provider vouched for it.';
    return;
  }
  $('owner-facts').hidden = true;
  if (result.code === 'idp_login_required') {
    status.textContent = 'You signed in with a local account, so there is no token of yours to send: sign in with the demo provider to see this route work.';
  } else if (result.code === 'not_found') {
    status.textContent = 'This gateway has no route that sends your own token upstream.';
  } else {
    status.textContent = `The API could not be asked: ${result.message}`;
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
// The second step of a login (SPEC §4.5)

/**
 * The password was right and a second factor is due. A pending session may call only
 * /auth/mfa/verify, /auth/session and /auth/logout, while one that must first enrol a factor
 * (`mfa.required`, nothing enrolled) may also start an enrolment. So asking to start one tells the
 * two apart: 401 mfa_required means a factor is enrolled and its code is due.
 */
function beginSecondFactor() {
  // Several requests of one page can learn at once that the factor is due: one decision, one
  // enrolment secret (two would race, and the page could show the one Gatehouse replaced).
  state.secondFactor ??= decideSecondFactor().finally(() => {
    state.secondFactor = null;
  });
  return state.secondFactor;
}

async function decideSecondFactor() {
  const setup = await api('POST', '/auth/mfa/totp/setup');
  if (setup.ok) return showEnrolment(setup.data);
  if (setup.code === 'mfa_required') return showMfaStep();
  if (setup.code === 'password_reset_required') return refuseResetAndMfa();
  if (setup.status === 401) return showLogin(SESSION_ENDED);
  showLogin(null);
  if (isRefusal(setup)) showRefusal('login-error', setup, ['login-submit']);
  else setAlert('login-error', setup.message);
}

function showMfaStep() {
  state.wrongCodes = 0;
  $('mfa-form').reset();
  setAlert('mfa-error', null);
  setMfaMode('code');
  show('mfa');
}

function setMfaMode(mode) {
  state.mfaMode = mode;
  const recovery = mode === 'recovery';
  $('mfa-code-field').hidden = recovery;
  $('mfa-recovery-field').hidden = !recovery;
  $('mfa-intro').textContent = recovery
    ? 'Enter one of the recovery codes you saved when you set up your authenticator app.'
    : 'Enter the six-digit code your authenticator app shows for this account.';
  $('mfa-toggle').textContent = recovery ? 'Use a code from my app instead' : 'Use a recovery code instead';
  setAlert('mfa-error', null);
  if (!$('view-mfa').hidden) $(recovery ? 'mfa-recovery' : 'mfa-code').focus();
}

async function onMfaVerify(event) {
  event.preventDefault();
  const recovery = state.mfaMode === 'recovery';
  const input = $(recovery ? 'mfa-recovery' : 'mfa-code');
  const value = recovery ? input.value.trim() : input.value.replace(/\s+/g, '');
  if (!value) return setAlert('mfa-error', recovery ? 'Enter one of your recovery codes.' : 'Enter the six-digit code from your app.');
  if (!recovery && !/^\d{6}$/.test(value)) return setAlert('mfa-error', 'The code from your app has six digits.');

  $('mfa-submit').disabled = true;
  setAlert('mfa-error', null);
  const result = await api('POST', '/auth/mfa/verify', recovery ? { recoveryCode: value } : { code: value });
  release('mfa-submit');

  if (result.ok) {
    $('mfa-form').reset();
    await afterFullLogin(recovery ? 'You signed in with a recovery code. That code will not work again.' : undefined);
    return;
  }
  input.value = '';
  input.focus();
  if (result.code === 'invalid_code') {
    state.wrongCodes += 1;
    return setAlert('mfa-error', recovery
      ? 'That recovery code is not valid, or it was used already.'
      : 'That code is not right. Enter the code the app shows now.');
  }
  if (result.code === 'mfa_required') {
    // `mfa.required` and nothing enrolled yet: there is no code to enter, a factor must be set up.
    return beginSecondFactor();
  }
  if (result.code === 'password_reset_required') return refuseResetAndMfa();
  if (result.status === 401) {
    // The fifth wrong code ends the pending session (SPEC §4.5); so does its expiry.
    const tooMany = state.wrongCodes >= 4;
    showLogin(tooMany ? null : SESSION_ENDED);
    if (tooMany) setAlert('login-error', 'Too many wrong codes. Please sign in again.');
    return;
  }
  if (isRefusal(result)) return showRefusal('mfa-error', result, ['mfa-submit']);
  setAlert('mfa-error', result.message);
}

async function onMfaCancel() {
  $('mfa-cancel').disabled = true;
  await api('POST', '/auth/logout');
  $('mfa-cancel').disabled = false;
  showLogin(null);
}

/**
 * The account must change its password AND complete a second factor, and Gatehouse allows
 * neither before the other: the pending session is ended rather than left stuck.
 */
async function refuseResetAndMfa() {
  await api('POST', '/auth/logout');
  showLogin(null);
  setAlert('login-error', 'This account must choose a new password and also complete a second factor, which cannot be done in one sign-in. Ask an administrator for help.');
}

// ---------------------------------------------------------------------------------------------
// Security: TOTP, passkeys and sessions (SPEC §4.5)

const SECURITY_ALERTS = ['security-notice', 'security-error', 'totp-error', 'totp-disable-error', 'passkey-error', 'sessions-error'];

/** The Security view for a full session. */
async function openSecurity(notice) {
  const wasSignedIn = state.user !== null;
  setHash('#security');
  const session = await loadSession(wasSignedIn);
  if (!session) return;
  // Asked before the view shows, so it never offers to set up an app that is already on.
  const factors = await loadFactors();
  if (factors === 'left') return;
  state.enrolling = false;
  for (const id of SECURITY_ALERTS) setAlert(id, null);
  layoutSecurity();
  showTotpPanel(state.totpEnabled === true ? 'on' : 'idle');
  show('security');
  setAlert('security-notice', notice ?? null);
  if (factors !== null) setAlert('security-error', `Your second factors could not be loaded: ${factors}`);
  await Promise.all([loadPasskeys(), loadSessions()]);
}

/**
 * GET /auth/mfa: which second factors the account has (SPEC §4.5). Null when known; 'left' when
 * the answer sent the page elsewhere (signed out, a code or a new password due); else the message
 * of the failure, with the state left unknown.
 */
async function loadFactors() {
  const result = await api('GET', '/auth/mfa');
  if (handleSessionFailure(result)) return 'left';
  if (!result.ok) {
    state.totpEnabled = null;
    state.recoveryCodesLeft = null;
    return result.message;
  }
  state.totpEnabled = result.data.totp;
  state.recoveryCodesLeft = result.data.recoveryCodesLeft;
  return null;
}

/**
 * `mfa.required` and no factor yet: the Security view narrowed to enrolling one. The session may
 * call nothing else until it has (no passkey list, no sessions).
 */
function showEnrolment(setup) {
  state.enrolling = true;
  state.totpEnabled = false;
  setHash('');
  for (const id of SECURITY_ALERTS) setAlert(id, null);
  layoutSecurity();
  show('security');
  showTotpSetup(setup);
}

function layoutSecurity() {
  const enrolling = state.enrolling;
  $('security-title').textContent = enrolling ? 'Set up a second factor' : 'Security';
  $('security-intro').textContent = enrolling
    ? 'Your account needs a second factor before you can continue. Set up an authenticator app, or add a passkey.'
    : 'Second factors keep your account safe if your password leaks. Below you also see every place you are signed in.';
  $('sessions').hidden = enrolling;
  $('totp-cancel').hidden = enrolling;
  $('passkey-list').hidden = enrolling;
  $('passkey-empty').hidden = true;
  $('passkeys-count').hidden = true;
  const supported = passkeysSupported();
  $('passkey-add').disabled = !supported;
  $('passkey-name').disabled = !supported;
  setAlert('passkey-error', supported ? null : 'This browser cannot use passkeys here. Passkeys need a browser that supports them, on https or http://localhost.');
}

// TOTP ------------------------------------------------------------------------------------------

const TOTP_PANELS = { idle: 'totp-idle', enrol: 'totp-enrol', recovery: 'totp-recovery', on: 'totp-on' };

function showTotpPanel(name) {
  for (const [panel, id] of Object.entries(TOTP_PANELS)) $(id).hidden = panel !== name;
  const status = $('totp-status');
  const known = state.totpEnabled !== null && !state.enrolling;
  status.hidden = !known;
  status.textContent = state.totpEnabled ? 'On' : 'Off';
  status.className = `badge ${state.totpEnabled ? 'badge-on' : 'badge-off'}`;
  if (name === 'on') showTotpDisable(false);
  const left = $('recovery-left');
  left.hidden = name !== 'on' || state.recoveryCodesLeft === null;
  left.textContent = recoveryCodesText(state.recoveryCodesLeft);
  left.className = state.recoveryCodesLeft !== null && state.recoveryCodesLeft <= 2 ? 'alert alert-warning' : 'muted';
}

function recoveryCodesText(left) {
  if (left === 0) return 'You have used all your recovery codes. To get new ones, turn the app off and set it up again.';
  if (left === 1) return 'One recovery code is left. To get new ones, turn the app off and set it up again.';
  if (left === 2) return 'Two recovery codes are left. To get new ones, turn the app off and set it up again.';
  return `${left} of your recovery codes are unused.`;
}

/** Removes the TOTP secret, its QR code and any recovery codes from the page. */
function forgetSecrets() {
  const qr = $('totp-qr');
  qr.removeAttribute('src');
  $('totp-secret').textContent = '';
  $('totp-code').value = '';
  clear($('recovery-codes'));
  if (!$('totp-enrol').hidden || !$('totp-recovery').hidden) showTotpPanel(state.totpEnabled === true ? 'on' : 'idle');
}

async function onTotpStart() {
  $('totp-start').disabled = true;
  setAlert('security-notice', null);
  const result = await api('POST', '/auth/mfa/totp/setup');
  $('totp-start').disabled = false;
  if (handleSessionFailure(result)) return;
  if (result.ok) {
    state.totpEnabled = false;
    return showTotpSetup(result.data);
  }
  if (result.code === 'mfa_already_enabled') {
    // Turned on meanwhile, in another tab or browser.
    state.totpEnabled = true;
    state.recoveryCodesLeft = null;
    showTotpPanel('on');
    return setAlert('security-notice', 'An authenticator app is already set up for your account.');
  }
  setAlert('security-error', result.message);
}

/** Step 1 and 2 of an enrolment: the QR code (and the key to type), then a code from the app. */
function showTotpSetup(setup) {
  // The QR code is an SVG document from Gatehouse. As an <img> it is only ever a picture: no
  // script in it could run, and it never touches this page's DOM (the CSP allows data: images).
  $('totp-qr').src = `data:image/svg+xml;base64,${base64(setup.qrSvg)}`;
  $('totp-secret').textContent = setup.secret.replace(/(.{4})(?=.)/g, '$1 ');
  $('totp-confirm-form').reset();
  setAlert('totp-error', null);
  showTotpPanel('enrol');
  $('totp-code').focus();
}

async function onTotpConfirm(event) {
  event.preventDefault();
  const code = $('totp-code').value.replace(/\s+/g, '');
  if (!/^\d{6}$/.test(code)) return setAlert('totp-error', 'Enter the six-digit code the app shows.');
  $('totp-confirm').disabled = true;
  setAlert('totp-error', null);
  const result = await api('POST', '/auth/mfa/totp/confirm', { code });
  $('totp-confirm').disabled = false;
  if (handleSessionFailure(result)) return;
  if (!result.ok) {
    $('totp-code').value = '';
    $('totp-code').focus();
    if (result.code === 'invalid_code') return setAlert('totp-error', 'That code is not right. Codes change every 30 seconds: enter the one the app shows now.');
    return setAlert('totp-error', result.message);
  }
  state.totpEnabled = true;
  state.recoveryCodesLeft = result.data.recoveryCodes.length;
  const list = $('recovery-codes');
  clear(list);
  for (const code of result.data.recoveryCodes) {
    const item = el('li');
    item.append(el('code', null, code));
    list.append(item);
  }
  // The secret is in the app now: off the page with it.
  $('totp-qr').removeAttribute('src');
  $('totp-secret').textContent = '';
  $('recovery-copy').textContent = 'Copy codes';
  showTotpPanel('recovery');
  $('recovery-done').focus();
}

function onTotpCancel() {
  $('totp-qr').removeAttribute('src');
  $('totp-secret').textContent = '';
  showTotpPanel('idle');
}

async function onRecoveryCopy() {
  const codes = [...$('recovery-codes').querySelectorAll('code')].map((code) => code.textContent).join('\n');
  try {
    await navigator.clipboard.writeText(`${codes}\n`);
    $('recovery-copy').textContent = 'Copied';
  } catch {
    $('recovery-copy').textContent = 'Select and copy them by hand';
  }
}

async function onRecoveryDone() {
  clear($('recovery-codes'));
  if (state.enrolling) {
    state.enrolling = false;
    await afterFullLogin('Your authenticator app is set up. Signing in now asks for a code from it.');
    return;
  }
  showTotpPanel('on');
  setAlert('security-notice', 'Your authenticator app is set up. Signing in now asks for a code from it.');
}

function showTotpDisable(open) {
  $('totp-disable-form').hidden = !open;
  $('totp-off-actions').hidden = open;
  $('totp-disable-password').value = '';
  setAlert('totp-disable-error', null);
  if (open) $('totp-disable-password').focus();
}

async function onTotpDisable(event) {
  event.preventDefault();
  const password = $('totp-disable-password').value;
  if (!password) return setAlert('totp-disable-error', 'Enter your password.');
  $('totp-disable-submit').disabled = true;
  setAlert('totp-disable-error', null);
  const result = await api('DELETE', '/auth/mfa/totp', { password });
  release('totp-disable-submit');
  $('totp-disable-password').value = '';
  if (result.ok) {
    state.totpEnabled = false;
    state.recoveryCodesLeft = 0;
    showTotpPanel('idle');
    return setAlert('security-notice', 'Your authenticator app is turned off. Signing in no longer asks for a code.');
  }
  // A wrong password here is a failed login (SPEC §5): it must not end the session.
  if (result.code === 'invalid_credentials') return setAlert('totp-disable-error', 'The password is wrong.');
  if (isRefusal(result)) return showRefusal('totp-disable-error', result, ['totp-disable-submit']);
  if (handleSessionFailure(result)) return;
  setAlert('totp-disable-error', result.message);
}

// Passkeys (WebAuthn) ---------------------------------------------------------------------------

function passkeysSupported() {
  return window.isSecureContext
    && typeof window.PublicKeyCredential === 'function'
    && typeof PublicKeyCredential.parseCreationOptionsFromJSON === 'function'
    && typeof PublicKeyCredential.parseRequestOptionsFromJSON === 'function';
}

/** What the browser's refusal of a WebAuthn ceremony means to the person using it. */
function ceremonyError(error, creating) {
  const name = error && typeof error === 'object' ? error.name : '';
  if (name === 'NotAllowedError' || name === 'AbortError') {
    return creating ? 'No passkey was created: the request was cancelled or timed out.' : 'No passkey was used: the request was cancelled or timed out, or this device holds no passkey for this website.';
  }
  if (name === 'InvalidStateError') return 'This device already holds a passkey for your account.';
  if (name === 'SecurityError') return 'The browser refused: this page\u2019s address does not match the address Gatehouse is configured with.';
  return `The browser could not ${creating ? 'create' : 'use'} a passkey${error && error.message ? `: ${error.message}` : '.'}`;
}

const PASSKEYS_OFF = 'Passkeys are not available on this gateway: its public address must be a host name, not an IP address.';
const PASSKEYS_FULL = 'You have 10 passkeys, the most an account can have. Remove one to add another.';

async function loadPasskeys() {
  const result = await api('GET', '/auth/passkeys');
  if (handleSessionFailure(result)) return;
  if (!result.ok) return setAlert('passkey-error', result.message);
  renderPasskeys(result.data.passkeys);
}

function renderPasskeys(passkeys) {
  const list = $('passkey-list');
  clear(list);
  for (const passkey of passkeys) {
    const item = el('li', 'item');
    item.dataset.id = passkey.id;
    const main = el('div', 'item-main');
    const title = el('span', 'item-title');
    title.append(keyIcon(), el('span', null, passkey.name || 'Passkey'));
    main.append(title, el('span', 'item-meta', `Added ${formatDateTime(Date.parse(passkey.createdAt))} \u00b7 ${passkey.lastUsedAt ? `last used ${formatDateTime(Date.parse(passkey.lastUsedAt))}` : 'never used to sign in'}`));
    const actions = el('div', 'item-actions');
    const remove = el('button', 'button button-small button-danger-ghost', 'Remove');
    remove.type = 'button';
    remove.setAttribute('aria-label', `Remove passkey ${passkey.name || ''}`.trim());
    remove.addEventListener('click', () => confirmInline(actions, remove, 'Remove', () => removePasskey(passkey)));
    actions.append(remove);
    item.append(main, actions);
    list.append(item);
  }
  $('passkey-empty').hidden = passkeys.length > 0;
  $('passkeys-count').hidden = passkeys.length === 0;
  $('passkeys-count').textContent = String(passkeys.length);
  $('passkeys-count').className = 'badge badge-count';
}

/** A small key, drawn with DOM calls (no innerHTML anywhere in this file). */
function keyIcon() {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  for (const [name, value] of Object.entries({ viewBox: '0 0 24 24', width: '16', height: '16', fill: 'none', stroke: 'currentColor', 'stroke-width': '2', 'stroke-linecap': 'round', 'stroke-linejoin': 'round', 'aria-hidden': 'true', class: 'icon' })) svg.setAttribute(name, value);
  const circle = document.createElementNS(ns, 'circle');
  for (const [name, value] of Object.entries({ cx: '7.5', cy: '15.5', r: '4.5' })) circle.setAttribute(name, value);
  svg.append(circle);
  for (const d of ['M10.7 12.3 20 3', 'm16 7 3 3', 'm14 9 2 2']) {
    const path = document.createElementNS(ns, 'path');
    path.setAttribute('d', d);
    svg.append(path);
  }
  return svg;
}

/** Turns `button` into "Remove? [Remove] [Keep]": one click never deletes anything. */
function confirmInline(container, button, label, action) {
  button.hidden = true;
  const question = el('span', 'confirm-question', 'Are you sure?');
  const yes = el('button', 'button button-small button-danger', label);
  const no = el('button', 'button button-small button-ghost-dark', 'Keep');
  yes.type = 'button';
  no.type = 'button';
  const restore = () => {
    question.remove();
    yes.remove();
    no.remove();
    button.hidden = false;
    button.focus();
  };
  no.addEventListener('click', restore);
  yes.addEventListener('click', async () => {
    yes.disabled = true;
    no.disabled = true;
    await action();
  });
  container.append(question, yes, no);
  no.focus();
}

async function removePasskey(passkey) {
  const result = await api('DELETE', `/auth/passkeys/${encodeURIComponent(passkey.id)}`);
  if (handleSessionFailure(result)) return;
  if (result.ok || result.code === 'not_found') {
    setAlert('passkey-error', null);
    setAlert('security-notice', `The passkey \u201c${passkey.name || 'Passkey'}\u201d was removed.`);
  } else {
    setAlert('passkey-error', result.message);
  }
  await loadPasskeys();
}

async function onPasskeyAdd(event) {
  event.preventDefault();
  if (!passkeysSupported()) return;
  const name = $('passkey-name').value.trim();
  $('passkey-add').disabled = true;
  setAlert('passkey-error', null);
  setAlert('security-notice', null);
  try {
    const options = await api('POST', '/auth/passkeys/register/options');
    if (handleSessionFailure(options)) return;
    if (!options.ok) {
      if (options.code === 'too_many_passkeys') return setAlert('passkey-error', PASSKEYS_FULL);
      return setAlert('passkey-error', options.code === 'not_found' ? PASSKEYS_OFF : options.message);
    }

    let credential;
    try {
      credential = await navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options.data) });
    } catch (error) {
      return setAlert('passkey-error', ceremonyError(error, true));
    }
    if (!credential) return setAlert('passkey-error', 'No passkey was created.');

    const body = { response: credential.toJSON() };
    if (name) body.name = name;
    const result = await api('POST', '/auth/passkeys/register/verify', body);
    if (handleSessionFailure(result)) return;
    if (!result.ok) {
      // Full: another tab added the tenth meanwhile. The key this device just made is not stored.
      if (result.code === 'too_many_passkeys') {
        setAlert('passkey-error', PASSKEYS_FULL);
        return loadPasskeys();
      }
      return setAlert('passkey-error', result.code === 'invalid_passkey' ? 'Gatehouse could not verify the new passkey. Please try again.' : result.message);
    }
    $('passkey-name').value = '';
    const added = `Your passkey \u201c${result.data.passkey.name || 'Passkey'}\u201d is added. You can sign in with it, without a password.`;
    if (state.enrolling) {
      state.enrolling = false;
      await afterFullLogin(added);
      return;
    }
    setAlert('security-notice', added);
    await loadPasskeys();
  } finally {
    $('passkey-add').disabled = !passkeysSupported();
  }
}

async function onPasskeyLogin() {
  const button = $('passkey-login-button');
  setAlert('login-notice', null);
  setAlert('login-error', null);
  setAlert('passkey-login-error', null);
  button.disabled = true;
  try {
    const options = await api('POST', '/auth/passkeys/login/options', {});
    if (!options.ok) {
      if (isRefusal(options)) return showRefusal('passkey-login-error', options, ['passkey-login-button']);
      return setAlert('passkey-login-error', options.code === 'not_found' ? PASSKEYS_OFF : options.message);
    }
    let credential;
    try {
      credential = await navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options.data) });
    } catch (error) {
      return setAlert('passkey-login-error', ceremonyError(error, false));
    }
    if (!credential) return setAlert('passkey-login-error', 'No passkey was used.');

    const result = await api('POST', '/auth/passkeys/login/verify', { response: credential.toJSON() });
    if (!result.ok) {
      if (isRefusal(result)) return showRefusal('passkey-login-error', result, ['passkey-login-button']);
      return setAlert('passkey-login-error', result.code === 'invalid_credentials'
        ? 'Gatehouse did not accept this passkey. It may have been removed from your account.'
        : result.message);
    }
    $('login-form').reset();
    state.user = result.data.user;
    state.pendingReset = result.data.passwordResetRequired === true;
    $('account-name').textContent = state.user.name;
    await afterFullLogin();
  } finally {
    release('passkey-login-button');
  }
}

// Sessions --------------------------------------------------------------------------------------

async function loadSessions() {
  const result = await api('GET', '/auth/sessions');
  if (handleSessionFailure(result)) return;
  if (!result.ok) return setAlert('sessions-error', result.message);
  renderSessions(result.data.sessions);
}

function renderSessions(sessions) {
  const list = $('session-list');
  clear(list);
  // This device first, then the most recently active.
  const sorted = [...sessions].sort((a, b) => Number(b.current) - Number(a.current) || Date.parse(b.lastSeenAt) - Date.parse(a.lastSeenAt));
  for (const session of sorted) {
    const item = el('li', `item${session.current ? ' item-current' : ''}`);
    item.dataset.id = session.id;
    const main = el('div', 'item-main');
    const title = el('span', 'item-title', describeAgent(session.userAgent));
    title.title = session.userAgent || '';
    if (session.current) title.append(el('span', 'badge badge-on', 'This device'));
    const seen = session.current ? 'active now' : `last active ${formatDateTime(Date.parse(session.lastSeenAt))}`;
    main.append(title, el('span', 'item-meta', `${session.ip || 'unknown address'} \u00b7 signed in ${formatDateTime(Date.parse(session.createdAt))} \u00b7 ${seen}`));
    const actions = el('div', 'item-actions');
    if (!session.current) {
      const end = el('button', 'button button-small button-danger-ghost', 'End');
      end.type = 'button';
      end.setAttribute('aria-label', `End the session of ${describeAgent(session.userAgent)} from ${session.ip || 'an unknown address'}`);
      end.addEventListener('click', () => endSession(session, end));
      actions.append(end);
    }
    item.append(main, actions);
    list.append(item);
  }
  $('sessions-revoke-others').disabled = sessions.filter((s) => !s.current).length === 0;
}

async function endSession(session, button) {
  button.disabled = true;
  const result = await api('DELETE', `/auth/sessions/${encodeURIComponent(session.id)}`);
  if (handleSessionFailure(result)) return;
  if (result.ok || result.code === 'not_found') {
    setAlert('sessions-error', null);
    setAlert('security-notice', `The session of ${describeAgent(session.userAgent)} from ${session.ip || 'an unknown address'} was ended.`);
  } else {
    button.disabled = false;
    setAlert('sessions-error', result.message);
  }
  await loadSessions();
}

async function onRevokeOthers() {
  $('sessions-revoke-others').disabled = true;
  const result = await api('POST', '/auth/sessions/revoke-others');
  if (handleSessionFailure(result)) return;
  if (result.ok) setAlert('security-notice', 'You are signed out everywhere else. This session continues.');
  else setAlert('sessions-error', result.message);
  await loadSessions();
}

/** "Chrome on Linux" from a User-Agent header: enough to recognise a device, not a fingerprint. */
function describeAgent(userAgent) {
  const ua = userAgent || '';
  if (!ua) return 'Unknown device';
  const browser = /Edg\//.test(ua) ? 'Edge'
    : /OPR\//.test(ua) ? 'Opera'
      : /Firefox\//.test(ua) ? 'Firefox'
        : /Chrom(e|ium)\//.test(ua) ? 'Chrome'
          : /Safari\//.test(ua) ? 'Safari'
            : /^curl\//.test(ua) ? 'curl'
              : null;
  const os = /Windows/.test(ua) ? 'Windows'
    : /Android/.test(ua) ? 'Android'
      : /iPhone|iPad/.test(ua) ? 'iOS'
        : /Mac OS X/.test(ua) ? 'macOS'
          : /CrOS/.test(ua) ? 'ChromeOS'
            : /Linux/.test(ua) ? 'Linux'
              : null;
  if (!browser) return os ? `A browser on ${os}` : 'Unknown device';
  return os ? `${browser} on ${os}` : browser;
}

/** Base64 of a string's UTF-8 bytes (btoa alone takes only Latin-1). */
function base64(text) {
  let binary = '';
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
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
  const result = await api('POST', '/auth/logout');
  $('logout').disabled = false;
  // Shown first, so going back from the provider's pages finds this page signed out.
  showLogin('You are signed out.');
  const providerLogout = result.status === 200 ? endSessionUrl(result.data) : null;
  // A session from an identity provider: Gatehouse's session has ended, the provider's has not.
  // Its end-session page must be a top-level navigation, as it reads and clears its own cookies
  // (OpenID Connect RP-Initiated Logout 1.0 §2, SPEC §9).
  if (providerLogout) location.assign(providerLogout);
}

/** The provider's end-session URL from a logout's 200 answer, if it is an http(s) URL. */
function endSessionUrl(data) {
  if (!data || typeof data.logoutUrl !== 'string') return null;
  try {
    const url = new URL(data.logoutUrl);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : null;
  } catch {
    return null;
  }
}

/** The view the address names: #security, or the dashboard. */
function route(notice) {
  return location.hash === '#security' ? openSecurity(notice) : enterDashboard(notice);
}

function boot() {
  $('login-form').addEventListener('submit', onLogin);
  $('passkey-login-button').addEventListener('click', onPasskeyLogin);
  $('mfa-form').addEventListener('submit', onMfaVerify);
  $('mfa-toggle').addEventListener('click', () => setMfaMode(state.mfaMode === 'code' ? 'recovery' : 'code'));
  $('mfa-cancel').addEventListener('click', onMfaCancel);
  $('password-form').addEventListener('submit', onPasswordChange);
  $('password-cancel').addEventListener('click', () => route());
  $('open-password').addEventListener('click', () => showPasswordForm({ required: false }));
  $('note-form').addEventListener('submit', onNote);
  $('refresh').addEventListener('click', () => loadWeather());
  $('logout').addEventListener('click', onLogout);
  $('totp-start').addEventListener('click', onTotpStart);
  $('totp-confirm-form').addEventListener('submit', onTotpConfirm);
  $('totp-cancel').addEventListener('click', onTotpCancel);
  $('recovery-copy').addEventListener('click', onRecoveryCopy);
  $('recovery-done').addEventListener('click', onRecoveryDone);
  $('totp-off-start').addEventListener('click', () => showTotpDisable(true));
  $('totp-disable-cancel').addEventListener('click', () => showTotpDisable(false));
  $('totp-disable-form').addEventListener('submit', onTotpDisable);
  $('passkey-form').addEventListener('submit', onPasskeyAdd);
  $('sessions-revoke-others').addEventListener('click', onRevokeOthers);
  // The top bar's links change the #fragment; the view follows (and the back button works).
  window.addEventListener('hashchange', () => {
    const browsing = !$('view-dashboard').hidden || !$('view-security').hidden;
    if (browsing && !state.enrolling) void route();
  });
  $('passkey-login').hidden = !passkeysSupported();
  void providers.then(renderProviders);
  void route();
}

/** The identity providers Gatehouse offers, asked once per page load. */
const providers = loadProviders();

boot();
