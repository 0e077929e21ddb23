"""Validates a transfix report against a JSON Schema (draft 2020-12, jsonschema). The report is a JSON
file, or an HTML report, whose embedded data (the #report-data script element) is what gets checked.
Port of tools/node/validate_report.js (Ajv): same command line, output lines and exit codes.

  validate_report.py SCHEMA.json REPORT.(json|html) [--schemas DIR]
    --schemas DIR: other schemas the first one refers to ($ref by file name), default: SCHEMA's folder.

Prints `REPORT: valid (SCHEMA)`, or one line per error (at most 20) in Ajv's words:
`REPORT: /instance/path message {"param":...}`.
Exit 0 valid, 1 invalid (errors printed), 2 unreadable input or bad usage (one line).
"""
import json
import os
import re
import sys
from urllib.parse import urldefrag, urljoin

from jsonschema import Draft202012Validator, SchemaError, ValidationError
from jsonschema.validators import extend
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

USAGE = "usage: validate_report.py SCHEMA.json REPORT.(json|html) [--schemas DIR]"
MAX_ERRORS = 20
REPORT_DATA = re.compile(r'<script type="application/json" id="report-data">(.*?)</script>', re.S)
# Keywords whose value is one subschema, a map of them or a list of them: where $refs are looked for.
# $defs is left out: like Ajv, only what the schema reaches is compiled (and must resolve).
ONE_SCHEMA = ("items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames",
              "unevaluatedItems", "unevaluatedProperties", "contentSchema")
SCHEMA_MAP = ("properties", "patternProperties", "dependentSchemas")
SCHEMA_LIST = ("allOf", "anyOf", "oneOf", "prefixItems")


class InputError(Exception):
    """Bad usage or unreadable schema/report: exit code 2."""


def load_json(text, what):
    """Parses like JSON.parse: NaN and Infinity are not JSON, so Python's leniency is turned off."""
    def no_constant(name):
        raise ValueError(f"{name} is not valid JSON")
    try:
        return json.loads(text, parse_constant=no_constant)
    except ValueError as e:
        raise InputError(f"{what}: {e}") from e


def read_text(path):
    # Node's readFileSync(..., 'utf8') replaces bad bytes rather than failing; do the same.
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError as e:
        raise InputError(f"{path}: {e.strerror or e}") from e


def embedded_json(html, path):
    """The JSON inside <script type="application/json" id="report-data">...</script>."""
    m = REPORT_DATA.search(html)
    if not m:
        raise InputError(f"{path}: no report-data script element")
    return load_json(m.group(1), path)


def parse_args(args):
    """Positional SCHEMA and REPORT are the first two arguments, as in the Node tool."""
    if len(args) < 2:
        raise InputError(USAGE)
    schema_file, report_file = args[0], args[1]
    if "--schemas" not in args:
        return schema_file, report_file, os.path.dirname(schema_file) or "."
    i = args.index("--schemas")
    if i + 1 >= len(args):
        raise InputError(USAGE)
    return schema_file, report_file, args[i + 1]


def load_schema(path):
    """A schema file, checked against the draft 2020-12 meta-schema (Ajv refuses invalid schemas)."""
    schema = load_json(read_text(path), path)
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as e:
        raise InputError(f"{path}: schema is invalid: {json_pointer(e.absolute_path)} {e.message}") from e
    return schema


def build_registry(folder):
    """Every *.schema.json of the folder under its file name (so `$ref: "other.schema.json"` resolves),
    and under its $id when that differs, as Ajv's addSchema(schema, fileName) does."""
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".schema.json"))
    except OSError as e:
        raise InputError(f"{folder}: {e.strerror or e}") from e
    resources = []
    for name in names:
        resource = Resource.from_contents(load_schema(os.path.join(folder, name)), default_specification=DRAFT202012)
        resources.append((name, resource))
        if isinstance(resource.id(), str) and resource.id() not in ("", name):
            resources.append((resource.id(), resource))
    return Registry().with_resources(resources)


