"""Amplify Gen 2's ``amplify_outputs.json`` for the demo environment (used by
``scripts/gen_fixtures.py``; kept apart so the generator stays readable).

``npx ampx generate outputs`` writes this file for a deployed backend; apps read it to
configure their client. ``rtsnap init`` reads it to write ``rtsnap.toml``, so the
fixture has the real file's shape: ``auth`` (user pool, client, identity pool),
``data`` (AppSync URL and the model introspection schema: every model's fields,
relationship associations, secondary indexes as ``key`` attributes, auth rules,
primary key), ``storage`` (bucket) and ``version``.

Everything is derived from the generator's own tables (models, relations, GSIs, the
items' attributes), so the file describes exactly the data in ``fixtures/demo``.
As in a real file, the backend suffix (the ``<suffix>`` of ``<Model>-<suffix>-NONE``)
does not appear: the AppSync URL's host is a separate id. No API key is written.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any, Callable

OUTPUTS_VERSION = "1.3"

#: Auth rules every model carries besides its owner rule (as `allow.group("admins")`
#: and `allow.authenticated().to(["read"])` produce them).
ALL_OPERATIONS = ["create", "update", "delete", "read"]
ADMIN_RULE = {
    "groupClaim": "cognito:groups",
    "provider": "userPools",
    "allow": "groups",
    "groups": ["admins"],
    "operations": ALL_OPERATIONS,
}
READ_RULE = {"allow": "private", "provider": "userPools", "operations": ["read"]}
OWNER_RULE = {
    "provider": "userPools",
    "ownerField": "owner",
    "allow": "owner",
    "identityClaim": "cognito:username",
    "operations": ALL_OPERATIONS,
}

DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass
class Spec:
    """What the generator knows about the demo environment."""

    models: list[str]
    relations: list[tuple[str, str]]
    #: model -> [(IndexName, hash, range)]
    gsis: Callable[[str], list[tuple[str, str, str | None]]]
    plural: Callable[[str], str]
    ttl: dict[str, str]
    groups: list[dict[str, Any]]
    region: str
    user_pool_id: str
    bucket: str
    backend_suffix: str


def lcfirst(s: str) -> str:
    return s[0].lower() + s[1:]


def ucfirst(s: str) -> str:
    return s[0].upper() + s[1:]


def owner_models(items: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Models whose items carry an ``owner`` (Amplify's `allow.owner()` field)."""
    return sorted(m for m, rows in items.items() if any("owner" in it for it in rows))


def scalar_type(name: str, values: list[Any], id_fields: set[str], ttl: str | None) -> tuple[str, bool]:
    """(Amplify type, isArray) of a field, from the values the items hold."""
    if name == "id" or name in id_fields or (name.endswith("Id") and all(isinstance(v, str) for v in values)):
        return "ID", False
    if name == ttl:
        return "AWSTimestamp", False
    kinds = {type(v).__name__ for v in values}
    if not values or kinds == {"str"}:
        if values and all(DATETIME.match(v) for v in values):
            return "AWSDateTime", False
        if values and all(DATE.match(v) for v in values):
            return "AWSDate", False
        if "email" in name.lower() and all("@" in v for v in values):
            return "AWSEmail", False
        if "phone" in name.lower():
            return "AWSPhone", False
        return "String", False
    if kinds == {"bool"}:
        return "Boolean", False
    if kinds <= {"int", "Decimal"}:
        return ("Int" if kinds == {"int"} else "Float"), False
    if kinds == {"SS"}:
        return "String", True
    if kinds == {"NS"}:
        numbers = [x for v in values for x in v]
        return ("Int" if all(isinstance(x, int) for x in numbers) else "Float"), True
    if kinds <= {"bytes", "BS"}:
        # Amplify has no binary scalar; such attributes are written by other code paths.
        return "String", kinds == {"BS"}
    return "AWSJSON", False


def field(name: str, kind: Any, required: bool, is_array: bool = False, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "isArray": is_array, "type": kind, "isRequired": required, "attributes": []}
    if is_array:
        out["isArrayNullable"] = True
    out.update(extra)
    return out


