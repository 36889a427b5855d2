// facepipe web console: plain JavaScript on facepipe's HTTP API (/api/v1/openapi.json), no build step.
// Every piece of data reaches the page through textContent or attributes set one by one (el() below),
// never through innerHTML, so a name such as <img src=x onerror=alert(1)> shows as text.
'use strict';

const KEY_STORAGE = 'facepipe.key';
const MAX_EVENTS = 200;
const state = {
  key: sessionStorage.getItem(KEY_STORAGE) || '',
  people: [],
  events: [],          // newest first
  seenSeq: new Set(),
  cameras: new Set(),
  stream: null,        // AbortController of the live stream
  blobs: new Map(),    // url path -> object URL (images need the key header, so they are fetched)
  metricsPrev: null,
  timer: null,
};

// ---- small helpers ----

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

const $ = (id) => document.getElementById(id);

function say(message) {
  const s = $('status');
  s.textContent = message;
  clearTimeout(say.timer);
  say.timer = setTimeout(() => { s.textContent = ''; }, 4000);
}

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || ('HTTP ' + status));
    this.status = status;
    this.code = body && (body.error || body.code);
    this.body = body;
  }
}

async function api(path, options = {}) {
  const headers = Object.assign({ 'x-api-key': state.key }, options.headers || {});
  let body = options.body;
  if (options.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.json);
  }
  const res = await fetch(path, { method: options.method || 'GET', headers, body, cache: 'no-store' });
  if (res.status === 401 && path !== '/api/v1/people?size=1') { logout('Your key was refused; log in again.'); }
  const type = res.headers.get('content-type') || '';
  const data = type.includes('json') ? await res.json().catch(() => null) : await res.blob();
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

const enc = encodeURIComponent;

// An image the API serves (thumbnails, snapshots) as an object URL, fetched once with the key.
async function imageUrl(path) {
  if (state.blobs.has(path)) return state.blobs.get(path);
  const blob = await api(path);
  const url = URL.createObjectURL(blob);
  state.blobs.set(path, url);
  return url;
}

function img(path, alt, cls) {
  const node = el('img', { alt, class: cls, loading: 'lazy' });
  if (path) imageUrl(path).then((u) => { node.src = u; }).catch(() => { node.alt = alt + ' (image gone)'; });
  return node;
}

function timeText(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return isNaN(d) ? String(iso) : d.toLocaleString();
}

// A modal dialog; resolves with the fields' values, or null when cancelled.
function ask({ title, text, fields = [], ok = 'OK', danger = false, check }) {
  const dialog = $('dialog');
  $('dialog-title').textContent = title;
  $('dialog-text').textContent = text || '';
  $('dialog-error').textContent = '';
  const box = $('dialog-fields');
  box.replaceChildren();
  const inputs = {};
  fields.forEach((f, i) => {
    const id = 'dialog-field-' + i;
    const input = f.multiline
      ? el('textarea', { id, name: f.name })
      : el('input', { id, name: f.name, list: f.list, maxlength: f.maxlength, autocomplete: 'off', required: f.required });
    input.value = f.value || '';
    inputs[f.name] = input;
    box.append(el('label', { for: id, text: f.label }), input);
  });
  const okButton = $('dialog-ok');
  okButton.textContent = ok;
  okButton.className = danger ? 'danger' : '';
  return new Promise((resolve) => {
    const form = $('dialog-form');
    const done = (value) => {
      form.removeEventListener('submit', onSubmit);
      $('dialog-cancel').removeEventListener('click', onCancel);
      dialog.removeEventListener('cancel', onCancel);
      dialog.close();
      resolve(value);
    };
    const onSubmit = (e) => {
      e.preventDefault();
      const values = {};
      for (const [k, input] of Object.entries(inputs)) values[k] = input.value;
      const problem = check && check(values);
      if (problem) { $('dialog-error').textContent = problem; return; }
      done(values);
    };
    const onCancel = (e) => { e.preventDefault(); done(null); };
    form.addEventListener('submit', onSubmit);
    $('dialog-cancel').addEventListener('click', onCancel);
    dialog.addEventListener('cancel', onCancel);
    dialog.showModal();
    const first = Object.values(inputs)[0];
    (first || okButton).focus();
  });
}

