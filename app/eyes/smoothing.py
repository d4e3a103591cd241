"""The One Euro filter (Casiez, Roussel and Vogel, CHI 2012) for measured gaze: heavy
smoothing while the eye holds still (pupil-fit noise), little while it moves (a saccade
must not lag). Time is passed in, never read."""

import math

MIN_CUTOFF_HZ = 1.5  # smoothing of a still eye: lower, steadier
BETA = 0.4  # how fast the cut-off rises with speed (per rad/s): higher, less lag in saccades
DERIVATIVE_CUTOFF_HZ = 1.0


def _alpha(cutoff_hz: float, dt_s: float) -> float:
    tau_s = 1.0 / (2.0 * math.pi * cutoff_hz)
    return 1.0 / (1.0 + tau_s / dt_s)


class OneEuro:
    """One signal; `filter(value, t_s)` returns the smoothed value."""

    def __init__(self, min_cutoff_hz: float = MIN_CUTOFF_HZ, beta: float = BETA):
        self.min_cutoff_hz, self.beta = min_cutoff_hz, beta
        self.value: float | None = None
        self.speed = 0.0
        self.t_s = 0.0

    def reset(self) -> None:
        self.value = None

    def filter(self, value: float, t_s: float) -> float:
        if self.value is None or t_s <= self.t_s:
            if self.value is None:
                self.value, self.speed = value, 0.0
            self.t_s = t_s
            return self.value
        dt_s = t_s - self.t_s
        speed = (value - self.value) / dt_s
        self.speed += _alpha(DERIVATIVE_CUTOFF_HZ, dt_s) * (speed - self.speed)
        cutoff_hz = self.min_cutoff_hz + self.beta * abs(self.speed)
        self.value += _alpha(cutoff_hz, dt_s) * (value - self.value)
        self.t_s = t_s
        return self.value
