"""Form fields generated from a task's input JSON schema, each with its own error line.

A property becomes: a dropdown for an enum or a literal; a checkbox for a boolean; a
bounded number box for an integer or number (its ``minimum`` / ``maximum`` as bounds); a
text area for free text (``text``, ``content``, ``message``… or long strings), a text
box for short strings; a text area for a conversation (a list of ``{role, content}``
messages: the text becomes one user message); a JSON box for anything else (objects,
lists). Required fields are always sent; optional ones only once the user changed them,
so the task's own defaults apply otherwise.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

import ipywidgets as widgets

from claw_lab.widgets.render import error_html

__all__ = ["FormField", "FormInvalid", "build_fields", "fill_form", "form_values"]

LONG_TEXT = frozenset({"text", "content", "message", "messages", "document", "body", "prompt", "query", "question"})
_BIG = 10**12


class InvalidInput(ValueError):
    """A field's content cannot become a value (a JSON box that does not parse)."""


class FormInvalid(InvalidInput):
    """Some fields cannot become values; ``problems`` holds the message of each, by field name."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in problems.items()))
        self.problems = problems


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with a ``$ref`` followed and an optional (``anyOf`` with null) unwrapped."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return _resolve(
            {**root.get("$defs", {}).get(name, {}), **{k: v for k, v in schema.items() if k != "$ref"}}, root
        )
    options = schema.get("anyOf")
    if options:
        concrete = [option for option in options if option.get("type") != "null"]
        if len(concrete) == 1:
            merged = {k: v for k, v in schema.items() if k != "anyOf"}
            return _resolve({**concrete[0], **merged}, root)
    return schema


def _is_conversation(schema: dict[str, Any], root: dict[str, Any]) -> bool:
    if schema.get("type") != "array" or "items" not in schema:
        return False
    item = _resolve(schema["items"], root)
    properties = item.get("properties", {})
    return {"role", "content"} <= set(properties)


class FormField:
    """One input of the form: its widget, its error line, and how its value is read."""

    def __init__(self, name: str, schema: dict[str, Any], root: dict[str, Any], required: bool) -> None:
        self.name = name
        self.required = required
        self.schema = resolved = _resolve(schema, root)
        self.kind = self._kind(resolved, root)
        self.touched = False
        self.widget = self._widget(resolved)
        self.widget.observe(self._touch, names="value")
        self.error = widgets.HTML()
        self.error.add_class("claw-field-error")
        help_text = resolved.get("description") or schema.get("description") or ""
        self.help = widgets.HTML(f'<div style="font-size:11px;color:#6b7280">{escape(help_text)}</div>')
        self.box = widgets.VBox([self.widget, self.help, self.error] if help_text else [self.widget, self.error])
        self.box.add_class("claw-field")
        self.box.add_class(f"claw-field-{name}")

    def _touch(self, _: Any) -> None:
        self.touched = True

    @staticmethod
    def _kind(schema: dict[str, Any], root: dict[str, Any]) -> str:
        if "enum" in schema or "const" in schema:
            return "choice"
        kind = schema.get("type")
        if kind in ("boolean", "integer", "number"):
            return str(kind)
        if kind == "string":
            return "string"
        if _is_conversation(schema, root):
            return "conversation"
        return "json"

    def _widget(self, schema: dict[str, Any]) -> widgets.Widget:
        name, default = self.name, schema.get("default")
        label = name + (" *" if self.required else "")
        common: dict[str, Any] = {"description": label, "style": {"description_width": "10em"}}
        if self.kind == "choice":
            values = schema.get("enum") or [schema.get("const")]
            options = ([("(default)", None)] if default is None and not self.required else []) + [
                (str(v), v) for v in values
            ]
            value = default if default in values else options[0][1]
            return widgets.Dropdown(options=options, value=value, **common)
        if self.kind == "boolean":
            return widgets.Checkbox(value=bool(default), indent=True, **common)
        if self.kind in ("integer", "number"):
            low = schema.get("minimum", schema.get("exclusiveMinimum", -_BIG))
            high = schema.get("maximum", schema.get("exclusiveMaximum", _BIG))
            start = default if isinstance(default, int | float) else max(low, min(high, 0))
            box = widgets.BoundedIntText if self.kind == "integer" else widgets.BoundedFloatText
            return box(value=start, min=low, max=high, **common)
        layout = widgets.Layout(width="46em")
        if self.kind == "string":
            long = name in LONG_TEXT or schema.get("maxLength", _BIG) > 300
            text = default if isinstance(default, str) else ""
            area = widgets.Textarea if long else widgets.Text
            return area(value=text, placeholder=schema.get("title", ""), layout=layout, **common)
        if self.kind == "conversation":
            return widgets.Textarea(
                value="", placeholder="the user's message", layout=widgets.Layout(width="46em", height="6em"), **common
            )
        initial = json.dumps(default) if default is not None else ("{}" if schema.get("type") == "object" else "")
        return widgets.Textarea(value=initial, placeholder="JSON", layout=layout, **common)

    def included(self) -> bool:
        """Whether the field goes into the kwargs (required, or changed by the user)."""
        return self.required or self.touched

    def value(self) -> Any:
        """The field's value as the task expects it; `InvalidInput` when it cannot be read."""
        raw = self.widget.value
        if self.kind == "conversation":
            return [{"role": "user", "content": raw}] if raw.strip() else []
        if self.kind == "json":
            if not raw.strip():
                return None
            try:
                return json.loads(raw)
            except json.JSONDecodeError as exc:
                raise InvalidInput(f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
        return raw

    def show_error(self, message: str | None) -> None:
        """Show ``message`` under the field (or clear it)."""
        self.error.value = error_html(message)


def build_fields(schema: dict[str, Any]) -> list[FormField]:
    """A field per property of an object schema, in the schema's order."""
    required = set(schema.get("required", []))
    return [FormField(name, prop, schema, name in required) for name, prop in schema.get("properties", {}).items()]


def fill_form(form: widgets.VBox, schema: dict[str, Any]) -> dict[str, FormField]:
    """Replace ``form``'s fields with those of ``schema`` (closing the old ones); the new fields by name."""
    old = form.children
    fields = {field.name: field for field in build_fields(schema)}
    form.children = [field.box for field in fields.values()]
    for box in old:
        box.close()
    return fields


def form_values(fields: dict[str, FormField]) -> dict[str, Any]:
    """The values of the fields to send (required or changed); `FormInvalid` names each one that cannot be read."""
    values: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for name, field in fields.items():
        if not field.included():
            continue
        try:
            values[name] = field.value()
        except InvalidInput as exc:
            problems[name] = str(exc)
    if problems:
        raise FormInvalid(problems)
    return values
