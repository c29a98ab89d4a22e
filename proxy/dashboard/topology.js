/* global window, performance, requestAnimationFrame */
// The topology picture: browsers → balancer → desks → logbooks, with each request drawn as a dot
// that travels to the desk that served it and comes back green (logged in), red (401) or orange
// (5xx). The counts come with each one-second sample; the dots replay that second.

const OUT = '#0b57a4';
const BACK = { ok: '#136c2e', out: '#a4161a', err: '#e69f00' };
/** More dots than this per desk and second blur into a line: the picture shows the mix, not every request. */
const DOTS_PER_DESK = 14;
const TRIP_MS = 1400;

export function createTopology(canvas) {
  let view = null;
  let stale = false;
  let dots = [];
  let running = false;

  function layout(width, height) {
    const instances = view?.instances ?? [];
    const n = Math.max(1, instances.length);
    const top = 26;
    const row = (height - top - 8) / n;
    const deskH = Math.min(64, row - 8);
    const desks = new Map(
      instances.map((instance, i) => [instance.id, { x: width * 0.5, y: top + row * (i + 0.5), w: width * 0.2, h: deskH, instance }]),
    );
    return {
      users: { x: width * 0.08, y: height / 2 },
      balancer: { x: width * 0.28, y: height / 2, w: width * 0.15, h: Math.min(90, height * 0.3) },
      desks,
      logbookX: width * 0.8,
      redis: { x: width * 0.86, y: height / 2, w: width * 0.16, h: Math.min(110, height * 0.4) },
    };
  }

  function box(ctx, x, y, w, h, stroke, fill) {
    ctx.fillStyle = fill;
    ctx.strokeStyle = stroke;
    ctx.lineWidth = 3;
    ctx.beginPath();
    ctx.roundRect(x - w / 2, y - h / 2, w, h, 6);
    ctx.fill();
    ctx.stroke();
  }

  function text(ctx, value, x, y, { size = 15, weight = 600, color = '#111', align = 'center' } = {}) {
    ctx.font = `${weight} ${Math.round(size * textScale())}px system-ui, 'DejaVu Sans', sans-serif`;
    ctx.fillStyle = color;
    ctx.textAlign = align;
    ctx.textBaseline = 'middle';
    ctx.fillText(value, x, y);
  }

  function wire(ctx, a, b, color = '#bbb', width = 2) {
    ctx.strokeStyle = color;
    ctx.lineWidth = width;
    ctx.beginPath();
    ctx.moveTo(a.x, a.y);
    ctx.lineTo(b.x, b.y);
    ctx.stroke();
  }

  function scene(ctx, width, height, at) {
    const place = layout(width, height);
    // Stateless: no logbook at all (the session is the sealed card itself), unless the revocation
    // list is on, and then Redis is back, holding the cards that were handed in.
    const sealed = view?.store === 'sealed';
    const revocation = sealed && view?.revocation === 'redis';
    const sharedStore = view?.store === 'redis' || revocation;
    const perDesk = !sharedStore && !sealed;
    text(ctx, 'browsers', place.users.x, 12, { size: 13, weight: 400, color: '#4a4a4a' });
    text(ctx, 'balancer', place.balancer.x, 12, { size: 13, weight: 400, color: '#4a4a4a' });
    text(ctx, 'desks (instances)', width * 0.5, 12, { size: 13, weight: 400, color: '#4a4a4a' });
    const storeTitle = revocation ? 'a list of revoked cards' : sealed ? 'no logbook: a sealed card' : sharedStore ? 'one shared logbook' : 'a logbook per desk';
    text(ctx, storeTitle, width * 0.83, 12, { size: 13, weight: 400, color: '#4a4a4a' });

    for (const desk of place.desks.values()) {
      wire(ctx, place.balancer, desk);
      if (sharedStore || perDesk) wire(ctx, desk, sharedStore ? place.redis : { x: place.logbookX, y: desk.y });
    }
    wire(ctx, place.users, place.balancer);

    // Browsers: a few heads; how many users are behind them is in the caption under.
    for (let i = 0; i < 5; i++) {
      ctx.fillStyle = '#555';
      ctx.beginPath();
      ctx.arc(place.users.x - 24 + i * 12, place.users.y - 10 + (i % 2) * 14, 7, 0, Math.PI * 2);
      ctx.fill();
    }
    const users = view?.launcher?.stream?.running ? `${view.launcher.stream.users} virtual users` : 'you';
    text(ctx, users, place.users.x, place.users.y + 30, { size: 13, weight: 400 });

    box(ctx, place.balancer.x, place.balancer.y, place.balancer.w, place.balancer.h, '#111', '#fff');
    text(ctx, 'balancer', place.balancer.x, place.balancer.y - 12);
    text(ctx, view?.routing ?? '…', place.balancer.x, place.balancer.y + 12, { size: 13, weight: 400 });

    for (const desk of place.desks.values()) {
      const { instance } = desk;
      const colour = stale ? ['#999', '#eee'] : instance.up ? ['#136c2e', '#dcf5e3'] : ['#a4161a', '#fde2e1'];
      box(ctx, desk.x, desk.y, desk.w, desk.h, colour[0], colour[1]);
      const state = stale ? '?' : instance.up ? `${instance.rps}/s` : 'DOWN';
      text(ctx, `${instance.id}  ${state}`, desk.x, desk.y, { size: Math.min(16, desk.h * 0.4) });
      if (perDesk) {
        const sessions = instance.sessions === null || instance.sessions === undefined ? '?' : instance.sessions;
        box(ctx, place.logbookX, desk.y, desk.w * 0.75, Math.min(desk.h, 40), '#777', '#fff8e6');
        text(ctx, `${sessions} session${sessions === 1 ? '' : 's'}`, place.logbookX, desk.y, { size: Math.min(15, desk.h * 0.42) });
      }
    }
    if (sharedStore) {
      const redis = view?.redis;
      const paused = redis?.pausedUntil && redis.pausedUntil > (view?.at ?? 0);
      const colour = stale ? ['#999', '#eee'] : paused || !redis?.up ? ['#a4161a', '#fde2e1'] : ['#136c2e', '#dcf5e3'];
      box(ctx, place.redis.x, place.redis.y, place.redis.w, place.redis.h, colour[0], colour[1]);
      text(ctx, revocation ? 'Redis: revoked' : 'Redis', place.redis.x, place.redis.y - 12);
      const noun = revocation ? 'keys' : 'sessions';
      const state = stale ? '?' : paused ? 'PAUSED' : redis?.up ? `${redis.keys ?? '?'}${redis.capped ? '+' : ''} ${noun}` : 'DOWN';
      text(ctx, state, place.redis.x, place.redis.y + 12, { size: 14, weight: 400 });
    }

    // The dots: out from the browsers to the balancer and the desk, then back in the answer's colour.
    dots = dots.filter((dot) => at - dot.start < TRIP_MS);
    for (const dot of dots) {
      const t = (at - dot.start) / TRIP_MS;
      const desk = place.desks.get(dot.id);
      if (t < 0 || !desk) continue;
      const leg = t < 0.5 ? t * 2 : (1 - t) * 2;
      const p = leg < 0.5 ? lerp(place.users, place.balancer, leg * 2) : lerp(place.balancer, { x: desk.x - desk.w / 2, y: desk.y }, (leg - 0.5) * 2);
      ctx.fillStyle = t < 0.5 ? OUT : BACK[dot.kind];
      ctx.beginPath();
      ctx.arc(p.x, p.y + dot.lane, 5, 0, Math.PI * 2);
      ctx.fill();
    }
  }

  function frame() {
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    scene(ctx, width, height, performance.now());
    if (dots.length > 0) requestAnimationFrame(frame);
    else running = false;
  }

  function redraw() {
    if (running) return;
    running = true;
    requestAnimationFrame(frame);
  }

  return {
    /** A snapshot: what the picture shows; with a sample, that second's requests start travelling. */
    update(snapshot) {
      view = snapshot;
      stale = false;
      const now = performance.now();
      for (const [id, counts] of Object.entries(snapshot.sample?.flow ?? {})) {
        const [ok, out, err] = counts;
        const total = ok + out + err;
        for (let k = 0; k < Math.min(total, DOTS_PER_DESK); k++) {
          const r = Math.random() * total;
          dots.push({ id, kind: r < ok ? 'ok' : r < ok + out ? 'out' : 'err', start: now + Math.random() * 900, lane: (Math.random() - 0.5) * 10 });
        }
      }
      canvas.setAttribute('aria-label', describe(snapshot));
      redraw();
    },
    /** The stream ended: grey, and no state shown as if it were current. */
    stale() {
      stale = true;
      dots = [];
      redraw();
    },
    redraw,
  };
}

/** Canvas text grows with the page's type (larger on a large screen), as the HTML around it does. */
export function textScale() {
  return parseFloat(window.getComputedStyle(window.document.documentElement).fontSize) / 16 || 1;
}

function lerp(a, b, t) {
  return { x: a.x + (b.x - a.x) * t, y: a.y + (b.y - a.y) * t };
}

function describe(s) {
  const desks = s.instances.map((i) => `${i.id} ${i.up ? `up, ${i.rps} requests/s` : 'down'}`).join('; ');
  return `browsers, then the balancer (${s.routing}), then ${s.instances.length} desks (${desks}), then ${s.store === 'redis' ? 'one shared logbook in Redis' : s.store === 'sealed' ? (s.revocation === 'redis' ? 'no logbook, a list of revoked cards in Redis' : 'no logbook: each session is a sealed card in its cookie') : 'a logbook per desk'}`;
}
