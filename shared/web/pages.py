"""One page of a list: what every paged read route answers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel

T = TypeVar("T")

# The deepest page a list serves: past it, MongoDB would skip through millions of
# documents (and far past it, the skip would not fit a 64-bit integer).
MAX_PAGE = 10_000
PageNumber = Annotated[
    int, Query(ge=1, le=MAX_PAGE, description=f"1 to {MAX_PAGE}; narrow the filters to go deeper")
]


class Page(BaseModel, Generic[T]):
    """The items of one page, and how many there are in all.

    Name each use (`class JobPage(Page[JobSummary]): ...`): the OpenAPI document
    shows that name.
    """

    items: list[T]
    total: int
    page: int
    page_size: int


# The most items one page holds: every paged list answers at most this many at once.
MAX_PAGE_SIZE = 100
PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]


@dataclass(frozen=True)
class Paging:
    """Which page a caller asked for (`?page=&page_size=`)."""

    page: int
    page_size: int

    @property
    def skip(self) -> int:
        return (self.page - 1) * self.page_size

    def of(self, items: Sequence[T]) -> list[T]:
        """This page of `items`, for a list the service holds whole (and bounded)."""
        return list(items[self.skip : self.skip + self.page_size])


def paging_up_to(max_page_size: int) -> Callable[..., Paging]:
    """The `?page=&page_size=` dependency of a list whose pages may hold up to
    `max_page_size` items (`Annotated[Paging, Depends(paging_up_to(200))]`)."""

    # the bound as a default, not in the annotation: annotations are strings here
    # (postponed) and could not see `max_page_size`
    def paging(
        page: PageNumber = 1,
        page_size: int = Query(50, ge=1, le=max_page_size),
    ) -> Paging:
        return Paging(page=page, page_size=page_size)

    return paging


PageWanted = Annotated[Paging, Depends(paging_up_to(MAX_PAGE_SIZE))]
