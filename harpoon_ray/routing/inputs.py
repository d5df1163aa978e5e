"""What the router accepts: its pydantic models, or their dict form from a Ray call.

Anything else, or a dict that does not validate, is a `ValidationFailed` naming the
field, so a bad call is a 4xx with a reason and never an AttributeError deep inside.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ..errors import ValidationFailed
from ..schemas import Constraints, ModelRequest

_M = TypeVar("_M", bound=BaseModel)


def checked(
    request: ModelRequest | dict[str, Any],
    constraints: Constraints | dict[str, Any] | None,
    model: object = None,
) -> tuple[ModelRequest, Constraints | None]:
    """Accept the models or their dict form (as they arrive over a Ray call); anything
    else, or a dict that does not validate, is a `ValidationFailed` naming the field."""
    if model is not None and not isinstance(model, str):
        raise ValidationFailed(f"model must be a string, not {type(model).__name__}", param="model")
    return _as(ModelRequest, request, "request"), (
        None if constraints is None else _as(Constraints, constraints, "constraints")
    )


def _as(cls: type[_M], value: object, name: str) -> _M:
    if isinstance(value, cls):
        return value
    if not isinstance(value, dict):
        raise ValidationFailed(
            f"{name} must be a {cls.__name__} or a dict, not {type(value).__name__}", param=name
        )
    try:
        return cls.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in (name, *first["loc"]))
        raise ValidationFailed(f"{where}: {first['msg']}", param=where) from None
