"""Switching instruments while playing: the real engine, cache on disk, scheduler and loop; no key goes silent.

Also takes (another seed of the instrument being played) from the loop and from MIDI.
"""

import numpy as np
import pytest

from livesampler.config import TakesConfig
from livesampler.gen.host import TakeControls, check_take_controls
from livesampler.gen.spec import InstrumentSpec
from livesampler.rt.engine import CONTROL, NOTE_OFF, NOTE_ON, PROGRAM
from tests.gen.doubles import RATE
from tests.gen.test_live import BLOCK, World


@pytest.fixture
def specs():
    return tuple(InstrumentSpec.make(prompt, model_ids={"tone": "1"}) for prompt in ("glass harp", "bowl", "gong"))


def plays(world, key, velocity=100, channel=0):
    """(instrument id, pitch, layer) of the sample ``key`` plays on ``channel``'s slot now, or None if silent."""
    instrument = world.engine.instruments[world.engine.program[channel]]
    cell = instrument.keymap[key][velocity]
    if not cell:
        return None
    ref = instrument.regions[cell[0]].sample
    for instrument_id, notes in world.cache.ready.items():
        for note, r in notes.items():
            if r == ref:
                return instrument_id, *note
    raise AssertionError("the engine plays a sample the cache does not hold")


def sound(world, *events, blocks=4):
    """The engine's output for ``events`` applied at once, then ``blocks`` blocks."""
    out = np.zeros((blocks * BLOCK, 2), np.float32)
    for event in events:
        world.engine.push(event)
    for b in range(blocks):
        world.engine.process(out[b * BLOCK:(b + 1) * BLOCK])
    return out[:, 0]


def likeness(audio, world, spec, key, after=BLOCK):
    """Correlation of ``audio`` with ``spec``'s note ``key`` as the tone model makes it, from frame ``after``
    (past the fade of a voice the note replaced)."""
    note = world.model.generate(spec, [key])[0][after:audio.shape[0]]
    audio = audio[after:]
    return float(np.dot(audio, note) / (np.linalg.norm(audio) * np.linalg.norm(note)))


def published_samples_are_held(world):
    """Every sample a published instrument can play is one the cache holds (none freed or retiring)."""
    held = {ref for notes in world.cache.ready.values() for ref in notes.values()}
    for instrument in world.engine.instruments:
        assert {r.sample for r in instrument.regions} <= held


def test_a_new_prompt_keeps_the_previous_instrument_on_keys_it_has_nothing_near(tmp_path, specs):
    a, b, _ = specs
    world = World(tmp_path)
    world.write(a, (48, 100), (60, 100), (72, 100))
    world.loop.set_prompt(0, a)
    world.loop.request_prompt(0, b)
    world.step()
    assert world.loop.current == 0 and world.loop.specs[0] == b
    # Nothing of the new instrument yet: every key plays the old one, at once.
    heard = sound(world, (NOTE_ON, 0, 60, 100))
    assert plays(world, 60) == (a.id, 60, 100)
    assert np.abs(heard).max() > 0.05 and likeness(heard, world, a, (60, 100)) > 0.999
    assert world.engine.counters["silent_notes"] == 0
    world.step(3)  # the press asked for the new instrument's own note, which lands
    assert world.cache.ready_keys(b.id) == {(60, 100)}
    assert world.loop.held_over == 1  # that note-on was played by the previous instrument
    # Near the new note (within cache.switch_semitones = 6), the new instrument; further, still the old one.
    heard = sound(world, (NOTE_OFF, 0, 60, 0), (NOTE_ON, 0, 60, 100))
    assert likeness(heard, world, b, (60, 100)) > 0.999
    assert plays(world, 66)[:2] == (b.id, 60) and plays(world, 54)[:2] == (b.id, 60)
    assert plays(world, 67) == (a.id, 72, 100) and plays(world, 53) == (a.id, 48, 100)
    assert plays(world, 108)[:2] == (a.id, 72) and plays(world, 0)[:2] == (a.id, 48)
    # Every key makes sound, whatever its velocity.
    for key in (0, 21, 40, 53, 67, 90, 127):
        assert plays(world, key, velocity=1) is not None and plays(world, key, velocity=127) is not None
    published_samples_are_held(world)


def test_once_the_new_instrument_is_near_every_key_the_old_one_is_let_go(tmp_path, specs):
    a, b, _ = specs
    world = World(tmp_path)
    world.write(a, *[(p, 100) for p in range(21, 109, 3)])
    world.loop.set_prompt(0, a)
    world.write(b, *[(p, 100) for p in range(24, 109, 12)])  # every key within 6 semitones of one
    world.loop.request_prompt(0, b)
    world.step()
    assert world.cache.held[0] == [] and world.cache.covered[0]
    assert {plays(world, key)[0] for key in range(128)} == {b.id}
    # The old instrument stays in RAM (going back is instant) until the budget needs its room.
    assert len(world.cache.ready_keys(a.id)) == 30


def test_quick_switches_fall_back_on_the_newest_instrument_that_is_near(tmp_path, specs):
    a, b, c = specs
    world = World(tmp_path)
    world.write(a, *[(p, 100) for p in range(21, 109, 6)])
    world.write(b, (60, 100))
    world.loop.set_prompt(0, a)
    world.loop.request_prompt(0, b)
    world.step()
    world.loop.request_prompt(0, c)  # before b is anywhere near complete
    world.step()
    assert world.cache.held[0] == [b.id, a.id]
    assert plays(world, 62)[:2] == (b.id, 60)  # b is near and newer than a
    assert plays(world, 90)[0] == a.id  # only a is near
    assert world.engine.counters["silent_notes"] == 0


