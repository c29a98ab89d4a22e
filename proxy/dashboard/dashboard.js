/* global document, window, location, sessionStorage, EventSource, fetch, setInterval */
import { createTopology, textScale } from './topology.js';

// The dashboard: plain browser JavaScript, no build step, nothing loaded from the network.
// Data arrives as server-sent events from /api/events; controls call the admin API.
// Every text from the server is set with textContent, never parsed as HTML.

const $ = (id) => document.getElementById(id);
const COLORS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#8c8c8c'];
const HISTORY = 180;
const TOKEN_KEY = 'coatcheck-admin-token';
const MARK_COLORS = { mode: '#0b57a4', crash: '#a4161a', back: '#136c2e', pool: '#6a3d9a', redis: '#b36b00' };
// What the room should read in the mode of the moment, next to the buttons.
const STORIES = {
  memory: (n) =>
    `Round robin, a logbook per desk: a visit finds the desk that wrote the wristband 1 time in ${n}, so theory says ${n - 1}/${n} of visits are logged out.`,
  sticky: () => 'The balancer pins each browser to its desk with its own cookie: nobody is logged out, until that desk crashes or leaves.',
  redis: () => 'Round robin, one shared logbook in Redis: every desk knows every wristband. Desks may come and go; now Redis must not fail.',
  stateless: () =>
    'Round robin, no logbook: the session is a sealed card in the cookie that any desk can read. Nobody is logged out by chance, but logout only clears the browser\'s copy: try the replay.',
};
const HASH_STORY =
  'Pinned by client address: each virtual user comes from its own 127.x address, so they spread over the desks, and a new desk moves most of them (ip-hash) or about 1/(N+1) (consistent-hash).';

let samples = [];
let snapshot = null;
let lastSnapshotAt = 0;
let tokenRequired = false;
const cards = new Map();
const topology = createTopology($('topology'));
// Buttons waiting for their answer: disabled so a double click does not crash two instances.
const busy = new Set();

function colorOf(id) {
  const n = Number(/(\d+)$/.exec(id)?.[1]);
  if (Number.isInteger(n) && n > 0) return COLORS[(n - 1) % COLORS.length];
  let h = 0;
  for (const c of id) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return COLORS[h % COLORS.length];
}

function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function say(text, isError = false) {
  const message = $('message');
  message.textContent = text;
  message.className = isError ? 'message error' : 'message';
}

// ---- admin API -------------------------------------------------------------

