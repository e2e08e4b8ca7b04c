"""Names that end up as identifiers (tables, columns, queues) are validated once, here.

Every pattern is matched whole (`fullmatch`): `re.match` with `$` also accepts a trailing line break, and a
dataset named "x\\n" got its tables yet could never be read again.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_IDENTIFIER_CHAR = re.compile(r"[A-Za-z0-9_]")
_QUEUE = re.compile(r"[A-Za-z0-9_.:-]+")

# PostgreSQL keeps at most 63 bytes of an identifier and silently cuts the rest, so two long names could
# end up as the same table. ml_data_api (ml_data_api/tables.py) names tables and indexes after the dataset;
# the longest name it derives is "<dataset>_production_record_id" (an index), 21 bytes more than the
# dataset's name. Names are ASCII (the pattern), so characters are bytes.
PG_IDENTIFIER_BYTES = 63
LONGEST_DATASET_SUFFIX = "_production_record_id"
MAX_DATASET_NAME = 40
MAX_COLUMN_NAME = PG_IDENTIFIER_BYTES
MAX_RESOURCE_NAME = 200
assert MAX_DATASET_NAME + len(LONGEST_DATASET_SUFFIX) <= PG_IDENTIFIER_BYTES
# Identifiers are always quoted (psycopg2.sql.Identifier), so SQL's reserved words need no refusal; these are
# the columns Conveyor adds to a dataset's tables itself.
RESERVED_COLUMNS = frozenset(
    {
        "record_id", "prediction", "model_name", "model_version", "job_id", "service",
        "model_role", "shadow_prediction", "shadow_model_name", "shadow_model_version",
        "label", "label_at", "inserted_at", "row_id",
    }
)
IDENTIFIER_RULE = "names start with a letter or _ and hold only letters, digits and _"


def _shown(char: str) -> str:
    """A refused character as a person reads it (a line break is invisible in a message)."""
    names = {"\n": "a line break", "\r": "a carriage return", "\t": "a tab", " ": "a space"}
    if char in names:
        return names[char]
    return f"{char!r} (only ASCII letters count)" if char.isalpha() else repr(char)


def identifier_problem(value: str, max_len: int = MAX_COLUMN_NAME) -> str | None:
    """Why `value` cannot be a table or column name, as the end of a sentence; None when it can."""
    if not value:
        return f"{IDENTIFIER_RULE}; it is empty"
    if not _IDENTIFIER.fullmatch(value):
        if value[0].isascii() and value[0].isdigit():
            return f"{IDENTIFIER_RULE}; {value!r} starts with a digit"
        bad = next(c for c in value if not _IDENTIFIER_CHAR.fullmatch(c))
        return f"{IDENTIFIER_RULE}; {value!r} holds {_shown(bad)}"
    if len(value) > max_len:
        return f"names are at most {max_len} characters; {value!r} has {len(value)}"
    return None


def check_identifier(value: str, what: str, max_len: int = MAX_COLUMN_NAME) -> str:
    """`value` if it can name a table or column; ValueError with a sentence (naming `what`) otherwise."""
    problem = identifier_problem(value, max_len)
    if problem:
        raise ValueError(f"{what}: {problem}")
    return value


def refusal(kind: str, problem: str) -> PydanticCustomError:
    """A validation error whose message is `problem` as written (a ValueError's gets "Value error, " before it)."""
    return PydanticCustomError(kind, "{problem}", {"problem": problem})


def _dataset_name(value: str) -> str:
    problem = identifier_problem(value, MAX_DATASET_NAME)
    if problem and len(value) > MAX_DATASET_NAME and _IDENTIFIER.fullmatch(value):
        problem += (f" (its PostgreSQL tables are named after it, with up to {len(LONGEST_DATASET_SUFFIX)} more, "
                    f"and PostgreSQL keeps {PG_IDENTIFIER_BYTES})")
    if problem:
        raise refusal("dataset_name", problem)
    return value


def _column_name(value: str) -> str:
    problem = identifier_problem(value)
    if problem:
        raise refusal("column_name", problem)
    if value.lower() in RESERVED_COLUMNS:
        raise refusal("reserved_column", f"{value!r} is a column Conveyor adds itself; rename it")
    return value


def resource_problem(value: str) -> str | None:
    """Why `value` cannot name a service, a queue or an algorithm; None when it can."""
    if not _QUEUE.fullmatch(value) or len(value) > MAX_RESOURCE_NAME:
        return (f"name {value!r} is not allowed: use letters, digits, '_', '-', '.', ':' "
                f"(at most {MAX_RESOURCE_NAME} characters)")
    return None


def check_resource_name(value: str) -> str:
    problem = resource_problem(value)
    if problem:
        raise ValueError(problem)
    return value


# The OpenAPI shows the rule too (clients and fuzzers make valid names); the validators give the sentences.
_IDENTIFIER_SCHEMA = {"type": "string", "pattern": f"^{_IDENTIFIER.pattern}$", "minLength": 1}
DatasetName = Annotated[str, AfterValidator(_dataset_name),
                        WithJsonSchema({**_IDENTIFIER_SCHEMA, "maxLength": MAX_DATASET_NAME})]
ColumnName = Annotated[str, AfterValidator(_column_name),
                       WithJsonSchema({**_IDENTIFIER_SCHEMA, "maxLength": MAX_COLUMN_NAME,
                                       "description": "not one of the columns Conveyor adds: "
                                                      + ", ".join(sorted(RESERVED_COLUMNS))})]
ResourceName = Annotated[str, AfterValidator(check_resource_name)]
