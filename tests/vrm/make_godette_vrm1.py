"""How tests/vrm/Godette_vrm1.vrm was made (kept as a record; the tests never run it).

Godette_vrm_v4.vrm (VRM 0.x) is read and written again as VRM 1.0 by the VRM Add-on for
Blender, run outside this project's environment:

    python3.11 -m venv /tmp/bpyenv
    /tmp/bpyenv/bin/pip install bpy==5.0.1 bpy-vrm-format==4.10.2
    /tmp/bpyenv/bin/python tests/vrm/make_godette_vrm1.py \\
        tests/vrm/Godette_vrm_v4.vrm tests/vrm/Godette_vrm1.vrm

The add-on turns the 0.x blend shape groups into 1.0 expressions itself; what its 0.x to
1.0 switch leaves at defaults is carried over here by hand, field by field, from the 0.x
file as the add-on read it: the humanoid bones (by the add-on's own 0.x to 1.0 bone-name
table), the look-at (blend shapes become expressions, with the same ranges) and the meta
(name, version, authors, and the CC BY 3.0 terms). Nothing else is touched.
"""

import sys

import bpy
from io_scene_vrm.common.vrm1.human_bone import HumanBoneSpecifications

LOOK_AT_RANGES = (("look_at_horizontal_inner", "range_map_horizontal_inner"),
                  ("look_at_horizontal_outer", "range_map_horizontal_outer"),
                  ("look_at_vertical_down", "range_map_vertical_down"),
                  ("look_at_vertical_up", "range_map_vertical_up"))


def copy_humanoid(vrm0, vrm1) -> None:
    by_vrm0_name = {str(s.vrm0_name): s.name for s in HumanBoneSpecifications.all_human_bones}
    targets = vrm1.humanoid.human_bones.human_bone_name_to_human_bone()
    for bone in vrm0.humanoid.human_bones:
        name = by_vrm0_name.get(bone.bone)
        if name in targets and bone.node.bone_name:
            targets[name].node.bone_name = bone.node.bone_name


def copy_look_at(vrm0, vrm1) -> None:
    old, new = vrm0.first_person, vrm1.look_at
    new.type = "expression" if old.look_at_type_name == "BlendShape" else "bone"
    for name0, name1 in LOOK_AT_RANGES:
        curve, range_map = getattr(old, name0), getattr(new, name1)
        range_map.input_max_value, range_map.output_scale = curve.x_range, curve.y_range


def write_meta(vrm0, vrm1) -> None:
    meta = vrm1.meta
    meta.vrm_name, meta.version = vrm0.meta.title, vrm0.meta.version
    for author in ("SirRichard94", "Lyuma"):
        meta.authors.add().value = author
    meta.copyright_information = ("Low-poly Godette (C) SirRichard94; VRM adaptation (C) "
                                  "2021 Lyuma; CC BY 3.0")
    meta.avatar_permission = "everyone"
    meta.commercial_usage = "corporation"
    meta.credit_notation = "required"
    meta.allow_redistribution = True
    meta.modification = "allowModificationRedistribution"
    meta.other_license_url = "https://creativecommons.org/licenses/by/3.0/"


def main(source: str, target: str) -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.preferences.addon_enable(module="io_scene_vrm")
    bpy.ops.import_scene.vrm(filepath=source)
    armature = next(o for o in bpy.data.objects if o.type == "ARMATURE")
    extension = armature.data.vrm_addon_extension
    extension.spec_version = "1.0"
    bpy.context.view_layer.objects.active = armature
    bpy.ops.vrm.assign_vrm1_expressions_from_vrm0(armature_object_name=armature.name)
    copy_humanoid(extension.vrm0, extension.vrm1)
    copy_look_at(extension.vrm0, extension.vrm1)
    write_meta(extension.vrm0, extension.vrm1)
    bpy.ops.export_scene.vrm(filepath=target, armature_object_name=armature.name,
                             ignore_warning=True)


if __name__ == "__main__":
    main(*sys.argv[-2:])
