"""Start a local ComfyUI (127.0.0.1) with GLIGEN Suite loaded; used by `./dev run`.

Before it starts, it lists per example workflow (example_workflows/*.json) the model files the workflow's
loader widgets name and whether ComfyUI will find each; with `--stand-ins` it writes random-weight stand-ins
for the missing ones (small by default, `--stand-ins=full` for full-size ones; SD1.5, SD2.1 or SDXL as each file's
name says) and a stand-in picture for each Load Image picture missing from ComfyUI's input folder (never over a
file that is there). ComfyUI's stderr is
passed through, except the known block of tracebacks about its audio nodes and torchaudio, which is replaced
by one line.
"""

from __future__ import annotations

import argparse
import codecs
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO, TextIO

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # appended, never inserted: see the `nodes` rule in devkit/__init__.py

from devkit.gligen_checkpoints import stand_in_kind  # noqa: E402
from devkit.sd2_sdxl_checkpoints import base_for_file_name  # noqa: E402
from devkit.workflow_files import (  # noqa: E402
    FOLDER_ALIASES,
    INPUT,
    MODEL_SUFFIXES,
    ModelFile,
    example_files,
    is_index_map_picture,
)

HOST = Path(os.environ.get("COMFYUI_PATH") or ROOT / ".host" / "ComfyUI")
PICTURE_MARK = "stand_in"  # the PNG text chunk of a stand-in picture (tools/stand_ins.py's PICTURE_MARK)
STAND_IN_SIZES = ("small", "full")
# The ten official files (README.md's table): stand_in_kind -> Hugging Face repo gligen/<name>.
OFFICIAL_REPOS = {
    "text-box": "gligen-generation-text-box", "text-image-box": "gligen-generation-text-image-box",
    "keypoint": "gligen-generation-keypoint", "hed": "gligen-generation-hed", "canny": "gligen-generation-canny",
    "depth": "gligen-generation-depth", "normal": "gligen-generation-normal", "semantic": "gligen-generation-sem",
    "text-box+inpainting": "gligen-inpainting-text-box",
    "text-image-box+inpainting": "gligen-inpainting-text-image-box",
}
PRUNED_REPO = "comfyanonymous/GLIGEN_pruned_safetensors"  # ComfyUI's pruned text-box files
CHECKPOINT_SOURCE = "an SD1.x checkpoint, e.g. Hugging Face stable-diffusion-v1-5/stable-diffusion-v1-5 " \
                    "v1-5-pruned-emaonly.safetensors"
# base_for_file_name -> where its checkpoint comes from
CHECKPOINT_SOURCES = {
    "sd15": CHECKPOINT_SOURCE,
    "sd2": "an SD 2.1-base checkpoint (512 px, eps), e.g. Hugging Face stabilityai/stable-diffusion-2-1-base "
           "v2-1_512-ema-pruned.safetensors",
    "sdxl": "an SDXL checkpoint, e.g. Hugging Face stabilityai/stable-diffusion-xl-base-1.0 sd_xl_base_1.0.safetensors",
}
# GLIGEN files for SD2.1 (IGLIGEN) and SDXL (GLIGEN-XL): the unet folder of a diffusers pipeline repo
ADAPTER_REPOS = {"sd2": "longlian/igligen-sd2.1-v1.0", "sdxl": "jiuntian/gligen-xl-1024"}
CONVERTER = "GLIGEN Convert to Adapter (Suite)"
CLIP_VISION_SOURCE = "Hugging Face openai/clip-vit-large-patch14 model.safetensors"
STAND_IN_BANNER = ("*** Random-weight stand-ins ({size}, in {folder}) are active: random-weight stand-in: images "
                   "will be noise. The GLIGEN Loader node says so in the page too. ***")


