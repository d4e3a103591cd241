"""The rig as VRCFaceTracking's unified expressions v2: the avatar parameters VRChat
face-tracking avatars are built for (`/avatar/parameters/v2/<Name>`).

Every parameter is an affine map of the rig, clipped to the range its documentation gives
(docs.vrcft.io, "Parameters"):

    value = clip(bias + sum(weight * input), low, high)

The inputs are the 52 ARKit weights by name and the gaze as VRCFaceTracking's "normalized
Cartesian" coordinates: gazeX = tan(yaw), > 0 looking to the avatar's right; gazeY =
tan(pitch), > 0 looking up (its gaze x and y are the tangents of the angles). The weights
follow how VRCFaceTracking itself turns ARKit into unified shapes (its ARKit comparison
table and Live Link module: mouthSmileLeft drives MouthCornerPullLeft and
MouthCornerSlantLeft, browDownLeft drives BrowLowererLeft and BrowPinchLeft, mouthRollUpper
drives LipSuckUpperLeft/Right, ...) and then its formulas for the combined parameters
(EyeLidLeft = openness * 0.75 + EyeWideLeft * 0.25, SmileFrownLeft = MouthSmileLeft -
MouthFrownLeft, ...), folded into one row each.

Left out: parameters the rig has nothing for (tongue direction, cheek suck, pupils,
tightener) and the two combined ones that take a maximum rather than a sum (MouthSad*,
SmileSad*, EyeSquint, EyeWide). Head rotation is not an avatar parameter: VRChat moves
the head from the headset.
"""

from typing import NamedTuple

import numpy as np

from app.avatar.rig import ARKIT_NAMES, BLENDSHAPE_SLICE, RIG_INDEX, clamp_rig

GAZE_INPUTS = ("gazeX", "gazeY")
INPUT_NAMES: tuple[str, ...] = ARKIT_NAMES + GAZE_INPUTS
PARAMETER_PREFIX = "v2/"


class V2Parameter(NamedTuple):
    weights: dict[str, float]  # input name -> weight
    low: float = 0.0
    high: float = 1.0
    bias: float = 0.0


def _signed(weights: dict[str, float]) -> V2Parameter:
    return V2Parameter(weights, low=-1.0)


