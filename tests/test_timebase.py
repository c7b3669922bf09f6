"""Tick time base: exact ties for decimal delays, snapping, range."""

import numpy as np

from eventsim import timebase as tb


def test_decimal_times_land_on_the_grid():
    tick, frac = tb.ms_to_time([10.3, 0.125, 1.000001, 2.25, 0.0])
    assert tick.tolist() == [10_300_000, 125_000, 1_000_001, 2_250_000, 0]
    assert np.all(frac == 0.0)


def test_sums_of_delays_tie_exactly():
    # (0.7 + 0.1) + 0.2 and (0.7 + 0.2) + 0.1 differ in float64 ms; in ticks they are one time
    assert (0.7 + 0.1) + 0.2 != (0.7 + 0.2) + 0.1
    t0 = tb.ms_to_time(0.7)[0]
    d1, d2 = tb.ms_to_ticks(0.1), tb.ms_to_ticks(0.2)
    assert (t0 + d1) + d2 == (t0 + d2) + d1
    t1 = tb.ms_to_time(10.3)[0] + tb.ms_to_ticks(0.2)
    t2 = tb.ms_to_time(10.4)[0] + tb.ms_to_ticks(0.1)
    assert t1 == t2


def test_off_grid_times_keep_their_offset():
    tick, frac = tb.ms_to_time([1.2345678912])
    assert tick[0] == 1_234_567
    assert abs(frac[0] - 0.8912) < 1e-6
    back = tb.time_to_ms(tick, frac)
    assert abs(back[0] - 1.2345678912) < 1e-12


def test_range_covers_days_without_overflow():
    ten_days_ms = 10 * 24 * 3600 * 1000.0
    tick, frac = tb.ms_to_time([ten_days_ms + 0.1])
    assert tick[0] == int(ten_days_ms) * 1_000_000 + 100_000
    # headroom for delays and refractory periods added to the largest time
    assert tb.MAX_MS * tb.TICKS_PER_MS < np.iinfo(np.int64).max / 50


def test_time_to_ms_precision():
    tick = np.array([1_500_000_000_000], np.int64)  # 1.5e6 ms = 25 min
    assert abs(tb.time_to_ms(tick, np.array([0.25]))[0] - (1.5e6 + 0.25e-6)) < 1e-9


def test_ticks_to_ms_is_the_nearest_float():
    assert 426764897 * tb.TICK_MS != 426.764897  # the naive product misses it
    assert tb.ticks_to_ms(426764897) == 426.764897
    assert tb.ticks_to_ms(np.int64(10**17)) == 1e11 and tb.ticks_to_ms(0) == 0.0


def test_t_stop_of_an_interrupted_run_is_the_nearest_float():
    import eventsim

    net = eventsim.Network(seed=1)
    net.add_population("p", 1, I_e=500.0)
    net.run(426.764897)
    assert net.t == 426.764897 and net.results.t_stop == 426.764897
