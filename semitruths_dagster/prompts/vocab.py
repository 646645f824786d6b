"""Vocabularies of the rule-based perturber: object categories and the edits that suit each.

Each category lists the label words that belong to it (the classes of ADE20K, CityScapes, CelebAMask-HQ,
LIP, OpenImages and SUN RGB-D that occur most), and per magnitude of the taxonomy the edits that make
sense for it: colours and lighting and minor details (small), attributes, materials, poses and emotions
(medium), and dramatic changes or objects of a similar size and shape from another category (large).
"""

from __future__ import annotations

from dataclasses import dataclass, field

COLOURS = (
    "red",
    "blue",
    "green",
    "yellow",
    "orange",
    "purple",
    "pink",
    "white",
    "black",
    "grey",
    "brown",
    "beige",
    "turquoise",
    "golden",
    "silver",
    "navy blue",
    "dark green",
    "cream",
)
LIGHTING = ("sunlit", "shadowed", "dimly lit", "brightly lit", "backlit", "softly lit", "warmly lit")
MATERIALS = ("wooden", "metal", "glass", "plastic", "stone", "marble", "leather", "velvet", "wicker", "brick")
TEXTURES = ("striped", "checkered", "polka dot", "glossy", "matte", "weathered", "rusty", "mossy", "dusty")
EMOTIONS = ("smiling", "laughing", "frowning", "crying", "angry", "surprised", "sleepy", "worried")
# Parts of a face that show an emotion (a 'smiling mouth' reads well, a 'smiling ear' does not).
EXPRESSIVE_PARTS = {"face", "mouth", "lip", "lips", "eye", "eyes", "brow", "eyebrow"}
DRAMATIC = ("burning", "glowing neon", "frozen", "rainbow colored", "pitch black", "gold plated")
MINOR_DETAILS = ("a small sticker", "a tiny scratch", "a thin stripe", "a small logo", "a faint stain")


@dataclass(frozen=True)
class Category:
    """One kind of thing in a picture, and the edits that suit it.

    similar: replacements that keep the meaning (small); kindred: same kind, new reading (medium);
    distant: another kind of thing of a similar size and shape (large).
    """

    name: str
    words: tuple[str, ...]
    similar: tuple[str, ...]
    kindred: tuple[str, ...]
    distant: tuple[str, ...]
    details: tuple[str, ...] = MINOR_DETAILS
    attributes: tuple[str, ...] = MATERIALS + TEXTURES
    poses: tuple[str, ...] = ()
    emotional: bool = False
    dramatic: tuple[str, ...] = DRAMATIC
    colourable: bool = True
    extra: dict[str, tuple[str, ...]] = field(default_factory=dict)


