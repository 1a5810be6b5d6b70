"""The value types and base class every run.toml section uses."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict
from pydantic_core import PydanticCustomError


def _number(value: Any) -> Any:
    """A float key takes TOML integers and floats, never a bool or a string (``epochs = "3"``)."""
    if isinstance(value, (bool, str)):
        raise PydanticCustomError("float_type", "Input should be a valid number")
    return value


#: the value types of run.toml: strict, so that ``rank = true`` or ``epochs = "3"`` is an error, not 1 / 3.0;
#: floats are finite; each key has its own sane range
Int = Annotated[int, Strict()]
Float = Annotated[float, BeforeValidator(_number), Field(allow_inf_nan=False)]
Bool = Annotated[bool, Strict()]
#: the largest batch / accumulation / worker counts and step numbers run.toml accepts
MAX_BATCH = 65_536
MAX_STEPS = 10**9



class Section(BaseModel):
    """Base of every section: unknown keys are errors, values are checked on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, populate_by_name=True)