def subschemas(schema):
    """The subschemas directly below `schema` that Ajv would compile with it."""
    if not isinstance(schema, dict):
        return
    for key in ONE_SCHEMA:
        if key in schema:
            yield schema[key]
    for key in SCHEMA_MAP:
        if isinstance(schema.get(key), dict):
            yield from schema[key].values()
    for key in SCHEMA_LIST:
        if isinstance(schema.get(key), list):
            yield from schema[key]


def check_refs(schema, resolver, where, seen=None):
    """Resolves every $ref reachable from the schema now: Ajv compiles eagerly and fails (exit 2) on a
    dangling reference, where jsonschema would only notice if a report happened to reach it. `where`
    names the schema document for the message."""
    seen = set() if seen is None else seen
    if id(schema) in seen:
        return
    seen.add(id(schema))
    if isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
        ref = schema["$ref"]
        try:
            resolved = resolver.lookup(ref)
        except Exception as e:  # referencing.exceptions.Unresolvable and its kin
            raise InputError(f"can't resolve reference {ref} from {where}") from e
        check_refs(resolved.contents, resolved.resolver, urldefrag(urljoin(where, ref)).url or where, seen)
    for sub in subschemas(schema):
        check_refs(sub, resolver, where, seen)


# ---- Ajv's reporting of if/then/else and oneOf, which jsonschema words differently.

def if_keyword(validator, if_schema, instance, schema):
    """Ajv reports a failed then/else as the branch's errors followed by one `if` error; jsonschema gives
    the branch's errors alone, so they are wrapped as the context of an `if` error."""
    branch = "then" if validator.evolve(schema=if_schema).is_valid(instance) else "else"
    if branch not in schema:
        return
    errors = list(validator.descend(instance, schema[branch], schema_path=branch))
    if errors:
        error = ValidationError(f'must match "{branch}" schema', context=errors)
        error.ajv = (f'must match "{branch}" schema', {"failingKeyword": branch})
        yield error


def one_of_keyword(validator, one_of, instance, schema):
    """Every branch is tried (as Ajv does); the error carries Ajv's passingSchemas: null when none
    matched, the first two matching indexes when several did."""
    errors, passing = [], []
    for index, subschema in enumerate(one_of):
        branch_errors = list(validator.descend(instance, subschema, schema_path=index))
        errors.extend(branch_errors)
        if not branch_errors:
            passing.append(index)
    if len(passing) != 1:
        error = ValidationError("must match exactly one schema in oneOf", context=errors)
        error.ajv = ("must match exactly one schema in oneOf", {"passingSchemas": passing[:2] or None})
        yield error


AjvValidator = extend(Draft202012Validator, {"if": if_keyword, "oneOf": one_of_keyword})


# ---- jsonschema errors in Ajv's words: (message, params) per error, one error per missing or extra property.

LIMITS = {  # keyword: (message format, comparison for Ajv's params or None)
    "minimum": ("must be >= {}", ">="), "maximum": ("must be <= {}", "<="),
    "exclusiveMinimum": ("must be > {}", ">"), "exclusiveMaximum": ("must be < {}", "<"),
    "minLength": ("must NOT have fewer than {} characters", None), "maxLength": ("must NOT have more than {} characters", None),
    "minItems": ("must NOT have fewer than {} items", None), "maxItems": ("must NOT have more than {} items", None),
    "minProperties": ("must NOT have fewer than {} properties", None),
    "maxProperties": ("must NOT have more than {} properties", None),
}


