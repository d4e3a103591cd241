"""Calibrated gaze: where the pupil sits in the eye camera's image -> where the eye looks.

The pupil's image position is a smooth but not linear function of the gaze (the eyeball is
a sphere, the camera looks at it from below and to the side), so the mapping is the usual
one of head-mounted trackers: a second-order polynomial in the normalised pupil position,

    yaw   = a . [1, x, y, xy, x^2, y^2]
    pitch = b . [1, x, y, xy, x^2, y^2]

fitted by least squares to fixations on known targets (calibration/eye_targets.toml).
With fewer than six targets seen it falls back to an affine map. Gaze angles are the
user's own view: yaw > 0 towards the user's left, pitch > 0 up, radians.

A profile is a small JSON file: the user's, in their config folder, unless a path is given.
"""

import json
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from platformdirs import user_config_dir

from app.errors import LivefaceError
from app.files import write_atomic
from app.resources import resource_dir

PROFILE_VERSION = 1
MIN_FIXATION_SAMPLES = 5  # a target needs this many pupil fixes in its window to count
QUADRATIC_TARGETS = 6  # the quadratic map needs this many targets; fewer: affine
AFFINE_TARGETS = 3
HOW_TO_CALIBRATE = ("calibrate in the headset (`liveface run --eye-camera N --calibrate-eyes`) "
                    "or from a recording (`liveface calibrate eyes --camera FILE`).")


@dataclass(frozen=True)
class TargetSchedule:
    """The calibration's targets in order, each held `hold_s`; the first `settle_s` of a
    hold is not used."""

    targets_rad: np.ndarray  # (N, 2) yaw, pitch
    hold_s: float
    settle_s: float

    @property
    def duration_s(self) -> float:
        return len(self.targets_rad) * self.hold_s

    def target_at(self, t_s: float) -> int | None:
        """Index of the target shown `t_s` after the start, None before or after."""
        index = math.floor(t_s / self.hold_s) if t_s >= 0 else -1
        return index if 0 <= index < len(self.targets_rad) else None

    def in_fixation(self, t_s: float) -> int | None:
        """The target index when `t_s` falls in a hold's usable part, else None."""
        index = self.target_at(t_s)
        if index is None or t_s - index * self.hold_s < self.settle_s:
            return None
        return index


def load_schedule(path: Path | None = None) -> TargetSchedule:
    """The targets of `path` (TOML), by default the shipped `calibration/eye_targets.toml`."""
    path = path or resource_dir("calibration") / "eye_targets.toml"
    try:
        values = tomllib.loads(path.read_text(encoding="utf-8"))
        targets = np.asarray(values["targets_rad"], np.float64)
        hold_s, settle_s = float(values["hold_s"]), float(values["settle_s"])
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as err:
        raise LivefaceError(f"cannot read the calibration targets {path}: {err}.") from None
    if targets.ndim != 2 or targets.shape[1] != 2 or len(targets) < AFFINE_TARGETS:
        raise LivefaceError(f"{path}: targets_rad must list at least {AFFINE_TARGETS} "
                            "[yaw, pitch] pairs.")
    if not 0 <= settle_s < hold_s:
        raise LivefaceError(f"{path}: settle_s must be at least 0 and below hold_s.")
    return TargetSchedule(targets, hold_s, settle_s)


def _features(pupil_xy: np.ndarray, quadratic: bool) -> np.ndarray:
    x, y = pupil_xy[:, 0], pupil_xy[:, 1]
    columns = [np.ones_like(x), x, y]
    if quadratic:
        columns += [x * y, x * x, y * y]
    return np.stack(columns, axis=1)


@dataclass(frozen=True)
class GazeCalibration:
    """Polynomial coefficients (2, 3 or 6) from pupil position to (yaw, pitch), and how
    well they fit the calibration's own fixations."""

    coefficients: np.ndarray
    error_deg: float  # RMS angular error over the fitted fixations
    targets_used: int
    holdout_error_deg: float | None = None  # the same, each target predicted by a fit
    # without it (corner targets are then extrapolated: a cautious figure); None when too
    # few targets to tell

    @classmethod
    def fit(cls, pupil_xy: np.ndarray, gaze_rad: np.ndarray) -> "GazeCalibration":
        """Least-squares fit of pupil positions (N, 2; fractions of the image) to the gaze
        angles (N, 2) looked at."""
        pupil_xy, gaze_rad = np.asarray(pupil_xy, np.float64), np.asarray(gaze_rad, np.float64)
        if len(pupil_xy) < AFFINE_TARGETS:
            raise LivefaceError(f"the eye was found on {len(pupil_xy)} calibration targets; at "
                                f"least {AFFINE_TARGETS} are needed. Check that the camera "
                                "sees the eye, and calibrate again.")
        coefficients = _least_squares(pupil_xy, gaze_rad)
        if coefficients is None:
            raise LivefaceError("the pupil hardly moved between the calibration targets; "
                                "check that the camera sees the eye and follow the targets.")
        residual = _predict(coefficients, pupil_xy) - gaze_rad
        return cls(coefficients, _rms_deg(residual), len(pupil_xy),
                   _holdout_error_deg(pupil_xy, gaze_rad))

    def gaze(self, x: float, y: float) -> tuple[float, float]:
        """(yaw, pitch) in radians for a pupil at (x, y), fractions of the image."""
        yaw, pitch = _predict(self.coefficients, np.array([[x, y]], np.float64))[0]
        return float(yaw), float(pitch)

    def to_dict(self) -> dict:
        return {"version": PROFILE_VERSION, "coefficients": self.coefficients.tolist(),
                "error_deg": self.error_deg, "targets_used": self.targets_used,
                "holdout_error_deg": self.holdout_error_deg}

    @classmethod
    def from_dict(cls, values: dict) -> "GazeCalibration":
        coefficients = np.asarray(values["coefficients"], np.float64)
        if coefficients.shape not in ((2, 3), (2, 6)) or not np.isfinite(coefficients).all():
            raise ValueError("coefficients must be 2 x 3 or 2 x 6 finite numbers")
        holdout = values.get("holdout_error_deg")
        return cls(coefficients, float(values["error_deg"]), int(values["targets_used"]),
                   None if holdout is None else float(holdout))


