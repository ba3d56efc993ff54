"""Case lists of paired datasets (light: read when the workflow is planned)."""

from __future__ import annotations

#: the paper's Lung250M-4B evaluation cases (TCIA-NLST 114-123 left out: they overlap NLST's training data)
LUNG250M_CASES = [2, 8, 54, 55, 56, 94, 97, *range(104, 114)]


def case_numbers(items) -> list[int]:
    """The case numbers of a list of numbers and inclusive ranges, e.g. ``["1-80", 95]``."""
    numbers = []
    for item in items:
        if isinstance(item, int):
            numbers.append(item)
            continue
        first, _, last = str(item).partition("-")
        if not (first.isdigit() and last.isdigit()):
            raise ValueError(f"cases: {item!r} is neither a case number nor a range 'a-b'")
        numbers += range(int(first), int(last) + 1)
    return numbers
