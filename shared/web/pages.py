"""One page of a list: what every paged read route answers."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """The items of one page, and how many there are in all.

    Name each use (`class JobPage(Page[JobSummary]): ...`): the OpenAPI document
    shows that name.
    """

    items: list[T]
    total: int
    page: int
    page_size: int
