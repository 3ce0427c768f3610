"""A soundtrack for an animation: its samples, and what its schedules can follow frame by frame.

`audio_features` gives three curves, one value per animation frame: `amp` (loudness), `onset`
(how sharply new sound starts: drum hits, plucked notes) and `beat` (1 on the frames of the
tracked beats). The onset envelope is spectral flux and the beat tracker is Ellis's dynamic
programme (2007), both as librosa does them, in numpy alone: librosa was measured and
turned down, as it brings numba, llvmlite and scikit-learn (about 260 MB), compiles for 19 s
on its first call, and still takes 2.6 s a job after that. (Nor scipy: scipy.signal takes
0.6 s to import, for a window numpy has.)

PyAV (`av`) decodes whatever it opens (wav, mp3, flac, a video's audio track), imported when
a file is read, as in stylesweep/video.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

AUDIO_FEATURES = ("amp", "onset", "beat")
RATE = 44100  # every soundtrack is resampled to this on reading
HOP = 512  # samples between onset-envelope values: 11.6 ms at 44.1 kHz
N_FFT = 2048
MEL_BANDS = 128
BLOCK = 1024  # STFT frames at a time, so a long track never holds its whole spectrogram
MIN_BPM, MAX_BPM = 30.0, 300.0


class AudioError(ValueError):
    """A soundtrack that cannot be read, or has no sound in it."""


@dataclass(frozen=True)
class Soundtrack:
    """Decoded audio: `samples` float32 of shape (channels, n), 1 or 2 channels, in [-1, 1]."""

    samples: np.ndarray
    rate: int

    @property
    def duration(self) -> float:
        """In seconds."""
        return self.samples.shape[1] / self.rate

    def mono(self) -> np.ndarray:
        """The mean of the channels, float64."""
        return self.samples.mean(axis=0, dtype=np.float64)


def read_soundtrack(path: str | Path) -> Soundtrack:
    """The first audio stream of `path`, resampled to 44.1 kHz float, mono or stereo as the
    source (more channels are mixed down to stereo)."""
    import av

    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such file")
    chunks = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise AudioError(f"{path}: has no audio track")
            stream = container.streams.audio[0]
            layout = "mono" if stream.codec_context.layout.nb_channels == 1 else "stereo"
            resampler = av.AudioResampler(format="fltp", layout=layout, rate=RATE)
            for frame in container.decode(stream):
                chunks += [out.to_ndarray() for out in resampler.resample(frame)]
            chunks += [out.to_ndarray() for out in resampler.resample(None)]  # the flush
    except (av.error.FFmpegError, OSError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise AudioError(f"{path}: cannot be read as audio ({reason})") from error
    if sum(chunk.shape[1] for chunk in chunks) == 0:
        raise AudioError(f"{path}: no audio samples decoded")
    samples = np.concatenate(chunks, axis=1).astype(np.float32, copy=False)
    return Soundtrack(samples=samples, rate=RATE)


def mel_filters(rate: int, bands: int = MEL_BANDS) -> np.ndarray:
    """Triangular filters (bands x N_FFT // 2 + 1) evenly spaced on the mel scale from 0 Hz
    to half the rate, each of unit area (Slaney's normalisation, librosa's default)."""

    def mel(hz):
        return 2595 * np.log10(1 + np.asarray(hz) / 700)

    def hz(mels):
        return 700 * (10 ** (np.asarray(mels) / 2595) - 1)

    edges = hz(np.linspace(0, mel(rate / 2), bands + 2))
    bins = np.linspace(0, rate / 2, N_FFT // 2 + 1)
    rising = (bins[None] - edges[:-2, None]) / np.diff(edges)[:-1, None]
    falling = (edges[2:, None] - bins[None]) / np.diff(edges)[1:, None]
    filters = np.maximum(0, np.minimum(rising, falling))
    return filters * (2 / (edges[2:] - edges[:-2]))[:, None]


def onset_envelope(mono: np.ndarray, rate: int, hop: int) -> np.ndarray:
    """Spectral flux on a mel spectrogram, as librosa's onset_strength: the rise of each mel
    band's power in dB (80 dB below the loudest floored) from one frame to the next (falls
    count 0), averaged over the bands; one value every `hop` samples (value i at time
    i * hop / rate). On linear frequency bins, the broadband noise of a hi-hat outweighs a
    kick drum a hundred times over; mel bands weigh the low notes as the ear does.

    STFT frames are centred on their times, so a sound starts raising the flux as soon as it
    enters a frame's window, n_fft / 2 samples before it is heard. The envelope is delayed
    by n_fft / 2, as librosa's onset_strength is, so that no onset shows before its sound:
    an animation frame's `onset` is what starts within that frame (a quarter-window delay
    centred the peaks on clicks, but put a kick on the frame before it).
    """
    mono = np.asarray(mono, dtype=np.float64)
    count = 1 + len(mono) // hop
    padded = np.pad(mono, N_FFT // 2)  # frame i is centred on sample i * hop
    window = np.hanning(N_FFT + 1)[:-1]  # periodic Hann, as scipy's and librosa's STFT
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::hop][:count]
    filters = mel_filters(rate)
    power = np.zeros((count, len(filters)))
    for start in range(0, count, BLOCK):  # a block at a time: a long track's STFT is large
        spectrum = np.abs(np.fft.rfft(frames[start : start + BLOCK] * window)) ** 2
        power[start : start + BLOCK] = spectrum @ filters.T
    decibels = 10 * np.log10(np.maximum(power, 1e-10))
    decibels = np.maximum(decibels, decibels.max() - 80)
    silence = np.full((1, len(filters)), decibels.min())  # before the track: a first hit counts
    rise = np.diff(np.concatenate([silence, decibels]), axis=0)
    flux = np.maximum(0.0, rise).mean(axis=1)
    delay = round(N_FFT / 2 / hop)
    return np.concatenate([np.zeros(delay), flux])[:count]


def _tempo(envelope: np.ndarray, hop_rate: float, start_bpm: float) -> float:
    """The beats per minute whose lag best scores in the envelope's autocorrelation (over
    30..300 bpm, normalised to 1 at lag 0, log-compressed as librosa's `tempo`) plus a
    log-normal prior of one octave around `start_bpm`; the peak is refined between lags by
    a parabola, as whole lags are 1-2 % apart at 90-120 bpm. 0 when the envelope is too short
    to hold a 300 bpm beat twice."""
    shortest = int(np.ceil(60 * hop_rate / MAX_BPM))
    longest = min(int(60 * hop_rate / MIN_BPM), len(envelope) - 2)
    if longest <= shortest:
        return 0.0
    power = np.abs(np.fft.rfft(envelope, 2 * len(envelope))) ** 2
    correlation = np.fft.irfft(power)[: longest + 2]
    correlation = np.maximum(correlation / correlation[0], 0.0)
    lags = np.arange(1, longest + 2)
    prior = -0.5 * np.log2(60 * hop_rate / lags / start_bpm) ** 2
    score = np.concatenate([[-np.inf], np.log1p(1e6 * correlation[1:]) + prior])
    best = shortest + int(np.argmax(score[shortest : longest + 1]))
    before, peak, after = score[best - 1 : best + 2]
    curvature = before - 2 * peak + after
    offset = 0.5 * (before - after) / curvature if curvature < 0 and before > -np.inf else 0.0
    return 60 * hop_rate / (best + offset)


def _beat_frames(local: np.ndarray, period: int, tightness: float) -> np.ndarray:
    """Ellis's dynamic programme: the chain of frames, about `period` apart, that best sits
    on strong onsets. Each frame's score is its own plus the best score of a beat between
    2 and 1/2 periods before it, less `tightness` times the squared log of how far that gap
    is from a period; backtracking starts at the best frame in the last period."""
    offsets = np.arange(-2 * period, -round(period / 2) + 1)
    penalty = -tightness * np.log(-offsets / period) ** 2
    cumulative = np.zeros(len(local))
    backlink = np.full(len(local), -1)
    started = False  # until the first onset, no frame links back (a chain may start anywhere)
    for frame, score in enumerate(local):
        previous = frame + offsets
        candidates = penalty + np.where(previous >= 0, cumulative[np.maximum(previous, 0)], 0)
        best = int(np.argmax(candidates))
        cumulative[frame] = score + candidates[best]
        if started or score >= 0.01 * local.max():
            backlink[frame] = previous[best]
            started = True
    frame = len(local) - period + int(np.argmax(cumulative[-period:]))
    beats = []
    while frame >= 0:
        beats.append(frame)
        frame = backlink[frame]
    return np.array(beats[::-1], dtype=int)


def _trim(local: np.ndarray, beats: np.ndarray) -> np.ndarray:
    """Without the weak beats at either end, as librosa trims them: the chain runs on
    through silence before and after the music, on beats whose onset strength (smoothed
    over the neighbouring beats) is under half the root mean square of all of them."""
    strength = np.convolve(local[beats], np.hanning(5), "same")
    strong = np.flatnonzero(strength > 0.5 * np.sqrt(np.mean(strength**2)))
    return beats[strong[0] : strong[-1] + 1] if len(strong) else beats[:0]


def track_beats(
    envelope: np.ndarray, hop_rate: float, start_bpm: float = 120.0, tightness: float = 100.0
) -> tuple[float, np.ndarray]:
    """(tempo in bpm, beat times in seconds) of an onset envelope with `hop_rate` values a
    second: Ellis (2007), the beat tracker of librosa.beat.beat_track. (0.0, no beats) for a
    silent envelope or one too short to hold a beat twice."""
    envelope = np.asarray(envelope, dtype=np.float64)
    none = (0.0, np.zeros(0))
    if len(envelope) < 3 or not np.std(envelope) > 0:
        return none
    envelope = envelope / np.std(envelope, ddof=1)
    bpm = _tempo(envelope, hop_rate, start_bpm)
    if bpm <= 0:
        return none
    period = max(1, round(60 * hop_rate / bpm))
    if len(envelope) < period:
        return none
    # librosa scores each frame by the envelope smoothed over a Gaussian of period / 32
    taps = np.arange(-period, period + 1)
    local = np.convolve(envelope, np.exp(-0.5 * (taps * 32 / period) ** 2), "same")
    beats = _trim(local, _beat_frames(local, period, tightness))
    return bpm, beats / hop_rate


def _window_starts(frames: int, fps: float, rate: float) -> np.ndarray:
    """The first index of a series at `rate` a second at or after each frame's start n / fps:
    frame n's window is [starts[n], starts[n + 1])."""
    return np.ceil(np.arange(frames + 1) * rate / fps - 1e-9).astype(int)


