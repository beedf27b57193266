#!/usr/bin/env bash
# Installs livesampler on Debian/Ubuntu: system libraries and tools (apt),
# a virtual environment in .venv/, and the default instrument, converted from
# Debian's FluidR3 General MIDI soundfont into instruments/.
#
#   bash install.sh          # to play
#   bash install.sh --test   # also what the tests need
set -euo pipefail
cd "$(dirname "$0")"

extras=""
for arg in "$@"; do
    case "$arg" in
        --test) extras="[test]" ;;
        *) echo "install.sh: unknown option $arg (use --test or nothing)" >&2; exit 2 ;;
    esac
done

# PortAudio and libsndfile for audio I/O; JACK (its dummy driver plays without
# a sound card, and carries MIDI where there is no ALSA sequencer); Polyphone
# converts soundfonts to SFZ; the two soundfonts are the default instrument and
# the tests' small one; FluidSynth is the reference the render benchmark
# compares against, and libfluidsynth3 renders soundfonts into note sets
# (`livesampler dataset render-soundfont`).
packages=(libportaudio2 libsndfile1 libasound2 jackd2 polyphone
          fluid-soundfont-gm timgm6mb-soundfont fluidsynth libfluidsynth3 python3-venv)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    # jackd2 asks whether to enable real-time priority; answer for it.
    echo "jackd2 jackd/tweak_rt_limits boolean false" | $sudo debconf-set-selections
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".${extras}"

.venv/bin/livesampler soundfont /usr/share/sounds/sf2/FluidR3_GM.sf2 -o instruments