def model_entry(spec: Spec, model: str, rows: list[dict[str, Any]], owners: set[str]) -> dict[str, Any]:
    belongs = [(src.split(".")[1], dst.split(".")[0]) for src, dst in spec.relations if src.split(".")[0] == model]
    children = [(src.split(".")[0], src.split(".")[1]) for src, dst in spec.relations if dst.split(".")[0] == model]
    id_fields = {f for f, _ in belongs}
    values: dict[str, list[Any]] = {}
    present: dict[str, int] = {}
    for it in rows:
        for k, v in it.items():
            if k.startswith("_"):
                continue  # __typename is AppSync's, not a model field
            present[k] = present.get(k, 0) + 1
            if v is not None:
                values.setdefault(k, []).append(v)
    data_fields = sorted(k for k in present if k not in ("id", "createdAt", "updatedAt"))
    if model in owners and "owner" not in data_fields:
        data_fields.append("owner")

    fields: dict[str, Any] = {"id": field("id", "ID", True)}
    for name in data_fields:
        kind, is_array = scalar_type(name, values.get(name, []), id_fields, spec.ttl.get(model))
        required = bool(rows) and present.get(name, 0) == len(rows) and name not in id_fields
        fields[name] = field(name, kind, required, is_array)
    for fk, target in belongs:
        name = fk[:-2] if fk.endswith("Id") else fk + "Ref"
        fields[name] = field(name, {"model": target}, False,
                             association={"connectionType": "BELONGS_TO", "targetNames": [fk]})
    for child, fk in children:
        name = lcfirst(spec.plural(child))
        if name in fields:
            name += "By" + ucfirst(fk)
        fields[name] = field(name, {"model": child}, False, True,
                             association={"connectionType": "HAS_MANY", "associatedWith": [fk]})
    for name in ("createdAt", "updatedAt"):
        fields[name] = field(name, "AWSDateTime", False, isReadOnly=True)

    attributes: list[dict[str, Any]] = [{"type": "model", "properties": {}}]
    for index, hash_key, range_key in spec.gsis(model):
        query = f"list{model}By{ucfirst(hash_key)}" + (f"And{ucfirst(range_key)}" if range_key else "")
        attributes.append({"type": "key", "properties": {
            "name": index, "queryField": query, "fields": [hash_key] + ([range_key] if range_key else [])}})
    rules = ([OWNER_RULE] if model in owners else [READ_RULE]) + [ADMIN_RULE]
    attributes.append({"type": "auth", "properties": {"rules": rules}})
    return {
        "name": model,
        "fields": fields,
        "syncable": True,
        "pluralName": spec.plural(model),
        "attributes": attributes,
        "primaryKeyInfo": {"isCustomPrimaryKey": False, "primaryKeyFieldName": "id", "sortKeyFieldNames": []},
    }


