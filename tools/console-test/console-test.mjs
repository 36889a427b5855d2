// The web console in a real browser: Debian's chromium, headless, driven by playwright-core (pinned in
// package.json / package-lock.json; it downloads no browser) against a running `facepipe serve`.
//
//   node console-test.mjs URL ADMIN_KEY DATASETS_DIR OUT_DIR
//
// Prints one JSON line with what was checked and exits non-zero at the first failed check (the message
// says which). Screenshots go to OUT_DIR. Run by tests/console/console_test.cpp.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const [url, key, datasets, outDir] = process.argv.slice(2);
if (!url || !key || !datasets || !outDir) {
  console.error('usage: node console-test.mjs URL ADMIN_KEY DATASETS_DIR OUT_DIR');
  process.exit(2);
}
fs.mkdirSync(outDir, { recursive: true });
const frames = (person) => path.join(datasets, 'video_frames', person);
const frame = (person, n) => path.join(frames(person), `frame_${String(n).padStart(3, '0')}.jpg`);
const XSS = '<img src=x onerror=alert(1)>';
const report = { checks: [] };
const check = (name, ok, detail = '') => {
  report.checks.push(name);
  if (!ok) throw new Error(`check failed: ${name}${detail ? ': ' + detail : ''}`);
};

async function apiCall(method, route, body) {
  const headers = { 'x-api-key': key };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(url + route, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, json, text };
}

// A frame through the function URL, as the course's workload posts it; waits for the recognition.
let requestNumber = 0;
async function postFrame(file) {
  const r = await apiCall('POST', '/?wait=1', {
    request_id: `console-test-${process.pid}-${++requestNumber}`,
    filename: path.basename(file),
    content: fs.readFileSync(file).toString('base64'),
  });
  if (r.status !== 200) throw new Error(`function URL answered ${r.status}: ${r.text}`);
  return r.json;
}

const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'facepipe-console-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1280, height: 900 },
});
const errors = [];
const dialogs = [];
// Refusals the test provokes on purpose (a wrong key, a group photo): Chromium logs each failed request
// as a console error; every other console error fails the test.
const expectedRefusals = [];
const page = context.pages()[0] || await context.newPage();
page.on('console', (msg) => {
  if (msg.type() !== 'error') return;
  const where = msg.location().url || '';
  const i = expectedRefusals.findIndex((e) => msg.text().includes(`status of ${e.status}`) && where.includes(e.path));
  if (i >= 0) { expectedRefusals.splice(i, 1); return; }
  errors.push(`${msg.text()} (${where})`);
});
page.on('pageerror', (e) => errors.push('page error: ' + e.message));
page.on('dialog', async (d) => { dialogs.push(d.message()); await d.dismiss(); });
page.setDefaultTimeout(30000);

