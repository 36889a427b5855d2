// The requests Double Take (jakowenko/double-take, api/src/util/detectors/compreface.js) sends to a
// CompreFace server, made the way it makes them (axios + form-data, multipart "file", x-api-key), and the
// way it reads the answers back (its normalize(): code 28 -> no faces; confidence = similarity * 100 to 2
// decimals; a name when confidence >= 40 (its default UNKNOWN), a match when >= 60 (its default MATCH)).
// Written from reading that code, not copied. Prints one JSON line; exits non-zero on a surprise.
// Usage: node double-take-replay.mjs BASE_URL API_KEY FRAMES_DIR NO_FACE_IMAGE STRANGER_IMAGE
import fs from 'node:fs';
import path from 'node:path';
import axios from 'axios';
import FormData from 'form-data';

const [base, key, framesDir, noFaceImage, strangerImage] = process.argv.slice(2);
const UNKNOWN = 40, MATCH = 60;
const fail = (why) => {
  console.error('double-take-replay: ' + why);
  process.exit(1);
};
const form = (file) => {
  const f = new FormData();
  f.append('file', fs.createReadStream(file));
  return f;
};
const recognize = (file) => {
  const data = form(file);
  return axios({ method: 'post', url: `${base}/api/v1/recognition/recognize`, headers: { ...data.getHeaders(), 'x-api-key': key },
                 params: { det_prob_threshold: 0.8 }, data, validateStatus: () => true });
};
const train = (name, file) => {
  const data = form(file);
  return axios({ method: 'post', url: `${base}/api/v1/recognition/faces`, headers: { ...data.getHeaders(), 'x-api-key': key },
                 params: { subject: name }, data });
};
const untrain = (name) =>
  axios({ method: 'delete', url: `${base}/api/v1/recognition/faces`, headers: { 'x-api-key': key }, params: { subject: name },
          validateStatus: () => true });
const normalize = ({ data }) => {
  if (data.code === 28) return [];
  return data.result.map((obj) => {
    const [face] = obj.subjects;
    const confidence = face ? parseFloat((face.similarity * 100).toFixed(2)) : 0;
    return {
      name: face && confidence >= UNKNOWN ? face.subject.toLowerCase() : 'unknown',
      confidence,
      match: confidence >= MATCH,
      box: { top: obj.box.y_min, left: obj.box.x_min, width: obj.box.x_max - obj.box.x_min, height: obj.box.y_max - obj.box.y_min },
    };
  });
};
const frame = (person, n) => path.join(framesDir, person, `frame_${String(n).padStart(3, '0')}.jpg`);

const report = { trained: 0, results: {}, no_face: null, stranger: null, untrained: null, after_untrain: null };
try {
  const people = fs.readdirSync(framesDir).filter((d) => fs.statSync(path.join(framesDir, d)).isDirectory()).sort();
  for (const person of people)
    for (const n of [1, 2, 3]) {
      const r = await train(person, frame(person, n));
      if (r.status !== 201 || r.data.subject !== person) fail(`train ${person}: ${r.status} ${JSON.stringify(r.data)}`);
      report.trained++;
    }
  for (const person of people) {
    const r = await recognize(frame(person, 9));
    if (r.status !== 200) fail(`recognize ${person}: ${r.status} ${JSON.stringify(r.data)}`);
    const faces = normalize(r);
    if (faces.length < 1) fail(`${person}: no face`);  // biggest first: faces[0] is the person
    const f = faces[0];
    if (f.name !== person.toLowerCase() || !f.match || !(f.box.width > 0 && f.box.height > 0))
      fail(`${person} read back as ${JSON.stringify(f)}`);
    report.results[person] = f;
  }
  const none = await recognize(noFaceImage);
  if (none.status !== 400) fail(`no-face image answered ${none.status}`);
  report.no_face = normalize(none);
  if (report.no_face.length !== 0) fail('no-face image gave faces');
  const stranger = normalize(await recognize(strangerImage));
  report.stranger = stranger[0];
  if (!stranger[0] || stranger[0].name !== 'unknown' || stranger[0].match) fail('stranger read back as ' + JSON.stringify(stranger));
  const victim = people[people.length - 1];
  const u = await untrain(victim);
  if (u.status !== 200 || u.data.deleted !== 3) fail(`untrain: ${u.status} ${JSON.stringify(u.data)}`);
  report.untrained = u.data;
  report.after_untrain = normalize(await recognize(frame(victim, 9)))[0];
  if (report.after_untrain.name === victim.toLowerCase()) fail('untrained person still recognised');
} catch (e) {
  fail(e.response ? `HTTP ${e.response.status} ${JSON.stringify(e.response.data)}` : String(e));
}
console.log(JSON.stringify(report));
