"""Generated names: ``adjective_surname``, as Docker's and libpod's name generator; and
a container's host name."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import random

    from pypod_core.model import ContainerConfig

ADJECTIVES = (
    "admiring", "adoring", "affectionate", "agitated", "amazing", "angry", "awesome",
    "beautiful", "blissful", "bold", "boring", "brave", "busy", "charming", "clever",
    "cool", "compassionate", "competent", "condescending", "confident", "cranky", "crazy",
    "dazzling", "determined", "distracted", "dreamy", "eager", "ecstatic", "elastic",
    "elated", "elegant", "eloquent", "epic", "exciting", "fervent", "festive", "flamboyant",
    "focused", "friendly", "frosty", "funny", "gallant", "gifted", "goofy", "gracious",
    "great", "happy", "hardcore", "heuristic", "hopeful", "hungry", "infallible",
    "inspiring", "interesting", "intelligent", "jolly", "jovial", "keen", "kind",
    "laughing", "loving", "lucid", "magical", "modest", "musing", "mystifying", "naughty",
    "nervous", "nice", "nifty", "nostalgic", "objective", "optimistic", "peaceful",
    "pedantic", "pensive", "practical", "priceless", "quirky", "quizzical", "recursing",
    "relaxed", "reverent", "romantic", "sad", "serene", "sharp", "silly", "sleepy",
    "stoic", "strange", "stupefied", "suspicious", "sweet", "tender", "thirsty",
    "trusting", "unruffled", "upbeat", "vibrant", "vigilant", "vigorous", "wizardly",
    "wonderful", "xenodochial", "youthful", "zealous", "zen",
)

SURNAMES = (
    "agnesi", "albattani", "allen", "almeida", "archimedes", "ardinghelli", "aryabhata",
    "austin", "babbage", "banach", "bardeen", "bartik", "bassi", "beaver", "bell", "benz",
    "bhabha", "bhaskara", "black", "blackburn", "blackwell", "bohr", "booth", "borg",
    "bose", "boyd", "brahmagupta", "brattain", "brown", "carson", "cerf", "chandrasekhar",
    "chaplygin", "chatelet", "chatterjee", "chebyshev", "clarke", "cohen", "colden",
    "cori", "cray", "curie", "darwin", "davinci", "dewdney", "dhawan", "diffie",
    "dijkstra", "dirac", "driscoll", "dubinsky", "easley", "edison", "einstein", "elbakyan",
    "elgamal", "elion", "ellis", "engelbart", "euclid", "euler", "faraday", "feistel",
    "fermat", "fermi", "feynman", "franklin", "gagarin", "galileo", "galois", "ganguly",
    "gates", "gauss", "germain", "goldberg", "goldstine", "goldwasser", "golick",
    "goodall", "gould", "greider", "grothendieck", "haibt", "hamilton", "haslett",
    "hawking", "heisenberg", "hellman", "hermann", "herschel", "hertz", "heyrovsky",
    "hodgkin", "hofstadter", "hoover", "hopper", "hugle", "hypatia", "jackson", "jang",
    "jennings", "jepsen", "johnson", "joliot", "jones", "kalam", "kapitsa", "kare",
    "keldysh", "keller", "kepler", "khorana", "kilby", "kirch", "knuth", "kowalevski",
    "lalande", "lamarr", "lamport", "leakey", "leavitt", "lederberg", "lehmann", "lewin",
    "lichterman", "liskov", "lovelace", "lumiere", "mahavira", "margulis", "matsumoto",
    "maxwell", "mayer", "mccarthy", "mcclintock", "mclaren", "mclean", "mcnulty",
    "meitner", "mendel", "mendeleev", "meninsky", "merkle", "mestorf", "mirzakhani",
    "montalcini", "moore", "morse", "moser", "murdock", "napier", "nash", "neumann",
    "newton", "nightingale", "nobel", "noether", "northcutt", "noyce", "panini", "pare",
    "pascal", "pasteur", "payne", "perlman", "pike", "poincare", "poitras", "proskuriakova",
    "ptolemy", "raman", "ramanujan", "ride", "ritchie", "rhodes", "robinson", "roentgen",
    "rosalind", "rubin", "saha", "sammet", "sanderson", "satoshi", "shamir", "shannon",
    "shaw", "shirley", "shockley", "shtern", "sinoussi", "snyder", "solomon", "spence",
    "stonebraker", "sutherland", "swanson", "swartz", "swirles", "taussig", "tereshkova",
    "tesla", "tharp", "thompson", "torvalds", "tu", "turing", "varahamihira", "vaughan",
    "villani", "visvesvaraya", "volhard", "wescoff", "wilbur", "wiles", "williams",
    "williamson", "wilson", "wing", "wozniak", "wright", "wu", "yalow", "yonath",
    "zhukovsky",
)

#: After this many taken names in a row, a random digit suffix is added (as Docker does).
_PLAIN_TRIES = 16


class _URandom:
    """The two calls of ``random.Random`` used here, from ``os.urandom`` (what
    ``random.SystemRandom`` reads): importing random costs every process ~1.3 ms."""

    @staticmethod
    def choice(seq: Sequence[str]) -> str:
        return seq[int.from_bytes(os.urandom(4)) % len(seq)]

    @staticmethod
    def randint(low: int, high: int) -> int:
        return low + int.from_bytes(os.urandom(8)) % (high - low + 1)


def generate_name(is_taken: Callable[[str], bool], rng: random.Random | None = None) -> str:
    """A name ``adjective_surname`` for which ``is_taken`` is false.

    ``is_taken`` must look at containers *and* pods: they share one name space.
    ``rng`` (a ``random.Random``) makes the names reproducible, for tests.
    """
    chooser: Any = rng or _URandom
    attempt = 0
    while True:
        name = f"{chooser.choice(ADJECTIVES)}_{chooser.choice(SURNAMES)}"
        if attempt >= _PLAIN_TRIES:
            name += str(chooser.randint(0, 10 ** (1 + attempt // _PLAIN_TRIES)))
        if not is_taken(name):
            return name
        attempt += 1


def hostname_of(config: ContainerConfig) -> str:
    """The container's host name: ``--hostname`` or, as podman, its id's first 12 chars."""
    return config.hostname or config.id[:12]
