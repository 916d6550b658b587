"""Checks a running server's answers against its own OpenAPI 3.1 document.

    python3 tests/openapi/check_openapi.py --base http://127.0.0.1:PORT \
        [--token TOKEN] STATUS:PATH...

e.g. `200:/v1/servers?limit=2 404:/v1/servers/tenants/nobody 400:/v1/servers?limit=0`.

What it checks, and why:
- GET /openapi.json is JSON, says `openapi: 3.1.x`, and is a valid OpenAPI 3.1
  document (openapi-spec-validator): a broken document breaks every client
  generated from it.
- For each CHECK, GET base+PATH answers with exactly STATUS, and the `get`
  operation the spec gives for that path (templates such as `{id}` match one
  segment) documents that status (or `default`, or a range like `4XX`) with an
  `application/json` schema. The server's Content-Type must be JSON and the
  body must validate against that schema (JSON Schema 2020-12, `$ref`s resolved
  against the whole document): the document must describe what is served.
- Every query parameter the CHECK's URL uses is declared in the operation's
  `parameters` (in: query): handlers must not accept parameters that the
  document does not mention.

Uses only urllib for HTTP, 10 s timeout per request. Prints one line per check
and `N passed, M failed` last; exits 1 if any check failed.
"""
import argparse
import http.client
import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

import jsonschema
import referencing
import referencing.exceptions
from jsonschema.exceptions import best_match
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from referencing.jsonschema import DRAFT202012

TIMEOUT_S = 10
SPEC_URI = "urn:check-openapi:spec"  # where the whole document lives in the $ref registry
MAX_REASON = 400


class CheckFailed(Exception):
    """One check's failure; the message is the reason printed on its line."""


# ---------------------------------------------------------------- HTTP


def http_get(url, token):
    """GET url; returns (status, content_type, body bytes). HTTP errors are answers too."""
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        req = urllib.request.Request(url, headers=headers, method="GET")
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.headers.get("Content-Type", ""), err.read()
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as err:
        raise CheckFailed(f"request failed: {err}") from err


def parse_json(body):
    """Body bytes to JSON, or CheckFailed naming what came instead."""
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        preview = body[:80].decode("utf-8", "replace")
        raise CheckFailed(f"body is not JSON: {preview!r}") from None


# ---------------------------------------------------------------- the document


def fetch_spec(base, token):
    """GET /openapi.json as a JSON object, or CheckFailed."""
    status, _, body = http_get(base + "/openapi.json", token)
    if status != 200:
        raise CheckFailed(f"GET /openapi.json answered {status}")
    spec = parse_json(body)
    if not isinstance(spec, dict):
        raise CheckFailed("the document is not a JSON object")
    return spec


def spec_failures(spec):
    """Failures of the document itself: not 3.1, or not a valid OpenAPI 3.1 document."""
    version = spec.get("openapi")
    if not isinstance(version, str) or not version.startswith("3.1"):
        return [f"openapi is {version!r}, not 3.1.x"]
    try:
        validate(spec, cls=OpenAPIV31SpecValidator)
    except referencing.exceptions.Unresolvable as err:
        return [f"invalid OpenAPI 3.1 document: $ref {err.ref!r} does not resolve"]
    except Exception as err:  # the validator raises several kinds
        where = getattr(err, "json_path", None)
        return [f"invalid OpenAPI 3.1 document{f' at {where}' if where else ''}: {first_line(err)}"]
    return []


def pointer_escape(token):
    """One JSON Pointer reference token (RFC 6901), percent-encoded for a URI fragment."""
    return urllib.parse.quote(str(token).replace("~", "~0").replace("/", "~1"), safe="~")


def resolve_pointer(spec, pointer):
    """Value at a JSON Pointer (``/a/b``) in spec, or CheckFailed."""
    node = spec
    for raw in pointer.split("/")[1:]:
        key = urllib.parse.unquote(raw).replace("~1", "/").replace("~0", "~")
        if isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        elif isinstance(node, dict) and key in node:
            node = node[key]
        else:
            raise CheckFailed(f"$ref #{pointer} does not resolve in the document")
    return node


