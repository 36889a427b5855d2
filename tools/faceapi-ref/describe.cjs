// Reference face descriptors from the official face-api.js code (npm @vladmandic/face-api, pure-JS
// TF.js CPU backend), for facepipe's parity test of its C++ port.
//   node describe.cjs MODELS_DIR CROPS_DIR  -> prints {"<file>.rgb": [128 floats], ...}
// Each crop is a raw 150x150x3 RGB file (what facepipe's aligned chip is).
const fs = require('fs');
const path = require('path');
const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');

const tf = faceapi.tf;

async function main() {
  const [modelsDir, cropsDir] = process.argv.slice(2);
  if (!modelsDir || !cropsDir) {
    console.error('usage: node describe.cjs MODELS_DIR/faceapi CROPS_DIR');
    process.exit(2);
  }
  await tf.setBackend('cpu');
  await tf.ready();
  const manifest = JSON.parse(fs.readFileSync(path.join(modelsDir, 'face_recognition_model-weights_manifest.json')));
  const shards = manifest.flatMap((group) => group.paths.map((p) => fs.readFileSync(path.join(modelsDir, p))));
  const bytes = Buffer.concat(shards);
  const specs = manifest.flatMap((group) => group.weights);
  const weightMap = tf.io.decodeWeights(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length), specs);
  faceapi.nets.faceRecognitionNet.loadFromWeightMap(weightMap);
  const out = {};
  for (const file of fs.readdirSync(cropsDir).filter((f) => f.endsWith('.rgb')).sort()) {
    const data = fs.readFileSync(path.join(cropsDir, file));
    if (data.length !== 150 * 150 * 3) throw new Error(`${file}: expected 150x150x3 bytes, got ${data.length}`);
    const input = tf.tensor3d(new Uint8Array(data), [150, 150, 3], 'int32');
    const descriptor = await faceapi.nets.faceRecognitionNet.computeFaceDescriptor(input);
    input.dispose();
    out[file] = Array.from(descriptor);
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => {
  console.error(`faceapi-ref: ${e.message}`);
  process.exit(1);
});
