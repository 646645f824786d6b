"""`python -m assets.demo_steps`: the demo's steps, derived from the code location's graph, as JSON."""

import json

from semitruths_dagster.definitions import STAGE_ASSETS

from .graph import steps

if __name__ == "__main__":
    print(json.dumps([{"select": names, "over": list(scope)} for names, scope in steps(STAGE_ASSETS)]))