try {
  // ---- log in (keyboard only; a wrong key first) ----
  await page.goto(url + '/ui/');
  await page.locator('#login-key').focus();
  expectedRefusals.push({ status: 401, path: '/api/v1/people' });
  await page.keyboard.type('fp_not-a-key');
  await page.keyboard.press('Enter');
  await page.locator('#login-error').filter({ hasText: 'refused' }).waitFor();
  check('a wrong key is refused on the login page', true);
  await page.locator('#login-key').fill(key);
  await page.keyboard.press('Enter');
  await page.locator('#page-people').waitFor({ state: 'visible' });
  check('logs in with a key', await page.evaluate(() => sessionStorage.getItem('facepipe.key') !== null));

  // ---- enrol a bundled person from photos, each checked at once ----
  const obama = 'Barack Obama';
  await page.locator('#new-person-name').fill(obama);
  await page.locator('#new-person button[type=submit]').click();
  const card = page.locator('.person', { has: page.locator('.person-name', { hasText: obama }) });
  await card.waitFor();
  expectedRefusals.push({ status: 422, path: '/faces' });
  await card.locator('input[type=file]').setInputFiles([frame('Obama', 1), frame('Obama', 2), frame('Obama', 3),
    path.join(datasets, 'misc', 'multiface.jpg')]);
  const results = page.locator('.person', { has: page.locator('.person-name', { hasText: obama }) }).locator('.results');
  await results.locator('li.bad').filter({ hasText: 'several faces' }).waitFor();
  await results.locator('li.ok').nth(2).waitFor();
  check('three photos enrolled, the group photo refused as several faces',
    (await results.locator('li.ok').count()) === 3 && (await results.locator('li.bad').count()) === 1);
  await page.locator('.person .face-count', { hasText: '3 faces' }).waitFor();
  await page.locator('.person img[src^="blob:"]').nth(2).waitFor();
  const obamaFaces = (await apiCall('GET', '/api/v1/people/' + encodeURIComponent(obama) + '/faces')).json.faces.map((f) => f.id);
  check('the API lists the three faces', obamaFaces.length === 3, JSON.stringify(obamaFaces));
  await page.screenshot({ path: path.join(outDir, 'console-people.png') });

  // ---- a frame through the function URL appears live with the right name ----
  await page.locator('#nav a[data-page=events]').click();
  await page.locator('#live.on').waitFor();
  const answer = await postFrame(frame('Obama', 15));
  check('the function URL recognises the enrolled person', answer.result === obama, JSON.stringify(answer.result));
  const liveEvent = page.locator('.event.known', { has: page.locator('.name', { hasText: obama }) });
  await liveEvent.first().waitFor();
  await liveEvent.first().locator('.shot img[src^="blob:"]').waitFor();
  await liveEvent.first().locator('.box').waitFor();
  check('the event shows live with the name, similarity and the face box',
    /% similar/.test(await liveEvent.first().innerText()));

  // ---- a stranger's frames form an unknown group; naming it makes them known ----
  for (const n of [1, 2, 4, 6, 8]) {
    const r = await postFrame(frame('Freeman', n));
    check(`stranger frame ${n} is unknown`, r.result === 'Unknown', JSON.stringify(r.result));
  }
  await page.locator('.event.unknown').nth(4).waitFor();
  await page.locator('#filter-unknown').check();
  check('the unknown-only filter shows only unknown faces',
    (await page.locator('.event.known').count()) === 0 && (await page.locator('.event.unknown').count()) >= 5);
  await page.locator('#filter-unknown').uncheck();

  await page.locator('#nav a[data-page=unknowns]').click();
  const group = page.locator('.group').first();
  await group.waitFor();
  const groups = (await apiCall('GET', '/api/v1/unknowns')).json.groups;
  check('the stranger\'s five faces form one group', groups.length === 1 && groups[0].size === 5, JSON.stringify(groups.map((g) => g.size)));
  await group.locator('img[src^="blob:"]').nth(4).waitFor();
  await page.screenshot({ path: path.join(outDir, 'console-unknowns.png') });
  await group.locator('input').fill('Morgan Freeman');
  await group.locator('button[type=submit]').click();
  await page.locator('#status', { hasText: 'enrolled as Morgan Freeman' }).waitFor();
  await page.locator('#unknowns-empty').waitFor({ state: 'visible' });
  const named = await postFrame(frame('Freeman', 9));
  check('after naming the group the stranger is recognised', named.result === 'Morgan Freeman', JSON.stringify(named.result));
  await page.locator('#nav a[data-page=events]').click();
  await page.locator('.event.known .name', { hasText: 'Morgan Freeman' }).first().waitFor();
  await page.locator('.event').nth(3).locator('.shot img[src^="blob:"]').waitFor();
  await page.screenshot({ path: path.join(outDir, 'console-events.png') });

  // ---- "this is ..." on an event's face ----
  await postFrame(frame('Bean', 1));
  const beanEvent = page.locator('.event.unknown').first();
  await beanEvent.waitFor();
  await beanEvent.locator('.this-is').click();
  await page.locator('#dialog-fields input').fill('Mr Bean');
  await page.keyboard.press('Enter');
  await page.locator('#status', { hasText: 'Face added to Mr Bean' }).waitFor();
  const bean = await postFrame(frame('Bean', 7));
  check('"this is" on an event\'s face enrols it', bean.result === 'Mr Bean', JSON.stringify(bean.result));

  // ---- a hostile name shows as text ----
  await page.locator('#nav a[data-page=people]').click();
  await page.locator('#new-person-name').fill(XSS);
  await page.locator('#new-person button[type=submit]').click();
  await page.locator('.person-name', { hasText: XSS }).waitFor();
  await page.waitForTimeout(300);
  check('the XSS name shows as text', (await page.locator('.person-name', { hasText: XSS }).innerText()) === XSS);
  check('no dialog fired', dialogs.length === 0, dialogs.join('; '));
  check('no element came from the name', (await page.locator('img[src="x"]').count()) === 0);

  // ---- delete a person: gone from the page and from the API ----
  const obamaCard = page.locator('.person', { has: page.locator('.person-name', { hasText: obama }) });
  await obamaCard.locator('.delete-person').click();
  const dialogText = await page.locator('#dialog-text').innerText();
  check('the confirmation says what is erased', /3 face images/.test(dialogText) && /record/.test(dialogText), dialogText);
  await page.locator('#dialog-ok').click();
  await page.locator('#status', { hasText: `${obama} deleted` }).waitFor();
  await obamaCard.waitFor({ state: 'detached' });
  check('the person is gone from the page', (await page.locator('.person-name', { hasText: obama }).count()) === 0);
  check('the person is gone from the API', (await apiCall('GET', '/api/v1/people/' + encodeURIComponent(obama))).status === 404);
  for (const id of obamaFaces)
    check('their face images are gone', (await apiCall('GET', `/api/v1/faces/${id}/thumbnail`)).status === 404);
  const recent = (await apiCall('GET', '/api/v1/events/recent?limit=1000')).json.events;
  check('their events are erased', !recent.some((e) => e.name === obama));
  await page.locator('#nav a[data-page=events]').click();
  const leftOver = page.locator('.event', { has: page.locator('.name', { hasText: obama }) });
  check('their events are gone from the page', (await leftOver.count()) === 0,
    JSON.stringify(await leftOver.evaluateAll((cards) => cards.map((c) => ({ seq: c.dataset.seq, text: c.innerText.slice(0, 200) })))));

  // ---- cameras & system reads /metrics ----
  await page.locator('#nav a[data-page=system]').click();
  await page.locator('#system-stats dd').first().waitFor();
  check('the system page shows latency from /metrics', /ms/.test(await page.locator('#system-stats').innerText()));

  // ---- readable on a phone ----
  await page.setViewportSize({ width: 390, height: 844 });
  await page.locator('#nav a[data-page=people]').click();
  await page.locator('.person').first().waitFor();
  check('no sideways scrolling on a phone', await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth));
  await page.screenshot({ path: path.join(outDir, 'console-phone.png') });

  check('no console errors', errors.length === 0, errors.join(' | '));
  report.ok = true;
  console.log(JSON.stringify(report));
} catch (e) {
  report.ok = false;
  report.error = e.message;
  report.console_errors = errors;
  try { await page.screenshot({ path: path.join(outDir, 'console-failure.png') }); } catch { /* closed */ }
  console.log(JSON.stringify(report));
  process.exitCode = 1;
} finally {
  await context.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
}
