"""ECS resource tags: where an object keeps them, and ECS's rules for them.

Where the tags live (ListTagsForResource, ``include=["TAGS"]`` and TagResource agree on it):

- ECSCluster and CapacityProvider: ``spec.tags`` (a spec change there starts nothing);
- ECSService: the annotation ``ecs.seed.dev/tags`` (a JSON list) once TagResource or
  UntagResource touched the service, else ``spec.tags``. A spec change would be a new
  generation, which ends a circuit breaker's rollback (``plans.service.pinned_task_definition``);
  ECS starts no deployment for a tag;
- a task definition revision: the annotation ``ecs.seed.dev/tags`` of its ControllerRevision,
  else the tags it was registered with (the TaskDefinition's spec is the family's latest
  registration: changing it would register a new revision);
- a task of an ECSTask: the annotation ``ecs.seed.dev/tags-<task id>`` (one per task, as ECS tags
  each task), else the ECSTask's ``spec.tags`` (a started task's spec does not change).

The rules (ECS's): at most 50 tags per resource; a key is 1 to 128 characters, a value 0 to 256,
both made of letters, digits, spaces and ``_ . : / = + - @``; keys and values beginning with
``aws:`` in any case are reserved. A violation is InvalidParameterException.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable
from typing import Any

from .. import GROUP
from .errors import invalid_parameter

ANNOTATION = f"{GROUP}/tags"
MAX_TAGS = 50
MAX_KEY = 128
MAX_VALUE = 256
RESERVED_PREFIX = "aws:"
_PUNCTUATION = frozenset("_.:/=+-@")


def task_annotation(task_id: str) -> str:
    """The annotation holding one task's tags on its ECSTask."""
    return f"{ANNOTATION}-{task_id}"


def _allowed(text: str) -> bool:
    return all(c.isalnum() or c in _PUNCTUATION or unicodedata.category(c).startswith("Z") for c in text)


def _check_text(what: str, text: str, lo: int, hi: int) -> None:
    if not lo <= len(text) <= hi:
        raise invalid_parameter(f"Tag {what} '{text[:40]}' must be between {lo} and {hi} characters long.")
    if not _allowed(text):
        raise invalid_parameter(
            f"Tag {what} '{text[:40]}' contains invalid characters: use letters, numbers, spaces "
            "and _ . : / = + - @ only."
        )
    if text.lower().startswith(RESERVED_PREFIX):
        raise invalid_parameter(f"Tag {what}s beginning with 'aws:' are reserved for AWS use.")


def check_keys(keys: Iterable[str]) -> None:
    for key in keys:
        _check_text("key", key, 1, MAX_KEY)


def check_tags(tags: list[dict[str, Any]]) -> None:
    """Raise InvalidParameterException unless ``tags`` keep ECS's rules (see the module)."""
    if len(tags) > MAX_TAGS:
        raise invalid_parameter(f"A resource can have at most {MAX_TAGS} tags; {len(tags)} were given.")
    for tag in tags:
        key, value = tag.get("key"), tag.get("value", "")
        if not isinstance(key, str):
            raise invalid_parameter("Every tag needs a key.")
        _check_text("key", key, 1, MAX_KEY)
        _check_text("value", value if isinstance(value, str) else "", 0, MAX_VALUE)


def annotated(obj: dict[str, Any], annotation: str) -> list[dict[str, Any]] | None:
    """The tags ``annotation`` of ``obj`` holds (None: it has no such annotation)."""
    raw = ((obj.get("metadata") or {}).get("annotations") or {}).get(annotation)
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return [t for t in value if isinstance(t, dict) and "key" in t] if isinstance(value, list) else None


def tags_of(obj: dict[str, Any], annotation: str = ANNOTATION) -> list[dict[str, Any]]:
    """An object's tags: its tags annotation when it has one, else ``spec.tags``."""
    found = annotated(obj, annotation)
    if found is not None:
        return found
    return list((obj.get("spec") or {}).get("tags") or [])


def task_tags(obj: dict[str, Any], task_id: str) -> list[dict[str, Any]]:
    """The tags of the task ``task_id`` of the ECSTask ``obj``."""
    return tags_of(obj, task_annotation(task_id))


def annotation_patch(annotation: str, tags: list[dict[str, Any]]) -> dict[str, Any]:
    """The merge patch that stores ``tags`` in ``annotation``."""
    return {"metadata": {"annotations": {annotation: json.dumps(tags, separators=(",", ":"))}}}


def tagged(current: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``current`` with ``new`` added (a key present already takes the new value); ``new`` is
    checked, and the result may hold at most 50 tags (reserved ``aws:`` ones do not count)."""
    check_tags(new)
    merged = {t["key"]: t.get("value", "") for t in current}
    merged.update({t["key"]: t.get("value", "") for t in new})
    counted = [k for k in merged if not k.lower().startswith(RESERVED_PREFIX)]
    if len(counted) > MAX_TAGS:
        raise invalid_parameter(
            f"A resource can have at most {MAX_TAGS} tags; this request would give it {len(counted)}."
        )
    return [{"key": k, "value": v} for k, v in merged.items()]


def untagged(current: list[dict[str, Any]], keys: Iterable[str]) -> list[dict[str, Any]]:
    """``current`` without ``keys`` (keys it does not have are ignored, as ECS ignores them)."""
    gone = set(keys)
    return [t for t in current if t["key"] not in gone]