def test_a_program_change_to_a_slot_not_made_yet_plays_the_slot_heard_before(tmp_path, specs):
    a, b, _ = specs
    world = World(tmp_path, slots=2)
    world.write(a, (48, 100), (60, 100), (72, 100))
    world.loop.set_prompt(0, a)
    world.loop.set_prompt(1, b, select=False)
    # The program change and the note in one block, before the generation side has seen either.
    heard = sound(world, (PROGRAM, 0, 1, 0), (NOTE_ON, 0, 61, 100))
    assert world.engine.program[0] == 1 and world.engine.counters["silent_notes"] == 0
    assert plays(world, 61) == (a.id, 60, 100) and np.abs(heard).max() > 0.05
    world.step(3)  # slot 1 is now the one generated; its first note lands
    assert world.loop.current == 1 and world.cache.ready_keys(b.id) == {(61, 100)}
    assert plays(world, 61)[0] == b.id and plays(world, 80) == (a.id, 72, 100)
    # Back on slot 0: it has its own notes everywhere near, and leans on nothing.
    sound(world, (PROGRAM, 0, 0, 0))
    assert {plays(world, key)[0] for key in range(128)} == {a.id}
    published_samples_are_held(world)


def test_evicting_a_held_over_note_unpublishes_it_first(tmp_path, specs):
    a, b, _ = specs
    world = World(tmp_path)
    world.write(a, (48, 100), (72, 100))
    world.write(b, (60, 100))
    note_bytes = (int(world.model.seconds * RATE) + 6) * 4  # with the bank's padding
    world.cache.budget_bytes = 2 * note_bytes
    world.loop.set_prompt(0, a)
    world.loop.request_prompt(0, b)
    world.step()  # b's note comes in, a's least recently used note goes
    assert world.cache.evicted == 1
    published_samples_are_held(world)
    assert world.cache.bytes <= world.cache.budget_bytes
    assert {plays(world, key)[0] for key in (0, 60, 127)} <= {a.id, b.id}
    for _ in range(4):
        sound(world)
        world.cache.reap()
    published_samples_are_held(world)


def test_takes_are_other_seeds_and_going_back_makes_nothing(tmp_path, specs):
    a = specs[0]
    world = World(tmp_path)
    said = []
    world.loop.announce = said.append
    world.write(a, (60, 100))
    world.write(a.with_seed(2), (60, 100))  # a take from an earlier session
    world.loop.set_prompt(0, a)
    assert world.cache.store.takes(a) == {0: 1, 2: 1}
    world.loop.request_take("next")
    world.step()
    assert world.loop.specs[0] == a.with_seed(2) and world.loop.specs[0].id != a.id
    world.loop.request_take("new")
    world.step()
    assert world.loop.specs[0].seed == 3 and "take 3" in said[-1] and "0 of 440 notes" in said[-1]
    sound(world, (NOTE_ON, 0, 60, 100))
    assert plays(world, 60)[0] == a.with_seed(2).id  # take 3 has nothing yet: take 2 is held over
    world.step(3)
    assert world.cache.ready_keys(a.with_seed(3).id) == {(60, 100)}
    made = world.generator.made
    world.loop.request_take("previous")
    world.step()
    assert world.loop.specs[0].seed == 2 and plays(world, 60)[0] == a.with_seed(2).id
    world.loop.request_take(0)
    world.step()
    assert world.loop.specs[0] == a and plays(world, 60)[0] == a.id
    world.loop.request_take("previous")
    world.step()
    assert world.loop.specs[0] == a and "first take" in said[-1]
    for wrong in ("again", -1, 1.5):
        with pytest.raises(ValueError, match="a take is one of new, previous, next or a seed"):
            world.loop.request_take(wrong)
    world.step(3)
    assert world.generator.made == made  # every take gone back to was on disk or in RAM


def test_take_controls_act_once_per_press_and_check_the_program_number(tmp_path, specs):
    world = World(tmp_path)
    controls = TakeControls(TakesConfig(new_cc=102, previous_cc=103, next_cc=-1, new_program=9), world.loop)
    for event in [(CONTROL, 0, 102, 127), (CONTROL, 0, 102, 100), (CONTROL, 0, 102, 0), (CONTROL, 0, 102, 64),
                  (CONTROL, 1, 102, 127), (CONTROL, 0, 103, 127), (CONTROL, 0, 104, 127), (CONTROL, 0, 7, 127),
                  (PROGRAM, 0, 9, 0), (PROGRAM, 0, 8, 0), (NOTE_ON, 0, 102, 127)]:
        controls(event)
    assert list(world.loop.requests) == [("take", "new")] * 3 + [("take", "previous"), ("take", "new")]
    check_take_controls(TakesConfig(new_program=4), slots=4)
    with pytest.raises(ValueError, match="takes.new_program 3 also selects program slot 3"):
        check_take_controls(TakesConfig(new_program=3), slots=4)


def test_a_take_asked_for_by_midi_reaches_the_loop_through_the_play_path(tmp_path, specs):
    """The engine leaves take CCs alone; the host's listener turns them into take requests."""
    a = specs[0]
    world = World(tmp_path)
    world.write(a, (60, 100))
    world.loop.set_prompt(0, a)
    controls = TakeControls(TakesConfig(), world.loop)
    for event in [(CONTROL, 0, 102, 127), (CONTROL, 0, 102, 0)]:
        world.engine.push(event)
        controls(event)
    sound(world)
    world.step()
    assert world.loop.specs[0] == a.with_seed(1)
    heard = sound(world, (NOTE_ON, 0, 60, 100))
    assert likeness(heard, world, a, (60, 100)) > 0.999  # take 1 has nothing yet: take 0 goes on