async function call(method, path, body, button, done) {
  if (button) {
    busy.add(button);
    button.disabled = true;
  }
  try {
    const token = sessionStorage.getItem(TOKEN_KEY);
    const response = await fetch(path, {
      method,
      headers: {
        ...(body !== undefined && { 'content-type': 'application/json' }),
        ...(token && { authorization: `Bearer ${token}` }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await response.json().catch(() => ({}));
    if (response.status === 401) {
      $('token-form').hidden = false;
      $('token').focus();
      say(json.message ?? 'the admin token is needed for this', true);
      return null;
    }
    if (!response.ok) {
      say(json.message ?? `${method} ${path} answered ${response.status}`, true);
      return null;
    }
    say(json.message ?? done ?? `done: ${method} ${path}`);
    return json;
  } catch (err) {
    say(`the admin server did not answer: ${err.message}`, true);
    return null;
  } finally {
    if (button) {
      busy.delete(button);
      button.disabled = false;
    }
    applyLauncher();
  }
}

$('token-form').addEventListener('submit', (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $('token').value.trim());
  $('token').value = '';
  $('token-form').hidden = true;
  say('token kept for this tab; try the control again');
});

for (const button of document.querySelectorAll('.mode-button')) {
  button.addEventListener('click', () => call('PUT', '/api/mode', { mode: button.dataset.mode }, button, `switched to ${button.dataset.mode} mode`));
}
$('routing').addEventListener('change', (e) => call('PUT', '/api/routing', { routing: e.target.value }, null, `routing: ${e.target.value}`));
$('store').addEventListener('change', (e) => call('PUT', '/api/store', { store: e.target.value }, null, `store: ${e.target.value}`));
// The lab's demo account (services/accounts.json): the replay logs in as a user would.
$('replay').addEventListener('click', (e) => call('POST', '/api/replay', { username: 'testuser', password: 'testpass' }, e.currentTarget));
$('add-instance').addEventListener('click', (e) => call('POST', '/api/lab/add-instance', {}, e.currentTarget));
$('redis-pause').addEventListener('click', (e) => call('POST', '/api/redis/pause', { seconds: Number($('redis-pause-seconds').value) }, e.currentTarget));
$('redis-flush').addEventListener('click', (e) => call('POST', '/api/redis/flush', {}, e.currentTarget));
$('stream-start').addEventListener('click', (e) => call('PUT', '/api/stream', { rate: Number($('stream-rate').value) }, e.currentTarget));
$('stream-stop').addEventListener('click', (e) => call('DELETE', '/api/stream', undefined, e.currentTarget));

// ---- rendering ---------------------------------------------------------------

function card(id) {
  let entry = cards.get(id);
  if (entry) return entry;
  const root = el('article', { class: 'card', 'data-id': id, 'aria-label': `instance ${id}` });
  const title = el('h3');
  const name = el('span');
  const dot = el('span', { class: 'dot', 'aria-hidden': 'true' });
  dot.style.background = colorOf(id);
  name.append(dot, document.createTextNode(id));
  const state = el('span', { class: 'state' });
  title.append(name, state);
  const why = el('p', { class: 'why' });
  const stats = el('dl');
  const field = (label) => {
    const dd = el('dd');
    stats.append(el('dt', {}, label), dd);
    return dd;
  };
  const rps = field('requests/s');
  const sessions = field('logbook');
  const unauthorized = field('401s served');
  const total = field('requests');
  const recent = el('ul', { class: 'recent', 'aria-label': `last requests served by ${id}` });
  const actions = el('div', { class: 'actions' });
  const crash = el('button', { type: 'button', 'aria-label': `Crash ${id}` }, 'Crash');
  const stopStart = el('button', { type: 'button', 'data-launcher': '' }, 'Stop');
  const remove = el('button', { type: 'button', 'data-launcher': '', 'aria-label': `Remove ${id}` }, 'Remove');
  actions.append(crash, stopStart, remove);
  root.append(title, why, stats, recent, actions);
  crash.addEventListener('click', () => call('POST', `/api/instances/${encodeURIComponent(id)}/crash`, {}, crash));
  stopStart.addEventListener('click', () => {
    const action = stopStart.dataset.action;
    call('POST', `/api/instances/${encodeURIComponent(id)}/${action}`, {}, stopStart);
  });
  remove.addEventListener('click', () => call('POST', `/api/instances/${encodeURIComponent(id)}/remove`, {}, remove));
  entry = { root, state, why, rps, sessions, unauthorized, total, recent, crash, stopStart };
  cards.set(id, entry);
  $('cards').append(root);
  return entry;
}

function ago(at) {
  const s = Math.max(0, Math.round((Date.now() - at) / 1000));
  return s < 1 ? 'now' : `${s}s ago`;
}

function renderInstances(instances) {
  const ids = new Set(instances.map((i) => i.id));
  for (const [id, entry] of cards) {
    if (!ids.has(id)) {
      entry.root.remove();
      cards.delete(id);
    }
  }
  for (const instance of instances) {
    const c = card(instance.id);
    const label =
      instance.lifecycle === 'stopped' ? 'STOPPED' : instance.lifecycle === 'restarting' ? 'RESTARTING' : instance.up ? 'UP' : 'DOWN';
    c.root.className = `card ${instance.up ? 'up' : 'down'}`;
    c.state.textContent = label;
    c.why.textContent = instance.up ? '' : instance.lastError ?? '';
    c.rps.textContent = String(instance.rps);
    c.sessions.textContent =
      instance.store === 'redis' ? 'in Redis' : instance.store === 'sealed' ? 'in the cookies' : instance.sessions === null ? '?' : `${instance.sessions} session${instance.sessions === 1 ? '' : 's'}`;
    c.unauthorized.textContent = String(instance.unauthorized);
    c.total.textContent = String(instance.requests);
    c.recent.replaceChildren(
      ...instance.recent.map((r) => el('li', { class: `s${r.status}` }, `${bounded(r.method, 10)} ${bounded(r.path, 64)} ${r.status} · ${ago(r.at)}`)),
    );
    const stopped = instance.lifecycle === 'stopped';
    c.stopStart.dataset.action = stopped ? 'start' : 'stop';
    c.stopStart.textContent = stopped ? 'Start' : 'Stop';
    c.stopStart.setAttribute('aria-label', `${stopped ? 'Start' : 'Stop'} ${instance.id}`);
    c.crash.disabled = !instance.up || busy.has(c.crash);
  }
}

/** The stream ended or went quiet: nothing on the page may still claim a desk is UP. */
function markStale() {
  for (const entry of cards.values()) {
    entry.root.className = 'card stale';
    entry.state.textContent = 'NO DATA';
    entry.why.textContent = 'the dashboard lost the lab: this is what it last knew';
  }
  topology.stale();
}

function applyLauncher() {
  const available = Boolean(snapshot?.launcher.available);
  for (const button of document.querySelectorAll('[data-launcher]')) {
    button.disabled = !available || busy.has(button);
    button.title = available ? '' : 'needs the npm start launcher: not available under docker compose';
  }
  $('launcher-note').hidden = available;
}

function renderRedis(redis, at) {
  const status = $('redis-status');
  if (!redis) {
    status.textContent = 'NOT CONFIGURED';
    status.className = 'badge idle';
    $('redis-keys').textContent = 'the balancer has no REDIS_URL';
    for (const id of ['redis-pause', 'redis-flush']) $(id).disabled = true;
    return;
  }
  if (!redis.checked) {
    status.textContent = '…';
    status.className = 'badge idle';
    $('redis-keys').textContent = 'checking…';
    return;
  }
  // Server time on both sides: the browser's clock may differ from the balancer's.
  const paused = redis.pausedUntil !== null && redis.pausedUntil > at;
  status.textContent = paused ? 'PAUSED' : redis.up ? (redis.inUse ? 'UP · IN USE' : 'UP · NOT IN USE') : 'DOWN';
  status.className = `badge ${redis.up && !paused ? 'up' : 'down'}`;
  $('redis-keys').textContent = paused
    ? `paused by the dashboard for ${Math.ceil((redis.pausedUntil - at) / 1000)} more s: every client waits`
    : redis.up
    ? `${redis.keys}${redis.capped ? '+' : ''} session key${redis.keys === 1 ? '' : 's'} in the shared logbook`
    : `not answering${redis.error ? `: ${redis.error}` : ''}`;
  $('redis-sample').replaceChildren(
    ...redis.sample.map((k) => {
      const row = el('tr');
      row.append(el('td', {}, k.id), el('td', {}, k.user ?? '?'), el('td', {}, k.ttlSeconds >= 0 ? `${k.ttlSeconds} s` : 'no TTL'));
      return row;
    }),
  );
}

function renderStream(stream) {
  const status = $('stream-status');
  if (!stream || !stream.running) {
    status.textContent = stream && stream.requests > 0 ? `stopped after ${stream.requests} requests (${stream.loggedOut} logged out)` : 'stopped';
    return;
  }
  const left = Math.max(0, Math.round((stream.endsAt - Date.now()) / 1000));
  status.textContent =
    `running: ${stream.rate} requests/s from ${stream.users} users; ${stream.requests} requests, ` +
    `${stream.loggedOut} logged out; stops by itself in ${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')}`;
}

function renderLog(log) {
  const list = $('log');
  const items = [...log].reverse().map((entry) => {
    const li = el('li');
    li.append(el('time', {}, new Date(entry.at).toLocaleTimeString()), document.createTextNode(entry.text));
    return li;
  });
  list.replaceChildren(...items);
}

function render(s) {
  snapshot = s;
  lastSnapshotAt = Date.now();
  const modeName = s.mode ?? 'custom';
  $('mode-now').textContent = modeName;
  $('mode-detail').textContent = `(routing ${s.routing}, store ${s.store})`;
  for (const button of document.querySelectorAll('.mode-button')) button.setAttribute('aria-pressed', String(button.dataset.mode === s.mode));
  if (document.activeElement !== $('routing')) $('routing').value = s.routing;
  if (document.activeElement !== $('store')) $('store').value = s.store;
  $('b-routing').textContent = s.routing;
  $('b-store').textContent = s.store;
  $('b-rps').textContent = String(s.balancer.rps);
  $('b-requests').textContent = String(s.balancer.requests);
  $('b-retries').textContent = String(s.balancer.retries);
  $('b-failed').textContent = String(s.balancer.failed);
  $('b-unavailable').textContent = String(s.balancer.unavailable ?? 0);
  const up = s.instances.filter((i) => i.up).length;
  $('mode-story').textContent =
    s.routing === 'ip-hash' || s.routing === 'consistent-hash' ? HASH_STORY : (STORIES[s.mode] ?? (() => `routing ${s.routing}, store ${s.store}`))(Math.max(1, up));
  topology.update(s);
  renderInstances(s.instances);
  renderRedis(s.redis, s.at);
  renderStream(s.launcher.stream);
  renderLog(s.log);
  applyLauncher();
  const frame = $('user-frame');
  if (s.publicPort && !frame.getAttribute('src')) frame.src = `${location.protocol}//${location.hostname}:${s.publicPort}/__lab/user`;
  if (s.sample) {
    samples.push(s.sample);
    if (samples.length > HISTORY) samples = samples.slice(-HISTORY);
  }
  draw();
}

// ---- plots -----------------------------------------------------------------

function prepare(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  if (canvas.width !== Math.round(width * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
  }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  return { ctx, width, height };
}

function niceMax(value) {
  for (const step of [5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000]) if (value <= step) return step;
  return Math.ceil(value / 10000) * 10000;
}

/** Seconds shown: the data so far, at least half a minute, at most the three minutes kept. */
function span() {
  return Math.min(HISTORY, Math.max(30, samples.length));
}

function axes(ctx, width, height, max, format) {
  const left = 48;
  const bottom = height - 20;
  ctx.font = `${Math.round(13 * textScale())}px system-ui, sans-serif`;
  ctx.fillStyle = '#444';
  ctx.strokeStyle = '#ddd';
  ctx.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = 8 + ((bottom - 8) * i) / 4;
    ctx.beginPath();
    ctx.moveTo(left, y);
    ctx.lineTo(width - 6, y);
    ctx.stroke();
    ctx.fillText(format(max * (1 - i / 4)), 4, y + 4);
  }
  const seconds = span();
  for (let i = 0; i <= 3; i++) {
    const ago = Math.round((seconds * (3 - i)) / 3);
    const label = ago === 0 ? 'now' : ago % 60 === 0 ? `−${ago / 60} min` : `−${ago} s`;
    const x = left + ((width - 6 - left) * i) / 3;
    ctx.fillText(label, Math.max(left, Math.min(x - 14, width - 34)), height - 4);
  }
  return { left, top: 8, right: width - 6, bottom };
}

function line(ctx, box, values, max, color, dashed = false) {
  const seconds = span();
  values = values.slice(-seconds);
  const step = (box.right - box.left) / (seconds - 1);
  const offset = seconds - values.length;
  ctx.strokeStyle = color;
  ctx.lineWidth = 3;
  ctx.setLineDash(dashed ? [8, 6] : []);
  ctx.beginPath();
  let pen = false;
  values.forEach((v, i) => {
    if (v === null || v === undefined) {
      pen = false;
      return;
    }
    const x = box.left + (offset + i) * step;
    const y = box.bottom - (box.bottom - box.top) * Math.min(1, v / max);
    if (pen) ctx.lineTo(x, y);
    else ctx.moveTo(x, y);
    pen = true;
  });
  ctx.stroke();
  ctx.setLineDash([]);
}

function draw() {
  const ids = snapshot ? snapshot.instances.map((i) => i.id) : [];
  const legend = $('legend');
  legend.replaceChildren(
    ...ids.map((id) => {
      const span = el('span');
      const swatch = el('span', { class: 'swatch' });
      swatch.style.background = colorOf(id);
      span.append(swatch, document.createTextNode(id));
      return span;
    }),
  );

  const rps = prepare($('rps-plot'));
  const peak = Math.max(0, ...samples.flatMap((s) => Object.values(s.rps)));
  const max = niceMax(peak);
  const box = axes(rps.ctx, rps.width, rps.height, max, (v) => String(Math.round(v * 10) / 10));
  for (const id of ids) line(rps.ctx, box, samples.map((s) => s.rps[id] ?? null), max, colorOf(id));
  drawMarks(rps.ctx, box);

  const out = prepare($('logout-plot'));
  const box2 = axes(out.ctx, out.width, out.height, 1, (v) => `${Math.round(v * 100)}%`);
  // The theory of the mode active at each second, not of the mode now: a switch is a step.
  line(out.ctx, box2, samples.map((s) => s.theory ?? null), 1, '#777', true);
  // 503s only where there were some: a line along 0% would hide the axis.
  line(out.ctx, box2, samples.map((s) => (s.unavailableRate ? s.unavailableRate : null)), 1, '#e69f00');
  line(out.ctx, box2, samples.map((s) => s.loggedOutRate), 1, '#a4161a');
  drawMarks(out.ctx, box2);
}

/** Where the lab changed, on the plot: a line and a few words, and the same as a list for screen readers. */
function drawMarks(ctx, box) {
  const seconds = span();
  const shown = samples.slice(-seconds);
  const step = (box.right - box.left) / (seconds - 1);
  const offset = seconds - shown.length;
  const items = [];
  // Each label takes the first of four rows where it does not run into the previous label.
  const rowEnds = [-Infinity, -Infinity, -Infinity, -Infinity];
  const fontPx = Math.round(13 * textScale());
  ctx.font = `600 ${fontPx}px system-ui, sans-serif`;
  shown.forEach((sample, i) => {
    for (const mark of sample.marks ?? []) {
      const x = box.left + (offset + i) * step;
      const color = MARK_COLORS[mark.kind] ?? '#333';
      ctx.strokeStyle = color;
      ctx.lineWidth = 2;
      ctx.setLineDash([]);
      ctx.beginPath();
      ctx.moveTo(x, box.top);
      ctx.lineTo(x, box.bottom);
      ctx.stroke();
      const width = ctx.measureText(mark.text).width;
      const at = Math.max(box.left, Math.min(x + 3, box.right - width - 2));
      let row = rowEnds.findIndex((end) => end < at);
      if (row < 0) row = rowEnds.indexOf(Math.min(...rowEnds));
      rowEnds[row] = at + width + 6;
      ctx.fillStyle = 'rgba(255, 255, 255, 0.85)';
      ctx.fillRect(at - 1, box.top + 2 + row * (fontPx + 2), width + 2, fontPx + 1);
      ctx.fillStyle = color;
      ctx.fillText(mark.text, at, box.top + fontPx + row * (fontPx + 2));
      items.push(el('li', { 'data-kind': mark.kind }, mark.text));
    }
  });
  if (ctx.canvas.id === 'logout-plot') $('plot-marks').replaceChildren(...items);
}

// ---- the live stream -------------------------------------------------------

function connect() {
  const source = new EventSource('/api/events');
  const live = $('live');
  source.addEventListener('open', () => {
    live.textContent = 'live';
    live.className = 'live ok';
  });
  source.addEventListener('error', () => {
    live.textContent = 'lab not answering: reconnecting…';
    live.className = 'live bad';
    markStale();
  });
  source.addEventListener('intro', (event) => {
    tokenRequired = JSON.parse(event.data).adminTokenRequired;
    if (tokenRequired && !sessionStorage.getItem(TOKEN_KEY)) $('token-form').hidden = false;
  });
  source.addEventListener('history', (event) => {
    samples = JSON.parse(event.data).slice(-HISTORY);
  });
  source.addEventListener('snapshot', (event) => render(JSON.parse(event.data)));
}

setInterval(() => {
  if (lastSnapshotAt && Date.now() - lastSnapshotAt > 3000) {
    $('live').textContent = 'no data for a few seconds…';
    $('live').className = 'live bad';
    markStale();
  } else if (lastSnapshotAt && $('live').className !== 'live ok') {
    $('live').textContent = 'live';
    $('live').className = 'live ok';
  }
}, 1000);
window.addEventListener('resize', () => {
  draw();
  topology.redraw();
});
connect();

/** Text from the public side (anyone can choose a request path): at most `max` characters. */
function bounded(text, max) {
  const value = String(text ?? '');
  return value.length <= max ? value : `${value.slice(0, max - 1)}…`;
}

// ---- the race --------------------------------------------------------------
// One user's concurrent requests (services/stores/race-guard.ts): the answers carry the counters.

function showRace(view) {
  if (!view) return;
  $('race-guard').checked = view.raceGuard;
  $('race-resurrected').textContent = String(view.resurrected);
  $('race-lost').textContent = String(view.lostUpdates);
  $('race-count').textContent = String(view.races);
  if (view.last) $('race-last').textContent = view.last.text;
}

$('race-guard').addEventListener('change', async (e) => {
  const box = e.currentTarget;
  const on = box.checked;
  const view = await call('PUT', '/api/race-guard', { on }, box, on ? 'race guard on' : 'race guard off: the stores read, change and write back whole sessions');
  if (view) showRace(view);
  else box.checked = !on;
});
for (const kind of ['logout', 'cart']) {
  $(`race-${kind}`).addEventListener('click', async (e) => showRace(await call('POST', '/api/race', { kind }, e.currentTarget)));
}
fetch('/api/race')
  .then((response) => (response.ok ? response.json() : null))
  .then(showRace, () => {});