def _least_squares(pupil_xy: np.ndarray, gaze_rad: np.ndarray) -> np.ndarray | None:
    """Coefficients (2, 3 or 6): quadratic from QUADRATIC_TARGETS targets on, else affine;
    None when the pupil positions cannot pin them down."""
    features = _features(pupil_xy, len(pupil_xy) >= QUADRATIC_TARGETS)
    if np.linalg.matrix_rank(features) < features.shape[1]:
        return None
    coefficients, *_ = np.linalg.lstsq(features, gaze_rad, rcond=None)
    return coefficients.T.copy()


def _predict(coefficients: np.ndarray, pupil_xy: np.ndarray) -> np.ndarray:
    return _features(pupil_xy, coefficients.shape[1] == 6) @ coefficients.T


def _rms_deg(residual_rad: np.ndarray) -> float:
    return math.degrees(float(np.sqrt(np.mean(np.sum(residual_rad ** 2, axis=1)))))


def _holdout_error_deg(pupil_xy: np.ndarray, gaze_rad: np.ndarray) -> float | None:
    """Leave-one-out: each target predicted by the fit of all the others."""
    if len(pupil_xy) <= AFFINE_TARGETS:
        return None
    residuals = []
    for left_out in range(len(pupil_xy)):
        kept = np.arange(len(pupil_xy)) != left_out
        coefficients = _least_squares(pupil_xy[kept], gaze_rad[kept])
        if coefficients is None:
            return None
        residuals.append(_predict(coefficients, pupil_xy[[left_out]])[0] - gaze_rad[left_out])
    return _rms_deg(np.array(residuals))


def calibration_figures(calibration: GazeCalibration) -> dict:
    holdout = calibration.holdout_error_deg
    return {"targets_used": calibration.targets_used,
            "error_deg": round(calibration.error_deg, 3),
            "holdout_error_deg": None if holdout is None else round(holdout, 3)}


def describe_errors(calibration: GazeCalibration) -> str:
    """'fit error 0.24 deg, 0.75 deg on each target left out' for the user."""
    text = f"fit error {calibration.error_deg:.2f} deg"
    if calibration.holdout_error_deg is not None:
        text += f", {calibration.holdout_error_deg:.2f} deg on each target left out"
    return text


def fixations(samples: list[tuple[float, float, float]], schedule: TargetSchedule
              ) -> tuple[np.ndarray, np.ndarray]:
    """Per target, the median pupil position over its usable window, from samples (t_s
    after the start, x, y) of the frames where a pupil was found. Targets with fewer than
    MIN_FIXATION_SAMPLES fixes (a blink, a lost eye) are left out. Returns (pupil_xy,
    gaze_rad) of the targets kept."""
    by_target: dict[int, list[tuple[float, float]]] = {}
    for t_s, x, y in samples:
        index = schedule.in_fixation(t_s)
        if index is not None:
            by_target.setdefault(index, []).append((x, y))
    kept = sorted(i for i, fixes in by_target.items() if len(fixes) >= MIN_FIXATION_SAMPLES)
    pupil_xy = np.array([np.median(by_target[i], axis=0) for i in kept]).reshape(-1, 2)
    return pupil_xy, schedule.targets_rad[kept].reshape(-1, 2)


# -- profiles -------------------------------------------------------------------------------
def default_profile_path() -> Path:
    return Path(user_config_dir("liveface")) / "eye_calibration.json"


def save_profile(calibration: GazeCalibration, path: Path | None = None) -> Path:
    path = path or default_profile_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(calibration.to_dict(), indent=2) + "\n"
        write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    except OSError as err:
        raise LivefaceError(f"cannot write the eye calibration {path}: {err.strerror}.") from None
    return path


def load_profile(path: Path | None = None) -> GazeCalibration:
    path = path or default_profile_path()
    try:
        return GazeCalibration.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise LivefaceError(f"no eye calibration at {path}; {HOW_TO_CALIBRATE}") from None
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise LivefaceError(f"the eye calibration {path} is unreadable ({err}); "
                            f"{HOW_TO_CALIBRATE}") from None