// ---- login and navigation ----

async function login(key) {
  state.key = key;
  try {
    await api('/api/v1/people?size=1');
  } catch (e) {
    state.key = '';
    throw e;
  }
  sessionStorage.setItem(KEY_STORAGE, key);
}

function logout(message) {
  sessionStorage.removeItem(KEY_STORAGE);
  state.key = '';
  if (state.stream) state.stream.abort();
  state.stream = null;
  clearInterval(state.timer);
  $('nav').hidden = true;
  if (message) $('login-error').textContent = message;
  location.hash = '';
  show('login');
}

function show(page) {
  for (const section of document.querySelectorAll('.page')) section.hidden = section.id !== 'page-' + page;
  for (const a of document.querySelectorAll('#nav a'))
    if (a.dataset.page === page) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  clearInterval(state.timer);
  if (page === 'people') loadPeople();
  if (page === 'events') renderEvents();
  if (page === 'unknowns') loadUnknowns();
  if (page === 'system') { loadSystem(); state.timer = setInterval(loadSystem, 5000); }
}

function route() {
  if (!state.key) return show('login');
  $('nav').hidden = false;
  const page = (location.hash || '#people').slice(1);
  show(['people', 'events', 'unknowns', 'system'].includes(page) ? page : 'people');
  startStream();
}

// ---- people ----

async function loadPeople() {
  let data;
  try {
    data = await api('/api/v1/people?size=200');
  } catch (e) {
    return say('Cannot list people: ' + e.message);
  }
  state.people = data.people;
  const list = $('people-list');
  list.replaceChildren(...data.people.map(personCard));
  $('people-empty').hidden = data.people.length > 0;
  updatePeopleNames();
}

function updatePeopleNames() {
  const names = state.people.map((p) => p.name);
  $('people-names').replaceChildren(...names.map((n) => el('option', { value: n })));
  const select = $('filter-person');
  const chosen = select.value;
  const known = new Set(names);
  for (const e of state.events) if (e.known && e.name) known.add(e.name);
  select.replaceChildren(el('option', { value: '', text: 'everyone' }),
    ...[...known].sort().map((n) => el('option', { value: n, text: n })));
  select.value = chosen;
}

function personCard(p) {
  const path = '/api/v1/people/' + enc(p.name);
  const results = el('ul', { class: 'results', 'aria-live': 'polite' });
  const fileInput = el('input', { type: 'file', accept: 'image/jpeg,image/png', multiple: true,
    'aria-label': 'Add photos of ' + p.name });
  fileInput.addEventListener('change', () => { upload(p.name, [...fileInput.files], results); fileInput.value = ''; });
  const drop = el('div', { class: 'drop' }, 'Drop photos here or choose: ', fileInput);
  const card = el('li', { class: 'card person', 'data-name': p.name });
  card.addEventListener('dragover', (e) => { e.preventDefault(); card.classList.add('dragging'); });
  card.addEventListener('dragleave', () => card.classList.remove('dragging'));
  card.addEventListener('drop', (e) => {
    e.preventDefault();
    card.classList.remove('dragging');
    upload(p.name, [...e.dataTransfer.files], results);
  });
  const record = el('dl', { class: 'record' });
  for (const [k, v] of Object.entries(p.record || {}))
    record.append(el('dt', { text: k }), el('dd', { text: typeof v === 'string' ? v : JSON.stringify(v) }));
  const thumbs = el('ul', { class: 'thumbs', 'aria-label': 'Faces of ' + p.name });
  for (const f of p.face_ids) {
    thumbs.append(el('li', {},
      f.has_image ? img('/api/v1/faces/' + enc(f.id) + '/thumbnail', 'face of ' + p.name) : el('span', { text: 'no image' }),
      el('button', { type: 'button', class: 'remove-face', title: 'Remove this face', 'aria-label': 'Remove this face of ' + p.name,
        onclick: () => removeFace(p, f.id) }, '×')));
  }
  const more = p.faces > p.face_ids.length ? el('p', { class: 'meta', text: '+ ' + (p.faces - p.face_ids.length) + ' more faces' }) : null;
  card.append(
    el('h3', { class: 'person-name', text: p.name }),
    el('p', { class: 'meta face-count', text: p.faces + (p.faces === 1 ? ' face' : ' faces') }),
    ...[record, thumbs, more, drop, results].filter(Boolean),
    el('div', { class: 'actions' },
      el('button', { type: 'button', class: 'secondary', onclick: () => renamePerson(p) }, 'Rename'),
      el('button', { type: 'button', class: 'secondary', onclick: () => editRecord(p) }, 'Edit record'),
      el('button', { type: 'button', class: 'danger delete-person', onclick: () => deletePerson(p) }, 'Delete')));
  return card;
}

