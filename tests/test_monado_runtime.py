"""The OpenXR runtime that the XR tests use is reachable: inside the Monado chroot,
pyopenxr's loader finds Monado, which offers OpenGL sessions on EGL and a simulated HMD."""

import json
import sys

import pytest

from tests.monado import monado, requires_monado  # noqa: F401 - the fixture is used by name

# Runs inside the chroot; prints what the runtime offers as one JSON line.
PROBE = """
import json
import xr

def text(value):  # pyopenxr gives names as bytes or str, depending on its version
    return value.decode() if isinstance(value, bytes) else value

names = [text(e.extension_name) for e in xr.enumerate_instance_extension_properties()]
instance = xr.create_instance(xr.InstanceCreateInfo(
    application_info=xr.ApplicationInfo(application_name="liveface-test"),
    enabled_extension_names=[xr.KHR_OPENGL_ENABLE_EXTENSION_NAME,
                             xr.MNDX_EGL_ENABLE_EXTENSION_NAME]))
runtime = text(xr.get_instance_properties(instance).runtime_name)
system = xr.get_system(instance, xr.SystemGetInfo(
    form_factor=xr.FormFactor.HEAD_MOUNTED_DISPLAY))
system_name = text(xr.get_system_properties(instance, system).system_name)
views = xr.enumerate_view_configuration_views(
    instance, system, xr.ViewConfigurationType.PRIMARY_STEREO)
xr.destroy_instance(instance)
print(json.dumps({"extensions": names, "runtime": runtime, "system": int(system.value),
                  "system_name": system_name, "views": len(views)}))
"""


@pytest.mark.xr
@requires_monado
def test_monado_offers_an_hmd_and_egl_sessions(monado):
    done = monado.run([sys.executable, "-c", PROBE])
    assert done.returncode == 0, f"{done.stderr[-3000:]}\nmonado-service:\n{monado.log()[-2000:]}"
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert "Monado" in found["runtime"]
    assert {"XR_KHR_opengl_enable", "XR_MNDX_egl_enable"} <= set(found["extensions"])
    assert found["system"] != 0
    assert "Simulated HMD" in found["system_name"]
    assert found["views"] == 2  # one per eye