def audio_features(track: Soundtrack, fps: float, frames: int) -> dict[str, np.ndarray]:
    """`amp`, `onset` and `beat`, one float64 value per animation frame (frame n covers
    [n / fps, (n + 1) / fps)), measured over the whole track so that `amp` and `onset` are
    0..1 over the track whatever part of it the animation covers. Frames past the end of the
    track are 0."""
    mono = track.mono()
    if not len(mono):
        return {name: np.zeros(frames) for name in AUDIO_FEATURES}
    hop_rate = track.rate / HOP
    covered = int(np.ceil(len(mono) * fps / track.rate))  # frames that hold some sound

    starts = np.minimum(_window_starts(covered, fps, track.rate), len(mono))
    energy = np.concatenate([[0.0], np.cumsum(mono**2)])
    counts = np.diff(starts)
    rms = np.sqrt(np.maximum(np.diff(energy[starts]), 0) / np.maximum(counts, 1))
    amp = rms / rms.max() if rms.max() > 0 else rms

    envelope = onset_envelope(mono, track.rate, HOP)
    starts = np.minimum(_window_starts(covered, fps, hop_rate), len(envelope) - 1)
    peaks = np.maximum.reduceat(envelope, starts[:-1])  # at least the value at a window's start
    onset = peaks / envelope.max() if envelope.max() > 0 else np.zeros(covered)

    beat = np.zeros(max(covered, frames))
    _, times = track_beats(envelope, hop_rate)
    nearest = np.round(times * fps).astype(int)
    beat[nearest[nearest < len(beat)]] = 1.0

    def fit(values: np.ndarray) -> np.ndarray:
        return np.pad(values, (0, max(0, frames - len(values))))[:frames]

    return {"amp": fit(amp), "onset": fit(onset), "beat": fit(beat)}
