"""Reading a prompt back from an image: what `promptrag inspect` and the Refine page's drop zone use.

`inspect_image(path_or_bytes)` returns an `ImageRecipe` — prompt, negative prompt, settings
(seed, steps, cfg, sampler, width, height, model) and, for our own images, how the prompt was
made (idea, enhancer, style, example ids, template) — from, best source first:

1. our JSON sidecar beside the PNG (`<stem>.json`, written by `generate.output.save_images`);
2. our exact ``promptrag`` chunk and the A1111 ``parameters`` text chunk (any A1111/Forge image);
3. ComfyUI's ``prompt`` chunk (the API graph: node id -> {class_type, inputs}) or, when only the
   editor graph is there, its ``workflow`` chunk (nodes with widgets_values, links). The sampler
   node (KSampler, KSamplerAdvanced) gives seed / steps / cfg / sampler; its ``positive`` and
   ``negative`` inputs lead to CLIPTextEncode nodes whose text is the prompt.

Everything read is data: texts stay strings, numbers must be numbers, and a chunk that is not
what it claims (bad JSON, a graph of the wrong shape) is one InputError naming the chunk.
Deliberately not here: generating again (generate.saving) and rounds (rag/, app/).
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.errors import InputError
from generate.output import EXACT_KEY, PARAMETERS_KEY, RECIPE_KEYS, parse_parameters
from generate.saving import image_options_from_settings

SETTING_KEYS = ("seed", "steps", "cfg", "sampler", "width", "height", "model")
_SAMPLERS = ("KSampler", "KSamplerAdvanced", "SamplerCustom")
_MAX_SIDECAR_BYTES = 4 * 1024 * 1024


@dataclass
class ImageRecipe:
    """What an image says about how it was made (fields it does not say stay empty / None)."""

    source: str  # "promptrag", "a1111" or "comfyui"
    prompt: str
    negative_prompt: str = ""
    settings: dict[str, Any] = field(default_factory=dict)  # SETTING_KEYS present in the image
    idea: str | None = None
    enhancer: str | None = None
    style: str | None = None
    example_ids: list[int] = field(default_factory=list)
    template: str | None = None
    read_from: list[str] = field(default_factory=list)  # the chunks / files that were read

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def image_options(self) -> dict[str, Any]:
        """generate.saving options that reproduce the image's settings (unknown ones left out)."""
        return image_options_from_settings(self.settings)


def inspect_image(image: Path | str | bytes) -> ImageRecipe:
    """The recipe an image (a path, or the bytes of an upload) carries; InputError when it has none."""
    chunks, name, sidecar_path = _read_chunks(image)
    if sidecar_path is not None and sidecar_path.is_file():
        return _from_sidecar(sidecar_path, chunks)
    if PARAMETERS_KEY in chunks:
        return _from_parameters(chunks)
    if "prompt" in chunks or "workflow" in chunks:
        return _from_comfyui(chunks)
    raise InputError(f"{name} carries no generation metadata: no A1111 '{PARAMETERS_KEY}' chunk, "
                     "no ComfyUI 'prompt' / 'workflow' chunk and no promptrag sidecar")


def _read_chunks(image: Path | str | bytes) -> tuple[dict[str, str], str, Path | None]:
    from PIL import Image, UnidentifiedImageError

    if isinstance(image, bytes):
        source: Any = io.BytesIO(image)
        name, sidecar = "the uploaded image", None
    else:
        path = Path(image)
        if not path.is_file():
            raise InputError(f"no image at {path}: give the path of a PNG file")
        source, name, sidecar = path, str(path), path.with_suffix(".json")
    try:
        with Image.open(source) as opened:
            raw = dict(getattr(opened, "text", None) or opened.info)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{name} is not a readable image ({exc}); give a PNG file") from None
    chunks = {str(key): value for key, value in raw.items() if isinstance(value, str)}
    return chunks, name, sidecar