const PHOTO_PROBLEMS = {
  no_face: 'no face found',
  several_faces: 'several faces',
  poor_quality: 'poor quality',
  duplicate: 'already enrolled',
  bad_image: 'not a readable photo',
  too_large: 'too large',
};

async function upload(name, files, results) {
  const photos = files.filter((f) => f.type === 'image/jpeg' || f.type === 'image/png' || /\.(jpe?g|png)$/i.test(f.name));
  if (photos.length < files.length) results.append(el('li', { class: 'bad', text: (files.length - photos.length) + ' file(s) skipped: only JPEG and PNG photos' }));
  let added = 0;
  for (const file of photos) {
    const line = el('li', { class: 'wait', text: file.name + ': checking…' });
    results.append(line);
    if (file.size > 6 * 1024 * 1024) { line.className = 'bad'; line.textContent = file.name + ': too large (over 6 MB)'; continue; }
    const form = new FormData();
    form.append('file', file, file.name);
    try {
      await api('/api/v1/people/' + enc(name) + '/faces', { method: 'POST', body: form });
      line.className = 'ok';
      line.textContent = file.name + ': added';
      added++;
    } catch (e) {
      line.className = 'bad';
      line.textContent = file.name + ': ' + (PHOTO_PROBLEMS[e.code] ? PHOTO_PROBLEMS[e.code] + ' — ' : '') + e.message;
    }
  }
  if (added) {
    say(added + ' photo(s) added to ' + name);
    const kept = [...results.children];
    await loadPeople();
    const card = [...document.querySelectorAll('.person')].find((c) => c.dataset.name === name);
    if (card) card.querySelector('.results').append(...kept);
  }
}

async function removeFace(p, id) {
  const answer = await ask({ title: 'Remove this face?', text: 'This erases the face image and its embedding from ' + p.name + '.', ok: 'Remove', danger: true });
  if (!answer) return;
  try {
    await api('/api/v1/faces/' + enc(id), { method: 'DELETE' });
    say('Face removed');
  } catch (e) { say('Cannot remove the face: ' + e.message); }
  loadPeople();
}

async function renamePerson(p) {
  const v = await ask({ title: 'Rename ' + p.name, fields: [{ name: 'name', label: 'New name', value: p.name, required: true, maxlength: 255 }], ok: 'Rename',
    check: (v) => (v.name.trim() ? '' : 'Give a name') });
  if (!v || v.name === p.name) return;
  try {
    await api('/api/v1/people/' + enc(p.name), { method: 'PATCH', json: { name: v.name } });
    say('Renamed to ' + v.name);
  } catch (e) { say('Cannot rename: ' + e.message); }
  loadPeople();
}