def real_source(file: ModelFile) -> str:
    """Where a user gets the real file (or what to do for a picture)."""
    if file.folder == INPUT:
        if is_index_map_picture(file.name):
            return "an ADE20K class-index map of yours (grey values 0..150): choose it in the Load Image node"
        return "any picture of yours: choose it in the Load Image node"
    if file.folder == "checkpoints":
        return CHECKPOINT_SOURCES[base_for_file_name(file.name)]
    if file.folder == "clip_vision":
        return f"{CLIP_VISION_SOURCE}, renamed to {file.name}"
    if file.folder == "gligen" and base_for_file_name(file.name) in ADAPTER_REPOS:
        repo = ADAPTER_REPOS[base_for_file_name(file.name)]
        repo = repo.replace("-1024", "-512") if "512" in file.name else repo
        folder = file.name.rsplit(".", 1)[0]
        return (f"the unet folder of Hugging Face {repo}: put it in models/gligen/{folder}/unet/ and run {CONVERTER} "
                f"on it, which writes {file.name}")
    if file.folder == "gligen":
        repo = f"gligen/{OFFICIAL_REPOS[stand_in_kind(file.name)]}"
        if "pruned" in file.name.lower():
            return f"Hugging Face {PRUNED_REPO} {file.name} (or {repo} diffusion_pytorch_model.bin)"
        return f"Hugging Face {repo} diffusion_pytorch_model.bin, renamed to {file.name}"
    if file.folder is None:
        return "unknown folder: add its loader to LOADER_FOLDERS in devkit/workflow_files.py"
    return f"a file for models/{file.folder}"


def folder_dirs(folder: str, base: Path, extra_configs: Iterable[Path] = (),
                input_dir: Path | None = None) -> list[Path]:
    """The folders ComfyUI reads for models/<folder> (INPUT: its input folder, `input_dir` or the base folder's),
    in its lookup order: the base folder's, then those of extra_model_paths.yaml files."""
    if folder == INPUT:
        return [input_dir or base / "input"]
    names = FOLDER_ALIASES.get(folder, (folder,))
    dirs = [base / "models" / name for name in names]
    for config in extra_configs:
        dirs += _extra_config_dirs(config, names)
    return dirs


def _extra_config_dirs(config: Path, names: Iterable[str]) -> list[Path]:
    """The folders an extra_model_paths.yaml lists for any of `names` (paths relative to its base_path)."""
    import yaml

    if not config.is_file():
        return []
    dirs: list[Path] = []
    for section in (yaml.safe_load(config.read_text(encoding="utf-8")) or {}).values():
        if not isinstance(section, dict):
            continue
        base = Path(os.path.expanduser(str(section.get("base_path", ""))))
        base = base if base.is_absolute() else config.parent / base
        for name in names:
            for line in str(section.get(name) or "").splitlines():
                if line.strip():
                    path = Path(os.path.expanduser(line.strip()))
                    dirs.append(path if path.is_absolute() else base / path)
    return dirs


def find_file(file: ModelFile, dirs: list[Path]) -> Path | None:
    """The first of `dirs` holding the file, as ComfyUI looks it up; None when absent."""
    for folder in dirs:
        if (folder / file.name).is_file():
            return folder / file.name
    return None


def is_stand_in_picture(path: Path) -> bool:
    """Whether a picture is one tools/stand_ins.py wrote (a PNG carrying PICTURE_MARK)."""
    from PIL import Image

    try:
        with Image.open(path) as picture:
            return PICTURE_MARK in picture.info
    except Exception:  # not a picture PIL reads: a user's file, whatever it is
        return False


def file_status(found: Path | None, stand_in_dir: Path | None) -> str:
    """'present', 'MISSING', or 'stand-in' (the file ComfyUI finds is one of ours: a model file in
    `stand_in_dir`, or a picture that carries PICTURE_MARK)."""
    if found is None:
        return "MISSING"
    if stand_in_dir is not None and stand_in_dir in found.parents:
        return "stand-in (random weights)"
    if found.suffix.lower() not in MODEL_SUFFIXES and is_stand_in_picture(found):
        return "stand-in (random picture)"
    return "present"


def model_report(examples: dict[str, list[ModelFile]], base: Path, extra_configs: list[Path],
                 stand_in_dir: Path | None, input_dir: Path | None = None) -> str:
    """Per example, each file it names, where it goes and whether ComfyUI finds it (a real file or a
    stand-in); then where to get each real file that is not there. `input_dir`: ComfyUI's input folder
    when it is not the base folder's."""
    lines = [f"Files the example workflows name (models folder: {base / 'models'}; "
             f"pictures: {input_dir or base / 'input'}):"]
    to_get: list[ModelFile] = []
    missing = False
    for example, files in examples.items():
        lines.append(f"  {example}")
        for file in files:
            dirs = folder_dirs(file.folder, base, extra_configs, input_dir) if file.folder else []
            status = file_status(find_file(file, dirs), stand_in_dir)
            lines.append(f"    {file.label:<58} {status}")
            missing = missing or status == "MISSING"
            if status != "present" and file not in to_get:
                to_get.append(file)
    if to_get:
        lines.append("Where the real files come from (each goes in the folder before its name):")
        lines += [f"  {file.label}: {real_source(file)}" for file in sorted(to_get, key=lambda f: f.folder == INPUT)]
    if stand_in_dir is None and missing:
        lines.append("To try the examples without them: ./dev run --stand-ins (random weights, and random "
                     "pictures for the missing Load Image ones: they run, the images are noise).")
    return "\n".join(lines)