def _from_parameters(chunks: dict[str, str]) -> ImageRecipe:
    parsed = parse_parameters(chunks[PARAMETERS_KEY])
    read_from = [PARAMETERS_KEY]
    ours = EXACT_KEY in chunks
    if ours:
        exact = _json_chunk(chunks, EXACT_KEY)
        if not isinstance(exact, dict):
            raise InputError(f"the '{EXACT_KEY}' chunk must hold a JSON object, got {type(exact).__name__}")
        parsed.update({k: v for k, v in exact.items() if k in ("prompt", "negative_prompt", *RECIPE_KEYS)})
        read_from.append(EXACT_KEY)
    return _recipe("promptrag" if ours else "a1111", parsed, read_from)


def _from_sidecar(path: Path, chunks: dict[str, str]) -> ImageRecipe:
    if path.stat().st_size > _MAX_SIDECAR_BYTES:
        raise InputError(f"sidecar {path} is larger than {_MAX_SIDECAR_BYTES} bytes; not a promptrag sidecar")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"sidecar {path} is not valid JSON ({exc}); delete or fix it") from None
    params = data.get("parameters") if isinstance(data, dict) else None
    if not isinstance(params, dict):
        raise InputError(f"sidecar {path} has no 'parameters' object; it was not written by promptrag")
    values = dict(params)
    if "cfg" not in values and "guidance" in values:
        values["cfg"] = values["guidance"]
    recipe = _recipe("promptrag", values, [path.name])
    if PARAMETERS_KEY in chunks:
        recipe.read_from.append(PARAMETERS_KEY)
    return recipe


def _recipe(source: str, values: dict[str, Any], read_from: list[str]) -> ImageRecipe:
    prompt = values.get("prompt")
    if not isinstance(prompt, str):
        raise InputError(f"the image's {read_from[0]} holds no prompt text")
    settings = {key: values[key] for key in SETTING_KEYS if values.get(key) not in (None, "")}
    ids = values.get("example_ids") or []
    return ImageRecipe(
        source=source, prompt=prompt, negative_prompt=_text(values.get("negative_prompt")),
        settings=settings, idea=_text(values.get("idea")) or None, enhancer=_text(values.get("enhancer")) or None,
        style=_text(values.get("style")) or None,
        example_ids=[int(i) for i in ids if isinstance(i, int) or str(i).isdigit()] if isinstance(ids, list) else [],
        template=_text(values.get("template")) or None, read_from=read_from,
    )


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _json_chunk(chunks: dict[str, str], key: str) -> Any:
    try:
        return json.loads(chunks[key])
    except ValueError as exc:
        raise InputError(f"the image's '{key}' chunk is not valid JSON ({exc})") from None


# ---- ComfyUI -------------------------------------------------------------------------------
def _from_comfyui(chunks: dict[str, str]) -> ImageRecipe:
    if "prompt" in chunks:
        graph = _json_chunk(chunks, "prompt")
        if not isinstance(graph, dict) or not all(isinstance(node, dict) for node in graph.values()):
            raise InputError("the image's ComfyUI 'prompt' chunk must be a JSON object of nodes "
                             "({id: {class_type, inputs}})")
        values, read_from = _api_graph(graph), ["prompt"]
    else:
        workflow = _json_chunk(chunks, "workflow")
        if not isinstance(workflow, dict) or not isinstance(workflow.get("nodes"), list):
            raise InputError("the image's ComfyUI 'workflow' chunk must be a JSON object with a 'nodes' list")
        values, read_from = _workflow_graph(workflow), ["workflow"]
    return _recipe("comfyui", values, read_from)


