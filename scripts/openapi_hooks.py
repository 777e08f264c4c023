"""Schemathesis hooks for scripts/openapi-check.sh: the relay's OpenAPI document, run
against a live relay.

The relay's bodies are CBOR (application/cbor), written by serde: a UUID is a 16-byte
byte string and a `Vec<u8>` (serde_bytes) is a byte string, while the document (utoipa)
describes the JSON-shaped value — a UUID string, an array of integers. The serializer and
deserializer below translate between the two, guided by the document's own schema for the
body at hand, so that generated bodies reach the handlers and responses are checked
against the document:

- requests: a string the schema calls `format: uuid` that is a UUID goes out as its 16
  bytes; an array the schema gives as bytes (`integer`, `int32`, `minimum: 0`) whose
  items are all 0..255 goes out as a byte string. Anything else (negative testing) goes
  out as generated, for the relay to refuse with a typed error.
- responses: the reverse, then schemathesis validates the result against the schema.

Also here: a device registered up front (the bearer token for every request), a space it
is a member of (with a partner's device in it too, and its key announced), an invite into
it, a recovery kit of the device's person (of the partner's, for recoveries: the run
can't replace that one) and an attachment upload under way in the space, which path
parameters `space`, `invite`, `lookup`, `hash` and `ref` are aimed at
half the time — `epoch` at the space's announced epoch — (so
pushes, pulls, snapshots, epochs, members, joins, key drops and recovery kits reach more
than "404"), and the `typed_errors` check: every answer of 400 or more is JSON `{code, message}`
with a code the document lists (a HEAD answer: its content type, as it has no body).
DUET_OPENAPI_TRACE=1 prints every request and answer.
"""

from __future__ import annotations

import atexit
import collections
import hashlib
import json
import os
import secrets
import uuid

import cbor2
import requests
import schemathesis
from hypothesis import strategies as st

BASE = os.environ["DUET_RELAY_URL"].rstrip("/")
DOC = requests.get(f"{BASE}/v1/openapi.json", timeout=10).json()
ERROR_CODES = set(DOC["components"]["schemas"]["ErrorCode"]["enum"])


# --- The document's schemas -------------------------------------------------------------


def resolve(schema: dict | None) -> dict:
    while isinstance(schema, dict) and "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = DOC["components"]["schemas"][name]
    return schema if isinstance(schema, dict) else {}


def types(schema: dict) -> set:
    t = schema.get("type")
    return set(t) if isinstance(t, list) else {t} if t else set()


def is_bytes(schema: dict) -> bool:
    """utoipa's picture of a serde_bytes `Vec<u8>`: an array of int32 >= 0."""
    items = resolve(schema.get("items"))
    return (
        "array" in types(schema)
        and "integer" in types(items)
        and items.get("format") == "int32"
        and items.get("minimum") == 0
    )


def is_uuid(schema: dict) -> bool:
    return "string" in types(schema) and schema.get("format") == "uuid"


def is_binary(schema: dict) -> bool:
    """Should the document come to call byte strings `format: binary`."""
    return "string" in types(schema) and schema.get("format") == "binary"


def concrete(schema: dict | None) -> dict:
    """The schema a value that isn't None follows: resolved, and for a oneOf/anyOf (utoipa's
    picture of an `Option`) its first branch that isn't null, likewise."""
    schema = resolve(schema)
    subs = schema.get("oneOf") or schema.get("anyOf") or []
    for sub in map(resolve, subs):
        if "null" not in types(sub):
            return concrete(sub)
    return schema


def to_wire(value, schema):
    """The generated (JSON-shaped) value as serde writes it in CBOR."""
    if value is None:
        return None
    schema = concrete(schema)
    if is_uuid(schema) and isinstance(value, str):
        try:
            return uuid.UUID(value).bytes
        except ValueError:
            return value
    if is_binary(schema) and isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    if is_bytes(schema) and isinstance(value, list):
        if all(isinstance(b, int) and not isinstance(b, bool) and 0 <= b <= 255 for b in value):
            return bytes(value)
        return value
    if isinstance(value, dict):
        props = schema.get("properties", {})
        return {k: to_wire(v, props.get(k)) for k, v in value.items()}
    if isinstance(value, list) and "items" in schema:
        return [to_wire(v, schema["items"]) for v in value]
    return value


