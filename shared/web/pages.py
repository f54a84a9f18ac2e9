"""One page of a list: what every paged read route answers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel

T = TypeVar("T")

# The deepest page a list serves unless it sets its own (`paging_up_to(…, deepest_page=)`):
# past it, MongoDB would skip through millions of documents (and far past it, the skip
# would not fit a 64-bit integer).
MAX_PAGE = 10_000


def _deepest(page: int) -> str:
    return f"1 to {page}; narrow the filters to go deeper"


PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE, description=_deepest(MAX_PAGE))]


class Page(BaseModel, Generic[T]):
    """The items of one page, and how many there are in all.

    Name each use (`class JobPage(Page[JobSummary]): ...`): the OpenAPI document
    shows that name.
    """

    items: list[T]
    total: int
    page: int
    page_size: int


# The most items one page holds by default; a list whose pages may hold more (or fewer)
# sets its own bound with `paging_up_to` (materials' lists: 500, the audit trail: 200).
MAX_PAGE_SIZE = 100


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


def paging_up_to(
    max_page_size: int, *, default_size: int = 50, deepest_page: int = MAX_PAGE
) -> Callable[..., Awaitable[Paging]]:
    """The `?page=&page_size=` dependency of a list whose pages may hold up to
    `max_page_size` items, `default_size` when the caller says nothing, and that
    serves pages 1 to `deepest_page` (`Annotated[Paging, Depends(paging_up_to(200))]`)."""

    # the bounds as defaults, not in the annotations: annotations are strings here
    # (postponed) and could not see the arguments
    async def paging(
        page: int = Query(1, ge=1, le=deepest_page, description=_deepest(deepest_page)),
        page_size: int = Query(default_size, ge=1, le=max_page_size),
    ) -> Paging:
        return Paging(page=page, page_size=page_size)

    return paging


PageWanted = Annotated[Paging, Depends(paging_up_to(MAX_PAGE_SIZE))]