def follow_refs(spec, node, pointer):
    """Follows local `$ref`s (as on Response and Parameter objects); returns (node, pointer)."""
    seen = set()
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not isinstance(ref, str) or not ref.startswith("#"):
            raise CheckFailed(f"only local $refs are supported, got {ref!r}")
        if ref in seen:
            raise CheckFailed(f"$ref cycle at {ref}")
        seen.add(ref)
        pointer = ref[1:]
        node = resolve_pointer(spec, pointer)
    return node, pointer


def template_regex(template):
    """`/v1/servers/{id}` -> regex where each `{param}` is one non-empty segment."""
    parts = re.split(r"(\{[^}/]+\})", template)
    body = "".join("[^/]+" if p.startswith("{") and p.endswith("}") else re.escape(p) for p in parts)
    return re.compile(body + r"\Z")


def find_path_item(spec, path):
    """(template, path item, its pointer) for a concrete path; literal templates win over `{param}` ones."""
    paths = spec.get("paths")
    if not isinstance(paths, dict):
        raise CheckFailed("the document has no paths")
    matches = [t for t in paths if isinstance(t, str) and template_regex(t).match(path)]
    if not matches:
        raise CheckFailed(f"no path template in the document matches {path}")
    # Fewest parameters first, then the longest literal text (OpenAPI: concrete paths match first).
    best = min(matches, key=lambda t: (t.count("{"), -len(re.sub(r"\{[^}]*\}", "", t))))
    item, item_pointer = follow_refs(spec, paths[best], f"/paths/{pointer_escape(best)}")
    if not isinstance(item, dict):
        raise CheckFailed(f"path item {best} is not an object")
    return best, item, item_pointer


# ---------------------------------------------------------------- one check


def parse_check(text):
    """`STATUS:PATH` -> (int status, path)."""
    status, sep, path = text.partition(":")
    if not sep or not status.isdigit() or not 100 <= int(status) <= 599 or not path.startswith("/"):
        raise CheckFailed("not STATUS:PATH (e.g. 200:/v1/servers?limit=2)")
    return int(status), path


def declared_query_params(spec, path_item, operation, item_pointer):
    """Names of the query parameters declared on the path item and on its get operation."""
    names = set()
    for owner, owner_pointer in ((path_item, item_pointer), (operation, f"{item_pointer}/get")):
        params = owner.get("parameters", [])
        if not isinstance(params, list):
            continue
        for i, param in enumerate(params):
            param, _ = follow_refs(spec, param, f"{owner_pointer}/parameters/{i}")
            if isinstance(param, dict) and param.get("in") == "query":
                names.add(param.get("name"))
    return names


def undeclared_query_params(spec, path_item, operation, item_pointer, query):
    """Failures for query parameters in the URL that the operation does not declare."""
    used = {name for name, _ in urllib.parse.parse_qsl(query, keep_blank_values=True)}
    missing = sorted(used - declared_query_params(spec, path_item, operation, item_pointer))
    return [f"query parameter {name!r} is not declared in the document" for name in missing]


def response_schema_pointer(spec, operation, item_pointer, status):
    """JSON Pointer to the application/json schema documented for this status."""
    responses = operation.get("responses")
    if not isinstance(responses, dict):
        raise CheckFailed("operation has no responses")
    for key in (str(status), f"{str(status)[0]}XX", f"{str(status)[0]}xx", "default"):
        if key in responses:
            break
    else:
        raise CheckFailed(f"status {status} is not documented (documented: {', '.join(map(str, responses))})")
    base = f"{item_pointer}/get/responses/{pointer_escape(key)}"
    response, base = follow_refs(spec, responses[key], base)
    content = response.get("content") if isinstance(response, dict) else None
    media = content.get("application/json") if isinstance(content, dict) else None
    if not isinstance(media, dict) or "schema" not in media:
        raise CheckFailed(f"response {key} has no content[\"application/json\"][\"schema\"]")
    return f"{base}/content/application~1json/schema"


