"""The feedback grammar's lexicon: the words of each class and the entries that match a clause.

Plain data, read by `feedback.py` (which parses, applies and explains). Each `Entry` says which
class a clause belongs to (time, weather, season, viewpoint, colour, mood, intensity, ...), what
the clause must be (a regex over its core), the phrase it writes into the prompt, and what it
displaces: "at night" displaces the other times of day; "in winter" the other seasons.

Deliberately not here: parsing and applying (feedback.py), looks (looks.py).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    klass: str
    kind: str
    pattern: str  # what the clause's core must be (regex, full match)
    phrase: str
    own: tuple[str, ...] = ()  # words of its group it does not displace
    group: tuple[str, ...] = ()  # the words of its class it may displace
    replaces: tuple[str, ...] = ()  # displaced besides group - own
    negative: tuple[str, ...] = ()
    more: tuple[str, ...] = ()
    prose: str = ""
    keep_old: int | None = None
    allow: tuple[str, ...] = ()


def _w(text: str) -> tuple[str, ...]:
    return tuple(w.strip() for w in text.split("|") if w.strip())


# fmt: off
_DARK = _w("night|nighttime|night time|midnight|moonlight|moonlit|starry night|night sky|by night")
_DUSK = _w("dusk|twilight|evening|nightfall|blue hour")
_LOW_SUN = _w("sunset|sunrise|golden hour|dawn|daybreak|first light")
_DAY = _w("daylight|daytime|midday|noon|afternoon|bright daylight|broad daylight|sunlight|sunlit|sunny day|"
          "morning|morning light|morning sunlight|morning sun|early morning|harsh sunlight|bright sun|sunshine")
TIME_WORDS = (*_DARK, *_DUSK, *_LOW_SUN, *_DAY)
_WET = _w("storm|stormy|thunderstorm|storm clouds|dark clouds|rain|rainy|raining|heavy rain|downpour|drizzle|"
          "lightning|overcast|cloudy|rainstorm|in the rain|in a storm")
_CLEAR = _w("clear sky|clear skies|clear blue sky|blue sky|cloudless|sunny|sunny weather|sunshine")
_SNOW = _w("snow|snowy|snowing|falling snow|snowfall|blizzard")
_FOG = _w("fog|foggy|mist|misty|haze|hazy")
_SEASONS = {
    "winter": _w("winter|wintry|wintertime|in winter"),
    "spring": _w("spring|springtime|cherry blossoms|blossoms|blooming|in spring"),
    "summer": _w("summer|summertime|summery|in summer|lush green"),
    "autumn": _w("autumn|autumnal|fall foliage|autumn leaves|fall leaves|fall colors|in autumn"),
}
SEASON_WORDS = tuple(w for words in _SEASONS.values() for w in words)
_ABOVE = _w("from above|seen from above|top-down|top down|overhead|overhead view|bird's eye view|birds eye view|"
            "bird's-eye view|aerial view|aerial shot|aerial|drone shot")
_BELOW = _w("low angle|low-angle|low angle shot|from below|worm's eye view|looking up")
_NEAR = _w("close-up|closeup|close up|extreme close-up|macro shot")
_FAR = _w("wide shot|wide angle|wide-angle|wide-angle shot|establishing shot|panoramic|panorama|wide view")
_SIDES = _w("side view|from the side|seen from behind|from behind|rear view|front view|eye level|dutch angle|"
            "isometric view|full body shot")
VIEW_WORDS = (*_ABOVE, *_BELOW, *_NEAR, *_FAR, *_SIDES)
LENSES = tuple(f"{n}mm" for n in (8, 10, 14, 16, 18, 20, 24, 28, 35, 40, 50, 55, 70, 85, 100, 105, 135, 200, 300, 400))
_COLOURS = _w("vibrant colors|vibrant colours|vibrant|colorful|colourful|saturated colors|rich colors|"
              "warm color palette|cool color palette|warm tones|cool tones|blue tones|golden tones|warm light|"
              "pastel colors|pastel palette|muted colors|neon colors|sepia|sepia tones|black and white|monochrome|"
              "grayscale|greyscale|full color|technicolor")
_PALETTES = _w("warm color palette|cool color palette|warm tones|cool tones|blue tones|golden tones|sepia tones|"
               "pastel colors|muted colors|vibrant colors|neon colors")
MOOD_TAGS = ("moody atmosphere", "dramatic shadows", "low-key lighting")
BRIGHT_TAGS = ("bright lighting", "vibrant colors", "cheerful atmosphere")
_DARK_MOOD = (*MOOD_TAGS, *_w("gloomy|dark atmosphere|ominous|eerie atmosphere|sinister|melancholic mood|somber"))
_LIGHT_MOOD = (*BRIGHT_TAGS, *_w("cheerful|happy atmosphere|joyful|playful mood|whimsical mood|serene atmosphere"))
TEXT_WORDS = ("text", "watermark", "letters", "signature")
_TIME_PROSE = {"at night", "at dusk", "at dawn", "at sunrise", "at sunset", "at golden hour", "at blue hour"}

ENTRIES: tuple[Entry, ...] = (
    # time of day: each displaces every other time word (night also the sun's)
    Entry("time", "replace", r"night|nighttime|night ?time|midnight|the night|dark night", "at night",
           own=_DARK, group=TIME_WORDS, negative=("daylight",)),
    Entry("time", "replace", r"(?:under |in |by )?(?:a |the )?full moon(?:light)?", "under a full moon",
           own=(*_DARK, "full moon"), group=TIME_WORDS, negative=("daylight",)),
    Entry("time", "replace", r"moonlit|moonlight|(?:in |by |under )(?:the )?moonlight|under the moon", "moonlit",
           prose="by moonlight", own=_DARK, group=TIME_WORDS, negative=("daylight",)),
    Entry("time", "replace", r"under (?:the |a )?(?:starry sky|stars)|starry(?: night| sky)?", "under a starry sky",
           own=(*_DARK, "starry sky", "stars"), group=TIME_WORDS, negative=("daylight",)),
    Entry("time", "replace", r"dusk|twilight|evening|the evening|nightfall", "at dusk",
           own=_w("dusk|twilight|evening|nightfall"), group=TIME_WORDS),
    Entry("time", "replace", r"blue hour|the blue hour", "at blue hour", own=_w("blue hour|twilight"),
           group=TIME_WORDS),
    Entry("time", "replace", r"dawn|daybreak|first light|the dawn", "at dawn",
           own=_w("dawn|daybreak|first light|sunrise|early morning"), group=TIME_WORDS),
    Entry("time", "replace", r"sunrise|the sunrise", "at sunrise", own=_w("sunrise|dawn|golden hour|early morning"),
           group=TIME_WORDS),
    Entry("time", "replace", r"sunset|the sunset|sundown", "at sunset", own=_w("sunset|golden hour|dusk|evening"),
           group=TIME_WORDS),
    Entry("time", "replace", r"golden hour|the golden hour", "at golden hour",
           own=_w("golden hour|sunset|sunrise|sunlight"), group=TIME_WORDS),
    Entry("time", "replace", r"midday|noon|high noon|daytime|day ?time|the day|daylight|broad daylight|bright daylight",
           "in bright daylight", own=_DAY, group=TIME_WORDS),
    Entry("time", "replace", r"afternoon|the afternoon", "in the afternoon",
           own=_w("afternoon|daylight|daytime|sunlight|sunlit"), group=TIME_WORDS),
    Entry("time", "replace", r"(?:early )?morning(?: (?:sun|sunlight|light))?|the morning", "morning sunlight",
           own=_w("morning|morning light|morning sunlight|morning sun|early morning|sunlight|sunlit|daylight|"
                  "daytime|dawn"), group=TIME_WORDS),
    # weather: a weather displaces the contrary one (a storm its clear sky, a clear sky its storm)
    Entry("weather", "replace", r"(?:a )?(?:thunder)?storm|stormy(?: weather| sky)?|thunder|rainstorm", "in a storm",
           replaces=_CLEAR),
    Entry("weather", "replace", r"rain|rainy(?: weather| day)?|raining|rainfall|drizzle|downpour|wet", "in the rain",
           replaces=(*_CLEAR, *_SNOW)),
    Entry("weather", "replace", r"lightning(?: bolts?| strikes?)?", "lightning", replaces=_CLEAR),
    Entry("weather", "replace", r"snow|snowy|snowing|snowfall|falling snow|blizzard", "falling snow",
           replaces=_w("rain|rainy|raining|heavy rain|downpour|drizzle|in the rain|sunny")),
    Entry("weather", "replace", r"fog|foggy|thick fog", "thick fog", replaces=_w("clear sky|clear skies|cloudless")),
    Entry("weather", "replace", r"mist|misty|haze|hazy", "mist", replaces=_w("clear sky|clear skies|cloudless")),
    Entry("weather", "replace", r"clear(?: blue)? sk(?:y|ies)|cloudless(?: sky)?|blue sky|good weather|fair weather",
           "clear sky", prose="a clear sky", replaces=(*_WET, *_FOG)),
    Entry("weather", "replace", r"sunny(?: weather| day)?|sunshine", "sunny weather", replaces=(*_WET, *_FOG)),
    Entry("weather", "replace", r"overcast(?: sky)?|cloudy(?: sky)?|grey sky|gray sky", "overcast sky", prose="an overcast sky",
           replaces=_CLEAR),
    Entry("weather", "add", r"wind|windy|strong wind", "strong wind", prose="a strong wind"),
    # seasons: each displaces the others' words
    *(Entry("season", "replace", rf"{name}|{name}time|{name} season|{'wintry|' if name == 'winter' else ''}"
             rf"{'autumnal|' if name == 'autumn' else ''}{name}y", f"in {name}", own=words, group=SEASON_WORDS)
      for name, words in _SEASONS.items()),
    Entry("season", "replace", r"fall|fall season", "in autumn", own=_SEASONS["autumn"], group=SEASON_WORDS),
    # viewpoint and camera
    Entry("viewpoint", "replace", r"(?:seen |viewed |shot )?from above|top[- ]down(?: view)?|overhead(?: view| shot)?|"
           r"birds?'? ?eye(?: view)?|bird's[- ]eye(?: view)?|looking down", "seen from above",
           own=_ABOVE, group=VIEW_WORDS),
    Entry("viewpoint", "replace", r"aerial(?: view| shot| photo)?|drone(?: shot| view| photo)", "aerial view", prose="in an aerial view",
           own=_ABOVE, group=VIEW_WORDS),
    Entry("viewpoint", "replace", r"low[- ]angle(?: shot| view)?|(?:seen |viewed |shot )?from below|"
           r"worm'?s[- ]eye(?: view)?|looking up", "low angle", prose="from a low angle", own=_BELOW, group=VIEW_WORDS),
    Entry("viewpoint", "replace", r"(?:an? |extreme )?close[- ]?up(?: shot| view)?|closer(?: up| in)?|(?:get|move|come) closer|tighter(?: crop| shot)?|"
           r"zoom(?:ed)? in|macro(?: shot)?",
           "close-up", prose="in close-up", own=_NEAR, group=VIEW_WORDS),
    Entry("viewpoint", "replace", r"(?:a )?wide(?:[- ]angle)?(?: shot| view| lens)?|wider|zoom(?:ed)? out|further (?:away|back)|farther (?:away|back)|"
           r"pull back|step back|"
           r"panoram(?:a|ic)(?: view)?|establishing shot", "wide shot", prose="in a wide shot", own=_FAR, group=VIEW_WORDS),
    Entry("viewpoint", "replace", r"side view|(?:seen )?from the side|profile view", "side view", prose="seen from the side",
           own=_w("side view|from the side"), group=VIEW_WORDS),
    Entry("viewpoint", "replace", r"(?:seen )?from behind|back view|rear view", "seen from behind",
           own=_w("seen from behind|from behind|rear view"), group=VIEW_WORDS),
    Entry("viewpoint", "replace", r"front view|(?:seen )?from the front", "front view", prose="seen from the front", own=_w("front view"),
           group=VIEW_WORDS),
    Entry("viewpoint", "replace", r"eye[- ]level(?: shot| view)?", "eye level", prose="at eye level", own=_w("eye level"), group=VIEW_WORDS),
    Entry("viewpoint", "add", r"isometric(?: view)?", "isometric view", prose="in isometric view"),
    Entry("viewpoint", "add", r"dutch angle", "dutch angle", prose="at a dutch angle"),
    Entry("viewpoint", "add", r"full[- ]body(?: shot)?", "full body shot", prose="in a full body shot"),
    Entry("viewpoint", "replace", r"motion blur(?:red)?|blurred motion|motion", "motion blur",
           replaces=_w("frozen motion|freeze frame"), allow=("blurry", "blur", "motion blur")),
    Entry("viewpoint", "add", r"long exposure", "long exposure", allow=("blurry",)),
    Entry("viewpoint", "add", r"tilt[- ]shift", "tilt-shift"),
    Entry("viewpoint", "replace", r"fish[- ]?eye(?: lens)?", "fisheye lens", replaces=LENSES),
    Entry("viewpoint", "replace", r"shallow depth of field|bokeh|blurred background|blurry background",
           "shallow depth of field", replaces=_w("deep focus"), allow=("blurry", "blurred background")),
    Entry("viewpoint", "replace", r"deep focus|everything in focus", "deep focus",
           replaces=_w("shallow depth of field|bokeh")),
    # colour
    Entry("colour", "replace", r"black (?:and|&) white|b ?& ?w|b/w|monochrome|monochromatic|gr[ae]yscale|no colou?rs?",
           "black and white", prose="in black and white", own=_w("black and white|monochrome|grayscale|greyscale"),
           group=_COLOURS, allow=_w("black and white|monochrome|grayscale|greyscale|gradient")),
    Entry("colour", "replace", r"sepia(?: tones?| toned)?", "sepia tones", prose="in sepia tones",
           own=_w("sepia|sepia tones"), group=_COLOURS),
    Entry("colour", "replace", r"warm(?:er)?(?: colou?rs?| tones?| palette| lighting)?|more warmth", "warm color palette",
           prose="in warm tones", more=("warm light",), own=_w("warm color palette|warm tones|warm light|golden tones"),
           group=_COLOURS),
    Entry("colour", "replace", r"cool(?:er)?(?: colou?rs?| tones?| palette)?|colder|cold colou?rs|cold tones",
           "cool color palette", prose="in cool tones", more=("blue tones",),
           own=_w("cool color palette|cool tones|blue tones"), group=_COLOURS),
    Entry("colour", "replace", r"pastel(?: colou?rs?| tones| palette)?|softer colou?rs", "pastel colors",
           prose="in pastel colors", own=_w("pastel colors|pastel palette"), group=_COLOURS),
    Entry("colour", "replace", r"muted(?: colou?rs| tones)?|desaturated(?: colou?rs)?|less saturat(?:ed|ion)(?: colou?rs)?|"
           r"less colou?rful|fewer colou?rs|washed out|toned down colou?rs",
           "muted colors", prose="in muted colors", own=_w("muted colors"), group=_COLOURS),
    Entry("colour", "replace", r"(?:more )?(?:colou?rful|vibrant|saturated)(?: colou?rs)?|more colou?rs?|"
           r"more saturation|full colou?r|in colou?r", "vibrant colors", prose="in vibrant colors",
           own=_w("vibrant colors|vibrant colours|vibrant|colorful|colourful|saturated colors|rich colors|full color"),
           group=_COLOURS, replaces=_w("muted colors|desaturated")),
    Entry("colour", "add", r"neon(?: colou?rs| palette| tones)?", "neon colors"),
    Entry("colour", "add", r"neon(?: lights?| lighting| signs?)", "neon lights"),
    # mood (the old fixed rules "moodier" and "brighter" among them)
    Entry("mood", "replace", r"(?:more )?mood(?:y|ier)|darker|dark|gloom(?:y|ier)|more atmospheric|atmospheric|mood|"
           r"somber|sombre|less bright", "moody atmosphere", prose="a moody atmosphere", more=MOOD_TAGS[1:], replaces=_LIGHT_MOOD,
           negative=("bright colors", "flat lighting")),
    Entry("mood", "replace", r"brighter|lighter|(?:more )?cheerful|happier|happy|sunnier|joyful|more joyful|"
           r"less dark|less gloomy|less moody|brighter colou?rs|bright", "bright lighting", more=BRIGHT_TAGS[1:],
           replaces=_DARK_MOOD, negative=("dark", "gloomy", "underexposed")),
    Entry("mood", "replace", r"(?:more )?(?:eerie|creepy|creepier|spooky|spookier|haunting|sinister|ominous|scary|"
           r"scarier|horror)", "eerie atmosphere", prose="an eerie atmosphere", replaces=_LIGHT_MOOD),
    Entry("mood", "replace", r"(?:more )?(?:serene|calm|calmer|peaceful|tranquil|quiet|quieter|relaxing|relaxed)",
           "serene atmosphere", prose="a serene atmosphere", replaces=_w("ominous|eerie atmosphere|chaotic|dramatic shadows|sinister")),
    Entry("mood", "replace", r"(?:more )?(?:dramatic|epic|intense)", "dramatic lighting",
           replaces=_w("flat lighting|serene atmosphere")),
    Entry("mood", "add", r"(?:more )?(?:dreamy|dreamier|ethereal|magical|surreal)", "dreamy atmosphere", prose="a dreamy atmosphere"),
    Entry("mood", "add", r"(?:more )?(?:cozy|cosy|cozier|cosier|homely)", "cozy atmosphere", prose="a cozy atmosphere"),
    Entry("mood", "replace", r"(?:more )?(?:melancholic|melancholy|sad|sadder|lonely|lonelier)", "melancholic mood", prose="a melancholic mood",
           replaces=BRIGHT_TAGS),
    Entry("mood", "add", r"(?:more )?(?:mysterious|mystical)", "mysterious atmosphere", prose="a mysterious atmosphere"),
    Entry("mood", "add", r"(?:more )?romantic", "romantic mood", prose="a romantic mood"),
    Entry("mood", "add", r"(?:more )?(?:whimsical|playful|fun|funnier)", "whimsical mood", prose="a whimsical mood"),
    Entry("mood", "add", r"(?:more )?(?:nostalgic|vintage|retro)", "nostalgic mood", prose="a nostalgic mood"),
    # intensity (the old "more detailed" and "simpler")
    Entry("intensity", "intensity", r"(?:more |higher |extra )?detail(?:ed|s)?|sharper|crisper|more intricate|"
           r"intricate|more detail(?:ed|s)?|higher detail|more texture", "highly detailed",
           more=("intricate details", "sharp focus"), negative=("blurry", "lowres")),
    Entry("intensity", "intensity", r"simpler|simple|less busy|minimal|minimalist|minimalistic|cleaner|"
           r"less cluttered|less detail(?:ed|s)?|fewer details|declutter(?:ed)?|less going on", "minimalist",
           more=("simple composition", "clean background"), negative=("cluttered", "busy background"), keep_old=2),
    Entry("intensity", "replace", r"softer(?: light(?:ing)?)?|soft light(?:ing)?|gentler(?: light(?:ing)?)?",
           "soft lighting", replaces=_w("harsh lighting|hard light|harsh sunlight|dramatic shadows")),
    Entry("intensity", "replace", r"more contrast|higher contrast|high contrast|contrasty|punchier", "high contrast",
           replaces=_w("low contrast|flat lighting")),
    Entry("intensity", "replace", r"less contrast|lower contrast|low contrast|flatter", "low contrast",
           replaces=_w("high contrast")),
    Entry("intensity", "add", r"more realistic|realistic|photorealistic|more lifelike|lifelike|more real",
           "photorealistic"),
)
# fmt: on
