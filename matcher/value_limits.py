"""The largest values a record may hold, kept free of imports so the command line can use them.

Why bounds at all: a typing slip (a setting with 1,000,000 places, a tariff of £10bn) would
otherwise reach the solver, overflow its integer costs or dwarf every real option. The models
(:mod:`matcher.models`) enforce these bounds on every record; ``sendmatch`` reads them for its
options' limits without loading pydantic at start-up.
"""

MAX_PLACES = 10_000
MAX_POUNDS = 10_000_000  # £ a year
