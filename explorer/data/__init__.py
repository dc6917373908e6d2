"""Data: raw 2Wiki records (records.py) -> chunked tasks (tasks.py) -> train / val / dev splits
(sources.py). The prepare stage (explorer/stages/prepare.py) writes them."""