def build(spec: Spec, items: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The whole file, in the key order Amplify writes."""
    rng = random.Random("rtsnap-demo-fixture-v1:amplify-outputs")

    def token(n: int, alphabet: str = "abcdefghijklmnopqrstuvwxyz0123456789") -> str:
        return "".join(rng.choice(alphabet) for _ in range(n))

    owners = set(owner_models(items))
    api_host = token(26)
    assert api_host != spec.backend_suffix
    identity_pool = f"{spec.region}:{token(8, '0123456789abcdef')}-{token(4, '0123456789abcdef')}-4{token(3, '0123456789abcdef')}-a{token(3, '0123456789abcdef')}-{token(12, '0123456789abcdef')}"
    return {
        "auth": {
            "user_pool_id": spec.user_pool_id,
            "aws_region": spec.region,
            "user_pool_client_id": token(26),
            "identity_pool_id": identity_pool,
            "mfa_methods": [],
            "standard_required_attributes": ["email"],
            "username_attributes": ["email"],
            "user_verification_types": ["email"],
            "groups": [{g["name"]: {"precedence": g["precedence"]}} for g in spec.groups],
            "mfa_configuration": "NONE",
            "password_policy": {
                "min_length": 8,
                "require_lowercase": True,
                "require_numbers": True,
                "require_symbols": True,
                "require_uppercase": True,
            },
            "unauthenticated_identities_enabled": True,
        },
        "data": {
            "url": f"https://{api_host}.appsync-api.{spec.region}.amazonaws.com/graphql",
            "aws_region": spec.region,
            "default_authorization_type": "AMAZON_COGNITO_USER_POOLS",
            "authorization_types": ["AWS_IAM"],
            "model_introspection": {
                "version": 1,
                "models": {m: model_entry(spec, m, items[m], owners) for m in spec.models},
                "enums": {},
                "nonModels": {},
            },
        },
        "storage": {
            "aws_region": spec.region,
            "bucket_name": spec.bucket,
            "buckets": [{
                "name": "demoAssets",
                "bucket_name": spec.bucket,
                "aws_region": spec.region,
                "paths": {
                    "public/*": {"guest": ["get", "list"], "authenticated": ["get", "list", "write", "delete"]},
                    "protected/{entity_id}/*": {"authenticated": ["get", "list"],
                                                "entityidentity": ["get", "list", "write", "delete"]},
                },
            }],
        },
        "version": OUTPUTS_VERSION,
    }


def check(spec: Spec, outputs: dict[str, Any], owners_in_items: list[str],
          gsi_names: dict[str, list[str]]) -> list[str]:
    """Problems with a written file, checked against the snapshot read back from disk."""
    errors: list[str] = []

    def expect(cond: bool, msg: str) -> None:
        if not cond:
            errors.append(f"amplify_outputs.json: {msg}")

    expect(outputs.get("version") == OUTPUTS_VERSION, "version")
    expect(outputs["auth"]["user_pool_id"] == spec.user_pool_id, "auth.user_pool_id")
    expect(outputs["storage"]["bucket_name"] == spec.bucket, "storage.bucket_name")
    for section in ("auth", "data", "storage"):
        expect(outputs[section]["aws_region"] == spec.region, f"{section}.aws_region")
    text = repr(outputs)
    expect(spec.backend_suffix not in text, "the backend suffix must not appear (Amplify never writes it)")
    expect("api_key" not in outputs["data"], "no API key")
    models = outputs["data"]["model_introspection"]["models"]
    expect(list(models) == spec.models, "models differ from the snapshot's tables")
    belongs: set[tuple[str, str]] = set()
    has_many: set[tuple[str, str]] = set()
    owners: list[str] = []
    for name, entry in models.items():
        expect(entry["name"] == name, f"{name}: name")
        pk = entry["primaryKeyInfo"]["primaryKeyFieldName"]
        for f in entry["fields"].values():
            assoc = f.get("association")
            if assoc is None:
                continue
            target = f["type"]["model"]
            expect(target in models, f"{name}.{f['name']}: unknown model {target}")
            if assoc["connectionType"] == "BELONGS_TO":
                (fk,) = assoc["targetNames"]
                expect(fk in entry["fields"], f"{name}: targetNames {fk} is not a field")
                belongs.add((f"{name}.{fk}", f"{target}.{models[target]['primaryKeyInfo']['primaryKeyFieldName']}"))
            elif assoc["connectionType"] == "HAS_MANY":
                (fk,) = assoc["associatedWith"]
                expect(fk in models[target]["fields"], f"{name}: associatedWith {target}.{fk} is not a field")
                has_many.add((f"{target}.{fk}", f"{name}.{pk}"))
        keys = [a["properties"]["name"] for a in entry["attributes"] if a["type"] == "key"]
        expect(keys == gsi_names[name], f"{name}: key attributes {keys} != GSIs {gsi_names[name]}")
        rules = [r for a in entry["attributes"] if a["type"] == "auth" for r in a["properties"]["rules"]]
        if any(r["allow"] == "owner" for r in rules):
            owners.append(name)
    expect(belongs == set(spec.relations), f"belongsTo pairs differ: {sorted(belongs ^ set(spec.relations))}")
    expect(has_many == set(spec.relations), f"hasMany pairs differ: {sorted(has_many ^ set(spec.relations))}")
    expect(sorted(owners) == owners_in_items, f"owner rules on {sorted(owners)}, owner fields in items of {owners_in_items}")
    return errors

