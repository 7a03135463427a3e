"""The benchmark's bookkeeping (the benchmark itself is make bench, never a test)."""
from loadtest.bench import losses, markdown

RESULT = {"mode": "durable", "stores": 32, "accepted_rps": 961.0, "end_to_end_rps": 957.1,
          "mean_ms": 26.0, "median_ms": 24.1, "p99_ms": 67.1, "max_ms": 284.1, "drain_s": 0.03,
          "lost": 0, "duplicates": 0}


def test_it_counts_losses_and_duplicates_against_every_count():
    assert losses(100, 100, 100) == (0, 0)
    assert losses(100, 97, 100) == (3, 0)
    assert losses(100, 100, 102) == (0, 2)
    assert losses(100, None, None) == (0, 0)
    assert losses(100, 99, None) == (1, 0)


def test_the_table_compares_each_mode_with_the_ceiling():
    ceiling = {**RESULT, "mode": "ceiling", "accepted_rps": 2887.0, "end_to_end_rps": None,
               "drain_s": None}
    text = markdown([ceiling, RESULT], {"cpus": 2, "cpu": "x", "memory_gib": 24, "python": "3.11"},
                    "make bench")
    assert "| durable | 32 | 961 | 0.33 | 957.1 |" in text
    assert "| ceiling | 32 | 2887 | 1.00 | - |" in text