# name -> how it is made from the rig. Unit parameters are 0..1, signed ones -1..1.
V2_PARAMETERS: dict[str, V2Parameter] = {
    # eye gaze (signed: right / up positive)
    "EyeX": _signed({"gazeX": 1.0}),
    "EyeY": _signed({"gazeY": 1.0}),
    "EyeLeftX": _signed({"gazeX": 1.0}),
    "EyeLeftY": _signed({"gazeY": 1.0}),
    "EyeRightX": _signed({"gazeX": 1.0}),
    "EyeRightY": _signed({"gazeY": 1.0}),
    # eyelids: openness = 1 - blink; EyeLid is 0.75 when relaxed, 1 when wide
    "EyeLidLeft": V2Parameter({"eyeBlinkLeft": -0.75, "eyeWideLeft": 0.25}, bias=0.75),
    "EyeLidRight": V2Parameter({"eyeBlinkRight": -0.75, "eyeWideRight": 0.25}, bias=0.75),
    "EyeLid": V2Parameter({"eyeBlinkLeft": -0.375, "eyeBlinkRight": -0.375,
                           "eyeWideLeft": 0.125, "eyeWideRight": 0.125}, bias=0.75),
    "EyeOpenLeft": V2Parameter({"eyeBlinkLeft": -1.0}, bias=1.0),
    "EyeOpenRight": V2Parameter({"eyeBlinkRight": -1.0}, bias=1.0),
    "EyeClosedLeft": V2Parameter({"eyeBlinkLeft": 1.0}),
    "EyeClosedRight": V2Parameter({"eyeBlinkRight": 1.0}),
    "EyeWideLeft": V2Parameter({"eyeWideLeft": 1.0}),
    "EyeWideRight": V2Parameter({"eyeWideRight": 1.0}),
    "EyeSquintLeft": V2Parameter({"eyeSquintLeft": 1.0}),
    "EyeSquintRight": V2Parameter({"eyeSquintRight": 1.0}),
    # brows (BrowUp* = 0.6 outer + 0.4 inner; BrowExpression* = up - down, signed)
    "BrowInnerUpLeft": V2Parameter({"browInnerUp": 1.0}),
    "BrowInnerUpRight": V2Parameter({"browInnerUp": 1.0}),
    "BrowOuterUpLeft": V2Parameter({"browOuterUpLeft": 1.0}),
    "BrowOuterUpRight": V2Parameter({"browOuterUpRight": 1.0}),
    "BrowLowererLeft": V2Parameter({"browDownLeft": 1.0}),
    "BrowLowererRight": V2Parameter({"browDownRight": 1.0}),
    "BrowPinchLeft": V2Parameter({"browDownLeft": 1.0}),
    "BrowPinchRight": V2Parameter({"browDownRight": 1.0}),
    "BrowInnerUp": V2Parameter({"browInnerUp": 1.0}),
    "BrowOuterUp": V2Parameter({"browOuterUpLeft": 0.5, "browOuterUpRight": 0.5}),
    "BrowUpLeft": V2Parameter({"browOuterUpLeft": 0.6, "browInnerUp": 0.4}),
    "BrowUpRight": V2Parameter({"browOuterUpRight": 0.6, "browInnerUp": 0.4}),
    "BrowUp": V2Parameter({"browOuterUpLeft": 0.3, "browOuterUpRight": 0.3,
                           "browInnerUp": 0.4}),
    "BrowDownLeft": V2Parameter({"browDownLeft": 1.0}),
    "BrowDownRight": V2Parameter({"browDownRight": 1.0}),
    "BrowDown": V2Parameter({"browDownLeft": 0.5, "browDownRight": 0.5}),
    "BrowExpressionLeft": _signed({"browInnerUp": 0.5, "browOuterUpLeft": 0.5,
                                   "browDownLeft": -1.0}),
    "BrowExpressionRight": _signed({"browInnerUp": 0.5, "browOuterUpRight": 0.5,
                                    "browDownRight": -1.0}),
    "BrowExpression": _signed({"browInnerUp": 0.5, "browOuterUpLeft": 0.25,
                               "browOuterUpRight": 0.25, "browDownLeft": -0.5,
                               "browDownRight": -0.5}),
    # nose and cheeks
    "NoseSneerLeft": V2Parameter({"noseSneerLeft": 1.0}),
    "NoseSneerRight": V2Parameter({"noseSneerRight": 1.0}),
    "NoseSneer": V2Parameter({"noseSneerLeft": 0.5, "noseSneerRight": 0.5}),
    "CheekSquintLeft": V2Parameter({"cheekSquintLeft": 1.0}),
    "CheekSquintRight": V2Parameter({"cheekSquintRight": 1.0}),
    "CheekSquint": V2Parameter({"cheekSquintLeft": 0.5, "cheekSquintRight": 0.5}),
    "CheekPuffLeft": V2Parameter({"cheekPuff": 1.0}),
    "CheekPuffRight": V2Parameter({"cheekPuff": 1.0}),
    "CheekPuffSuckLeft": _signed({"cheekPuff": 1.0}),  # puff - suck; ARKit has no suck
    "CheekPuffSuckRight": _signed({"cheekPuff": 1.0}),
    "CheekPuffSuck": _signed({"cheekPuff": 1.0}),
    # jaw
    "JawOpen": V2Parameter({"jawOpen": 1.0}),
    "MouthClosed": V2Parameter({"mouthClose": 1.0}),
    "JawLeft": V2Parameter({"jawLeft": 1.0}),
    "JawRight": V2Parameter({"jawRight": 1.0}),
    "JawForward": V2Parameter({"jawForward": 1.0}),
    "JawX": _signed({"jawRight": 1.0, "jawLeft": -1.0}),
    "JawZ": _signed({"jawForward": 1.0}),  # forward - backward; ARKit has no backward
    # lips
    "LipSuckUpperLeft": V2Parameter({"mouthRollUpper": 1.0}),
    "LipSuckUpperRight": V2Parameter({"mouthRollUpper": 1.0}),
    "LipSuckLowerLeft": V2Parameter({"mouthRollLower": 1.0}),
    "LipSuckLowerRight": V2Parameter({"mouthRollLower": 1.0}),
    "LipSuckUpper": V2Parameter({"mouthRollUpper": 1.0}),
    "LipSuckLower": V2Parameter({"mouthRollLower": 1.0}),
    "LipSuck": V2Parameter({"mouthRollUpper": 0.5, "mouthRollLower": 0.5}),
    "LipFunnelUpperLeft": V2Parameter({"mouthFunnel": 1.0}),
    "LipFunnelUpperRight": V2Parameter({"mouthFunnel": 1.0}),
    "LipFunnelLowerLeft": V2Parameter({"mouthFunnel": 1.0}),
    "LipFunnelLowerRight": V2Parameter({"mouthFunnel": 1.0}),
    "LipFunnelUpper": V2Parameter({"mouthFunnel": 1.0}),
    "LipFunnelLower": V2Parameter({"mouthFunnel": 1.0}),
    "LipFunnel": V2Parameter({"mouthFunnel": 1.0}),
    "LipPuckerUpperLeft": V2Parameter({"mouthPucker": 1.0}),
    "LipPuckerUpperRight": V2Parameter({"mouthPucker": 1.0}),
    "LipPuckerLowerLeft": V2Parameter({"mouthPucker": 1.0}),
    "LipPuckerLowerRight": V2Parameter({"mouthPucker": 1.0}),
    "LipPuckerUpper": V2Parameter({"mouthPucker": 1.0}),
    "LipPuckerLower": V2Parameter({"mouthPucker": 1.0}),
    "LipPucker": V2Parameter({"mouthPucker": 1.0}),
    # mouth
    "MouthUpperUpLeft": V2Parameter({"mouthUpperUpLeft": 1.0}),
    "MouthUpperUpRight": V2Parameter({"mouthUpperUpRight": 1.0}),
    "MouthUpperDeepenLeft": V2Parameter({"mouthUpperUpLeft": 1.0}),
    "MouthUpperDeepenRight": V2Parameter({"mouthUpperUpRight": 1.0}),
    "MouthLowerDownLeft": V2Parameter({"mouthLowerDownLeft": 1.0}),
    "MouthLowerDownRight": V2Parameter({"mouthLowerDownRight": 1.0}),
    "MouthUpperUp": V2Parameter({"mouthUpperUpLeft": 0.5, "mouthUpperUpRight": 0.5}),
    "MouthLowerDown": V2Parameter({"mouthLowerDownLeft": 0.5, "mouthLowerDownRight": 0.5}),
    "MouthOpen": V2Parameter({"mouthUpperUpLeft": 0.25, "mouthUpperUpRight": 0.25,
                              "mouthLowerDownLeft": 0.25, "mouthLowerDownRight": 0.25}),
    "MouthUpperX": _signed({"mouthRight": 1.0, "mouthLeft": -1.0}),
    "MouthLowerX": _signed({"mouthRight": 1.0, "mouthLeft": -1.0}),
    "MouthX": _signed({"mouthRight": 1.0, "mouthLeft": -1.0}),
    "MouthCornerPullLeft": V2Parameter({"mouthSmileLeft": 1.0}),
    "MouthCornerPullRight": V2Parameter({"mouthSmileRight": 1.0}),
    "MouthCornerSlantLeft": V2Parameter({"mouthSmileLeft": 1.0}),
    "MouthCornerSlantRight": V2Parameter({"mouthSmileRight": 1.0}),
    "MouthSmileLeft": V2Parameter({"mouthSmileLeft": 1.0}),
    "MouthSmileRight": V2Parameter({"mouthSmileRight": 1.0}),
    "MouthFrownLeft": V2Parameter({"mouthFrownLeft": 1.0}),
    "MouthFrownRight": V2Parameter({"mouthFrownRight": 1.0}),
    "SmileFrownLeft": _signed({"mouthSmileLeft": 1.0, "mouthFrownLeft": -1.0}),
    "SmileFrownRight": _signed({"mouthSmileRight": 1.0, "mouthFrownRight": -1.0}),
    "SmileFrown": _signed({"mouthSmileLeft": 0.5, "mouthSmileRight": 0.5,
                           "mouthFrownLeft": -0.5, "mouthFrownRight": -0.5}),
    "MouthStretchLeft": V2Parameter({"mouthStretchLeft": 1.0}),
    "MouthStretchRight": V2Parameter({"mouthStretchRight": 1.0}),
    "MouthStretch": V2Parameter({"mouthStretchLeft": 0.5, "mouthStretchRight": 0.5}),
    "MouthDimpleLeft": V2Parameter({"mouthDimpleLeft": 1.0}),
    "MouthDimpleRight": V2Parameter({"mouthDimpleRight": 1.0}),
    "MouthDimple": V2Parameter({"mouthDimpleLeft": 0.5, "mouthDimpleRight": 0.5}),
    "MouthRaiserUpper": V2Parameter({"mouthShrugUpper": 1.0}),
    "MouthRaiserLower": V2Parameter({"mouthShrugLower": 1.0}),
    "MouthPressLeft": V2Parameter({"mouthPressLeft": 1.0}),
    "MouthPressRight": V2Parameter({"mouthPressRight": 1.0}),
    "MouthPress": V2Parameter({"mouthPressLeft": 0.5, "mouthPressRight": 0.5}),
    # tongue
    "TongueOut": V2Parameter({"tongueOut": 1.0}),
}