# ---------------------------------------------------------------- ComfyUI's stderr, minus the torchaudio block
HARMLESS_NOTE = ("run_comfyui: ComfyUI's audio nodes cannot import torchaudio (there is none for this torch); "
                 "harmless for GLIGEN Suite, so their tracebacks are not shown.\n")
_TORCHAUDIO_WARNING = re.compile(r"^torchaudio missing, .* will be broken$")
_TORCHAUDIO_ERROR = "ModuleNotFoundError: No module named 'torchaudio'"
_CANNOT_IMPORT = re.compile(r"^Cannot import (.*) module for custom nodes: No module named 'torchaudio'$")
_FIRST_MODULE_FRAME = re.compile(r'File "([^"]+)", line \d+, in <module>')
_IMPORT_FAILED = re.compile(r"^IMPORT FAILED: (\S+)$")
_SUMMARY_START = "WARNING: some comfy_extras/ nodes did not import correctly."
_SUMMARY_END = "Please do a: pip install -r requirements.txt"
_CHAINED = ("During handling of the above exception", "The above exception was the direct cause")
_MAX_HELD = 200  # lines; a "traceback" longer than this is passed through as it is


class TorchaudioFilter:
    """Line filter for ComfyUI's stderr. Drops only what the missing torchaudio causes: the "torchaudio
    missing" warnings, each traceback that ends in torchaudio's ModuleNotFoundError (held until its exception
    line, and kept whole when another exception follows it), the "Cannot import ... torchaudio" lines and
    those modules' lines in the import summary; prints HARMLESS_NOTE once instead. Every other line passes
    through unchanged."""

    def __init__(self) -> None:
        self.hidden = 0  # lines dropped
        self.modules: set[str] = set()  # file names of the modules that failed on torchaudio
        self._held: list[str] = []
        self._mode = ""  # "traceback", "after" (a torchaudio traceback, maybe chained), "summary" or ""
        self._noted = False
        self._after_drop = False

    def feed(self, line: str) -> list[str]:
        """The lines to print for one input line (line endings kept)."""
        text = line.rstrip("\r\n")
        if self._mode:
            return getattr(self, f"_in_{self._mode}")(line, text)
        return self._plain(line, text)

    def close(self) -> list[str]:
        """What is still held when the stream ends: a dropped traceback's tail is dropped, the rest printed."""
        held, self._held = self._held, []
        if self._mode == "after":
            self._mode = ""
            return self._drop(held)
        self._mode = ""
        return held

    def _plain(self, line: str, text: str) -> list[str]:
        after_drop, self._after_drop = self._after_drop, False
        if text == "Traceback (most recent call last):":
            self._mode, self._held = "traceback", [line]
            return []
        if text.startswith(_SUMMARY_START) and self.modules:
            self._mode, self._held = "summary", [line]
            return []
        cannot = _CANNOT_IMPORT.match(text)
        if cannot or _TORCHAUDIO_WARNING.match(text):
            if cannot:
                self.modules.add(Path(cannot[1]).name)
            return self._drop([line])
        if not text and after_drop:  # the blank line ComfyUI prints after a dropped block
            self.hidden += 1
            return []
        return [line]

    def _in_traceback(self, line: str, text: str) -> list[str]:
        self._held.append(line)
        if len(self._held) > _MAX_HELD:
            self._mode, held, self._held = "", self._held, []
            return held
        if not text or text[0].isspace():
            return []
        self._mode = "after" if text == _TORCHAUDIO_ERROR else ""
        if self._mode:
            return []
        held, self._held = self._held, []
        return held

    def _in_after(self, line: str, text: str) -> list[str]:
        if not text:
            self._held.append(line)
            return []
        held, self._held, self._mode = self._held, [], ""
        if text.startswith(_CHAINED):  # a torchaudio error that led to another one: show it all
            return held + [line]
        frame = _FIRST_MODULE_FRAME.search("".join(held))
        if frame:
            self.modules.add(Path(frame[1]).name)
        return self._drop(held) + self._plain(line, text)

    def _in_summary(self, line: str, text: str) -> list[str]:
        self._held.append(line)
        if not text.startswith(_SUMMARY_END) and len(self._held) <= _MAX_HELD:
            return []
        held, self._held, self._mode = self._held, [], ""
        failed = [m[1] for m in (_IMPORT_FAILED.match(h.rstrip("\r\n")) for h in held) if m]
        if set(failed) <= self.modules:
            return self._drop(held)
        kept = [h for h in held if not ((m := _IMPORT_FAILED.match(h.rstrip("\r\n"))) and m[1] in self.modules)]
        self.hidden += len(held) - len(kept)
        return kept

    def _drop(self, lines: list[str]) -> list[str]:
        self.hidden += len(lines)
        self._after_drop = True
        if self._noted:
            return []
        self._noted = True
        return [HARMLESS_NOTE]


