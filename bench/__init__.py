"""`make bench`: cold start, requests and write units per operation, handler overhead, throughput, cost.

Every figure is a ratio against a baseline measured in the same run (interleaved, medians) or a count that
does not depend on the machine's speed. See bench/README.md for the latest results.
"""