def validate_body(spec, schema_pointer, body):
    """Validates body against the schema at schema_pointer, $refs resolving in the whole spec."""
    registry = referencing.Registry().with_resource(
        SPEC_URI, referencing.Resource.from_contents(spec, default_specification=DRAFT202012)
    )
    validator = jsonschema.Draft202012Validator({"$ref": f"{SPEC_URI}#{schema_pointer}"}, registry=registry)
    try:
        error = best_match(validator.iter_errors(body))
    except referencing.exceptions.Unresolvable as err:
        raise CheckFailed(f"schema $ref {err.ref!r} does not resolve in the document") from None
    if error is not None:
        where = getattr(error, "json_path", "$")
        raise CheckFailed(f"body does not match schema #{schema_pointer} at {where}: {first_line(error.message)}")


def run_check(spec, base, token, text):
    """Runs one STATUS:PATH check; returns a list of failure reasons (empty when it passed)."""
    status, path = parse_check(text)
    got, content_type, body = http_get(base + path, token)
    if spec is None:
        raise CheckFailed(f"status {got}; no usable OpenAPI document to check it against")
    split = urllib.parse.urlsplit(path)
    template, path_item, item_pointer = find_path_item(spec, split.path)
    operation, _ = follow_refs(spec, path_item.get("get"), f"{item_pointer}/get")
    if not isinstance(operation, dict):
        raise CheckFailed(f"{template} has no get operation in the document")
    failures = undeclared_query_params(spec, path_item, operation, item_pointer, split.query)
    if got != status:
        return failures + [f"status {got}, expected {status}"]
    try:
        pointer = response_schema_pointer(spec, operation, item_pointer, status)
        if content_type.split(";")[0].strip().lower() != "application/json":
            raise CheckFailed(f"Content-Type is {content_type!r}, not application/json")
        validate_body(spec, pointer, parse_json(body))
    except CheckFailed as err:
        failures.append(str(err))
    return failures


# ---------------------------------------------------------------- driver


def first_line(err):
    """Short one-line form of an exception or message."""
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def report(ok, label, reasons=()):
    """Prints one result line; returns ok."""
    if ok:
        print(f"ok {label}")
    else:
        reason = "; ".join(reasons)
        if len(reason) > MAX_REASON:
            reason = reason[:MAX_REASON] + "..."
        print(f"FAIL {label}: {reason}")
    return ok


def reason_of(err):
    """The failure reason an exception stands for."""
    if isinstance(err, CheckFailed):
        return str(err)
    return f"{type(err).__name__}: {first_line(err)}"


def failures_of(fn, *args):
    """Calls fn, which returns failure reasons; any exception becomes one (never a traceback)."""
    try:
        return fn(*args)
    except Exception as err:  # odd input must give a FAIL line
        return [reason_of(err)]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, help="server root, e.g. http://127.0.0.1:8080")
    ap.add_argument("--token", help="bearer token sent on every request")
    ap.add_argument("checks", nargs="*", metavar="STATUS:PATH")
    args = ap.parse_args(argv)
    base = args.base.rstrip("/")

    try:
        spec = fetch_spec(base, args.token)
    except Exception as err:
        spec, failures = None, [reason_of(err)]
    else:
        failures = failures_of(spec_failures, spec)
    version = f" (openapi {spec.get('openapi')})" if spec else ""
    results = [report(not failures, f"/openapi.json{version}", failures)]
    for text in args.checks:
        failures = failures_of(run_check, spec, base, args.token, text)
        results.append(report(not failures, " ".join(text.split(":", 1)), failures))

    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