CATEGORIES: tuple[Category, ...] = (
    Category(
        "person",
        (
            "person",
            "man",
            "woman",
            "boy",
            "girl",
            "child",
            "people",
            "rider",
            "pedestrian",
            "human",
            "player",
            "baby",
            "lady",
            "guy",
        ),
        similar=("pedestrian", "young man", "young woman"),
        kindred=("police officer", "chef", "firefighter", "elderly man", "astronaut"),
        distant=("mannequin", "stone statue", "scarecrow", "robot", "bear"),
        details=("a wristwatch", "a backpack", "sunglasses", "a scarf"),
        attributes=("elderly", "young", "tall", "muscular", "tired"),
        poses=("sitting", "kneeling", "jumping", "waving", "turning around"),
        emotional=True,
        dramatic=("ghostly", "glowing", "painted silver"),
    ),
    Category(
        "face_part",
        (
            "face",
            "nose",
            "mouth",
            "eye",
            "eyes",
            "ear",
            "lip",
            "lips",
            "brow",
            "eyebrow",
            "skin",
            "neck",
            "teeth",
            "cheek",
            "chin",
            "forehead",
            "beard",
        ),
        similar=(),
        kindred=(),
        distant=(),
        details=("a small freckle", "a small mole", "light makeup", "a thin scar"),
        attributes=("wrinkled", "tanned", "pale", "freckled", "pierced"),
        poses=("slightly turned",),
        dramatic=("tattooed", "painted blue", "metallic", "scaled"),
        colourable=False,
    ),
    Category(
        "hair",
        ("hair", "hairstyle"),
        similar=("short hair", "wavy hair"),
        kindred=("braided hair", "curly hair", "ponytail"),
        distant=("shaved head", "knitted hat", "helmet"),
        details=("a hair clip", "a thin headband"),
        attributes=("curly", "braided", "messy", "short"),
        dramatic=("neon green", "flaming", "silver glitter"),
    ),
    Category(
        "clothing",
        (
            "clothes",
            "shirt",
            "jacket",
            "coat",
            "dress",
            "skirt",
            "pants",
            "trousers",
            "jeans",
            "shoe",
            "shoes",
            "hat",
            "cap",
            "glove",
            "gloves",
            "sock",
            "socks",
            "scarf",
            "sweater",
            "jumpsuits",
            "upper",
            "tie",
            "suit",
            "uniform",
            "apparel",
            "footwear",
            "sunglasses",
        ),
        similar=("t-shirt", "sweater", "hoodie"),
        kindred=("raincoat", "tuxedo", "sports jersey"),
        distant=("suit of armor", "chef's apron", "space suit"),
        details=("a small button", "a pocket", "a small logo", "a thin stripe"),
        attributes=("leather", "denim", "woollen", "striped", "torn", "silk", "plaid"),
        dramatic=("sequined", "glowing neon", "camouflage", "burning"),
    ),
    Category(
        "animal",
        (
            "cat",
            "dog",
            "horse",
            "bird",
            "cow",
            "sheep",
            "elephant",
            "bear",
            "zebra",
            "giraffe",
            "animal",
            "fish",
            "duck",
            "goat",
            "pig",
            "chicken",
            "rabbit",
            "mouse",
            "squirrel",
            "deer",
            "monkey",
            "lion",
            "tiger",
            "insect",
            "butterfly",
        ),
        similar=("puppy", "kitten", "pony"),
        kindred=("fox", "wolf", "raccoon", "goose"),
        distant=("toy robot", "stuffed animal", "bronze statue", "dinosaur"),
        details=("a collar", "a small bell", "a name tag"),
        attributes=("fluffy", "spotted", "striped", "muddy", "wet", "old"),
        poses=("lying down", "standing on hind legs", "facing left", "sleeping", "running"),
        dramatic=("glowing", "skeletal", "neon blue", "stone"),
    ),
    Category(
        "vehicle",
        (
            "car",
            "truck",
            "bus",
            "bicycle",
            "bike",
            "motorcycle",
            "motorbike",
            "train",
            "boat",
            "airplane",
            "van",
            "taxi",
            "tractor",
            "scooter",
            "vehicle",
            "caravan",
            "trailer",
            "bicyclegroup",
            "cargroup",
            "tram",
            "wheel",
        ),
        similar=("van", "hatchback", "station wagon", "jeep"),
        kindred=("police car", "ambulance", "taxi", "vintage car", "delivery truck"),
        distant=("horse carriage", "rowing boat", "giant boulder", "tank", "hay bale"),
        details=("a roof rack", "a small dent", "a bumper sticker", "tinted windows"),
        attributes=("rusty", "muddy", "dented", "vintage", "convertible", "chrome", "camouflage"),
        poses=("facing left", "facing right", "parked sideways", "tilted"),
        dramatic=("burning", "overturned", "crushed", "flower covered", "gold plated"),
    ),
    Category(
        "furniture",
        (
            "chair",
            "table",
            "sofa",
            "couch",
            "bed",
            "shelf",
            "cabinet",
            "desk",
            "stool",
            "bench",
            "armchair",
            "wardrobe",
            "drawer",
            "dresser",
            "nightstand",
            "counter",
            "bookcase",
            "bookshelf",
            "seat",
            "ottoman",
        ),
        similar=("stool", "armchair", "side table"),
        kindred=("rocking chair", "antique desk", "bean bag"),
        distant=("tree stump", "pile of books", "wooden crate", "piano"),
        details=("a cushion", "a small scratch", "a folded blanket"),
        attributes=MATERIALS + ("antique", "broken", "polished", "worn"),
        poses=("tipped over", "turned sideways"),
        dramatic=("burning", "floating", "frozen", "giant"),
    ),
    Category(
        "food",
        (
            "food",
            "bagel",
            "doughnut",
            "donut",
            "apple",
            "banana",
            "orange",
            "cake",
            "pizza",
            "bread",
            "sandwich",
            "fruit",
            "vegetable",
            "cookie",
            "burger",
            "salad",
            "muffin",
            "croissant",
            "egg",
            "cheese",
        ),
        similar=("muffin", "croissant", "bun"),
        kindred=("cupcake", "pretzel", "pie slice"),
        distant=("tennis ball", "stone", "clock", "sponge"),
        details=("a few crumbs", "a sesame topping", "a powdered sugar dusting"),
        attributes=("toasted", "burnt", "half eaten", "frosted", "sliced"),
        dramatic=("moldy", "glowing", "rainbow colored", "giant"),
    ),
    Category(
        "plant",
        (
            "tree",
            "trees",
            "plant",
            "plants",
            "flower",
            "flowers",
            "grass",
            "bush",
            "shrub",
            "vegetation",
            "leaves",
            "hedge",
            "palm",
            "cactus",
            "vase",
            "flowerpot",
            "potted",
        ),
        similar=("tree", "shrub", "hedge", "fern"),
        kindred=("palm tree", "maple tree", "cherry blossom tree"),
        distant=("lamp post", "street sign", "statue", "water fountain"),
        details=("a few dry leaves", "a small bird nest", "a few blossoms"),
        attributes=("leafless", "blooming", "overgrown", "trimmed", "autumn colored", "snow covered"),
        dramatic=("burning", "dead", "glowing", "purple leaved"),
    ),
    Category(
        "building",
        (
            "building",
            "house",
            "skyscraper",
            "tower",
            "church",
            "castle",
            "hut",
            "shop",
            "store",
            "bridge",
            "facade",
            "roof",
            "door",
            "window",
            "windows",
            "wall",
            "walls",
            "ceiling",
            "column",
            "pillar",
            "stairs",
            "staircase",
            "fence",
            "gate",
            "railing",
            "pole",
            "post",
            "sign",
            "billboard",
            "streetlight",
            "traffic",
        ),
        similar=("cottage", "apartment block", "brick wall"),
        kindred=("old barn", "glass office", "temple"),
        distant=("pyramid", "giant tent", "lighthouse", "waterfall"),
        details=("a small window", "a satellite dish", "a small sign", "an ivy patch"),
        attributes=MATERIALS + ("ruined", "modern", "graffiti covered", "ivy covered", "boarded up"),
        dramatic=("burning", "collapsed", "flooded", "neon lit"),
    ),
    Category(
        "sky",
        ("sky", "clouds", "cloud", "sun", "moon"),
        similar=("cloudy sky", "hazy sky"),
        kindred=("sunset sky", "stormy sky", "starry sky"),
        distant=("aurora", "fireworks", "volcanic ash cloud"),
        details=("a small cloud", "a distant bird", "a faint contrail"),
        attributes=("overcast", "stormy", "hazy", "twilight"),
        dramatic=("blood red", "green glowing", "smoke filled", "pitch black"),
        colourable=False,
    ),
    Category(
        "ground",
        (
            "road",
            "sidewalk",
            "floor",
            "ground",
            "terrain",
            "field",
            "path",
            "street",
            "sand",
            "earth",
            "dirt",
            "pavement",
            "parking",
            "rug",
            "carpet",
            "mat",
            "tile",
            "snow",
            "mountain",
            "hill",
            "rock",
            "water",
            "sea",
            "river",
            "lake",
        ),
        similar=("pavement", "gravel path", "dirt road"),
        kindred=("cobblestone street", "wet asphalt"),
        distant=("river", "lava flow", "ice sheet", "sand dune"),
        details=("a small puddle", "a few leaves", "a painted line"),
        attributes=("wet", "cracked", "snowy", "muddy", "cobbled", "tiled"),
        dramatic=("flooded", "burning", "frozen", "glowing"),
        colourable=True,
    ),
    Category(
        "object",
        (),
        similar=("box", "container", "bag"),
        kindred=("basket", "suitcase", "toolbox"),
        distant=("potted plant", "stack of books", "globe", "birdcage"),
        attributes=MATERIALS + TEXTURES + ("broken", "old", "new"),
        poses=("upside down", "tilted", "tipped over"),
    ),
)
GENERIC = CATEGORIES[-1]
# Head nouns of the alike and kindred replacements belong to their category too ('station wagon' is a
# vehicle); a word a category lists explicitly wins over a head noun.
_BY_WORD = {p.split()[-1]: c for c in CATEGORIES for p in c.similar + c.kindred}
_BY_WORD.update({w: c for c in CATEGORIES for w in c.words})


def label_words(label: str) -> list[str]:
    """Lower-case words of a label: 'Upper-clothes' -> ['upper', 'clothes'], 'left_ear' -> ['left', 'ear']."""
    return [w for w in label.lower().replace("_", " ").replace("-", " ").split() if w]


def categorize(label: str) -> Category:
    """The category of a label, from its last known word (the head noun of English noun phrases)."""
    for word in reversed(label_words(label)):
        for form in (word, word.rstrip("s")):
            if form in _BY_WORD:
                return _BY_WORD[form]
    return GENERIC


def known_words() -> set[str]:
    """Every label word the vocabulary knows (for finding objects in captions)."""
    return set(_BY_WORD)
