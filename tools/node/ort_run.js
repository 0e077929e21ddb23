#!/usr/bin/env node
// Runs an ONNX model with ONNX Runtime (npm onnxruntime-node, CPU) on .npy inputs: the reference
// runtime transfix compares itself and converted models against.
//
//   node tools/node/ort_run.js MODEL.onnx --input NAME=in.npy [--input ...] --output-dir DIR
//        [--threads N] [--opt all|disable] [--fetch NAME ...]
//   node tools/node/ort_run.js MODEL.onnx --input NAME=in.npy --bench N [--warmup W] [--threads N]
//
// Each output is written as DIR/<name>.npy (characters outside [A-Za-z0-9._-] in the name become
// "_"). `--input in.npy` without NAME= feeds the model's only input. `--random-inputs` fills
// inputs that were not given with seeded uniform [-1,1) data (symbolic dims -> 1) for benchmarks.
// `--bench N` times N batch-1 runs after W warm-up runs (default 3) and prints one JSON object.
// Without --bench a JSON summary of the outputs is printed. Exit codes: 0 ok, 2 bad usage or input
// file, 1 ONNX Runtime failure.
'use strict';

const fs = require('fs');
const path = require('path');

const { UsageError, NPY_TYPES, ORT_TO_NPY, readNpy, writeNpy } = require('./npy');

// ---------------------------------------------------------------------------------------------
// Command line.

const USAGE = `usage: node ort_run.js MODEL.onnx [--input [NAME=]FILE.npy]... [--output-dir DIR]
       [--threads N] [--opt all|extended|basic|disable] [--fetch NAME]... [--random-inputs]
       [--bench N] [--warmup W] [--serve]`;

function parseArgs(argv) {
  const args = { inputs: [], fetch: [], threads: 0, opt: 'all', bench: 0, warmup: 3, randomInputs: false };
  const value = (i, flag) => {
    if (i + 1 >= argv.length) throw new UsageError(`${flag} needs a value`, true);
    return argv[i + 1];
  };
  const count = (s, flag, min) => {
    if (!/^\d+$/.test(s) || Number(s) < min) throw new UsageError(`${flag} needs an integer >= ${min}, got '${s}'`, true);
    return Number(s);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    switch (a) {
      case '--input': {
        const v = value(i++, a);
        const eq = v.indexOf('=');
        args.inputs.push(eq > 0 ? { name: v.slice(0, eq), file: v.slice(eq + 1) } : { name: null, file: v });
        break;
      }
      case '--output-dir': args.outputDir = value(i++, a); break;
      case '--fetch': args.fetch.push(value(i++, a)); break;
      case '--threads': args.threads = count(value(i++, a), a, 1); break;
      case '--opt': args.opt = value(i++, a); break;
      case '--bench': args.bench = count(value(i++, a), a, 1); break;
      case '--warmup': args.warmup = count(value(i++, a), a, 0); break;
      case '--random-inputs': args.randomInputs = true; break;
      case '--serve': args.serve = true; break;
      case '-h': case '--help': console.log(USAGE); process.exit(0); break;
      default:
        if (a.startsWith('-')) throw new UsageError(`unknown option ${a}`, true);
        if (args.model) throw new UsageError(`more than one model given: ${args.model}, ${a}`, true);
        args.model = a;
    }
  }
  if (!args.model) throw new UsageError('no model given', true);
  const levels = { all: 'all', extended: 'extended', basic: 'basic', disable: 'disabled', disabled: 'disabled' };
  if (!levels[args.opt]) throw new UsageError(`--opt must be all, extended, basic or disable, got '${args.opt}'`, true);
  args.opt = levels[args.opt];
  if (!args.bench && !args.outputDir && !args.serve) throw new UsageError('give --output-dir DIR, --bench N or --serve', true);
  return args;
}

// ---------------------------------------------------------------------------------------------
// Inputs.

// Deterministic uniform [-1, 1) numbers (mulberry32), so benchmark inputs are reproducible.
function seededRandom(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 * 2 - 1;
  };
}

function randomTensor(ort, meta, seed) {
  if (!meta.isTensor) throw new UsageError(`input '${meta.name}' is not a tensor; cannot make random data`);
  const dims = meta.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : 1));
  const count = dims.reduce((a, b) => a * b, 1);
  const rand = seededRandom(seed);
  const code = ORT_TO_NPY[meta.type];
  if (!code || meta.type === 'float16') throw new UsageError(`input '${meta.name}': no random data for type ${meta.type}`);
  const data = new NPY_TYPES[code].array(count);
  for (let i = 0; i < count; i++) {
    const r = rand();
    if (meta.type.startsWith('float')) data[i] = r;
    else if (meta.type === 'bool') data[i] = r > 0 ? 1 : 0;
    else if (meta.type.endsWith('64')) data[i] = BigInt(Math.floor((r + 1) * 4));
    else data[i] = Math.floor((r + 1) * 4);
  }
  return new ort.Tensor(meta.type, data, dims);
}