async function editRecord(p) {
  const v = await ask({ title: 'Record of ' + p.name, text: 'A JSON object, e.g. {"major": "Physics", "year": 2}.',
    fields: [{ name: 'record', label: 'Record (JSON)', value: JSON.stringify(p.record || {}, null, 2), multiline: true }], ok: 'Save',
    check: (v) => { try { const r = JSON.parse(v.record); return r && typeof r === 'object' && !Array.isArray(r) ? '' : 'The record must be a JSON object'; } catch (e) { return 'Not valid JSON: ' + e.message; } } });
  if (!v) return;
  try {
    await api('/api/v1/people/' + enc(p.name) + '/record', { method: 'PUT', json: JSON.parse(v.record) });
    say('Record saved');
  } catch (e) { say('Cannot save the record: ' + e.message); }
  loadPeople();
}

async function deletePerson(p) {
  const v = await ask({ title: 'Delete ' + p.name + '?',
    text: 'This erases ' + p.name + ' for good: ' + p.faces + (p.faces === 1 ? ' face image' : ' face images') +
      ' and their embeddings, the record, and the recent events and snapshots that show them.',
    ok: 'Delete ' + p.name, danger: true });
  if (!v) return;
  try {
    await api('/api/v1/people/' + enc(p.name), { method: 'DELETE' });
    say(p.name + ' deleted');
    state.events = state.events.filter((e) => e.name !== p.name);
  } catch (e) { say('Cannot delete: ' + e.message); }
  loadPeople();
}

$('new-person').addEventListener('submit', async (e) => {
  e.preventDefault();
  const input = $('new-person-name');
  try {
    await api('/api/v1/people', { method: 'POST', json: { name: input.value } });
    say('Added ' + input.value);
    input.value = '';
    loadPeople();
  } catch (err) { say('Cannot add: ' + err.message); }
});

// ---- events ----

function normaliseBox(box) {
  if (Array.isArray(box) && box.length === 4) return box.map(Number);
  if (box && typeof box === 'object' && 'x_min' in box) return [box.x_min, box.y_min, box.x_max, box.y_max].map(Number);
  return null;
}

function addEvent(e) {
  if (!e || typeof e !== 'object') return;
  if (e.type === 'dropped') return say(e.count + ' events were dropped (this page fell behind)');
  if (e.seq !== undefined) {
    if (state.seenSeq.has(e.seq)) return;
    state.seenSeq.add(e.seq);
  }
  state.events.unshift(e);
  if (state.events.length > MAX_EVENTS) state.events.length = MAX_EVENTS;
  if (e.camera) state.cameras.add(e.camera);
  if (!$('page-events').hidden) {
    if (passes(e)) {
      $('event-list').prepend(eventCard(e));
      const list = $('event-list');
      while (list.children.length > MAX_EVENTS) list.lastChild.remove();
      $('events-empty').hidden = true;
    }
    updateCameraFilter();
  }
  if (!e.known && !$('page-unknowns').hidden) loadUnknowns();
}

function passes(e) {
  const person = $('filter-person').value, camera = $('filter-camera').value;
  if ($('filter-unknown').checked && e.known) return false;
  if (person && e.name !== person) return false;
  if (camera === '-' && e.camera) return false;
  if (camera && camera !== '-' && e.camera !== camera) return false;
  return true;
}

function updateCameraFilter() {
  const select = $('filter-camera');
  const have = new Set([...select.options].map((o) => o.value));
  for (const c of state.cameras) if (!have.has(c)) select.append(el('option', { value: c, text: c }));
}

function renderEvents() {
  updatePeopleNames();
  updateCameraFilter();
  const shown = state.events.filter(passes);
  $('event-list').replaceChildren(...shown.map(eventCard));
  $('events-empty').hidden = shown.length > 0;
}

const EVENT_TITLES = { 'face.entered': 'entered', 'face.identified': 'identified', 'face.left': 'left', recognition: 'recognised' };

