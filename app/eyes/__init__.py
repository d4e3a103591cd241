"""Eye cameras: pupil tracking and calibrated gaze."""
