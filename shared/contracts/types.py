"""Value types that several events share."""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

# The work types of the program: the one list. Data files that key on them (the
# materials norm book, the proposals size rules) are checked against it by a unit test.
WorkType = Literal["concrete_road", "drain", "culvert"]
WORK_TYPES: tuple[WorkType, ...] = get_args(WorkType)
ConcreteGrade = Literal["K-175", "K-225"]
Percent = Annotated[int, Field(ge=0, le=100)]

# --------------------------------------------------------------------------------------
# Free text a person types: names, titles, reasons, notes, descriptions, addresses.
# --------------------------------------------------------------------------------------

# Code points refused in any text besides the C0 and C1 controls: invisible, they
# reorder or hide what a reader sees — bidirectional marks, embeddings, overrides and
# isolates ("Trojan Source"), line and paragraph separators that break a line where
# none shows, and zero-width space, word joiner, invisible operators, byte order mark,
# Mongolian vowel separator. The zero-width (non-)joiner U+200C/U+200D stay allowed:
# scripts and emoji sequences need them.
_C0_LINE = ((0x00, 0x1F),)
_C0_PARAGRAPH = ((0x00, 0x08), (0x0B, 0x1F))  # tab and line feed allowed
_C1 = ((0x7F, 0x9F),)
_INVISIBLE = (
    (0x061C, 0x061C),
    (0x180E, 0x180E),
    (0x200B, 0x200B),
    (0x200E, 0x200F),
    (0x2028, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x2069),
    (0xFEFF, 0xFEFF),
)
_SURROGATES = ((0xD800, 0xDFFF),)  # lone halves of a UTF-16 pair: no character at all


def _class(spans: tuple[tuple[int, int], ...]) -> str:
    return "".join(f"\\u{low:04x}-\\u{high:04x}" for low, high in spans)