def from_wire(value, schema):
    """A decoded CBOR value in the JSON shape the document describes."""
    if value is None:
        return None
    schema = concrete(schema)
    if isinstance(value, bytes):
        if is_uuid(schema) and len(value) == 16:
            return str(uuid.UUID(bytes=value))
        if is_binary(schema):
            return value.decode("latin-1")
        # A byte string anywhere else is the document's array of integers; a schema that
        # wants something else then fails on it, as it should.
        return list(value)
    if isinstance(value, dict):
        props = schema.get("properties", {})
        return {k: from_wire(v, props.get(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [from_wire(v, schema.get("items")) for v in value]
    return value


def operation_doc(operation) -> dict:
    return DOC["paths"].get(operation.path, {}).get(operation.method.lower(), {})


@schemathesis.serializer("application/cbor")
def cbor_serializer(ctx, value):
    op = operation_doc(ctx.case.operation)
    schema = op.get("requestBody", {}).get("content", {}).get("application/cbor", {}).get("schema")
    return cbor2.dumps(to_wire(value, schema))


@schemathesis.deserializer("application/cbor")
def cbor_deserializer(ctx, response):
    try:
        value = cbor2.loads(response.content)
    except Exception as exc:  # noqa: BLE001 - any decoding failure is the finding
        raise ValueError(f"the body is not CBOR: {exc}") from exc
    op = operation_doc(ctx.operation)
    answer = op.get("responses", {}).get(str(response.status_code), {})
    schema = answer.get("content", {}).get("application/cbor", {}).get("schema")
    return from_wire(value, schema)


# What the relay checks that the document doesn't say (scripts/openapi-check.sh's header):
# byte strings hold bytes, blob ids are 16 of them, an invite's token hash 32.
# Told to the generator, valid bodies get past the decoder to the handlers; negative
# testing still sends the rest.
EXACT_LENGTHS = {("PushBlob", "id"): 16, ("CreateInvite", "token_hash"): 32}


@schemathesis.hook
def before_load_schema(context, raw_schema):
    def walk(node):
        if isinstance(node, dict):
            if is_bytes(node) and isinstance(node.get("items"), dict):
                node["items"]["maximum"] = 255
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(raw_schema)
    for (name, field), n in EXACT_LENGTHS.items():
        prop = raw_schema["components"]["schemas"][name]["properties"][field]
        prop["minItems"] = prop["maxItems"] = n


# --- A device, a space and an invite to aim at -------------------------------------------


def cbor_post(path: str, token: str, body: dict, method: str = "POST"):
    r = requests.request(
        method,
        f"{BASE}{path}",
        data=cbor2.dumps(body),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/cbor"},
        timeout=10,
    )
    r.raise_for_status()
    return cbor2.loads(r.content) if r.content else None


def register() -> dict:
    r = requests.post(f"{BASE}/v1/devices", timeout=10)
    r.raise_for_status()
    return cbor2.loads(r.content)


def create_invite(space: uuid.UUID, token: str, token_hash: bytes) -> uuid.UUID:
    invite = uuid.uuid4()
    cbor_post(
        f"/v1/spaces/{space}/invites",
        token,
        {
            "invite_id": invite.bytes,
            "token_hash": token_hash,
            "wrapped_key": secrets.token_bytes(80),
            "ttl_secs": 3600,
            "kind": "partner",
        },
    )
    return invite


def setup() -> dict:
    reg = register()
    token = reg["token"]
    space = uuid.uuid4()
    cbor_post("/v1/spaces", token, {"space_id": space.bytes, "kind": "journal"})
    invite = create_invite(space, token, secrets.token_bytes(32))
    # A partner's device joins (key drops are left for other member devices) and the key
    # is announced (drops are taken only for the announced epoch).
    partner = register()
    join_token = secrets.token_bytes(32)
    joined = create_invite(space, token, hashlib.sha256(join_token).digest())
    cbor_post(f"/v1/invites/{joined}/join", partner["token"], {"token": join_token})
    cbor_post(f"/v1/spaces/{space}/epoch", token, {"epoch": 1}, method="PUT")
    # Recovery kits listing the space: the device's, for the run to update, and the
    # partner's, whose secret the run's recoveries prove (until they spend its attempts).
    def make_kit(tok: str) -> tuple[str, bytes]:
        lookup, auth = secrets.token_hex(16), secrets.token_bytes(32)
        kit = {"auth_hash": hashlib.sha256(auth).digest(), "envelope": secrets.token_bytes(64), "spaces": [space.bytes]}
        cbor_post(f"/v1/recovery/{lookup}", tok, kit, method="PUT")
        return lookup, auth

    partner_lookup, auth = make_kit(partner["token"])
    kits = {"lookup": make_kit(token)[0], "partner_lookup": partner_lookup, "auth": auth}
    # An attachment upload under way in the space (10 of 1,000 bytes), for the attachment
    # routes' `hash` and `ref` to aim at.
    hash_hex, ref_hex = secrets.token_hex(32), secrets.token_hex(16)
    r = requests.patch(
        f"{BASE}/v1/spaces/{space}/attachments/{hash_hex}/upload?offset=0&size=1000&ref={ref_hex}",
        data=secrets.token_bytes(10),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream"},
        timeout=10,
    )
    r.raise_for_status()
    return {
        "token": token,
        "device": str(uuid.UUID(bytes=reg["device_id"])),
        "partner": str(uuid.UUID(bytes=partner["device_id"])),
        "space": str(space),
        "invite": str(invite),
        "hash": hash_hex,
        "ref": ref_hex,
        **kits,
    }


STATE = setup()


@schemathesis.auth()
class RelayDevice:
    """Every request carries the registered device's bearer token."""

    def get(self, case, ctx):
        return STATE["token"]

    def set(self, case, data, ctx):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


# (operation, status) -> count, printed when the run ends: what the run reached.
SEEN: collections.Counter = collections.Counter()


@atexit.register
def print_seen():
    if SEEN:
        print("\nrelay answers by operation (status: count):")
        for label in sorted({op for op, _ in SEEN}):
            counts = ", ".join(f"{st}: {n}" for (op, st), n in sorted(SEEN.items()) if op == label)
            print(f"  {label:45} {counts}")


@schemathesis.hook
def after_call(context, case, response):
    SEEN[(case.operation.label, response.status_code)] += 1
    if os.environ.get("DUET_OPENAPI_TRACE"):
        body = (response.content or b"")[:160]
        print(f"TRACE {case.method} {case.formatted_path} -> {response.status_code} {body!r}", flush=True)
    # Revoking one's own device is allowed: should a generated request do it, carry on
    # with a new device (and space, and invite) instead of a run of 401s.
    if response.status_code == 401 and b"device_revoked" in (response.content or b""):
        try:
            STATE.update(setup())
        except requests.RequestException:
            pass


def announced_epoch() -> int:
    """The aimed space's key epoch as it is now (generated announcements move it)."""
    r = requests.get(
        f"{BASE}/v1/spaces/{STATE['space']}",
        headers={"Authorization": f"Bearer {STATE['token']}"},
        timeout=10,
    )
    return cbor2.loads(r.content).get("key_epoch", 1) if r.ok else 1


@schemathesis.hook
def flatmap_path_parameters(context, path_parameters):
    if not isinstance(path_parameters, dict):
        return st.just(path_parameters)
    aimed = dict(path_parameters)
    for name in ("space", "invite", "lookup", "hash", "ref"):
        if name in aimed:
            aimed[name] = STATE[name]
    op = context.operation
    if "lookup" in aimed and op is not None and op.method.lower() == "post":
        aimed["lookup"] = STATE["partner_lookup"]
    if "epoch" in aimed:
        aimed["epoch"] = announced_epoch()
    if aimed == path_parameters:
        return st.just(path_parameters)
    return st.sampled_from([path_parameters, aimed])


def byte_list(min_size: int, max_size: int):
    return st.binary(min_size=min_size, max_size=max_size).map(list)


# A push the relay takes: blobs with 16-byte ids and some bytes, sometimes a sealed-blob
# header (version 1, a small epoch) in front, so the epoch check runs too.
PUSH_BLOB = st.fixed_dictionaries(
    {
        "id": byte_list(16, 16),
        "data": st.one_of(
            byte_list(1, 300),
            st.tuples(st.integers(0, 3), byte_list(40, 300)).map(lambda t: [1, 0, 0, 0, t[0], *t[1]]),
        ),
    }
)
VALID_PUSH = st.fixed_dictionaries({"blobs": st.lists(PUSH_BLOB, min_size=1, max_size=4)})

# Key drops the relay takes: 1 to 64 of 1 to 128 bytes, for the partner's device (stored),
# the caller itself or a device nobody has (both skipped). Devices are read when drawn: a
# revocation replaces them.
KEY_DROP = st.fixed_dictionaries(
    {
        "device": st.one_of(
            st.builds(lambda: STATE["partner"]),
            st.builds(lambda: STATE["device"]),
            st.uuids().map(str),
        ),
        "sealed": byte_list(1, 128),
    }
)
VALID_KEY_DROPS = st.fixed_dictionaries({"drops": st.lists(KEY_DROP, min_size=1, max_size=64)})

# Recovery kits the relay takes: an envelope, the aimed space or none, sometimes a new
# secret's hash; and an attempt with the partner's kit's secret. Read when drawn (a
# revocation replaces them).
VALID_KIT = st.fixed_dictionaries(
    {
        "envelope": byte_list(1, 300),
        "spaces": st.one_of(st.just([]), st.builds(lambda: [STATE["space"]])),
    },
    optional={"auth_hash": byte_list(32, 32)},
)
VALID_RECOVER = st.builds(lambda: {"auth": list(STATE["auth"])})


@schemathesis.hook
def flatmap_body(context, body):
    op = context.operation
    if op is not None and op.method.lower() == "post" and op.path == "/v1/spaces/{space}/blobs":
        return st.one_of(st.just(body), VALID_PUSH)
    if op is not None and op.method.lower() == "put" and op.path == "/v1/spaces/{space}/keys/{epoch}":
        return st.one_of(st.just(body), VALID_KEY_DROPS)
    if op is not None and op.path == "/v1/recovery/{lookup}":
        return st.one_of(st.just(body), VALID_KIT if op.method.lower() == "put" else VALID_RECOVER)
    return st.just(body)


# --- Checks ------------------------------------------------------------------------------


def header(response, name: str) -> str:
    v = response.headers.get(name) or response.headers.get(name.lower()) or ""
    return v[0] if isinstance(v, list) else v


@schemathesis.check
def typed_errors(ctx, response, case):
    """An error is JSON `{code, message}` with one of the document's codes, never an
    empty or plain-text body."""
    if response.status_code < 400:
        return None
    ct = header(response, "content-type")
    if not ct.startswith("application/json"):
        raise AssertionError(
            f"{response.status_code} without a typed error: content-type {ct!r}, body {response.content[:200]!r}"
        )
    if case.method.upper() == "HEAD":
        # A HEAD answer has the error's headers but never a body.
        return None
    try:
        body = json.loads(response.content)
    except ValueError as exc:
        raise AssertionError(f"{response.status_code} with a body that isn't JSON: {response.content[:200]!r}") from exc
    if not isinstance(body, dict) or body.get("code") not in ERROR_CODES or not isinstance(body.get("message"), str):
        raise AssertionError(f"{response.status_code} with an error body that isn't {{code, message}}: {body!r}")
    return None
