#!/usr/bin/env node
// Runs a .tflite model with the real TFLite interpreter compiled to WebAssembly (npm
// @tensorflow/tfjs-tflite) on .npy inputs: the reference runtime for transfix's TFLite reader.
//
//   node tools/node/tflite_run.js MODEL.tflite --input NAME=in.npy [--input ...] --output-dir DIR
//   node tools/node/tflite_run.js MODEL.tflite --input NAME=in.npy --bench N [--warmup W]   (median latency, JSON)
//   ... --output-dir DIR --profile   (the summary also lists the executed nodes' types, in order:
//   "TfLiteXNNPackDelegate" for what the XNNPACK delegate took, the op's name for built-in kernels)
//
// Each output is written as DIR/<name>.npy (characters outside [A-Za-z0-9._-] become "_"; names
// over 120 characters are cut and get a hash); the JSON summary maps tensor names to files.
// `--input in.npy` without NAME= feeds the model's only input. A JSON summary is printed.
// Exit codes: 0 ok, 2 bad usage or input file, 1 interpreter failure.
//
// The package is built for browsers and web workers. Under Node it runs once the worker globals
// exist: `self` and `location` (the loader derives the wasm folder from them), `importScripts`
// (evaluates the Emscripten glue script), and a `fetch` that serves local files. Node passes the
// package's "threads available" probe, but the threaded build needs real web workers, so the
// non-threaded SIMD build (same interpreter and kernels) is loaded in its place.
'use strict';

const fs = require('fs');
const path = require('path');
const vm = require('vm');
const { UsageError, readNpy, writeNpy } = require('./npy');

const USAGE = 'usage: node tflite_run.js MODEL.tflite [--input [NAME=]FILE.npy]... (--output-dir DIR [--profile] | --bench N [--warmup W])';

function parseArgs(argv) {
  const args = { inputs: [], bench: 0, warmup: 3 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new UsageError(`${a} needs a value`, true);
      return argv[++i];
    };
    if (a === '--input') {
      const v = value();
      const eq = v.indexOf('=');
      args.inputs.push(eq > 0 ? { name: v.slice(0, eq), file: v.slice(eq + 1) } : { name: null, file: v });
    } else if (a === '--output-dir') args.outputDir = value();
    else if (a === '--bench') args.bench = parseInt(value(), 10);
    else if (a === '--warmup') args.warmup = parseInt(value(), 10);
    else if (a === '--profile') args.profile = true;
    else if (a === '-h' || a === '--help') { console.log(USAGE); process.exit(0); }
    else if (a.startsWith('-')) throw new UsageError(`unknown option ${a}`, true);
    else if (args.model) throw new UsageError(`more than one model given: ${args.model}, ${a}`, true);
    else args.model = a;
  }
  if (!args.model) throw new UsageError('no model given', true);
  if (!args.outputDir && !args.bench) throw new UsageError('give --output-dir DIR or --bench N', true);
  return args;
}

// The web-worker environment the package expects, backed by local files.
function installWorkerGlobals(wasmDir) {
  const localPath = (url) => {
    const s = String(url);
    const p = s.startsWith('file://') ? new URL(s).pathname : s;
    return path.isAbsolute(p) ? p : path.join(wasmDir, p);
  };
  const substitute = (p) => p.replace(/_simd_threaded\.(js|wasm)$/, '_simd.$1').replace(/_threaded\.(js|wasm)$/, '.$1');
  globalThis.self = globalThis;
  globalThis.location = { href: `file://${wasmDir}/`, origin: 'file://' };
  globalThis.importScripts = (...urls) => {
    for (const url of urls) {
      const file = substitute(localPath(url));
      vm.runInThisContext(fs.readFileSync(file, 'utf8'), { filename: file });
    }
  };
  globalThis.fetch = async (url) => {
    const file = substitute(localPath(url));
    const body = fs.readFileSync(file);
    const type = file.endsWith('.wasm') ? 'application/wasm' : 'application/octet-stream';
    return new Response(body, { status: 200, headers: { 'Content-Type': type } });
  };
}

// TFLite type name -> typed array, and the .npy-side ('ort'-style) type name used by npy.js.
const TFLITE_TYPES = {
  float32: Float32Array, float64: Float64Array, int8: Int8Array, uint8: Uint8Array, int16: Int16Array,
  int32: Int32Array, uint32: Uint32Array, int64: BigInt64Array, bool: Uint8Array,
};

