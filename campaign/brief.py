"""The campaign brief: one YAML file that says what a batch of variants must cover.

`load_brief(path)` reads YAML into a `Brief` (pydantic, `extra="forbid"`); `Brief.to_yaml()`
writes it back (the app's Campaign form saves the same YAML). A bad brief raises one
`InputError` with one line per bad field, each naming the field, the value given and the
allowed values — never a silently "fixed" value.

Deliberately not here: what the brief turns into (angles: plan.py; brand checks: brand.py;
running it: runner.py). The image backends and enhancers named are checked against their
registries by name only: nothing is built or loaded here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.errors import ConfigError, InputError
from enhancers.base import CONCRETE_STYLES, ModelFamily
from enhancers.registry import parse_enhancer_spec
from enhancers.user_styles import load_user_styles
from generate.dynamic import expand_prompt, is_dynamic
from generate.registry import image_backend_names

CAMPAIGN_STYLES: tuple[str, ...] = CONCRETE_STYLES
NO_IMAGES = "none"  # the backend name that means "prompts only"
ASPECT_RATIOS: tuple[str, ...] = ("1:1", "4:5", "5:4", "3:4", "4:3", "2:3", "3:2", "9:16", "16:9")
SeedPolicy = Literal["per_variant", "same", "example"]
SubjectKind = Literal["auto", "product", "scene", "person"]


def _known_style(value: str) -> str:
    """A built-in campaign style or one the user imported (`promptrag styles import`)."""
    allowed = [*CAMPAIGN_STYLES, *load_user_styles()]
    if value not in allowed:
        raise ValueError(f"unknown style {value!r}; allowed: {', '.join(map(repr, allowed))} "
                         "(import more with `promptrag styles import FILE`)")
    return value
_SIZE = re.compile(r"^(\d+)x(\d+)$")
MAX_VARIANTS = 500


class BrandRules(BaseModel):
    """What every prompt must and must not say (checked per variant by brand.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    must_have: list[str] = Field(default_factory=list, description="Words or phrases every prompt must contain.")
    must_not: list[str] = Field(
        default_factory=list,
        description="Words or phrases no prompt may contain; they are moved to the negative prompt.")
    colours: list[str] = Field(
        default_factory=list, description="Brand colours every prompt names (e.g. 'teal', 'warm orange').")
    no_text: bool = Field(
        False, description="No text in the image: adds text, letters, watermark, logo to every negative prompt.")

    @field_validator("must_have", "must_not", "colours")
    @classmethod
    def _words(cls, value: list[str], info) -> list[str]:
        cleaned = [w.strip() for w in value]
        if any(not w for w in cleaned):
            raise ValueError(f"{info.field_name} entries must be non-empty words, got {value!r}")
        return cleaned

    @model_validator(mode="after")
    def _no_contradiction(self) -> BrandRules:
        wanted = {w.lower() for w in [*self.must_have, *self.colours]}
        both = sorted(w for w in self.must_not if w.lower() in wanted)
        if both:
            raise ValueError(f"must_not repeats words that must be present: {', '.join(both)}; keep each in one list")
        return self


class Brief(BaseModel):
    """Everything a campaign batch needs; the YAML keys are these field names."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field("campaign", min_length=1, max_length=120, description="A short name for the campaign.")
    subject: str = Field(min_length=1, max_length=500,
                         description="The product or subject every image shows, e.g. 'a reusable steel water bottle'.")
    audience: str = Field("", max_length=500, description="Who the campaign speaks to (colours the moods chosen).")
    message: str = Field("", max_length=500, description="What the images should make people feel or think.")
    subject_kind: SubjectKind = Field(
        "auto", description="What the subject is: product (commercial product photography: studio, lifestyle and "
                            "hero shots, its materials, clean backgrounds, commercial lighting), scene or person; "
                            "auto decides from the subject's words (campaign/steer.py).")
    artist_credits: bool = Field(
        False, description="Whether prompts may credit artists ('by X', 'in the style of X'). Off by default: a "
                           "living artist's name in an advert is a legal and brand risk; credits are removed.")
    brand: BrandRules = Field(default_factory=BrandRules, description="Brand must-haves and must-nots.")
    styles: list[Annotated[str, AfterValidator(_known_style)]] = Field(
        default_factory=lambda: list(CAMPAIGN_STYLES),
        description=f"Styles the variants cover, in turn; any of: {', '.join(CAMPAIGN_STYLES)}, "
                    "or a style imported with `promptrag styles import`.")
    scenes: list[str] | None = Field(None, description="Settings to place the subject in (default: a built-in list).")
    moods: list[str] | None = Field(None, description="Moods to cover (default: a built-in list).")
    compositions: list[str] | None = Field(None, description="Compositions / framings (default: a built-in list).")
    lightings: list[str] | None = Field(None, description="Lighting set-ups to cover (default: a built-in list).")
    variants: int = Field(12, ge=1, le=MAX_VARIANTS, description="How many variants to make.")
    sizes: list[str] = Field(
        default_factory=lambda: ["1:1"],
        description="Image sizes ('768x512', multiples of 8) or aspect ratios "
                    f"({', '.join(ASPECT_RATIOS)}; sized to the backend's native area); variants take turns.")
    backends: list[str] = Field(
        default_factory=lambda: [NO_IMAGES],
        description="Image backends the variants take turns on (diffusers, bedrock); 'none' = prompts only.")
    model: str | None = Field(None, description="Image model id or path (default: the backend's configured model).")
    steps: int | None = Field(None, ge=1, le=150, description="Denoising steps (default: the backend's).")
    guidance: float | None = Field(None, ge=0.0, le=30.0, description="CFG scale (default: the backend's).")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="The campaign seed: the plan and the image seeds follow it.")
    seed_policy: SeedPolicy = Field(
        "per_variant",
        description="per_variant: seed + variant number; same: every image uses seed; "
                    "example: the top retrieved example's seed (per_variant when it has none).")
    enhancer: str = Field("grounded", min_length=1,
                          description="Enhancer spec: 'chain', a name (anthropic, grounded, rules, ...) or 'a,b'.")
    creativity: float = Field(0.7, ge=0.0, le=1.0, description="0 stays close to the angle, 1 adds the most.")
    model_family: ModelFamily | Literal["auto"] = Field(
        "auto", description="Target model family (prompt form and token budget); auto follows each variant's "
                            "image backend and model (prompts only: sdxl).")
    examples_per_variant: int = Field(3, ge=0, le=10, description="Retrieved prompts fused into each variant.")
    similarity_threshold: float = Field(
        0.95, gt=0.0, le=1.0,
        description="No two variants' prompts may be more similar than this (embedding cosine).")
    max_rerolls: int = Field(4, ge=0, le=20, description="Re-plans of a near-duplicate variant before it is marked.")
    requests_per_minute: float | None = Field(
        None, gt=0, description="Rate limit on enhancer calls across all workers (None: no limit).")
    index: str | None = Field(None, description="Prompt index directory or Milvus URI (default: the configured index).")

    @field_validator("index")
    @classmethod
    def _absolute_index(cls, value: str | None) -> str | None:
        """A relative index directory is the one seen from where the brief was given: made absolute
        here, so workers started elsewhere (a Ray cluster, a background run) open the same one."""
        if value is None or value.strip().lower().startswith(("milvus://", "milvus-lite://")):
            return value
        return str(Path(value).expanduser().resolve())

    @field_validator("subject")
    @classmethod
    def _subject_text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("subject must name the product or subject, got an empty string")

        if is_dynamic(value):  # a template ("a {red|teal} bottle"): drawn per variant; checked now
            expand_prompt(value, seed=0)
        return value.strip()

    @field_validator("styles")
    @classmethod
    def _styles(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError(f"styles must list at least one of {', '.join(CAMPAIGN_STYLES)}")
        return list(dict.fromkeys(value))

    @field_validator("scenes", "moods", "compositions", "lightings")
    @classmethod
    def _angle_words(cls, value: list[str] | None, info) -> list[str] | None:
        if value is not None:
            cleaned = [v.strip() for v in value if v.strip()]
            if not cleaned:
                raise ValueError(f"{info.field_name} must list at least one entry (or be left out for the defaults)")
            return list(dict.fromkeys(cleaned))
        return value

    @field_validator("sizes")
    @classmethod
    def _sizes(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("sizes must list at least one size or aspect ratio")
        for size in value:
            parse_size(size)
        return value

    @field_validator("backends")
    @classmethod
    def _backends(cls, value: list[str]) -> list[str]:
        allowed = [NO_IMAGES, *image_backend_names()]
        if not value:
            raise ValueError(f"backends must list at least one of {', '.join(allowed)}")
        bad = [b for b in value if b not in allowed]
        if bad:
            raise ValueError(f"unknown image backend {', '.join(map(repr, bad))}; allowed: {', '.join(allowed)}")
        if NO_IMAGES in value and len(value) > 1:
            raise ValueError(f"'{NO_IMAGES}' (prompts only) cannot be mixed with image backends, got {value}")
        return list(dict.fromkeys(value))

    @field_validator("enhancer")
    @classmethod
    def _enhancer(cls, value: str) -> str:

        try:
            return ",".join(parse_enhancer_spec(value))
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _model_needs_one_backend(self) -> Brief:
        if self.model is not None and len(self.backends) > 1:
            raise ValueError(f"model {self.model!r} names one model but backends lists {self.backends}; "
                             "give one backend with a model, or leave model out (each backend's configured one)")
        return self

    @property
    def makes_images(self) -> bool:
        return self.backends != [NO_IMAGES]

    def to_yaml(self) -> str:
        """The brief as YAML (default values included, so the file says everything that was used)."""
        import yaml

        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def parse_size(size: str) -> tuple[int, int] | tuple[str, str]:
    """'768x512' → (768, 512); '16:9' → ('16', '9'); anything else raises ValueError naming the choices."""
    text = str(size).strip()
    found = _SIZE.match(text)
    if found:
        width, height = int(found.group(1)), int(found.group(2))
        if width % 8 or height % 8 or not (64 <= width <= 2048 and 64 <= height <= 2048):
            raise ValueError(f"size {text!r} must be WIDTHxHEIGHT with multiples of 8 between 64 and 2048")
        return width, height
    if text in ASPECT_RATIOS:
        w, h = text.split(":")
        return w, h
    raise ValueError(f"size {text!r} is neither WIDTHxHEIGHT (e.g. 768x512) nor an aspect ratio "
                     f"({', '.join(ASPECT_RATIOS)})")


def brief_from_dict(data: Any, *, source: str = "the brief") -> Brief:
    """Validate a mapping (parsed YAML, the app's form) into a Brief; InputError lists every bad field."""
    if not isinstance(data, dict):
        raise InputError(f"{source} must be a YAML mapping of fields (subject:, variants:, ...), "
                         f"got {type(data).__name__}")
    try:
        return Brief(**data)
    except ValidationError as exc:
        raise InputError(describe_errors(exc, source)) from None


def describe_errors(exc: ValidationError, source: str = "the brief") -> str:
    """One line per bad field: its name, the value given, what is allowed."""
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "brief"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = f"unknown field; allowed fields: {', '.join(_allowed_fields(err['loc']))}"
        elif err["type"] == "missing":
            message = f"required field is missing ({_description(err['loc'])})"
        got = f" (got {err['input']!r:.80})" if err["type"] not in ("missing",) else ""
        lines.append(f"  {where}: {message}{got}")
    return f"{source} has {len(lines)} problem{'s' * (len(lines) != 1)}:\n" + "\n".join(lines)


def _allowed_fields(loc: tuple) -> list[str]:
    model: type[BaseModel] = BrandRules if loc and loc[0] == "brand" and len(loc) > 1 else Brief
    return list(model.model_fields)


def _description(loc: tuple) -> str:
    model: type[BaseModel] = BrandRules if loc and loc[0] == "brand" and len(loc) > 1 else Brief
    field = model.model_fields.get(str(loc[-1]))
    return field.description if field is not None and field.description else "see the example brief"


def load_brief(path: Path) -> Brief:
    """Read and validate a YAML brief; InputError names the file and every bad field."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"brief file {path} does not exist; see examples/brief.yaml for one") from None
    except OSError as exc:
        raise InputError(f"cannot read brief file {path}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where is not None else ""
        raise InputError(f"brief file {path} is not valid YAML{at}: {getattr(exc, 'problem', exc)}") from None
    return brief_from_dict(data, source=f"brief {path}")