function buildFeeds(ort, session, args) {
  const names = session.inputNames;
  const feeds = {};
  for (const { name, file } of args.inputs) {
    let target = name;
    if (target === null) {
      if (names.length !== 1) {
        throw new UsageError(`model has inputs [${names.join(', ')}]; name them: --input NAME=${file}`);
      }
      target = names[0];
    }
    if (!names.includes(target)) throw new UsageError(`model has no input '${target}'; inputs: [${names.join(', ')}]`);
    if (feeds[target]) throw new UsageError(`input '${target}' given twice`);
    const { ortType, data, dims } = readNpy(file);
    feeds[target] = new ort.Tensor(ortType, data, dims);
  }
  names.forEach((n, index) => {
    if (feeds[n]) return;
    if (!args.randomInputs) throw new UsageError(`missing input '${n}' (or pass --random-inputs)`);
    const meta = (session.inputMetadata || []).find((m) => m.name === n);
    if (!meta) throw new UsageError(`no metadata for input '${n}'; give it with --input`);
    feeds[n] = randomTensor(ort, meta, 1234 + index);
  });
  return feeds;
}

// ---------------------------------------------------------------------------------------------

function safeFileName(name) {
  const s = name.replace(/[^A-Za-z0-9._-]/g, '_');
  return s === '' || s === '.' || s === '..' ? `_${s}` : s;
}

function percentile(sorted, q) {
  // Nearest-rank percentile on an ascending array.
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1];
}

function median(sorted) {
  const n = sorted.length;
  return n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

// --serve: first one line {"ready": "onnxruntime-node VERSION"}, then one request per stdin line,
// {"inputs": {"NAME": "in.npy", ...}, "output_dir": "DIR"}; each answered by one stdout line,
// {"outputs": {"NAME": "DIR/NAME.npy", ...}} or {"error": "..."} (the protocol of tools/serve.h). The
// session is created once, so a caller (transfix compare --target-runtime ort) pays the load once per dataset.
async function serve(session) {
  const ort = require('onnxruntime-node');
  const readline = require('readline');
  process.stdout.write(JSON.stringify({ ready: `onnxruntime-node ${ort.env.versions.node}` }) + '\n');
  const lines = readline.createInterface({ input: process.stdin, terminal: false });
  for await (const line of lines) {
    if (!line.trim()) continue;
    let answer;
    try {
      const request = JSON.parse(line);
      const feeds = {};
      for (const [name, file] of Object.entries(request.inputs || {})) {
        const { ortType, data, dims } = readNpy(file);
        feeds[name] = new ort.Tensor(ortType, data, dims);
      }
      const results = await session.run(feeds, session.outputNames);
      const outputs = {};
      fs.mkdirSync(request.output_dir, { recursive: true });
      session.outputNames.forEach((name, i) => {
        const t = results[name];
        outputs[name] = path.join(request.output_dir, `${i}_${safeFileName(name)}.npy`);
        writeNpy(outputs[name], t.type, t.data, t.dims.map(Number));
      });
      answer = { outputs };
    } catch (e) {
      answer = { error: String(e && e.message ? e.message : e).split('\n')[0] };
    }
    process.stdout.write(JSON.stringify(answer) + '\n');
  }
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (!fs.existsSync(args.model)) throw new UsageError(`${args.model}: no such file`);
  const ort = require('onnxruntime-node');
  const options = {
    executionProviders: ['cpu'],
    graphOptimizationLevel: args.opt,
    executionMode: 'sequential',
    interOpNumThreads: 1,
    logSeverityLevel: 3,
  };
  if (args.threads) options.intraOpNumThreads = args.threads;

  const t0 = process.hrtime.bigint();
  const session = await ort.InferenceSession.create(args.model, options);
  const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;
  if (args.serve) return serve(session);
  const feeds = buildFeeds(ort, session, args);
  const fetches = args.fetch.length ? args.fetch : session.outputNames;
  for (const f of fetches) {
    if (!session.outputNames.includes(f)) throw new UsageError(`model has no output '${f}'; outputs: [${session.outputNames.join(', ')}]`);
  }

  let results;
  let latencies = null;
  if (args.bench) {
    for (let i = 0; i < args.warmup; i++) results = await session.run(feeds, fetches);
    latencies = [];
    for (let i = 0; i < args.bench; i++) {
      const t = process.hrtime.bigint();
      results = await session.run(feeds, fetches);
      latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
  } else {
    results = await session.run(feeds, fetches);
  }

  const outputs = {};
  if (args.outputDir) fs.mkdirSync(args.outputDir, { recursive: true });
  for (const name of fetches) {
    const t = results[name];
    const entry = { dtype: t.type, shape: t.dims.map(Number) };
    if (args.outputDir) {
      entry.file = path.join(args.outputDir, `${safeFileName(name)}.npy`);
      writeNpy(entry.file, t.type, t.data, entry.shape);
    }
    outputs[name] = entry;
  }

  const report = { model: args.model, runtime: `onnxruntime-node ${ort.env.versions.node}`,
    threads: args.threads || 'default', opt: args.opt, load_ms: round(loadMs), outputs };
  if (latencies) {
    const sorted = [...latencies].sort((a, b) => a - b);
    report.runs = sorted.length;
    report.warmup = args.warmup;
    report.latency_ms = { min: round(sorted[0]), median: round(median(sorted)),
      p90: round(percentile(sorted, 0.9)), max: round(sorted[sorted.length - 1]),
      mean: round(sorted.reduce((a, b) => a + b, 0) / sorted.length) };
  }
  console.log(JSON.stringify(report));
  if (typeof session.release === 'function') await session.release();
}

function round(x) { return Math.round(x * 1000) / 1000; }

if (require.main === module) {
  main().catch((e) => {
    console.error(`ort_run: ${(e && e.message) || e}`);
    if (e instanceof UsageError && e.showUsage) console.error(USAGE);
    process.exit(e instanceof UsageError ? 2 : 1);
  });
}

module.exports = { readNpy, writeNpy };