// Names longer than a file name may be (TFLite joins fused op names with ';') are cut to 120
// characters plus a hash of the full name.
function safeFileName(name) {
  let s = name.replace(/[^A-Za-z0-9._-]/g, '_');
  if (s.length > 120) s = `${s.slice(0, 120)}_${require('crypto').createHash('sha1').update(name).digest('hex').slice(0, 16)}`;
  return s === '' || s === '.' || s === '..' ? `_${s}` : s;
}

const dims = (shape) => String(shape).split(',').filter((s) => s.length > 0).map(Number);

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (!fs.existsSync(args.model)) throw new UsageError(`${args.model}: no such file`);
  const pkgDir = path.dirname(require.resolve('@tensorflow/tfjs-tflite/package.json'));
  const wasmDir = path.join(pkgDir, 'wasm');
  installWorkerGlobals(wasmDir);
  const tflite = require('@tensorflow/tfjs-tflite');
  tflite.setWasmPath(`${wasmDir}/`);
  const tfweb = globalThis.tfweb;

  const bytes = fs.readFileSync(args.model);
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  const runner = await tfweb.TFLiteWebModelRunner.create(buffer, { numThreads: 1, enableProfiling: Boolean(args.profile) });
  const inputs = runner.getInputs();
  const names = inputs.map((t) => t.name);
  const given = new Set();
  for (const { name, file } of args.inputs) {
    let target = name;
    if (target === null) {
      if (names.length !== 1) throw new UsageError(`model has inputs [${names.join(', ')}]; name them: --input NAME=${file}`);
      target = names[0];
    }
    const tensor = inputs.find((t) => t.name === target);
    if (!tensor) throw new UsageError(`model has no input '${target}'; inputs: [${names.join(', ')}]`);
    if (given.has(target)) throw new UsageError(`input '${target}' given twice`);
    given.add(target);
    const npy = readNpy(file);
    const want = dims(tensor.shape);
    if (npy.dims.length !== want.length || npy.dims.some((d, i) => want[i] !== -1 && d !== want[i])) {
      throw new UsageError(`input '${target}': shape [${npy.dims}] does not match the model's [${want}]`);
    }
    if (npy.ortType !== tensor.dataType) {
      throw new UsageError(`input '${target}': dtype ${npy.ortType} does not match the model's ${tensor.dataType}`);
    }
    tensor.data().set(npy.data);
  }
  const missing = names.filter((n) => !given.has(n));
  if (missing.length) throw new UsageError(`missing input(s) ${missing.join(', ')}`);
  if (!runner.infer()) throw new Error('TFLite interpreter: inference failed');
  if (args.bench > 0) {
    // --bench N: median wall time of N inferences after W warm-up ones (one thread, as loaded).
    for (let i = 0; i < args.warmup; i++) runner.infer();
    const times = [];
    for (let i = 0; i < args.bench; i++) {
      const start = process.hrtime.bigint();
      runner.infer();
      times.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
    times.sort((x, y) => x - y);
    console.log(JSON.stringify({ model: args.model, latency_ms: { median: times[times.length >> 1], min: times[0] } }));
    return;
  }

  fs.mkdirSync(args.outputDir, { recursive: true });
  const outputs = {};
  for (const t of runner.getOutputs()) {
    const Array_ = TFLITE_TYPES[t.dataType];
    if (!Array_) throw new Error(`output '${t.name}': unsupported type ${t.dataType}`);
    const data = Array_.from(t.data());  // copy out of the wasm heap
    const shape = dims(t.shape);
    const file = path.join(args.outputDir, `${safeFileName(t.name)}.npy`);
    writeNpy(file, t.dataType, data, shape);
    outputs[t.name] = { dtype: t.dataType, shape, file };
  }
  const summary = { model: args.model, runtime: 'tfjs-tflite (TFLite wasm, simd)', outputs };
  if (args.profile) summary.executed_nodes = runner.getProfilingResults().map((r) => r.nodeType);
  console.log(JSON.stringify(summary));
}

if (require.main === module) {
  main().then(() => process.exit(0)).catch((e) => {
    console.error(`tflite_run: ${(e && e.message) || e}`);
    if (e instanceof UsageError && e.showUsage) console.error(USAGE);
    process.exit(e instanceof UsageError ? 2 : 1);
  });
}