V2_NAMES: tuple[str, ...] = tuple(V2_PARAMETERS)
V2_LOW = np.array([p.low for p in V2_PARAMETERS.values()], np.float32)
V2_HIGH = np.array([p.high for p in V2_PARAMETERS.values()], np.float32)
V2_SIGNED = V2_LOW < 0.0


def _weight_matrix() -> tuple[np.ndarray, np.ndarray]:
    """(parameters, inputs) weights and (parameters,) biases, from the table."""
    column = {name: i for i, name in enumerate(INPUT_NAMES)}
    weights = np.zeros((len(V2_NAMES), len(INPUT_NAMES)), np.float32)
    for row, parameter in enumerate(V2_PARAMETERS.values()):
        for name, weight in parameter.weights.items():
            weights[row, column[name]] = weight  # a misspelt input fails here, at import
    biases = np.array([p.bias for p in V2_PARAMETERS.values()], np.float32)
    return weights, biases


_WEIGHTS, _BIASES = _weight_matrix()


def gaze_xy(rig: np.ndarray) -> np.ndarray:
    """(gazeX, gazeY): the tangents of the gaze angles, right and up positive. The rig's
    gaze yaw is positive towards the avatar's left, hence the minus."""
    yaw_rad, pitch_rad = rig[RIG_INDEX["gazeYaw"]], rig[RIG_INDEX["gazePitch"]]
    return np.tan(np.array([-yaw_rad, pitch_rad], np.float32))


def v2_values(rig: np.ndarray) -> np.ndarray:
    """(len(V2_NAMES),) float32, each within its range; a NaN in the rig counts as neutral."""
    safe = clamp_rig(rig)
    inputs = np.concatenate([safe[BLENDSHAPE_SLICE], gaze_xy(safe)])
    return np.clip(_WEIGHTS @ inputs + _BIASES, V2_LOW, V2_HIGH)


def binary_bit(value: float, shift: int, bits: int) -> bool:
    """Bit `shift` of |value| written with `bits` bits, as VRCFaceTracking's binary
    parameters (`JawOpen1`, `JawOpen2`, `JawOpen4`, ... one bool each) carry it:
    int(|value| * 2**bits), every bit set from 0.99999 up. The sign goes in `<Name>Negative`."""
    magnitude = abs(value)
    if magnitude > 0.99999:
        return True
    return (int(magnitude * (1 << bits)) >> shift) & 1 == 1
