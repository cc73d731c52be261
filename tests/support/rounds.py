"""A read model that counts its rounds of questions, for tests that a page asks its questions
together (``ReadModel.select_all``) rather than one after another."""

from __future__ import annotations

from typing import Any


class CountedRounds:
    """Wraps a read model: ``rounds`` has one entry per ``select_all`` call (its number of
    questions) and per ``select`` call (1); everything else is the wrapped model's."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.rounds: list[int] = []

    def select_all(self, questions: Any) -> Any:
        self.rounds.append(len(questions))
        return self.model.select_all(questions)

    def select(self, *args: Any, **kwargs: Any) -> Any:
        self.rounds.append(1)
        return self.model.select(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)
