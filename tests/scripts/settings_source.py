"""Change one setting's default, range and help in the job contract, then build every front end
(the command line's parser, the server's schema and, with ``blender``, the panel's properties)
and report what each shows: they must all follow the one change.

Parameter: one JSON object with ``blender`` (bool).
"""

import json
import sys

from scail_blender.jobs.contract import setting_fields
from scail_blender.jobs.sampling import MODEL_DEFAULTS, resolve_settings

params = json.loads(sys.argv[1])
steps = setting_fields()["steps"]
MODEL_DEFAULTS["scail"]["steps"] = 41  # SCAIL-Preview's official steps, for a job that leaves them unset
steps.metadata = {**steps.metadata, "doc": "patched help", "high": 777}

from scail_blender.cli import build_parser  # noqa: E402 - built after the change, as the test means

parser = build_parser()
generate = parser._subparsers._group_actions[0].choices["generate"]  # noqa: SLF001 - argparse keeps them there
flag = next(a for a in generate._actions if "--steps" in a.option_strings)
from scail_blender.commands.common import job_from_args  # noqa: E402

args = generate.parse_args(["--checkpoint", "ck", "--ref", "r.png", "--pose", "p.mp4", "--out", "o.mp4"])
settings = job_from_args(args).settings
report = {"cli": {"default": flag.default, "help": flag.help, "unset": settings.steps,
                  "resolved": resolve_settings(settings, "scail").steps}}

from scail_server.schemas import JOB_REQUEST  # noqa: E402

schema = JOB_REQUEST.json_schema()["$defs"]["JobSettings"]["properties"]["steps"]
report["server"] = {"default": schema["default"], "help": schema["description"], "max": schema["maximum"]}

if params["blender"]:
    import bpy

    import scail_blender

    scail_blender.register()
    prop = bpy.types.Scene.bl_rna.properties["scail"].fixed_type.properties["steps"]
    report["blender"] = {"default": prop.default, "help": prop.description, "max": prop.hard_max}
print(json.dumps(report))
