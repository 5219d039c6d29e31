// ONNX Runtime side of bench/classifier_bench.cpp and bench/yolov8_bench.cpp: runs a model exported
// by bench/onnx_export.py with onnxruntime-node (CPU execution provider, graph optimisation "all",
// sequential execution, `threads` intra-op threads), the way a deployer would, and times it as the
// other sides do: 2 untimed calls, then the best of 3 blocks of `iters` calls. Writes its output for
// the exported input so the caller can compare it with the other sides'.
//
//   node bench/ort_peer.js ort_dir=DIR dir=D model=mobilenet_v3_small batches=1,16 [iters=10] [threads=2]
//
// Reads D/MODEL.b{b}.onnx and D/MODEL.in{b}.bin, writes D/MODEL.ort{b}.bin (float32), and prints
// "RESULT MODEL ms_b1 ms_b16 ... peak_rss_mib" (milliseconds per call for each batch in `batches`,
// then this process's peak RSS). ort_dir is the folder scripts/ort_peer.sh installed into.
'use strict';
const fs = require('fs');
const path = require('path');

const args = Object.fromEntries(process.argv.slice(2).map((a) => {
  const i = a.indexOf('=');
  return [a.slice(0, i), a.slice(i + 1)];
}));
for (const k of ['ort_dir', 'dir', 'model', 'batches']) {
  if (!args[k]) throw new Error(`ort_peer: missing ${k}=`);
}
const ort = require(path.join(args.ort_dir, 'node_modules', 'onnxruntime-node'));
const iters = Number(args.iters || 10);
const threads = Number(args.threads || 2);

async function main() {
  const ms = [];
  for (const b of args.batches.split(',').map(Number)) {
    const base = path.join(args.dir, args.model);
    const session = await ort.InferenceSession.create(`${base}.b${b}.onnx`, {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      executionMode: 'sequential',
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
    });
    const buf = fs.readFileSync(`${base}.in${b}.bin`);
    const data = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
    const side = Math.round(Math.sqrt(data.length / (3 * b)));
    const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', data, [b, 3, side, side]) };
    let out;
    for (let i = 0; i < 2; ++i) out = await session.run(feeds);
    let best = Infinity;
    for (let r = 0; r < 3; ++r) {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < iters; ++i) await session.run(feeds);
      best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e6);
    }
    ms.push(best / iters);
    const o = out[session.outputNames[0]];
    if (o.type !== 'float32') throw new Error(`${base}.b${b}.onnx: output is ${o.type}, expected float32`);
    const y = o.data;
    fs.writeFileSync(`${base}.ort${b}.bin`, Buffer.from(y.buffer, y.byteOffset, y.byteLength));
    await session.release();
  }
  const peak = process.resourceUsage().maxRSS / 1024;  // maxRSS is in KiB
  console.log(`RESULT ${args.model} ${ms.map((v) => v.toFixed(3)).join(' ')} ${peak.toFixed(1)}`);
}

main().catch((e) => {
  console.error(`ort_peer: ${e.message}`);
  process.exit(1);
});
