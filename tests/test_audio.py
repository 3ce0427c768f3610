"""The soundtrack of an animation: reading it, its per-frame features on click tracks made
here, and its AAC stream in the animation's MP4."""

from __future__ import annotations

import wave

import numpy as np
import pytest

from stylesweep.animate.audio import (
    AUDIO_FEATURES,
    HOP,
    AudioError,
    Soundtrack,
    audio_features,
    onset_envelope,
    read_soundtrack,
    track_beats,
)
from stylesweep.video import write_mp4

av = pytest.importorskip("av")

RATE = 44100
FPS = 12


def click_track(bpm: float, seconds: float = 6.0, seed: int = 0) -> tuple[Soundtrack, np.ndarray]:
    """Clicks (20 ms of noise decaying over 3 ms) every beat from half a beat in: the track
    and the clicks' times."""
    rng = np.random.default_rng(seed)
    samples = np.zeros(round(seconds * RATE))
    period = 60 / bpm
    clicks = np.arange(period / 2, seconds - 0.02, period)
    length = round(0.02 * RATE)
    for time in clicks:
        start = round(time * RATE)
        decay = np.exp(-np.arange(length) / (0.003 * RATE))
        samples[start : start + length] += 0.5 * rng.standard_normal(length) * decay
    return Soundtrack(samples[None].astype(np.float32), RATE), clicks


def frames_of(seconds: float) -> int:
    return round(seconds * FPS)


def pictures(count: int) -> list[np.ndarray]:
    return [np.full((32, 32, 3), 8 * index, np.uint8) for index in range(count)]


def tone(seconds: float, channels: int = 1) -> np.ndarray:
    times = np.arange(round(seconds * RATE)) / RATE
    sine = 0.4 * np.sin(2 * np.pi * 440 * times)
    return np.stack([sine * (1 - 0.5 * channel) for channel in range(channels)]).astype(np.float32)


