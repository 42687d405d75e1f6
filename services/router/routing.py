"""Department routing table: ordered rules over line, reason, severity, channel and signals.

A table has ``default_department``, ``rules`` (first match wins; each names a ``department`` and may name an
``escalate_to``) and ``escalations`` (first match wins; each names an ``escalate_to``), checked only when the
matching rule did not already set one. A rule's ``when`` may hold ``business_line``, ``reason``, ``severity``,
``channel`` (a value or list of values: any matches), ``signals_any`` and ``signals_all`` (signal names; a
signal such as ``amount>=50000CNY`` is named ``amount``) and ``needs_review`` (true or false: whether the
department confidence is below the review threshold). An empty or missing ``when`` matches everything.
The table is validated on load; every error names the rule's index and name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from schemas import BusinessLine, Channel, Department, Reason, Severity

DEFAULT_TABLE_PATH = Path(__file__).parent / "routing.yaml"

KNOWN_SIGNALS = frozenset(
    {
        "amount",
        "regulator_threat",
        "media_threat",
        "legal_threat",
        "vulnerable_customer",
        "repeat_complaint",
        "public_post_reach",
        "fraud_in_progress",
        "distress",
        "storm",
    }
)
_ENUM_FIELDS: dict[str, type[StrEnum]] = {
    "business_line": BusinessLine,
    "reason": Reason,
    "severity": Severity,
    "channel": Channel,
}
_SIGNAL_FIELDS = ("signals_any", "signals_all")
_FLAG_FIELDS = ("needs_review",)
_SIGNAL_NAME = re.compile(r"^[a-z_]+")


class RoutingTableError(ValueError):
    """A routing table that cannot be used, with a message that says where and why."""


def signal_name(signal: str) -> str:
    """``amount>=50000CNY`` → ``amount``; plain signal names are returned unchanged."""
    match = _SIGNAL_NAME.match(signal)
    return match.group(0) if match else signal


@dataclass(frozen=True)
class Condition:
    values: Mapping[str, frozenset[str]]
    signals_any: frozenset[str] = frozenset()
    signals_all: frozenset[str] = frozenset()

    def matches(self, facts: Mapping[str, str], signal_names: frozenset[str]) -> bool:
        if any(facts[name] not in allowed for name, allowed in self.values.items()):
            return False
        if self.signals_any and not (self.signals_any & signal_names):
            return False
        return self.signals_all <= signal_names

    def describe(self) -> str:
        parts = [
            f"{name} in {sorted(vals)}" if len(vals) > 1 else f"{name}={next(iter(vals))}"
            for name, vals in self.values.items()
        ]
        if self.signals_any:
            parts.append(f"any signal of {sorted(self.signals_any)}")
        if self.signals_all:
            parts.append(f"all signals {sorted(self.signals_all)}")
        return " and ".join(parts) or "always"


@dataclass(frozen=True)
class Rule:
    name: str
    when: Condition
    department: Department | None = None
    escalate_to: Department | None = None


@dataclass(frozen=True)
class RouteDecision:
    department: Department
    escalate_to: Department | None
    rule: str
    explanation: str


@dataclass(frozen=True)
class RoutingTable:
    default_department: Department
    rules: tuple[Rule, ...]
    escalations: tuple[Rule, ...] = ()

    @classmethod
    def load(cls, path: Path | None = None) -> RoutingTable:
        path = path or DEFAULT_TABLE_PATH
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise RoutingTableError(f"cannot read routing table {path}: {exc}") from exc
        try:
            return cls.from_dict(data)
        except RoutingTableError as exc:
            raise RoutingTableError(f"{path}: {exc}") from None

    @classmethod
    def from_dict(cls, data: Any) -> RoutingTable:
        if not isinstance(data, Mapping):
            raise RoutingTableError("routing table must be a mapping with default_department and rules")
        unknown = set(data) - {"default_department", "rules", "escalations"}
        if unknown:
            raise RoutingTableError(f"unknown top-level key(s) {sorted(unknown)}")
        default = _department(data.get("default_department"), "default_department")
        if default is None:
            raise RoutingTableError("default_department is required")
        rules = tuple(_parse_rule(i, raw, "rules", "department") for i, raw in enumerate(_list(data, "rules")))
        escalations = tuple(
            _parse_rule(i, raw, "escalations", "escalate_to") for i, raw in enumerate(_list(data, "escalations"))
        )
        return cls(default_department=default, rules=rules, escalations=escalations)

    @property
    def departments(self) -> frozenset[Department]:
        """Every department the table names: the default, the rules' departments and escalation targets."""
        named = {self.default_department}
        for rule in (*self.rules, *self.escalations):
            named.update(d for d in (rule.department, rule.escalate_to) if d is not None)
        return frozenset(named)

    def route(
        self,
        business_line: BusinessLine,
        reason: Reason,
        severity: Severity,
        channel: Channel | str | None = None,
        signals: Iterable[str] = (),
        *,
        needs_review: bool = False,
    ) -> RouteDecision:
        facts = {
            "business_line": str(business_line),
            "reason": str(reason),
            "severity": str(severity),
            "channel": str(channel) if channel is not None else "",
            "needs_review": "true" if needs_review else "false",
        }
        names = frozenset(signal_name(s) for s in signals)
        rule = next((r for r in self.rules if r.when.matches(facts, names)), None)
        department = rule.department if rule and rule.department else self.default_department
        rule_name = rule.name if rule else "default"
        explanation = (
            f"rule {rule.name!r} ({rule.when.describe()}) → {department}"
            if rule
            else f"no rule matched → default department {department}"
        )
        escalate_to = rule.escalate_to if rule else None
        if escalate_to is None:
            escalation = next((e for e in self.escalations if e.when.matches(facts, names)), None)
            if escalation is not None:
                escalate_to = escalation.escalate_to
                explanation += f"; escalation {escalation.name!r} ({escalation.when.describe()}) → {escalate_to}"
        if escalate_to == department:
            escalate_to = None
        return RouteDecision(department=department, escalate_to=escalate_to, rule=rule_name, explanation=explanation)


