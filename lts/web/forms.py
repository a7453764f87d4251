"""The base of every page form: Flask-WTF plus the one text rule of forms and API.

The API refuses control characters in any JSON string
(:func:`lts.schemas.common.text_problem`); a form must refuse the same text, or a
name with a NUL goes in through the page that the API would have refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flask import request
from flask_wtf import FlaskForm
from wtforms import Field, Form
from wtforms.validators import StopValidation

from lts.schemas.common import text_problem


def plain_text(form: Form, field: Field) -> None:
    """Refuse a submitted value that breaks the text rule, naming it on its field."""
    for value in field.raw_data or ():
        problem = text_problem(value) if isinstance(value, str) else None
        if problem:
            raise StopValidation(problem)


class LtsForm(FlaskForm):
    """A Flask-WTF form whose every input obeys the text rule.

    Fields get the rule as an extra validator (its message shows under the field).
    Inputs the form has no field for (generated plugin config inputs posted next to
    it) are checked too; their problems are form-level errors naming the input.
    """

    def validate(self, extra_validators: Mapping[str, Sequence[Any]] | None = None) -> bool:
        """Run the form's validators, then the text rule on fields and other inputs."""
        extra = {name: [plain_text, *(extra_validators or {}).get(name, ())]
                 for name in self._fields}
        valid = super().validate(extra)
        if self.is_submitted():
            for key, values in request.form.lists():
                if key in self._fields:
                    continue
                problem = next(filter(None, map(text_problem, [key, *values])), None)
                if problem:
                    self.form_errors.append(f"{key}: {problem}")
                    valid = False
        return valid


class ActionForm(LtsForm):
    """A button that changes state: only the CSRF token."""
