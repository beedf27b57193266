"""The order in which notes are made."""

from dataclasses import replace

from livesampler.config import PrefetchConfig
from livesampler.gen.scheduler import Scheduler
from livesampler.gen.spec import ALL_KEYS


def test_keys_just_pressed_come_first_latest_first():
    s = Scheduler()
    s.switch("a")
    s.pressed((60, 100))
    s.pressed((72, 50))
    assert s.next_batch(2) == [(72, 50), (60, 100)]


def test_a_new_instrument_gets_anchors_across_the_keyboard_in_the_played_layer():
    s = Scheduler(replace(PrefetchConfig(), anchor_step=12))
    s.switch("a")
    s.pressed((62, 75))
    first = s.next_batch(1)
    anchors = s.next_batch(6)
    assert first == [(62, 75)]
    assert {layer for _, layer in anchors} == {75}
    assert sorted(p for p, _ in anchors) == [26, 38, 50, 74, 86, 98]  # every octave, lined up with the hands
    assert [abs(p - 62) for p, _ in anchors] == [12, 12, 24, 24, 36, 36]  # outwards from the hands


def test_then_the_neighbours_of_played_keys_in_the_played_layer():
    s = Scheduler(replace(PrefetchConfig(), anchor_step=0, radius=2, octaves=False))
    s.switch("a", ready=[(60, 100)])
    s.pressed((60, 100))
    batch = s.next_batch(4)
    assert set(batch) == {(59, 100), (61, 100), (58, 100), (62, 100)}
    assert set(batch[:2]) == {(59, 100), (61, 100)}  # nearer first


def test_played_pitch_classes_are_fetched_in_other_octaves():
    s = Scheduler(replace(PrefetchConfig(), anchor_step=0, radius=0, octaves=True))
    s.switch("a", ready=[(60, 100)])
    s.pressed((60, 100))
    assert set(s.next_batch(4)) == {(48, 100), (72, 100), (36, 100), (84, 100)}


def test_the_whole_instrument_is_made_once_and_only_once():
    s = Scheduler()
    s.switch("a")
    s.pressed((60, 100))
    s.pressed((60, 100))  # pressed twice: asked for once
    made = []
    while batch := s.next_batch(7):
        made += batch
        for key in batch:
            s.landed(key)
    assert sorted(made) == sorted(ALL_KEYS) and s.filled


def test_notes_in_flight_are_not_asked_for_twice_and_come_back_if_lost():
    s = Scheduler()
    s.switch("a")
    s.pressed((60, 100))
    assert s.next_batch(1) == [(60, 100)]
    s.pressed((60, 100))
    assert (60, 100) not in s.next_batch(440)
    s.lost((60, 100))
    assert s.next_batch(1) == [(60, 100)]


def test_switching_instrument_drops_the_queue_of_the_old_one():
    s = Scheduler(replace(PrefetchConfig(), policy="on_demand"))
    s.switch("a")
    s.pressed((60, 100))
    s.pressed((61, 100))
    s.switch("b", ready=[(61, 100)])
    assert s.next_batch(5) == []  # presses on "a" are not asked of "b"
    s.pressed((61, 100))
    assert s.next_batch(5) == []  # "b" has it
    s.pressed((62, 100))
    assert s.next_batch(5) == [(62, 100)]


def test_on_demand_makes_only_what_was_pressed():
    s = Scheduler(replace(PrefetchConfig(), policy="on_demand"))
    s.switch("a")
    assert s.next_batch(5) == []
    s.pressed((40, 25))
    assert s.next_batch(5) == [(40, 25)]
    assert s.next_batch(5) == []


def test_played_keys_fill_stops_after_the_prediction():
    s = Scheduler(replace(PrefetchConfig(), fill="played", anchor_step=0, radius=1, octaves=False))
    s.switch("a")
    s.pressed((60, 100))
    made = []
    while batch := s.next_batch(10):
        made += batch
    # The key, its neighbours, its pitch class just outside the played range,
    # in its layer and the adjacent ones; nothing far away, and then it stops.
    assert {(59, 100), (60, 100), (61, 100)} <= set(made)
    assert all(abs(p - 60) <= 1 + 8 and v in (75, 100, 127) for p, v in made)