function eventCard(e) {
  const known = !!e.known;
  const card = el('li', { class: 'card event ' + (known ? 'known' : 'unknown'), 'data-seq': e.seq, 'data-name': e.name || '' });
  const snap = e.snapshot || {};
  const shot = el('div', { class: 'shot' });
  const box = normaliseBox(e.box);
  if (snap.frame) {
    const frame = img('/api/v1/snapshots/' + snap.frame, 'frame' + (e.camera ? ' from ' + e.camera : ''));
    shot.append(frame);
    if (box) {
      frame.addEventListener('load', () => {
        const w = frame.naturalWidth, h = frame.naturalHeight;
        if (!w || !h) return;
        // Through the CSSOM: the page's Content-Security-Policy refuses style attributes.
        const mark = el('div', { class: 'box' });
        mark.style.left = (100 * box[0] / w).toFixed(2) + '%';
        mark.style.top = (100 * box[1] / h).toFixed(2) + '%';
        mark.style.width = (100 * (box[2] - box[0]) / w).toFixed(2) + '%';
        mark.style.height = (100 * (box[3] - box[1]) / h).toFixed(2) + '%';
        shot.append(mark);
      });
    }
  } else if (snap.face) {
    shot.append(img('/api/v1/snapshots/' + snap.face, 'face'));
  }
  const similarity = typeof e.similarity === 'number' ? Math.round(e.similarity * 100) + '% similar' : '';
  const what = EVENT_TITLES[e.type] || e.type;
  const face = snap.face && snap.frame ? img('/api/v1/snapshots/' + snap.face, 'face of ' + (e.name || 'someone'), 'facecrop') : null;
  card.append(shot,
    el('p', {}, face, el('span', { class: 'name', text: known ? e.name : 'Unknown' }),
      known ? '' : (e.nearest ? el('span', { class: 'meta', text: ' (nearest: ' + e.nearest + ')' }) : ''),
      el('br'), el('span', { class: 'meta', text: [what, similarity, e.camera ? 'camera ' + e.camera : 'upload'].filter(Boolean).join(' · ') }),
      el('br'), el('time', { class: 'meta', datetime: e.time, text: timeText(e.time) })));
  if (e.face_id || snap.face || snap.frame)
    card.append(el('div', { class: 'actions' }, el('button', { type: 'button', class: 'secondary this-is', onclick: () => thisIs(e) }, 'This is…')));
  return card;
}

async function thisIs(e) {
  const v = await ask({ title: 'Who is this?', text: 'The face is added to that person (created when new).',
    fields: [{ name: 'name', label: 'Name', list: 'people-names', required: true, maxlength: 255, value: e.known ? e.name : '' }], ok: 'Add face',
    check: (v) => (v.name.trim() ? '' : 'Give a name') });
  if (!v) return;
  const body = e.face_id ? { event_face: e.face_id }
    : { snapshot: (e.snapshot.frame || e.snapshot.face), box: e.snapshot.frame ? normaliseBox(e.box) : undefined };
  try {
    await api('/api/v1/people/' + enc(v.name) + '/faces', { method: 'POST', json: body });
    say('Face added to ' + v.name);
  } catch (err) { say('Cannot add the face: ' + err.message); }
}

for (const id of ['filter-person', 'filter-camera', 'filter-unknown']) $(id).addEventListener('change', renderEvents);

// The live stream: fetch() rather than EventSource, because EventSource cannot send the key header.
async function startStream() {
  if (state.stream) return;
  const controller = new AbortController();
  state.stream = controller;
  try {
    const recent = await api('/api/v1/events/recent?limit=100');
    for (const e of recent.events) addEvent(e);
  } catch (e) { /* the stream below reports */ }
  let delay = 1000;
  while (!controller.signal.aborted) {
    try {
      const res = await fetch('/api/v1/events?replay=20', { headers: { 'x-api-key': state.key, accept: 'text/event-stream' }, signal: controller.signal, cache: 'no-store' });
      if (res.status === 401) { logout('Your key was refused; log in again.'); return; }
      if (!res.ok || !res.body) throw new Error('HTTP ' + res.status);
      $('live').textContent = 'live';
      $('live').classList.add('on');
      delay = 1000;
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const chunk = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = chunk.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
          if (data) { try { addEvent(JSON.parse(data)); } catch (err) { /* not JSON: ignore */ } }
        }
      }
    } catch (err) {
      if (controller.signal.aborted) return;
    }
    $('live').textContent = 'reconnecting';
    $('live').classList.remove('on');
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 15000);
  }
}