def js(value):
    """The value as JavaScript prints it: integral floats without '.0' (JSON numbers are doubles there)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, list):
        return [js(v) for v in value]
    if isinstance(value, dict):
        return {k: js(v) for k, v in value.items()}
    return value


def additional_properties(instance, schema):
    """The instance's properties neither `properties` nor `patternProperties` allow, in the instance's
    order (Ajv's one error each)."""
    patterns = schema.get("patternProperties", {})
    return [p for p in instance
            if p not in schema.get("properties", {}) and not any(re.search(pat, p) for pat in patterns)]


def dependent_required(value, instance):
    """Ajv's one error per missing dependency, naming the property that requires it."""
    for prop, deps in value.items():
        if prop not in instance:
            continue
        noun = "property" if len(deps) == 1 else "properties"
        for dep in deps:
            if dep not in instance:
                yield (f"must have {noun} {', '.join(deps)} when property {prop} is present",
                       {"property": prop, "missingProperty": dep, "depsCount": len(deps), "deps": ", ".join(deps)})


def ajv_messages(error):
    """Ajv's message(s) and params for one jsonschema error (its own keyword, not its context)."""
    keyword, value, instance = error.validator, error.validator_value, error.instance
    if hasattr(error, "ajv"):
        return [error.ajv]
    if keyword is None:  # the `false` schema
        return [("boolean schema is false", {})]
    if keyword == "type":
        return [(f"must be {','.join(value) if isinstance(value, list) else value}", {"type": value})]
    if keyword == "required":
        return [(f"must have required property '{p}'", {"missingProperty": p}) for p in value if p not in instance]
    if keyword == "additionalProperties" and value is False:
        return [("must NOT have additional properties", {"additionalProperty": p})
                for p in additional_properties(instance, error.schema)]
    if keyword == "dependentRequired":
        return list(dependent_required(value, instance))
    if keyword == "items" and value is False:
        limit = len(error.schema.get("prefixItems", []))
        return [(f"must NOT have more than {limit} items", {"limit": limit})]
    if keyword in LIMITS:
        text, comparison = LIMITS[keyword]
        params = {"comparison": comparison, "limit": value} if comparison else {"limit": value}
        return [(text.format(json.dumps(js(value))), params)]
    simple = {
        "const": ("must be equal to constant", {"allowedValue": value}),
        "enum": ("must be equal to one of the allowed values", {"allowedValues": value}),
        "pattern": (f'must match pattern "{value}"', {"pattern": value}),
        "multipleOf": (f"must be multiple of {json.dumps(js(value))}", {"multipleOf": value}),
        "not": ("must NOT be valid", {}),
        "anyOf": ("must match a schema in anyOf", {}),
    }
    return [simple.get(keyword, (error.message, {}))]


def json_pointer(path):
    """Ajv's instancePath: a JSON Pointer, '/' for the document itself."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path) or "/"


def flatten(errors, seen):
    """(instancePath, message, params) in Ajv's order: a combinator's branch errors before its own.
    jsonschema yields one error per missing required/dependent property where Ajv's words are computed
    for all at once, so only the first error of a keyword at one place is turned into lines."""
    for error in errors:
        yield from flatten(error.context, seen)
        # the schema object too: a $ref's target and its sibling keywords share a schema path
        key = (tuple(error.absolute_path), tuple(error.absolute_schema_path), id(error.schema), error.validator)
        if key in seen:
            continue
        seen.add(key)
        for message, params in ajv_messages(error):
            yield json_pointer(error.absolute_path), message, params


def validate(schema_file, report_file, folder):
    """Prints the result; returns the exit code (0 valid, 1 invalid)."""
    registry = build_registry(folder)
    schema = load_schema(schema_file)
    validator = AjvValidator(schema, registry=registry)
    root = Resource.from_contents(schema, default_specification=DRAFT202012)
    check_refs(schema, registry.resolver_with_root(root), root.id() or os.path.basename(schema_file))
    text = read_text(report_file)
    data = embedded_json(text, report_file) if report_file.endswith(".html") else load_json(text, report_file)
    try:
        lines = list(flatten(validator.iter_errors(data), set()))
    except Exception as e:  # a $ref reached only through data (e.g. $dynamicRef) that does not resolve
        raise InputError(f"{schema_file}: {type(e).__name__}: {e}") from e
    if not lines:
        print(f"{report_file}: valid ({os.path.basename(schema_file)})")
        return 0
    for path, message, params in lines[:MAX_ERRORS]:
        print(f"{report_file}: {path} {message} {json.dumps(js(params), separators=(',', ':'), ensure_ascii=False)}")
    return 1


def main(argv):
    try:
        return validate(*parse_args(argv))
    except InputError as e:
        print(" ".join(str(e).split("\n")))
        return 2
    except Exception as e:  # anything else unreadable (a schema jsonschema cannot load): one line, exit 2
        print(" ".join(f"{type(e).__name__}: {e}".split("\n")))
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