def _list(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key) or []
    if not isinstance(value, list):
        raise RoutingTableError(f"{key} must be a list of rules")
    return value


def _department(value: Any, where: str) -> Department | None:
    if value is None:
        return None
    try:
        return Department(value)
    except ValueError:
        raise RoutingTableError(
            f"{where}: unknown department {value!r} (known: {', '.join(d.value for d in Department)})"
        ) from None


def _parse_rule(index: int, raw: Any, section: str, target: str) -> Rule:
    if not isinstance(raw, Mapping):
        raise RoutingTableError(f"{section}[{index}]: a rule must be a mapping, got {type(raw).__name__}")
    name = str(raw.get("name") or f"{section}[{index}]")
    where = f"{section}[{index}] {name!r}"
    allowed_keys = (
        {"name", "when", "department", "escalate_to"} if target == "department" else {"name", "when", "escalate_to"}
    )
    unknown = set(raw) - allowed_keys
    if unknown:
        raise RoutingTableError(f"{where}: unknown key(s) {sorted(unknown)} (allowed: {sorted(allowed_keys)})")
    department = _department(raw.get("department"), f"{where} department")
    escalate_to = _department(raw.get("escalate_to"), f"{where} escalate_to")
    if target == "department" and department is None:
        raise RoutingTableError(f"{where}: department is required")
    if target == "escalate_to" and escalate_to is None:
        raise RoutingTableError(f"{where}: escalate_to is required")
    return Rule(
        name=name,
        when=_parse_condition(raw.get("when"), where),
        department=department,
        escalate_to=escalate_to,
    )


def _parse_condition(raw: Any, where: str) -> Condition:
    if raw is None:
        return Condition(values={})
    if not isinstance(raw, Mapping):
        raise RoutingTableError(f"{where}: when must be a mapping of field → value(s)")
    values: dict[str, frozenset[str]] = {}
    signals: dict[str, frozenset[str]] = {}
    for field, value in raw.items():
        items = value if isinstance(value, list) else [value]
        if not items:
            raise RoutingTableError(f"{where}: {field} has an empty list of values")
        if field in _ENUM_FIELDS:
            enum = _ENUM_FIELDS[field]
            for item in items:
                if item not in {m.value for m in enum}:
                    raise RoutingTableError(
                        f"{where}: unknown {field} {item!r} (known: {', '.join(m.value for m in enum)})"
                    )
            values[field] = frozenset(map(str, items))
        elif field in _FLAG_FIELDS:
            if not isinstance(value, bool):
                raise RoutingTableError(f"{where}: {field} must be true or false, got {value!r}")
            values[field] = frozenset({"true" if value else "false"})
        elif field in _SIGNAL_FIELDS:
            for item in items:
                if signal_name(str(item)) != item or item not in KNOWN_SIGNALS:
                    raise RoutingTableError(
                        f"{where}: unknown signal {item!r} in {field} (known: {', '.join(sorted(KNOWN_SIGNALS))})"
                    )
            signals[field] = frozenset(items)
        else:
            known = ", ".join([*_ENUM_FIELDS, *_SIGNAL_FIELDS, *_FLAG_FIELDS])
            raise RoutingTableError(f"{where}: unknown field {field!r} in when (known: {known})")
    return Condition(
        values=values,
        signals_any=signals.get("signals_any", frozenset()),
        signals_all=signals.get("signals_all", frozenset()),
    )