// ---- unknown groups ----

async function loadUnknowns() {
  if (loadUnknowns.busy) { loadUnknowns.again = true; return; }
  loadUnknowns.busy = true;
  try {
    const data = await api('/api/v1/unknowns');
    $('unknown-list').replaceChildren(...data.groups.map(groupRow));
    $('unknowns-empty').hidden = data.groups.length > 0;
  } catch (e) {
    say('Cannot load unknown faces: ' + e.message);
  } finally {
    loadUnknowns.busy = false;
    if (loadUnknowns.again) { loadUnknowns.again = false; setTimeout(loadUnknowns, 500); }
  }
}

function groupRow(g) {
  const thumbs = el('ul', { class: 'thumbs' }, ...g.faces.map((f) => el('li', {}, img(f.snapshot && f.snapshot.face ? '/api/v1/snapshots/' + f.snapshot.face : null, 'unknown face, seen ' + timeText(f.time)))));
  const inputId = 'group-name-' + g.id;
  const input = el('input', { id: inputId, list: 'people-names', maxlength: 255, required: true, placeholder: 'Who is this?' });
  const form = el('form', { class: 'row name-group' }, el('label', { for: inputId, text: 'Name' }), input, el('button', { type: 'submit' }, 'Name this group'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const r = await api('/api/v1/unknowns/' + enc(g.id) + '/name', { method: 'POST', json: { subject: input.value } });
      say(r.enrolled.length + ' faces enrolled as ' + r.person);
      loadUnknowns();
      loadPeopleNames();
    } catch (err) { say('Cannot name the group: ' + err.message); }
  });
  return el('li', { class: 'group', 'data-size': g.size },
    el('p', { class: 'meta', text: g.size + (g.size === 1 ? ' face' : ' faces') + ' · first seen ' + timeText(g.first_seen) + ' · last seen ' + timeText(g.last_seen) }),
    thumbs, form);
}

async function loadPeopleNames() {
  try { state.people = (await api('/api/v1/people?size=200')).people; updatePeopleNames(); } catch (e) { /* shown elsewhere */ }
}

$('unknowns-refresh').addEventListener('click', loadUnknowns);

// ---- cameras and system ----

