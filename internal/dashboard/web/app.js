// The workqueue dashboard. It reads the server's state from GET /events
// (server-sent events: "job" at every change of a job's state, "stats" about
// once a second), GET /work and GET /work/{id} (a job's detail), and acts
// through POST /work, DELETE /work/{id}, POST /work/{id}/retry and PUT
// /workers. Names, payloads, outputs and errors go into the page only as
// text (textContent), never as markup.
'use strict';

(() => {
  const MAX_ROWS = 200;     // rows kept in the jobs table
  const WINDOW_S = 300;     // seconds of history in the chart
  const RATE_S = 5;         // seconds over which rates are averaged
  const COUNTERS = ['accepted', 'done', 'failed', 'canceled'];

  const $ = (id) => document.getElementById(id);
  const rows = new Map();   // job id -> <tr>
  const samples = [];       // {t (seconds), stats} newest last, WINDOW_S of them
  let poolSize = null;      // the workers the server reported last
  let startedAt = null;     // when the server's counters began (Date), from the stats event
  let touched = null;       // while a listing is fetched: the ids events updated meanwhile
  const detail = { id: null, loading: false, again: false }; // the job whose detail is open

  // --- Small helpers ---------------------------------------------------

  // el makes an element with the given class and text.
  function el(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // say shows a message in the status line p; an error is shown in red.
  function say(p, text, isError) {
    p.textContent = text;
    p.classList.toggle('error', !!isError);
  }

  // errorText returns the server's error message from a response.
  async function errorText(resp) {
    try {
      const body = await resp.json();
      if (body && typeof body.error === 'string') return body.error;
    } catch (_) { /* not JSON */ }
    return resp.status + ' ' + resp.statusText;
  }

  // byIdDesc orders job ids newest first; ids are decimal numbers.
  function byIdDesc(a, b) {
    if (a.length !== b.length) return b.length - a.length;
    return a < b ? 1 : a > b ? -1 : 0;
  }

  function fmtNum(n) { return Number(n).toLocaleString(); }
  function fmtRate(r) { return r >= 100 ? r.toFixed(0) : r >= 10 ? r.toFixed(1) : r.toFixed(2); }
  function fmtTime(s) { return s ? new Date(s).toLocaleTimeString() : ''; }
  // fmtWhen shows time s, with its date unless it is today.
  function fmtWhen(s) {
    const d = new Date(s);
    return d.toDateString() === new Date().toDateString() ? d.toLocaleTimeString() : d.toLocaleString();
  }
  function fmtTook(j) {
    if (!j.started_at || !j.finished_at) return '';
    const ms = new Date(j.finished_at) - new Date(j.started_at);
    return ms < 1000 ? ms + ' ms' : (ms / 1000).toFixed(2) + ' s';
  }

  // --- The jobs table ----------------------------------------------------

  const final = (state) => state === 'done' || state === 'failed' || state === 'canceled';

  // upsert shows job j, as an event told it (the stream gives each job's
  // changes in order, a retry's return to queued included): it updates its
  // row in place, or adds one in id order.
  function upsert(j) {
    if (!j || typeof j.id !== 'string') return;
    if (touched) touched.add(j.id);
    show(j);
    if (j.id === detail.id) loadDetail();
  }

  // upsertListed shows job j from a listing, which may be older than the
  // events that came while it was fetched: those win.
  function upsertListed(j) {
    if (!j || typeof j.id !== 'string' || (touched && touched.has(j.id))) return;
    upsertAnswer(j);
  }

  // upsertAnswer shows job j from an answer to a request, which may come
  // after the job's later events: it never takes a finished row back.
  function upsertAnswer(j) {
    if (!j || typeof j.id !== 'string') return;
    const tr = rows.get(j.id);
    if (tr && final(tr.dataset.state) && !final(j.state)) return; // an older view of a finished job
    show(j);
  }

  // show writes job j into its row, adding the row if needed.
  function show(j) {
    let tr = rows.get(j.id);
    if (!tr) {
      tr = newRow(j.id);
      const tbody = $('job-rows');
      let before = null;
      for (const row of tbody.rows) {
        if (byIdDesc(j.id, row.dataset.id) < 0) { before = row; break; }
      }
      tbody.insertBefore(tr, before);
      rows.set(j.id, tr);
      trim();
    }
    fillRow(tr, j);
    countStates();
  }

  // newRow returns an empty row for job id.
  function newRow(id) {
    const tr = el('tr');
    tr.dataset.id = id;
    for (const c of ['id', 'name', 'state', 'worker', 'delay', 'enqueued', 'took', 'action']) {
      tr.appendChild(el('td', c));
    }
    return tr;
  }

  // fillRow writes job j into its row tr.
  function fillRow(tr, j) {
    const [id, name, state, worker, delay, enqueued, took, action] = tr.cells;
    tr.dataset.state = j.state;
    tr.dataset.attempts = String(j.attempts || 0);
    tr.dataset.finishedAt = j.finished_at || '';
    if (!id.firstChild) {
      const open = el('button', 'open', j.id);
      open.type = 'button';
      open.setAttribute('aria-controls', 'detail');
      open.setAttribute('aria-expanded', String(detail.id === j.id));
      open.title = 'Show job ' + j.id + "'s detail";
      id.appendChild(open);
    }
    name.replaceChildren(el('span', '', j.name));
    if (j.error) name.appendChild(el('div', 'err', j.error));
    state.replaceChildren(el('span', 'state state-' + j.state, j.state));
    const when = whenText(j);
    if (when) state.appendChild(el('span', 'when', when));
    worker.textContent = j.claimed_by ? j.claimed_by : j.worker ? String(j.worker) : '';
    worker.classList.toggle('remote', !!j.claimed_by);
    delay.textContent = j.delay || '';
    enqueued.textContent = fmtTime(j.enqueued_at);
    took.textContent = fmtTook(j);
    action.replaceChildren();
    if (j.state === 'queued' || j.state === 'running') {
      const b = el('button', 'cancel', 'Cancel');
      b.type = 'button';
      b.dataset.id = j.id;
      b.addEventListener('click', () => cancelJob(j.id, b));
      action.appendChild(b);
    } else if (j.state === 'failed' || j.state === 'canceled') {
      const b = el('button', 'retry', 'Retry');
      b.type = 'button';
      b.dataset.id = j.id;
      b.title = 'Run job ' + j.id + ' again';
      b.addEventListener('click', () => retryJob(j.id, b));
      action.appendChild(b);
    }
    markEarlier(tr);
  }

  // whenText says when a queued job is to run: at its run_at if that is
  // still to come (a scheduled job), or at its retry_at (a failed attempt's
  // backoff); '' for any other job.
  function whenText(j) {
    if (j.state !== 'queued') return '';
    if (j.run_at && new Date(j.run_at) > Date.now()) return 'runs ' + fmtWhen(j.run_at);
    if (j.retry_at) return 'retries ' + fmtWhen(j.retry_at);
    return '';
  }

  // markEarlier marks row tr if its job finished before the server's
  // counters began: a finished job a journal kept from an earlier start,
  // counted by that start, not this one.
  function markEarlier(tr) {
    const f = tr.dataset.finishedAt;
    const earlier = !!(startedAt && f && new Date(f) < startedAt);
    tr.classList.toggle('earlier', earlier);
    const cell = tr.cells[2];
    let tag = cell.querySelector('.tag');
    if (earlier && !tag) {
      tag = el('span', 'tag', 'earlier');
      tag.title = 'finished before the server started, ' + fmtWhen(startedAt.toISOString()) + ': not in the counters';
      cell.appendChild(tag);
    } else if (!earlier && tag) {
      tag.remove();
    }
  }

  // trim keeps the table at MAX_ROWS rows, dropping the oldest.
  function trim() {
    const tbody = $('job-rows');
    while (tbody.rows.length > MAX_ROWS) {
      const last = tbody.rows[tbody.rows.length - 1];
      rows.delete(last.dataset.id);
      last.remove();
    }
  }

  // countStates counts the listed failed jobs (the filter's number), and
  // says beside the counters how many listed jobs finished before the
  // server's start, which the counters do not count.
  function countStates() {
    let failed = 0, earlier = 0;
    for (const tr of rows.values()) {
      if (tr.dataset.state === 'failed') failed++;
      if (tr.classList.contains('earlier')) earlier++;
    }
    $('failed-count').textContent = String(failed);
    let text = startedAt ? 'Counted since the server started, ' + fmtWhen(startedAt.toISOString())
      : 'Counted since the server started';
    if (earlier) text += '; the list also holds ' + earlier + (earlier === 1 ? ' job' : ' jobs') + ' finished before, marked earlier';
    $('since').textContent = text + '.';
  }

  // loadJobs fetches the newest jobs; a server without GET /work lists
  // none, and the table fills from the events alone.
  async function loadJobs() {
    const seen = new Set();
    touched = seen;
    try {
      const resp = await fetch('/work?limit=100', { headers: { Accept: 'application/json' } });
      if (!resp.ok) return;
      const body = await resp.json();
      if (body && Array.isArray(body.jobs)) body.jobs.forEach(upsertListed);
      say($('jobs-msg'), '');
    } catch (err) {
      say($('jobs-msg'), 'cannot list jobs: ' + err.message, true);
    } finally {
      if (touched === seen) touched = null;
    }
  }

  async function cancelJob(id, button) {
    button.disabled = true;
    try {
      const resp = await fetch('/work/' + encodeURIComponent(id), { method: 'DELETE' });
      if (resp.ok) {
        upsertAnswer(await resp.json());
        say($('jobs-msg'), 'job ' + id + ' canceled');
      } else {
        say($('jobs-msg'), 'cannot cancel job ' + id + ': ' + await errorText(resp), true);
        button.disabled = false;
      }
    } catch (err) {
      say($('jobs-msg'), 'cannot cancel job ' + id + ': ' + err.message, true);
      button.disabled = false;
    }
  }

  // retryJob asks the server to run failed or canceled job id again. The
  // job's events turn its row queued; the answer does too, if no event has
  // yet (the row still shows the finish the retry undid).
  async function retryJob(id, button) {
    button.disabled = true;
    try {
      const resp = await fetch('/work/' + encodeURIComponent(id) + '/retry', { method: 'POST' });
      if (resp.ok) {
        const j = await resp.json();
        const tr = rows.get(id);
        if (tr && (tr.dataset.state === 'failed' || tr.dataset.state === 'canceled') &&
            tr.dataset.attempts === String(j.attempts || 0)) show(j);
        say($('jobs-msg'), 'job ' + id + ' queued again');
        if (id === detail.id) loadDetail();
      } else {
        say($('jobs-msg'), 'cannot retry job ' + id + ': ' + await errorText(resp), true);
        button.disabled = false;
      }
    } catch (err) {
      say($('jobs-msg'), 'cannot retry job ' + id + ': ' + err.message, true);
      button.disabled = false;
    }
  }

  // --- A job's detail ------------------------------------------------------

  // The fields of a job's detail, in order, with their labels and how each
  // is shown; a field the server sends that is not here is shown after
  // them, under its own name.
  const FIELDS = [
    ['name', 'Name', 'text'],
    ['state', 'State', 'text'],
    ['attempts', 'Attempts', 'text'],
    ['retries', 'Retries', 'text'],
    ['timeout', 'Timeout', 'text'],
    ['delay', 'Delay', 'text'],
    ['run_at', 'Runs at', 'time'],
    ['retry_at', 'Next attempt at', 'time'],
    ['worker', 'Worker', 'text'],
    ['claimed_by', 'Claimed by', 'text'],
    ['lease_expires_at', 'Lease expires at', 'time'],
    ['enqueued_at', 'Enqueued at', 'time'],
    ['started_at', 'Started at', 'time'],
    ['finished_at', 'Finished at', 'time'],
    ['error', 'Error', 'block'],
    ['output', 'Output', 'block'],
    ['payload', 'Payload', 'json'],
    ['payload_bytes', 'Payload size (bytes)', 'text'],
    ['payload_dropped', 'Payload', 'dropped'],
  ];
  const SHOWN_ELSEWHERE = new Set(['id', 'output_truncated']);

  // openDetail opens the detail of job id, or closes it if it is open.
  function openDetail(id) {
    if (detail.id === id) { closeDetail(); return; }
    detail.id = id;
    $('detail-id').textContent = id;
    $('detail-fields').replaceChildren();
    say($('detail-msg'), 'loading…');
    $('detail').hidden = false;
    $('detail-close').focus({ preventScroll: true });
    markOpen();
    loadDetail();
  }

  function closeDetail() {
    const id = detail.id;
    detail.id = null;
    $('detail').hidden = true;
    markOpen();
    const b = rows.get(id)?.querySelector('button.open');
    if (b) b.focus();
  }

  // markOpen marks the row whose detail is open.
  function markOpen() {
    for (const [id, tr] of rows) {
      tr.classList.toggle('open', id === detail.id);
      const b = tr.cells[0].querySelector('button.open');
      if (b) b.setAttribute('aria-expanded', String(id === detail.id));
    }
  }

  // loadDetail fetches the open job from GET /work/{id} and shows it; a
  // change that comes while it is fetched fetches it again after.
  async function loadDetail() {
    if (!detail.id) return;
    if (detail.loading) { detail.again = true; return; }
    const id = detail.id;
    detail.loading = true;
    try {
      const resp = await fetch('/work/' + encodeURIComponent(id), { headers: { Accept: 'application/json' } });
      if (detail.id !== id) return;
      if (!resp.ok) {
        say($('detail-msg'), 'cannot show job ' + id + ': ' + await errorText(resp), true);
        return;
      }
      const j = await resp.json();
      if (detail.id !== id) return;
      fillDetail(j);
      say($('detail-msg'), '');
    } catch (err) {
      if (detail.id === id) say($('detail-msg'), 'cannot show job ' + id + ': ' + err.message, true);
    } finally {
      detail.loading = false;
      if (detail.again) { detail.again = false; loadDetail(); }
    }
  }

  // fillDetail shows job j's fields, each a <dt> and a <dd data-field=...>,
  // every value as text: a payload is pretty-printed JSON in a <pre>.
  function fillDetail(j) {
    const dl = $('detail-fields');
    const items = [];
    const add = (key, label, node) => {
      const dd = el('dd');
      dd.dataset.field = key;
      dd.appendChild(node);
      items.push(el('dt', '', label), dd);
    };
    const known = new Set(SHOWN_ELSEWHERE);
    for (const [key, label, kind] of FIELDS) {
      known.add(key);
      const v = j[key];
      if (v === undefined || v === null || v === '' || (key === 'worker' && !v)) continue;
      if (kind === 'time') {
        const t = el('time', '', fmtWhen(v));
        t.dateTime = String(v);
        t.title = String(v);
        add(key, label, t);
      } else if (kind === 'block') {
        const pre = el('pre', key, String(v));
        if (key === 'output' && j.output_truncated) {
          const frag = document.createDocumentFragment();
          frag.append(el('p', 'note', 'its beginning was cut: the newest part is kept'), pre);
          add(key, label, frag);
        } else {
          add(key, label, pre);
        }
      } else if (kind === 'json') {
        add(key, label, el('pre', 'payload', JSON.stringify(v, null, 2)));
      } else if (kind === 'dropped') {
        if (v === true) add(key, label, el('span', 'note', 'dropped: the server keeps the payloads of newer finished jobs only'));
      } else {
        add(key, label, document.createTextNode(String(v)));
      }
    }
    for (const key of Object.keys(j)) {
      if (known.has(key)) continue;
      const v = j[key];
      add(key, key, typeof v === 'string' ? document.createTextNode(v) : el('pre', '', JSON.stringify(v, null, 2)));
    }
    dl.replaceChildren(...items);
  }

  // --- Stats, rates and the chart ------------------------------------------

  function onStats(s) {
    const now = performance.now() / 1000;
    samples.push({ t: now, s });
    while (samples.length && samples[0].t < now - WINDOW_S) samples.shift();

    $('busy').textContent = fmtNum(s.busy);
    $('workers').textContent = fmtNum(s.workers);
    $('busy-bar').style.width = pct(s.busy, s.workers);
    $('qlen').textContent = fmtNum(s.queue_length);
    $('qcap').textContent = fmtNum(s.queue_capacity);
    $('queue-bar').style.width = pct(s.queue_length, s.queue_capacity);
    showRemote(s);
    if (typeof s.started_at === 'string') {
      const t = new Date(s.started_at);
      if (!startedAt || t.getTime() !== startedAt.getTime()) {
        startedAt = t;
        for (const tr of rows.values()) markEarlier(tr);
        countStates();
      }
    }
    if (poolSize !== s.workers) {
      poolSize = s.workers;
      if (document.activeElement !== $('resize-n')) $('resize-n').value = String(s.workers);
    }
    const past = samples.find((x) => x.t >= now - RATE_S) || samples[0];
    const dt = now - past.t;
    for (const c of COUNTERS) {
      $('n-' + c).textContent = fmtNum(s[c]);
      $('r-' + c).textContent = fmtRate(dt > 0 ? Math.max(0, s[c] - past.s[c]) / dt : 0);
    }
    draw();
  }

  // showRemote shows the remote workers beside the local ones, when the
  // server counts them (remote_running: jobs leased to remote workers now;
  // remote_waiting: remote workers waiting in a claim now).
  function showRemote(s) {
    const has = typeof s.remote_running === 'number' || typeof s.remote_waiting === 'number';
    $('remote').hidden = !has;
    $('workers-what').textContent = has ? 'local: busy / total' : 'busy / total';
    if (!has) return;
    $('remote-running').textContent = fmtNum(s.remote_running || 0);
    $('remote-waiting').textContent = fmtNum(s.remote_waiting || 0);
  }

  function pct(n, of) { return (of > 0 ? Math.min(100, 100 * n / of) : 0) + '%'; }

  function finished(s) { return s.done + s.failed + s.canceled; }

  // draw redraws the chart: finished jobs per second as an area (left
  // scale) and the queue length as a line (right scale), over WINDOW_S.
  function draw() {
    const canvas = $('chart');
    const ratio = window.devicePixelRatio || 1;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    if (!w || !h) return;
    if (canvas.width !== Math.round(w * ratio) || canvas.height !== Math.round(h * ratio)) {
      canvas.width = Math.round(w * ratio);
      canvas.height = Math.round(h * ratio);
    }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const css = getComputedStyle(document.documentElement);
    const color = (name) => css.getPropertyValue(name).trim();
    const pad = { l: 44, r: 44, t: 8, b: 20 };
    const pw = w - pad.l - pad.r, ph = h - pad.t - pad.b;
    const now = performance.now() / 1000;
    const x = (t) => pad.l + pw * (1 - (now - t) / WINDOW_S);

    const rates = [];
    for (let i = 1; i < samples.length; i++) {
      const a = samples[i - 1], b = samples[i];
      rates.push({ t: b.t, v: Math.max(0, finished(b.s) - finished(a.s)) / Math.max(b.t - a.t, 1e-3) });
    }
    const maxRate = niceMax(Math.max(1, ...rates.map((r) => r.v)));
    const maxQueue = niceMax(Math.max(1, ...samples.map((x) => x.s.queue_length)));

    ctx.font = '11px system-ui, sans-serif';
    ctx.lineWidth = 1;
    ctx.strokeStyle = color('--line');
    ctx.fillStyle = color('--muted');
    for (let i = 0; i <= 4; i++) {
      const y = pad.t + ph * i / 4;
      ctx.beginPath(); ctx.moveTo(pad.l, y); ctx.lineTo(pad.l + pw, y); ctx.stroke();
      ctx.textAlign = 'right';
      ctx.fillText(fmtRate(maxRate * (4 - i) / 4), pad.l - 6, y + 4);
      ctx.textAlign = 'left';
      ctx.fillText(fmtNum(Number((maxQueue * (4 - i) / 4).toFixed(1))), pad.l + pw + 6, y + 4);
    }
    ctx.textAlign = 'center';
    for (const m of [5, 4, 3, 2, 1, 0]) {
      ctx.fillText(m ? '-' + m + ' min' : 'now', pad.l + pw * (1 - m / 5), h - 4);
    }

    if (rates.length) {
      ctx.beginPath();
      ctx.moveTo(x(rates[0].t), pad.t + ph);
      for (const r of rates) ctx.lineTo(x(r.t), pad.t + ph * (1 - r.v / maxRate));
      ctx.lineTo(x(rates[rates.length - 1].t), pad.t + ph);
      ctx.closePath();
      ctx.globalAlpha = 0.25;
      ctx.fillStyle = color('--accent');
      ctx.fill();
      ctx.globalAlpha = 1;
      ctx.strokeStyle = color('--accent');
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      rates.forEach((r, i) => { const f = i ? 'lineTo' : 'moveTo'; ctx[f](x(r.t), pad.t + ph * (1 - r.v / maxRate)); });
      ctx.stroke();
    }
    if (samples.length) {
      ctx.strokeStyle = color('--queue');
      ctx.lineWidth = 2;
      ctx.beginPath();
      samples.forEach((p, i) => {
        const f = i ? 'lineTo' : 'moveTo';
        ctx[f](x(p.t), pad.t + ph * (1 - p.s.queue_length / maxQueue));
      });
      ctx.stroke();
    }
  }

  // niceMax rounds v up to 1, 2 or 5 times a power of ten.
  function niceMax(v) {
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
    return 10 * p;
  }

  // --- Forms -----------------------------------------------------------

  async function submitJob(ev) {
    ev.preventDefault();
    const msg = $('submit-msg');
    const body = { name: $('job-name').value };
    const delay = $('job-delay').value.trim();
    if (delay) body.delay = delay;
    try {
      const resp = await fetch('/work', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
      if (!resp.ok) {
        say(msg, 'not accepted: ' + await errorText(resp), true);
        return;
      }
      const j = await resp.json();
      upsertAnswer(j);
      say(msg, 'job ' + j.id + ' queued');
      $('job-name').value = '';
    } catch (err) {
      say(msg, 'cannot submit: ' + err.message, true);
    }
  }

  // loadPool shows the resize control if the server has GET /workers.
  async function loadPool() {
    try {
      const resp = await fetch('/workers', { headers: { Accept: 'application/json' } });
      if (!resp.ok) return;
      const pool = await resp.json();
      $('resize-n').value = String(pool.target ?? pool.workers);
      $('resize').hidden = false;
      if (!samples.length) showRemote(pool);
    } catch (_) { /* no resize control */ }
  }

  async function resize(ev) {
    ev.preventDefault();
    const msg = $('resize-msg');
    const n = Number($('resize-n').value);
    try {
      const resp = await fetch('/workers', {
        method: 'PUT',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ workers: n }),
      });
      if (!resp.ok) {
        say(msg, 'cannot resize: ' + await errorText(resp), true);
        return;
      }
      const pool = await resp.json();
      say(msg, 'target ' + pool.target + ' workers');
    } catch (err) {
      say(msg, 'cannot resize: ' + err.message, true);
    }
  }

  // --- The live connection -------------------------------------------------

  // connect opens the event stream. The browser reconnects by itself after
  // a dropped connection (a server restart); if the server refused the
  // stream outright, connect tries again a little later. Each (re)connect
  // reloads the jobs list, since events may have been missed meanwhile.
  function connect() {
    const conn = $('conn');
    const es = new EventSource('/events');
    es.addEventListener('open', () => {
      conn.dataset.state = 'live';
      conn.textContent = 'live';
      loadJobs();
      loadPool();
    });
    es.addEventListener('error', () => {
      const closed = es.readyState === EventSource.CLOSED;
      conn.dataset.state = closed ? 'closed' : 'reconnecting';
      conn.textContent = 'reconnecting…';
      if (closed) setTimeout(connect, 3000);
    });
    // A reset: the server is another process life (or the events the page
    // missed are gone); the jobs it now sends are the whole state.
    es.addEventListener('reset', () => {
      rows.clear();
      $('job-rows').replaceChildren();
      countStates();
      loadDetail();
    });
    es.addEventListener('job', (ev) => upsert(JSON.parse(ev.data)));
    es.addEventListener('stats', (ev) => onStats(JSON.parse(ev.data)));
  }

  $('submit').addEventListener('submit', submitJob);
  $('resize').addEventListener('submit', resize);
  // A click on a row, but not on its buttons, opens its job's detail; the
  // id's button does it from the keyboard.
  $('job-rows').addEventListener('click', (ev) => {
    const tr = ev.target.closest('tr');
    if (!tr || !tr.dataset.id) return;
    const b = ev.target.closest('button');
    if (b && !b.classList.contains('open')) return;
    if (!b && getSelection().toString()) return; // selecting text, not opening
    openDetail(tr.dataset.id);
  });
  $('detail-close').addEventListener('click', closeDetail);
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && detail.id) closeDetail();
  });
  $('only-failed').addEventListener('change', (ev) => {
    $('jobs').classList.toggle('only-failed', ev.target.checked);
  });
  new ResizeObserver(draw).observe($('chart'));
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', draw);
  connect();
})();
