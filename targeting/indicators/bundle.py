"""A campaign's indicators as a STIX 2.1 bundle (the ``stix2`` package), and a received one read back.

What a bundle holds: the provider's Identity; an Extension Definition naming the custom
properties; the Campaign (first and last seen, capability area, size, the analysts' verdict,
the keyed hashes of its accounts, the key scheme); one Indicator per key kind whose pattern
is a STIX pattern over custom observables, e.g.
``[x-llm-prompt:template_key = '3f…'] OR [x-llm-prompt:template_key = '9a…']``, and for
address ranges the standard ``[ipv4-addr:value ISSUBSET '203.0.113.0/24']``; and a
Relationship ``indicates`` from each Indicator to the Campaign. No prompt text and no account
id: keys are digests (``indicators.keys``), accounts keyed hashes. Object ids are UUIDv4 in
form, derived from their content (the same campaign exported again keeps its ids).

Reading (``parse_bundle``) trusts nothing: the bytes are capped (``MAX_BUNDLE_BYTES``), the
JSON nesting is bounded before parsing (``jsonlimits``), the objects are counted, every
pattern must be the exact shape written here (``_TERM``) with well-formed values, and each
object used is checked by ``stix2.parse``; anything else raises
``errors.IndicatorBundleError`` (exit code 2) with one line naming what is wrong. Objects of
other kinds (another provider's file hashes, reports) are counted and left alone.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import stix2

from targeting.errors import IndicatorBundleError
from targeting.indicators.keys import DIGEST_HEX, KINDS, SCHEME_VERSION
from targeting.jsonlimits import loads_bounded

MAX_BUNDLE_BYTES = 8 << 20  # a bundle of one campaign is tens of kilobytes
MAX_OBJECTS = 2_000
MAX_DEPTH = 16  # JSON nesting: a bundle needs five levels
MAX_TERMS = 500  # keys in one indicator's pattern (stix2's pattern parser recurses per term: ~900 exhaust the stack)
MAX_NAME_CHARS = 200
OBSERVABLE = {  # kind -> (object type, property) of its pattern
    "template": ("x-llm-prompt", "template_key"),
    "system_family": ("x-llm-system-prompt", "family_key"),
    "tool_set": ("x-llm-tools", "schema_set_hash"),
}
KIND_NAMES = {"template": "template signatures (MinHash band and wrapper keys)",
              "system_family": "system-prompt family keys", "tool_set": "tool-schema set hashes",
              "address_range": "client address ranges"}
EXTENSION_PROPERTIES = ("x_targeting_kind", "x_targeting_key_scheme", "x_targeting_area", "x_targeting_size",
                        "x_targeting_verdict", "x_targeting_account_refs")
_TERM = re.compile(r"\[(x-llm-prompt|x-llm-system-prompt|x-llm-tools|ipv4-addr|ipv6-addr):"
                   r"(template_key|family_key|schema_set_hash|value) (=|ISSUBSET) '([0-9A-Fa-f:./]{1,64})'\]")
_KEY = re.compile(rf"[0-9a-f]{{{DIGEST_HEX}}}")
_STIX_ID = re.compile(r"[a-z][a-z0-9-]{0,62}--[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_READ_TYPES = ("identity", "relationship", "extension-definition", "campaign", "intrusion-set", "indicator")
_SCHEME = re.compile(r"targeting-indicators/[0-9]{1,4}/[0-9a-f]{16}")


@dataclass(frozen=True)
class CampaignFacts:
    """What the bundle says of the campaign besides its keys."""

    ref: str  # keyed hash of the campaign id (``keys.account_ref`` of it)
    size: int
    area: str
    first_seen: datetime
    last_seen: datetime
    verdict: str  # the analysts' standing verdict on it: confirmed, ..., or "none"
    account_refs: tuple[str, ...]  # keyed hashes of its members
    scheme: str  # ``keys.key_scheme``


def _uuid(*parts: str) -> str:
    """A UUID in version-4 form whose bits come from ``parts`` (content-derived ids)."""
    return str(uuid.UUID(bytes=hashlib.sha256("|".join(parts).encode()).digest()[:16], version=4))


def _pattern(kind: str, keys: list[str]) -> str:
    if kind == "address_range":
        return " OR ".join(
            f"[{'ipv6-addr' if ':' in k else 'ipv4-addr'}:value ISSUBSET '{k}']" for k in keys)
    kind_type, prop = OBSERVABLE[kind]
    return " OR ".join(f"[{kind_type}:{prop} = '{k}']" for k in keys)


def build_bundle(facts: CampaignFacts, indicators: dict[str, list[str]], *, provider: str, created: datetime) -> str:
    """The STIX 2.1 bundle (JSON text) of one campaign's ``indicators`` (kind -> keys; kinds
    without keys are left out)."""
    identity = stix2.Identity(id=f"identity--{_uuid('identity', provider)}", name=provider,
                              identity_class="organization", created=created, modified=created)
    extension = stix2.ExtensionDefinition(
        id=f"extension-definition--{_uuid('extension', str(SCHEME_VERSION))}", created_by_ref=identity.id,
        created=created, modified=created, name="targeting distillation-campaign indicators",
        description="Top-level properties of indicators of LLM capability-extraction campaigns: the key kind, the "
                    "key scheme both providers must share, and campaign facts (area, size, verdict, keyed account "
                    "references).",
        schema="Top-level x_targeting_* properties: kind and key scheme (strings), area (string), size (integer), "
               "verdict (string), account_refs (list of HMAC-SHA256 hex strings).",
        version=f"{SCHEME_VERSION}.0.0", extension_types=["toplevel-property-extension"],
        extension_properties=list(EXTENSION_PROPERTIES))
    ext = {extension.id: {"extension_type": "toplevel-property-extension"}}
    campaign = stix2.Campaign(
        id=f"campaign--{_uuid('campaign', facts.ref)}", created_by_ref=identity.id, created=created, modified=created,
        name=f"distillation campaign {facts.ref[:12]}",
        description=(f"{facts.size} accounts extracting the model's {facts.area} capability; analysts' verdict: "
                     f"{facts.verdict}. Accounts are named by keyed hashes only."),
        first_seen=facts.first_seen, last_seen=facts.last_seen, objective=f"capability extraction: {facts.area}",
        extensions=ext, allow_custom=True, x_targeting_area=facts.area, x_targeting_size=int(facts.size),
        x_targeting_verdict=facts.verdict, x_targeting_account_refs=list(facts.account_refs),
        x_targeting_key_scheme=facts.scheme)
    objects: list[Any] = [identity, extension, campaign]
    for kind in KINDS:
        keys = indicators.get(kind) or []
        if not keys:
            continue
        indicator = stix2.Indicator(
            id=f"indicator--{_uuid('indicator', facts.ref, kind)}", created_by_ref=identity.id, created=created,
            modified=created, name=f"{campaign.name}: {KIND_NAMES[kind]}",
            description=f"{len(keys)} {KIND_NAMES[kind]} carried by at least two of the campaign's accounts "
                        f"and rarely by others; key scheme {facts.scheme}.",
            indicator_types=["malicious-activity"], pattern=_pattern(kind, keys), pattern_type="stix",
            valid_from=facts.first_seen, extensions=ext, allow_custom=True, x_targeting_kind=kind,
            x_targeting_key_scheme=facts.scheme)
        relation = stix2.Relationship(
            id=f"relationship--{_uuid('relationship', indicator.id, campaign.id)}", created_by_ref=identity.id,
            created=created, modified=created, relationship_type="indicates", source_ref=indicator.id,
            target_ref=campaign.id)
        objects += [indicator, relation]
    bundle = stix2.Bundle(*objects, id=f"bundle--{_uuid('bundle', facts.ref, created.isoformat())}", allow_custom=True)
    return bundle.serialize(pretty=True)


# --- reading --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReceivedCampaign:
    """One campaign of a received bundle: its keys of each kind and what the sender said of it."""

    stix_id: str
    name: str
    provider: str
    scheme: str
    keys: dict[str, tuple[str, ...]] = field(default_factory=dict)
    size: int | None = None
    area: str = ""
    verdict: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"stix_id": self.stix_id, "name": self.name, "provider": self.provider, "scheme": self.scheme,
                "keys": {k: list(v) for k, v in self.keys.items()}, "size": self.size, "area": self.area,
                "verdict": self.verdict}


@dataclass(frozen=True)
class Received:
    """A received bundle as far as this program reads it."""

    bundle_id: str
    digest: str  # sha256 of the bytes received (hex)
    campaigns: tuple[ReceivedCampaign, ...]
    ignored: int  # objects of other kinds, or indicators of other shapes, left alone

    @property
    def key(self) -> str:
        """The name the workspace keeps it under (``workspace.received_indicators_path``)."""
        return "b" + self.digest[:16]

    def to_dict(self) -> dict[str, Any]:
        return {"bundle_id": self.bundle_id, "sha256": self.digest, "ignored": self.ignored,
                "campaigns": [c.to_dict() for c in self.campaigns]}


def _fail(message: str) -> IndicatorBundleError:
    return IndicatorBundleError(f"indicator bundle refused: {message}")


def _text(value: Any, what: str) -> str:
    """A name or label from the bundle: text, printable characters only, at most ``MAX_NAME_CHARS``."""
    if not isinstance(value, str):
        raise _fail(f"{what} is not text")
    clean = "".join(ch for ch in value if ch.isprintable()).strip()
    if len(clean) > MAX_NAME_CHARS:
        raise _fail(f"{what} is {len(clean):,} characters long (at most {MAX_NAME_CHARS})")
    return clean


def _load(data: bytes) -> dict[str, Any]:
    if len(data) > MAX_BUNDLE_BYTES:
        raise _fail(f"more than {MAX_BUNDLE_BYTES:,} bytes")
    try:
        doc = loads_bounded(data.decode("utf-8"), max_depth=MAX_DEPTH)
    except UnicodeDecodeError:
        raise _fail("not UTF-8 text") from None
    except (ValueError, RecursionError) as exc:
        raise _fail(f"not JSON ({str(exc).splitlines()[0][:120]})") from None
    if not isinstance(doc, dict) or doc.get("type") != "bundle":
        raise _fail("not a STIX bundle (no top-level object of type 'bundle')")
    if not isinstance(doc.get("id"), str) or not _STIX_ID.fullmatch(doc["id"]):
        raise _fail("the bundle has no valid id")
    objects = doc.get("objects", [])
    if not isinstance(objects, list):
        raise _fail("'objects' is not a list")
    if len(objects) > MAX_OBJECTS:
        raise _fail(f"{len(objects):,} objects (at most {MAX_OBJECTS:,})")
    for i, obj in enumerate(objects):
        if not isinstance(obj, dict) or not isinstance(obj.get("type"), str) or not isinstance(obj.get("id"), str) \
                or not _STIX_ID.fullmatch(obj["id"]):
            raise _fail(f"object {i} has no valid type and id")
    return doc


def _checked(obj: dict[str, Any]) -> None:
    """``stix2.parse`` of one object (its properties, timestamps, references, pattern)."""
    try:
        stix2.parse(obj, allow_custom=True, version="2.1")
    except Exception as exc:  # noqa: BLE001 - the library's failures on hostile input are not all typed
        # (STIXError, ValueError; AttributeError for ``"extensions": true``; RecursionError in
        # its pattern parser): whatever it raises, the object is not one it accepts
        raise _fail(f"{obj['id']} is not valid STIX 2.1 ({str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__})") from None


def _range(value: str) -> str:
    try:
        net = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise _fail(f"{value!r} is not an address range") from None
    return str(net)


def _indicator_keys(obj: dict[str, Any]) -> tuple[str, tuple[str, ...]] | None:
    """(kind, keys) of an indicator written like ``build_bundle`` writes them; None for any other."""
    kind = obj.get("x_targeting_kind")
    pattern = obj.get("pattern")
    if kind not in KINDS or obj.get("pattern_type") != "stix" or not isinstance(pattern, str):
        return None
    terms = pattern.split(" OR ")
    if len(terms) > MAX_TERMS:
        raise _fail(f"{obj['id']} has {len(terms):,} keys (at most {MAX_TERMS:,})")
    keys = []
    for term in terms:
        m = _TERM.fullmatch(term)
        if m is None:
            raise _fail(f"{obj['id']} has a pattern term this program does not write: {term[:80]!r}")
        kind_type, prop, op, value = m.groups()
        if kind == "address_range":
            if kind_type not in ("ipv4-addr", "ipv6-addr") or op != "ISSUBSET":
                raise _fail(f"{obj['id']}: an address range indicator holds {kind_type}:{prop}")
            keys.append(_range(value))
        else:
            if (kind_type, prop) != OBSERVABLE[kind] or op != "=" or not _KEY.fullmatch(value):
                raise _fail(f"{obj['id']}: a {kind} indicator holds {kind_type}:{prop} {op} {value[:40]!r}")
            keys.append(value)
    return kind, tuple(dict.fromkeys(keys))


def _scheme(obj: dict[str, Any]) -> str:
    scheme = obj.get("x_targeting_key_scheme")
    if not isinstance(scheme, str) or not _SCHEME.fullmatch(scheme):
        raise _fail(f"{obj['id']} names no key scheme this program knows")
    return scheme


def parse_bundle(data: bytes) -> Received:
    """The campaigns and keys of a received bundle (see the module); ``IndicatorBundleError``
    for anything malformed, too large or not STIX 2.1."""
    doc = _load(data)
    by_id = {obj["id"]: obj for obj in doc.get("objects", [])}
    names = {i: _text(o.get("name"), f"{i}'s name") for i, o in by_id.items() if o["type"] == "identity"}
    indicates: dict[str, str] = {}
    for obj in by_id.values():
        if obj["type"] == "relationship" and obj.get("relationship_type") == "indicates":
            source, target = obj.get("source_ref"), obj.get("target_ref")
            if isinstance(source, str) and isinstance(target, str) and source in by_id and target in by_id:
                _checked(obj)
                indicates[source] = target
    grouped: dict[str, dict[str, tuple[str, ...]]] = {}
    schemes: dict[str, str] = {}
    ignored = sum(1 for obj in by_id.values() if obj["type"] not in _READ_TYPES)
    for obj in (o for o in by_id.values() if o["type"] == "indicator"):
        found = _indicator_keys(obj)
        target = indicates.get(obj["id"])
        if found is None or target is None or by_id[target]["type"] not in ("campaign", "intrusion-set"):
            ignored += 1  # another provider's kind of indicator, or one that indicates no campaign
            continue
        _checked(obj)
        grouped.setdefault(target, {})[found[0]] = found[1]
        schemes[target] = _scheme(obj)
    campaigns = []
    for target, keys in grouped.items():
        camp = by_id[target]
        _checked(camp)
        author = camp.get("created_by_ref")
        provider = (names.get(author, "") if isinstance(author, str) else "") or next(iter(names.values()), "") or (
            "an unnamed provider")
        size = camp.get("x_targeting_size")
        campaigns.append(ReceivedCampaign(
            stix_id=target, name=_text(camp.get("name"), f"{target}'s name") or target, provider=provider,
            scheme=schemes[target], keys=keys, size=size if isinstance(size, int) and not isinstance(size, bool) else None,
            area=_text(camp.get("x_targeting_area", ""), "the area"),
            verdict=_text(camp.get("x_targeting_verdict", ""), "the verdict")))
    if not campaigns:
        raise _fail("it holds no campaign with indicators of this program's kinds")
    return Received(doc["id"], hashlib.sha256(data).hexdigest(), tuple(campaigns), int(ignored))