@dataclass(frozen=True)
class PlainText:
    """Annotation for text a person types: normalized (NFC, line breaks as "\\n"),
    trimmed, and refused when it holds a control or invisible formatting character.

    Put it last in the `Annotated[str, Field(...), PLAIN_LINE]`: it cleans first, then
    the length limits count what is kept. The JSON schema gets the rule as a `pattern`
    (unless the type has a pattern of its own), so the OpenAPI and AsyncAPI documents
    say it, and the check that HTTP and event limits agree sees it.
    """

    multiline: bool

    @property
    def refused(self) -> str:
        """The refused code points, as a regular-expression character class."""
        c0 = _C0_PARAGRAPH if self.multiline else _C0_LINE
        return _class(c0 + _C1 + _INVISIBLE)

    @property
    def pattern(self) -> str:
        return f"^[^{self.refused}]*$"

    def clean(self, value: Any) -> Any:
        if not isinstance(value, str):
            return value  # the string schema refuses it, in its own words
        if self.multiline:
            value = value.replace("\r\n", "\n").replace("\r", "\n")
        value = unicodedata.normalize("NFC", value).strip()
        found = _refused(self.multiline).search(value)
        if found:
            raise ValueError(_refusal_message(found.group(), found.start(), self.multiline))
        return value

    def __get_pydantic_core_schema__(
        self, source: type[Any], handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_before_validator_function(self.clean, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema.setdefault("pattern", self.pattern)
        return json_schema


@functools.cache
def _refused(multiline: bool) -> re.Pattern[str]:
    return re.compile(f"[{PlainText(multiline).refused}{_class(_SURROGATES)}]")


def _refusal_message(character: str, index: int, multiline: bool) -> str:
    code = f"U+{ord(character):04X}"
    name = unicodedata.name(character, "a control character")
    allowed = "; line breaks and tabs are allowed" if multiline else ""
    return (
        f"character {index + 1} is {code} ({name}), a control or invisible formatting "
        f"character: type plain text{allowed}"
    )


PLAIN_LINE = PlainText(multiline=False)
PLAIN_PARAGRAPHS = PlainText(multiline=True)

# The text types: each stated once, used by the HTTP bodies and the event contracts alike.
Name = Annotated[str, Field(min_length=1, max_length=120), PLAIN_LINE]
Title = Annotated[str, Field(min_length=3, max_length=120), PLAIN_LINE]
Text = Annotated[str, Field(max_length=2000), PLAIN_PARAGRAPHS]
Reason = Annotated[str, Field(min_length=1, max_length=2000), PLAIN_PARAGRAPHS]
Problem = Annotated[str, Field(min_length=10, max_length=2000), PLAIN_PARAGRAPHS]

# Fiscal years the program accepts. The constants are for FastAPI `Query`/`Path`
# parameters, which take the bounds themselves; models use `FiscalYear`.
FIRST_FISCAL_YEAR = 2000
LAST_FISCAL_YEAR = 2100
FiscalYear = Annotated[int, Field(ge=FIRST_FISCAL_YEAR, le=LAST_FISCAL_YEAR)]

# Rupiah amounts, whole. Two limits on purpose: `Rupiah` bounds any amount, up to a
# kecamatan's yearly ceiling (pagu), and is what published payloads accept; `JobRupiah`
# bounds what one job may be estimated at or given (Rp 1 trillion), a sanity check on
# what people type in, ten times tighter than the largest ceiling.
RUPIAH_MAX = 10**13
JOB_RUPIAH_MAX = 10**12
Rupiah = Annotated[int, Field(ge=0, le=RUPIAH_MAX, description="Indonesian rupiah, whole")]
JobRupiah = Annotated[int, Field(ge=0, le=JOB_RUPIAH_MAX, description="Indonesian rupiah, whole")]
# What the city gives one job: more than nothing, within a job's bound.
JobBudget = Annotated[
    int, Field(gt=0, le=JOB_RUPIAH_MAX, description="Indonesian rupiah, whole: the job's budget")
]

# People and their work, as an RT head may enter them (pledged or reported).
Volunteers = Annotated[int, Field(ge=0, le=10_000)]
LabourDays = Annotated[float, Field(ge=0, le=100_000)]
Households = Annotated[int, Field(ge=1, le=100_000)]
# A reference to a photo or document (not the file itself): a link, whose scheme and
# host each service checks against its settings (proposals: BERDAYA_PHOTO_HOSTS).
Reference = Annotated[str, Field(min_length=1, max_length=500), PLAIN_LINE]
# At most 20 photos a report.
Photos = Annotated[tuple[Reference, ...], Field(max_length=20)]


class Contract(BaseModel):
    """Base of every contract model: strict, closed, immutable."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Area(Contract):
    """Kecamatan → kelurahan → RT; names as in the reference data."""

    kecamatan: Name
    kelurahan: Name
    rt: Annotated[str, Field(pattern=r"^\d{3}$", description="RT number, three digits")]


class Dimensions(Contract):
    length_m: Annotated[float, Field(gt=0, le=5000)]
    width_m: Annotated[float, Field(gt=0, le=50)]
    thickness_m: Annotated[float | None, Field(gt=0, le=2)] = None
    depth_m: Annotated[float | None, Field(gt=0, le=10)] = None


class Location(Contract):
    lat: Annotated[float, Field(ge=-90, le=90)]
    lng: Annotated[float, Field(ge=-180, le=180)]
    description: Text = ""


class SwadayaPledge(Contract):
    """What residents promise to contribute themselves (gotong royong)."""

    volunteers: Volunteers = 0
    labour_days: LabourDays = 0
    local_materials: Text = ""


class ProgressFields(BaseModel):
    """What a progress report from the site says: the one place its fields and their
    bounds are declared, for the request body, the stored report and the published
    `work.progress_reported` payload alike.

    No config of its own: each model that extends it keeps its own (the event contract
    strict and closed, the stored report lenient, the request body closed).
    """

    percent: Percent
    note: Text = ""
    photos: Photos = ()
    volunteers: Volunteers = 0
    labour_days: LabourDays = 0


class MaterialLine(Contract):
    item: Name
    unit: Annotated[str, Field(min_length=1, max_length=20)]
    quantity: Annotated[float, Field(ge=0)]


class ReceivedLine(Contract):
    item: Name
    unit: Annotated[str, Field(min_length=1, max_length=20)]
    sent: Annotated[float, Field(ge=0)]
    received: Annotated[float, Field(ge=0)]
    discrepancy_reason: Literal["lost", "damaged", "short_shipped", "over_shipped"] | None = None