class LineReader:
    """Complete lines from a binary stream as they arrive; '\r' also ends a line, so progress bars show as
    they go. Its state survives a KeyboardInterrupt between reads."""

    def __init__(self, source: BinaryIO) -> None:
        self.source = source
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._pending = ""

    def read(self) -> list[str] | None:
        """The next complete lines (maybe none yet); None at the end of the stream."""
        chunk = self.source.read1(65536) if hasattr(self.source, "read1") else self.source.read(65536)
        if not chunk:
            rest, self._pending = self._pending + self._decoder.decode(b"", final=True), ""
            return [rest] if rest else None
        parts = re.split(r"(?<=[\r\n])", self._pending + self._decoder.decode(chunk))
        self._pending = parts.pop()
        return parts


def filter_stream(source: BinaryIO, sink: TextIO, keep: TorchaudioFilter | None = None) -> TorchaudioFilter:
    """Copy `source` to `sink` through a TorchaudioFilter until the stream ends; returns the filter."""
    keep = keep or TorchaudioFilter()
    reader = LineReader(source)
    while (lines := reader.read()) is not None:
        for line in lines:
            sink.writelines(keep.feed(line))
        sink.flush()
    sink.writelines(keep.close())
    sink.flush()
    return keep


# ---------------------------------------------------------------- start
def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    """Our options; everything else goes to ComfyUI's main.py."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8188)
    parser.add_argument("--stand-ins", nargs="?", const="small", choices=STAND_IN_SIZES, default=None,
                        help="random-weight stand-ins for the files the example workflows name (the images are "
                             "noise): 'small' (default: a fast reduced SD1.5, about 30 s per example on 2 CPU "
                             "cores, and reduced SD2.1 and SDXL for their examples) or 'full' "
                             "(full-size SD1.5 and SD2.1 and their 16-fuser GLIGEN files, for benchmarking; about "
                             "10 GB; no full-size SDXL: its example's files stay missing)")
    parser.add_argument("--dev-dir", type=Path, default=ROOT / ".host",
                        help="where the run's own files go: extra_model_paths.yaml, custom_nodes link, stand_ins/")
    return parser.parse_known_args(argv)


def _passthrough_value(passthrough: list[str], flag: str) -> str | None:
    for i, arg in enumerate(passthrough):
        if arg == flag and i + 1 < len(passthrough):
            return passthrough[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


def _absolute_passthrough(passthrough: list[str], flag: str) -> Path | None:
    """`flag`'s value resolved here (ComfyUI would resolve a relative one against its own folder), written back
    into `passthrough` as that absolute path, so ComfyUI uses the folder this script reads; None without it."""
    value = _passthrough_value(passthrough, flag)
    if value is None:
        return None
    path = Path(value).resolve()
    for i, arg in enumerate(passthrough):
        if arg == flag and i + 1 < len(passthrough):
            passthrough[i + 1] = str(path)
        elif arg.startswith(flag + "="):
            passthrough[i] = f"{flag}={path}"
    return path


def comfy_folders(passthrough: list[str]) -> tuple[Path, Path]:
    """ComfyUI's base folder (`--base-directory`, else the host) and input folder (`--input-directory`, which
    overrides the base folder's `input/`), as main.py computes them; relative values are made absolute in
    `passthrough`."""
    base = _absolute_passthrough(passthrough, "--base-directory") or HOST
    input_dir = _absolute_passthrough(passthrough, "--input-directory") or base / "input"
    return base, input_dir


def main(argv: list[str] | None = None) -> int:
    args, passthrough = parse_args(argv)
    dev_dir: Path = args.dev_dir.resolve()
    base_arg = _passthrough_value(passthrough, "--base-directory")
    base, input_dir = comfy_folders(passthrough)
    if base_arg:
        for folder in ("custom_nodes", "user"):  # ComfyUI stops without the first, has no database without the other
            (base / folder).mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "main.py", "--listen", "127.0.0.1", "--port", str(args.port)]
    import torch

    if not torch.cuda.is_available():
        command.append("--cpu")
    extra_paths = dev_dir / "extra_model_paths.yaml"
    dev_dir.mkdir(parents=True, exist_ok=True)
    sections = []
    if not (base / "custom_nodes" / "gligen_suite").exists() and not _pack_inside(base):
        link_dir = dev_dir / "custom_nodes"
        link_dir.mkdir(parents=True, exist_ok=True)
        link = link_dir / "gligen_suite"
        if not link.exists():
            link.symlink_to(ROOT, target_is_directory=True)
        sections.append(f"gligen_suite_pack:\n  custom_nodes: {link_dir}\n")
    examples = example_files()
    stand_in_dir = None
    pictures = sorted({f.name for files in examples.values() for f in files if f.folder == INPUT})
    if args.stand_ins:
        sys.path.append(str(ROOT / "tools"))
        from stand_ins import STAND_IN_FOLDERS, write_stand_in_pictures, write_stand_ins

        wanted = sorted({f for files in examples.values() for f in files if f.folder in STAND_IN_FOLDERS})
        stand_in_dir = write_stand_ins([(f.folder, f.name) for f in wanted], args.stand_ins,
                                       dev_dir / "stand_ins")
        write_stand_in_pictures(pictures, input_dir)
        sections.append(f"gligen_suite_stand_ins:\n  base_path: {stand_in_dir}\n"
                        + "".join(f"  {folder}: {folder}\n" for folder in STAND_IN_FOLDERS))
    extra_configs = [p for p in (base / "extra_model_paths.yaml", extra_paths) if p.is_file() or sections]
    user_config = _passthrough_value(passthrough, "--extra-model-paths-config")
    if sections:
        extra_paths.write_text("".join(sections))
        command += ["--extra-model-paths-config", str(extra_paths)]
    print(model_report(examples, base, extra_configs + ([Path(user_config)] if user_config else []), stand_in_dir,
                       input_dir))
    if args.stand_ins:
        print("\n" + STAND_IN_BANNER.format(size=args.stand_ins, folder=_shown(stand_in_dir)))
        print(stand_in_pictures_line(pictures, input_dir) + "\n")
    print(f"ComfyUI: http://127.0.0.1:{args.port}  (Workflow > Browse Templates > gligen_suite for the examples)",
          flush=True)
    return run_filtered(command + passthrough, HOST)


def stand_in_pictures_line(pictures: Iterable[str], input_dir: Path) -> str:
    """The terminal line naming the pictures in `input_dir` that are stand-ins (random pixels), or saying none is."""
    stand_ins = [name for name in pictures if is_stand_in_picture(input_dir / name)]
    if not stand_ins:
        return f"*** No stand-in pictures: every Load Image picture the examples name is in {_shown(input_dir)}. ***"
    return (f"*** Stand-in pictures (random pixels) in {_shown(input_dir)}: {', '.join(stand_ins)}; replace them "
            "with your own, or choose another picture in the Load Image node. ***")


def run_filtered(command: list[str], cwd: Path) -> int:
    """Run ComfyUI with its stderr through the torchaudio filter; return its exit code. On Ctrl+C (which
    ComfyUI gets too, from the terminal) it is given 10 s to stop, then terminated. A SIGTERM or SIGHUP to
    this script (a process manager's stop, a closed terminal) is passed on: ComfyUI would otherwise outlive
    it, holding the port and gigabytes of memory."""
    proc = subprocess.Popen(command, cwd=cwd, stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stderr is not None
    stops = [s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None]
    previous = {s: signal.signal(s, lambda _signum, _frame: proc.terminate()) for s in stops}
    try:
        filter_stream(proc.stderr, sys.stderr)
    except KeyboardInterrupt:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.terminate()
        sys.stderr.write(proc.stderr.read().decode("utf-8", "replace"))
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return proc.wait()


def _shown(path: Path) -> str:
    """`path` relative to the repository when it is inside it."""
    return str(path.relative_to(ROOT)) if ROOT in path.parents else str(path)


def _pack_inside(host: Path) -> bool:
    folder = host / "custom_nodes"
    return folder.is_dir() and any((p.resolve() == ROOT) for p in folder.iterdir())


if __name__ == "__main__":
    raise SystemExit(main())