def write_wav(path, samples: np.ndarray, rate: int = RATE) -> None:
    """int16 WAV with the standard library, channels interleaved."""
    pcm = np.round(np.clip(samples, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as file:
        file.setnchannels(samples.shape[0])
        file.setsampwidth(2)
        file.setframerate(rate)
        file.writeframes(pcm.T.tobytes())


def audio_duration(path) -> float:
    """Seconds of sound decoded from the first audio stream."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return sum(frame.samples for frame in container.decode(stream)) / stream.rate


@pytest.mark.parametrize("bpm", [120, 90])
def test_beats_land_on_the_clicks(bpm):
    track, clicks = click_track(bpm)
    features = audio_features(track, FPS, frames_of(track.duration))
    beats = np.flatnonzero(features["beat"])
    click_frames = np.round(clicks * FPS).astype(int)
    assert all(np.abs(click_frames - beat).min() <= 1 for beat in beats)
    inner = click_frames[1:-1]
    found = sum(np.abs(beats - frame).min() <= 1 for frame in inner)
    assert found >= 0.8 * len(inner)
    tempo, times = track_beats(onset_envelope(track.mono(), RATE, HOP), RATE / HOP)
    assert tempo == pytest.approx(bpm, rel=0.03)
    assert len(times) and np.all(np.diff(times) > 0)


def test_the_onset_envelope_peaks_at_the_clicks():
    track, clicks = click_track(120)
    envelope = onset_envelope(track.mono(), RATE, HOP)
    assert len(envelope) == 1 + track.samples.shape[1] // HOP
    for time in clicks:
        at = time * RATE / HOP  # hops of 11.6 ms
        near = np.arange(round(at) - 10, round(at) + 10)
        peak = near[np.argmax(envelope[near])]
        assert 0 <= peak - at <= 2  # after the click, never before it: within 23 ms
        assert envelope[int(at) - 1] < 0.1 * envelope[peak]  # nothing before the sound
    # and per animation frame: each click's frame is the loudest onset of its half beat
    onset = audio_features(track, FPS, frames_of(track.duration))["onset"]
    assert onset.max() == 1 and onset.min() >= 0
    for time in clicks:
        frame = int(time * FPS)
        nearby = range(max(0, frame - 2), frame + 3)
        assert max(nearby, key=lambda n: onset[n]) == frame
        assert onset[frame] > 0.5


def test_amp_is_loudness_over_the_track():
    track, clicks = click_track(120, seconds=3.0)
    louder = track.samples.copy()
    louder[0, round(1.3 * RATE) : round(1.4 * RATE)] = 0.9  # a loud block in frame 15-16
    features = audio_features(Soundtrack(louder, RATE), FPS, frames_of(5.0))
    amp = features["amp"]
    assert set(features) == set(AUDIO_FEATURES)
    assert all(len(values) == frames_of(5.0) and values.dtype == np.float64
               for values in features.values())  # fmt: skip
    assert amp.min() >= 0 and amp.max() == 1 and np.argmax(amp) in (15, 16)
    assert np.all(amp[frames_of(3.0) :] == 0)  # past the end of the track
    assert np.all(features["onset"][frames_of(3.0) :] == 0)
    # fewer frames than the track: still normalised over the whole track
    first = audio_features(Soundtrack(louder, RATE), FPS, 10)
    assert np.array_equal(first["amp"], amp[:10]) and first["amp"].max() < 1


def test_silence_gives_zeros_and_no_beats():
    silence = Soundtrack(np.zeros((2, 3 * RATE), np.float32), RATE)
    features = audio_features(silence, FPS, 40)
    assert all(np.array_equal(values, np.zeros(40)) for values in features.values())
    assert silence.duration == 3.0 and silence.mono().dtype == np.float64
    tempo, times = track_beats(np.zeros(500), RATE / HOP)
    assert tempo == 0 and len(times) == 0
    tempo, times = track_beats(np.ones(4), RATE / HOP)  # too short for a beat
    assert tempo == 0 and len(times) == 0


@pytest.mark.parametrize("channels", [1, 2])
def test_a_wav_reads_back(tmp_path, channels):
    samples = tone(1.5, channels)
    write_wav(tmp_path / "tone.wav", samples)
    track = read_soundtrack(tmp_path / "tone.wav")
    assert track.rate == RATE and track.samples.dtype == np.float32
    assert track.samples.shape[0] == channels
    assert track.duration == pytest.approx(1.5, abs=0.001)
    count = min(track.samples.shape[1], samples.shape[1])
    np.testing.assert_allclose(track.samples[:, :count], samples[:, :count], atol=1e-3)


def test_a_wav_at_another_rate_is_resampled(tmp_path):
    write_wav(tmp_path / "low.wav", tone(1.0, 2)[:, ::2], rate=22050)
    track = read_soundtrack(tmp_path / "low.wav")
    assert track.rate == RATE and track.duration == pytest.approx(1.0, abs=0.01)


def test_the_mp4_carries_the_soundtrack_cut_to_the_video(tmp_path):
    samples = tone(3.0, 2)  # longer than the 2 s video: cut
    path = write_mp4(pictures(24), tmp_path / "a.mp4", FPS, audio=(samples, RATE))
    with av.open(str(path)) as container:
        assert len(container.streams.video) == 1 and len(container.streams.audio) == 1
        sound = container.streams.audio[0]
        assert sound.codec_context.name == "aac" and sound.codec_context.layout.nb_channels == 2
        assert sound.rate == RATE
    assert audio_duration(path) == pytest.approx(24 / FPS, abs=0.05)
    again = write_mp4(pictures(24), tmp_path / "b.mp4", FPS, audio=(samples, RATE))
    assert again.read_bytes() == path.read_bytes()
    # it reads back as a soundtrack, in time (the tone starts at 0)
    track = read_soundtrack(path)
    assert track.samples.shape[0] == 2 and track.duration == pytest.approx(2.0, abs=0.05)
    assert np.abs(track.samples[0, : RATE // 10]).max() > 0.3

    short = write_mp4(pictures(24), tmp_path / "c.mp4", FPS, audio=(tone(1.0), RATE))
    assert audio_duration(short) == pytest.approx(1.0, abs=0.05)
    assert read_soundtrack(short).samples.shape[0] == 1


def test_unreadable_soundtracks_name_the_file(tmp_path):
    (tmp_path / "x.wav").write_text("not a sound")
    write_mp4(pictures(4), tmp_path / "silent.mp4", FPS)
    for name, reason in [
        ("x.wav", "cannot be read as audio"),
        ("missing.mp3", "no such file"),
        ("silent.mp4", "has no audio track"),
    ]:
        with pytest.raises(AudioError, match=reason) as error:
            read_soundtrack(tmp_path / name)
        assert str(tmp_path / name) in str(error.value)
        assert "\n" not in str(error.value)


def test_the_demo_soundtracks_beats_are_its_kicks(tmp_path):
    from stylesweep.demo import write_demo_soundtrack

    track = read_soundtrack(write_demo_soundtrack(tmp_path / "demo.wav", seconds=3.0, bpm=120))
    beats = np.flatnonzero(audio_features(track, 8, 24)["beat"])
    kicks = np.arange(0, 24, 4)  # a kick every half second: every fourth frame at 8 fps
    assert len(beats) >= len(kicks) - 1
    assert all(np.abs(kicks - beat).min() <= 1 for beat in beats), beats
