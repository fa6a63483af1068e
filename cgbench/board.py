"""Where the shipped leaderboard keeps its submissions (``leaderboard/submissions`` of this checkout).

Both the benchmark (``cgbench benchmark --update-leaderboard`` writes there) and the leaderboard
(``cgbench leaderboard validate --shipped`` / ``render`` read there) name the folder through this
constant, so neither package reaches into the other; it imports nothing, so command-line parsers
may name it in their help.
"""

from pathlib import Path

# Their code must be at a public address: leaderboard.validate(shipped=True) checks it.
SHIPPED_SUBMISSIONS = Path(__file__).resolve().parents[1] / "leaderboard" / "submissions"
