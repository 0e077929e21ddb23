#!/usr/bin/env node
// Validates a transfix report against a JSON Schema (draft 2020-12, Ajv). The report is a JSON file,
// or an HTML report, whose embedded data (the #report-data script element) is what gets checked.
// usage: validate_report.js SCHEMA.json REPORT.(json|html) [--schemas DIR]
//   --schemas DIR: other schemas the first one refers to ($ref by file name), default: SCHEMA's folder.
// Exit 0 valid, 1 invalid (errors printed), 2 unreadable input.
'use strict';
const fs = require('fs');
const path = require('path');
const Ajv2020 = require('ajv/dist/2020');

// The JSON inside <script type="application/json" id="report-data">...</script>.
function embeddedJson(html, file) {
  const m = /<script type="application\/json" id="report-data">([\s\S]*?)<\/script>/.exec(html);
  if (!m) throw new Error(`${file}: no report-data script element`);
  return JSON.parse(m[1]);
}

function main() {
  const args = process.argv.slice(2);
  const [schemaFile, reportFile] = args;
  if (!schemaFile || !reportFile) throw new Error('usage: validate_report.js SCHEMA.json REPORT.(json|html)');
  const dirFlag = args.indexOf('--schemas');
  const dir = dirFlag >= 0 ? args[dirFlag + 1] : path.dirname(schemaFile);
  const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false })  // if/then names properties defined beside it;
  for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.schema.json'))) {
    if (path.resolve(dir, f) !== path.resolve(schemaFile)) ajv.addSchema(JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')), f);
  }
  const validate = ajv.compile(JSON.parse(fs.readFileSync(schemaFile, 'utf8')));
  const text = fs.readFileSync(reportFile, 'utf8');
  const data = reportFile.endsWith('.html') ? embeddedJson(text, reportFile) : JSON.parse(text);
  if (validate(data)) {
    console.log(`${reportFile}: valid (${path.basename(schemaFile)})`);
    return 0;
  }
  for (const e of validate.errors.slice(0, 20)) console.log(`${reportFile}: ${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`);
  return 1;
}

try {
  process.exitCode = main();
} catch (e) {
  console.log(String(e.message || e));
  process.exitCode = 2;
}