function parseMetrics(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = line.match(/^([a-zA-Z_:][\w:]*)(\{(.*)\})?\s+(\S+)/);
    if (!m) continue;
    const labels = {};
    if (m[3]) for (const p of m[3].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[p[1]] = p[2];
    out.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return out;
}

function sum(metrics, name, filter = () => true) {
  return metrics.filter((m) => m.name === name && filter(m.labels)).reduce((a, m) => a + m.value, 0);
}

// The q-quantile of a Prometheus histogram, interpolated within its bucket.
function quantile(metrics, name, q) {
  const buckets = new Map();
  for (const m of metrics) if (m.name === name + '_bucket') {
    const le = m.labels.le === '+Inf' ? Infinity : Number(m.labels.le);
    buckets.set(le, (buckets.get(le) || 0) + m.value);
  }
  const sorted = [...buckets.entries()].sort((a, b) => a[0] - b[0]);
  const total = sorted.length ? sorted[sorted.length - 1][1] : 0;
  if (!total) return null;
  let prevLe = 0, prevCount = 0;
  for (const [le, count] of sorted) {
    if (count >= q * total) {
      if (le === Infinity) return prevLe;
      return prevLe + (le - prevLe) * ((q * total - prevCount) / Math.max(1, count - prevCount));
    }
    prevLe = le; prevCount = count;
  }
  return prevLe;
}

function ms(seconds) { return seconds === null ? '—' : (seconds * 1000).toFixed(seconds < 0.1 ? 1 : 0) + ' ms'; }

async function loadSystem() {
  let text, health;
  try {
    const res = await fetch('/metrics', { headers: { 'x-api-key': state.key }, cache: 'no-store' });
    text = await res.text();
    const h = await fetch('/healthz', { cache: 'no-store' });
    health = await h.json().catch(() => ({}));
  } catch (e) { return say('Cannot read /metrics: ' + e.message); }
  const m = parseMetrics(text);
  const now = Date.now();
  const responses = sum(m, 'facepipe_responses_total');
  let perMinute = '—';
  if (state.metricsPrev && now > state.metricsPrev.time)
    perMinute = ((responses - state.metricsPrev.responses) * 60000 / (now - state.metricsPrev.time)).toFixed(1);
  state.metricsPrev = { time: now, responses };
  const queues = new Map();
  for (const x of m) if (x.name === 'facepipe_queue_messages') {
    const q = queues.get(x.labels.queue) || {};
    q[x.labels.state] = x.value;
    queues.set(x.labels.queue, q);
  }
  let dead = 0;
  for (const [name, q] of queues) if (/dlq|dead/.test(name)) dead += (q.visible || 0) + (q.in_flight || 0);
  const stats = [
    ['Health', health.status || '?'],
    ['Recognitions / min', perMinute],
    ['Responses (total)', String(responses)],
    ['Dead letters', String(dead)],
    ['Latency p50', ms(quantile(m, 'facepipe_end_to_end_seconds', 0.5))],
    ['Latency p90', ms(quantile(m, 'facepipe_end_to_end_seconds', 0.9))],
    ['Latency p99', ms(quantile(m, 'facepipe_end_to_end_seconds', 0.99))],
    ['Live event streams', String(sum(m, 'facepipe_event_streams'))],
    ['Events dropped', String(sum(m, 'facepipe_events_dropped_total'))],
  ];
  $('system-stats').replaceChildren(...stats.map(([k, v]) => el('div', {}, el('dt', { text: k }), el('dd', { text: v }))));
  $('queues').tBodies[0].replaceChildren(...[...queues].map(([name, q]) =>
    el('tr', {}, el('td', { text: name }), el('td', { text: String(q.visible || 0) }), el('td', { text: String(q.in_flight || 0) }))));
  // Cameras: /healthz "cameras" when the streams run, else facepipe_camera_* metrics.
  const cams = new Map();
  // serve --camera lists them as [{name, state, fps_in, ...}]; an object keyed by name is read too.
  if (Array.isArray(health.cameras)) {
    for (const c of health.cameras) if (c && c.name) cams.set(String(c.name), Object.assign({}, c));
  } else if (health.cameras && typeof health.cameras === 'object') {
    for (const [name, c] of Object.entries(health.cameras)) cams.set(name, Object.assign({}, c));
  }
  for (const x of m) if (x.name.startsWith('facepipe_camera_') || x.name.startsWith('facepipe_stream_')) {
    const name = x.labels.camera || x.labels.stream;
    if (!name) continue;
    const c = cams.get(name) || {};
    c[x.name.replace(/^facepipe_(camera|stream)_/, '') + (x.labels.state ? '{' + x.labels.state + '}' : '')] = x.value;
    cams.set(name, c);
  }
  const box = $('cameras');
  if (!cams.size) box.replaceChildren(el('p', { class: 'empty', text: 'No cameras report yet.' }));
  else box.replaceChildren(el('div', { class: 'camera-list' }, ...[...cams].map(([name, c]) =>
    el('div', { class: 'card' }, el('h4', { text: name }), el('dl', { class: 'record' },
      ...Object.entries(c).flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: typeof v === 'object' ? JSON.stringify(v) : String(v) })]))))));
}

// ---- start ----

$('login-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  $('login-error').textContent = '';
  try {
    await login($('login-key').value.trim());
    $('login-key').value = '';
    if (!location.hash || location.hash === '#login') location.hash = '#people'; else route();
  } catch (err) {
    $('login-error').textContent = err.status === 401 || err.status === 403 ? 'That key was refused: ' + err.message : 'Cannot reach facepipe: ' + err.message;
  }
});
$('logout').addEventListener('click', () => logout(''));
window.addEventListener('hashchange', route);
route();