def _api_graph(graph: dict[str, Any]) -> dict[str, Any]:
    def inputs(node: Any) -> dict[str, Any]:
        found = node.get("inputs") if isinstance(node, dict) else None
        return found if isinstance(found, dict) else {}

    def linked(value: Any) -> dict[str, Any] | None:
        # An input wired to another node is [node_id, output_index].
        if isinstance(value, list) and value and str(value[0]) in graph:
            return graph[str(value[0])]
        return None

    def text_of(value: Any, depth: int = 0) -> str:
        node = linked(value)
        if node is None or depth > 8:
            return value if isinstance(value, str) else ""
        node_inputs = inputs(node)
        for key in ("text", "text_g", "value", "string", "conditioning", "conditioning_1"):
            if key in node_inputs:
                found = text_of(node_inputs[key], depth + 1)
                if found:
                    return found
        return ""

    samplers = [node for node in graph.values() if node.get("class_type") in _SAMPLERS]
    texts = [inputs(n).get("text") for n in graph.values() if n.get("class_type") == "CLIPTextEncode"]
    values: dict[str, Any] = {}
    if samplers:
        sampler = inputs(samplers[0])
        values["prompt"] = text_of(sampler.get("positive"))
        values["negative_prompt"] = text_of(sampler.get("negative"))
        values["seed"] = _number(sampler.get("seed", sampler.get("noise_seed")), int)
        values["steps"] = _number(sampler.get("steps"), int)
        values["cfg"] = _number(sampler.get("cfg"), float)
        values["sampler"] = sampler.get("sampler_name") if isinstance(sampler.get("sampler_name"), str) else None
        latent = linked(sampler.get("latent_image"))
        if latent is not None:
            values["width"] = _number(inputs(latent).get("width"), int)
            values["height"] = _number(inputs(latent).get("height"), int)
    if not values.get("prompt"):
        strings = [t for t in texts if isinstance(t, str)]
        values["prompt"] = strings[0] if strings else None
    for node in graph.values():
        if node.get("class_type") in ("CheckpointLoaderSimple", "CheckpointLoader"):
            name = inputs(node).get("ckpt_name")
            if isinstance(name, str):
                values["model"] = name
    if values.get("prompt") is None:
        raise InputError("the image's ComfyUI 'prompt' graph has no CLIPTextEncode text to read a prompt from")
    return values


def _workflow_graph(workflow: dict[str, Any]) -> dict[str, Any]:
    nodes = {node.get("id"): node for node in workflow["nodes"] if isinstance(node, dict)}
    # A link is [link_id, from_node, from_slot, to_node, to_slot, type].
    links = {link[0]: link[1] for link in workflow.get("links") or []
             if isinstance(link, list) and len(link) >= 2}

    def widgets(node: dict[str, Any]) -> list[Any]:
        found = node.get("widgets_values")
        return found if isinstance(found, list) else []

    def text_via(node: dict[str, Any], name: str) -> str:
        for slot in node.get("inputs") or []:
            if isinstance(slot, dict) and slot.get("name") == name:
                source = nodes.get(links.get(slot.get("link")))
                if source is not None and source.get("type") == "CLIPTextEncode" and widgets(source):
                    return _text(widgets(source)[0])
        return ""

    values: dict[str, Any] = {}
    samplers = [n for n in nodes.values() if n.get("type") in ("KSampler", "KSamplerAdvanced")]
    if samplers:
        sampler = samplers[0]
        values["prompt"] = text_via(sampler, "positive")
        values["negative_prompt"] = text_via(sampler, "negative")
        w = widgets(sampler)
        # KSampler widgets: seed, control_after_generate, steps, cfg, sampler_name, scheduler, denoise;
        # KSamplerAdvanced starts with add_noise.
        offset = 1 if sampler.get("type") == "KSamplerAdvanced" else 0
        if len(w) >= offset + 5:
            values["seed"] = _number(w[offset], int)
            values["steps"] = _number(w[offset + 2], int)
            values["cfg"] = _number(w[offset + 3], float)
            values["sampler"] = w[offset + 4] if isinstance(w[offset + 4], str) else None
    if not values.get("prompt"):
        texts = [widgets(n)[0] for n in nodes.values()
                 if n.get("type") == "CLIPTextEncode" and widgets(n) and isinstance(widgets(n)[0], str)]
        values["prompt"] = texts[0] if texts else None
    if values.get("prompt") is None:
        raise InputError("the image's ComfyUI 'workflow' has no CLIPTextEncode text to read a prompt from")
    return values


def _number(value: Any, kind: type) -> Any:
    # Numbers only: a linked input ([node, slot]) or text is not a setting we can reuse.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return kind(value)
