// CompreFace's JavaScript SDK, unchanged, against facepipe serve: enrol the bundled people, recognise
// other frames of theirs, check subjects, delete one. Prints one JSON line with what it saw; exits non-zero
// (with the reason) on the first surprise. Usage: node sdk-test.mjs URL PORT API_KEY FRAMES_DIR
import path from 'node:path';
import fs from 'node:fs';
import { CompreFace } from '@exadel/compreface-js-sdk';

const [server, port, key, framesDir] = process.argv.slice(2);
if (!server || !port || !key || !framesDir) {
  console.error('usage: node sdk-test.mjs http://127.0.0.1 PORT API_KEY FRAMES_DIR');
  process.exit(2);
}
const fail = (why) => {
  console.error('sdk-test: ' + why);
  process.exit(1);
};
// The SDK takes a local file only as a path relative to the working directory ("./...").
const rel = (p) => './' + path.relative(process.cwd(), p);
const frame = (person, n) => path.join(framesDir, person, `frame_${String(n).padStart(3, '0')}.jpg`);
const errorOf = (e) => (e.response ? `HTTP ${e.response.status} ${JSON.stringify(e.response.data)}` : String(e));

const compreFace = new CompreFace(server, port);
// A fresh service object per call: the SDK's face collection functions change their URL in place.
const service = () => compreFace.initFaceRecognitionService(key);
const people = fs.readdirSync(framesDir).filter((d) => fs.statSync(path.join(framesDir, d)).isDirectory()).sort();
const report = { added: 0, recognised: {}, subjects: [], deleted: null, after_delete: null };

try {
  for (const person of people) {
    for (const n of [1, 2, 3]) {
      const r = await service().getFaceCollection().add(rel(frame(person, n)), person);
      if (r.subject !== person || typeof r.image_id !== 'string') fail('add answered ' + JSON.stringify(r));
      report.added++;
    }
  }
  const listed = await service().getFaceCollection().list();
  if (listed.total_elements !== report.added) fail('list answered ' + JSON.stringify(listed));

  for (const person of people) {
    // One frame as a path (multipart), one as base64 (JSON).
    const byPath = await service().recognize(rel(frame(person, 8)), { limit: 0, prediction_count: 2, status: true });
    const b64 = fs.readFileSync(frame(person, 9)).toString('base64');
    const byB64 = await service().recognize(b64, { det_prob_threshold: 0.8 });
    const best = (r) => r.result[0].subjects[0];
    if (best(byPath).subject !== person || best(byB64).subject !== person)
      fail(`${person} recognised as ${best(byPath).subject} / ${best(byB64).subject}`);
    if (byPath.result[0].subjects.length !== 2 || !byPath.plugins_versions) fail('options ignored: ' + JSON.stringify(byPath));
    report.recognised[person] = best(byPath).similarity;
  }
  report.subjects = (await service().getSubjects().list()).subjects.sort();

  const victim = people[0];
  report.deleted = await service().getSubjects().delete(victim);
  const after = await service().recognize(rel(frame(victim, 8)), {});
  report.after_delete = after.result[0].subjects[0] || null;
  if (report.after_delete && report.after_delete.subject === victim) fail('deleted subject still recognised');
  const left = await service().getFaceCollection().list();
  if (left.faces.some((f) => f.subject === victim)) fail('deleted subject still listed');
} catch (e) {
  fail(errorOf(e));
}
console.log(JSON.stringify(report));
