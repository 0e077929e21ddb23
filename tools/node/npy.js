// .npy reading and writing shared by the Node reference runners (ort_run.js, tflite_run.js).
'use strict';

const fs = require('fs');

// Bad command line (usage is printed) or bad input file: exit code 2.
class UsageError extends Error {
  constructor(message, showUsage = false) { super(message); this.showUsage = showUsage; }
}

// ---------------------------------------------------------------------------------------------
// .npy reading and writing (format versions 1.0-3.0, C order, little endian).

// numpy descr (without byte-order char) <-> ONNX Runtime tensor type and JS typed array.
const NPY_TYPES = {
  f4: { ort: 'float32', array: Float32Array },
  f8: { ort: 'float64', array: Float64Array },
  f2: { ort: 'float16', array: Uint16Array }, // raw IEEE half bits
  i8: { ort: 'int64', array: BigInt64Array },
  i4: { ort: 'int32', array: Int32Array },
  i2: { ort: 'int16', array: Int16Array },
  i1: { ort: 'int8', array: Int8Array },
  u8: { ort: 'uint64', array: BigUint64Array },
  u4: { ort: 'uint32', array: Uint32Array },
  u2: { ort: 'uint16', array: Uint16Array },
  u1: { ort: 'uint8', array: Uint8Array },
  b1: { ort: 'bool', array: Uint8Array },
};
const ORT_TO_NPY = Object.fromEntries(Object.entries(NPY_TYPES).map(([k, v]) => [v.ort, k]));
const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

function parseNpyHeader(text, file) {
  const descr = /'descr'\s*:\s*'([<>|=])([a-z]\d+)'/.exec(text);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text);
  const shape = /'shape'\s*:\s*\(([^)]*)\)/.exec(text);
  if (!descr || !fortran || !shape) throw new UsageError(`${file}: malformed .npy header ${text.trim()}`);
  const [, order, code] = descr;
  const type = NPY_TYPES[code];
  if (!type) throw new UsageError(`${file}: unsupported .npy dtype '${order}${code}'`);
  const itemsize = type.array.BYTES_PER_ELEMENT;
  if (order === '>' && itemsize > 1) throw new UsageError(`${file}: big-endian .npy is not supported`);
  if (fortran[1] === 'True') throw new UsageError(`${file}: Fortran-order .npy is not supported`);
  const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s.length > 0).map((s) => {
    if (!/^\d+$/.test(s)) throw new UsageError(`${file}: bad shape entry '${s}'`);
    return Number(s);
  });
  return { code, type, dims };
}

function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.length < 10 || !buf.subarray(0, 6).equals(MAGIC)) throw new UsageError(`${file}: not a .npy file`);
  const major = buf[6];
  let headerLen;
  let headerStart;
  if (major === 1) { headerLen = buf.readUInt16LE(8); headerStart = 10; }
  else if (major === 2 || major === 3) {
    if (buf.length < 12) throw new UsageError(`${file}: truncated .npy header`);
    headerLen = buf.readUInt32LE(8); headerStart = 12;
  } else throw new UsageError(`${file}: unsupported .npy version ${major}`);
  const dataStart = headerStart + headerLen;
  if (dataStart > buf.length) throw new UsageError(`${file}: truncated .npy header`);
  const { code, type, dims } = parseNpyHeader(buf.toString('latin1', headerStart, dataStart), file);
  const count = dims.reduce((a, b) => a * b, 1);
  const bytes = count * type.array.BYTES_PER_ELEMENT;
  if (!Number.isSafeInteger(bytes) || dataStart + bytes > buf.length) {
    throw new UsageError(`${file}: data shorter than shape [${dims}] needs`);
  }
  // Copy into a fresh, aligned ArrayBuffer: the file buffer's offset need not be aligned.
  const data = new type.array(count);
  Buffer.from(data.buffer).set(buf.subarray(dataStart, dataStart + bytes));
  if (code === 'b1') for (let i = 0; i < count; i++) data[i] = data[i] ? 1 : 0;
  return { ortType: type.ort, data, dims };
}

function writeNpy(file, ortType, data, dims) {
  const code = ORT_TO_NPY[ortType];
  if (!code) throw new Error(`cannot write ONNX Runtime type '${ortType}' as .npy`);
  const order = code.endsWith('1') ? '|' : '<';
  const shape = dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`;
  let header = `{'descr': '${order}${code}', 'fortran_order': False, 'shape': ${shape}, }`;
  // Pad with spaces so magic + version + length + header + '\n' is a multiple of 64 (as numpy does).
  const unpadded = 10 + header.length + 1;
  header = header + ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const prefix = Buffer.alloc(10);
  MAGIC.copy(prefix, 0);
  prefix[6] = 1; prefix[7] = 0;
  prefix.writeUInt16LE(header.length, 8);
  let payload;
  if (ortType === 'bool') payload = Buffer.from(Uint8Array.from(data, (v) => (v ? 1 : 0)));
  else payload = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  fs.writeFileSync(file, Buffer.concat([prefix, Buffer.from(header, 'latin1'), payload]));
}

module.exports = { UsageError, NPY_TYPES, ORT_TO_NPY, readNpy, writeNpy };
