"""Shared word banks: names, places, companies, dates, numbers."""

from __future__ import annotations

import datetime as _dt

from .rand import R

FIRST_NAMES = [
    "Alice", "Bob", "Carlos", "Diana", "Emeka", "Fatima", "Grace", "Hiro", "Ines", "Jamal",
    "Kofi", "Lena", "Mateo", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tara",
    "Umar", "Valeria", "Wei", "Ximena", "Yusuf", "Zoe", "Aarav", "Bianca", "Chen", "Dmitri",
    "Elif", "Farah", "Gustavo", "Hana", "Ivan", "Julia", "Kenji", "Leila", "Marco", "Nina",
    "Olga", "Pedro", "Rahul", "Sara", "Tomás", "Uma", "Victor", "Wanjiru", "Yara", "Zain",
    "Ama", "Ben", "Chloe", "David", "Emma", "Felix", "Hannah", "Isaac", "Jonas", "Kate",
    "Liam", "Maya", "Noah", "Olivia", "Paul", "Ruth", "Sam", "Theo", "Vera", "Will",
]
LAST_NAMES = [
    "Smith", "Garcia", "Müller", "Nguyen", "Okafor", "Kowalski", "Tanaka", "Rossi", "Silva",
    "Johnson", "Khan", "Ivanova", "Dubois", "Andersson", "Mensah", "Patel", "Lopez", "Kim",
    "Schmidt", "Brown", "Hernández", "Cohen", "Yilmaz", "Novak", "Haddad", "Wilson", "Sato",
    "Fischer", "Moreau", "Costa", "Baker", "Chen", "Singh", "Taylor", "Walker", "Romero",
]
CITIES = [
    ("Lisbon", "Portugal"), ("Lyon", "France"), ("Munich", "Germany"), ("Osaka", "Japan"),
    ("Toronto", "Canada"), ("Austin", "USA"), ("Nairobi", "Kenya"), ("Lagos", "Nigeria"),
    ("Bogotá", "Colombia"), ("Melbourne", "Australia"), ("Seoul", "South Korea"),
    ("Kraków", "Poland"), ("Porto", "Portugal"), ("Denver", "USA"), ("Chicago", "USA"),
    ("Madrid", "Spain"), ("Valencia", "Spain"), ("Hamburg", "Germany"), ("Vienna", "Austria"),
    ("Prague", "Czechia"), ("Istanbul", "Turkey"), ("Cairo", "Egypt"), ("Mumbai", "India"),
    ("Bengaluru", "India"), ("Singapore", "Singapore"), ("Hanoi", "Vietnam"),
    ("Mexico City", "Mexico"), ("Lima", "Peru"), ("Santiago", "Chile"), ("Oslo", "Norway"),
    ("Copenhagen", "Denmark"), ("Edinburgh", "UK"), ("Manchester", "UK"), ("Dublin", "Ireland"),
    ("Boston", "USA"), ("Seattle", "USA"), ("Vancouver", "Canada"), ("Cape Town", "South Africa"),
    ("Accra", "Ghana"), ("Marrakesh", "Morocco"), ("Athens", "Greece"), ("Rome", "Italy"),
    ("Milan", "Italy"), ("Zurich", "Switzerland"), ("Amsterdam", "Netherlands"),
    ("Brussels", "Belgium"), ("Taipei", "Taiwan"), ("Kyoto", "Japan"), ("Buenos Aires", "Argentina"),
    ("São Paulo", "Brazil"), ("Phoenix", "USA"), ("Atlanta", "USA"), ("Montreal", "Canada"),
]
AIRPORTS = ["LIS", "LYS", "MUC", "KIX", "YYZ", "AUS", "NBO", "LOS", "BOG", "MEL", "ICN", "KRK",
            "OPO", "DEN", "ORD", "MAD", "VLC", "HAM", "VIE", "PRG", "IST", "CAI", "BOM", "BLR",
            "SIN", "HAN", "MEX", "LIM", "SCL", "OSL", "CPH", "EDI", "MAN", "DUB", "BOS", "SEA"]
COMPANIES = [
    "Acme Logistics", "Brightleaf Foods", "Northwind Traders", "Bluefin Analytics", "Cobalt Health",
    "Driftwood Studios", "Evergreen Realty", "Foxglove Labs", "Granite Insurance", "Harbor Bank",
    "Ironclad Security", "Juniper Learning", "Kestrel Aviation", "Lumen Solar", "Maple & Co",
    "Nimbus Cloud", "Orchid Retail", "Pinecone Games", "Quartz Legal", "Redwood Outdoors",
    "Sable Fashion", "Tidewater Shipping", "Umbra Media", "Vantage Motors", "Willow Pet Care",
    "Zephyr Travel", "Atlas Fitness", "Beacon Dental", "Cedar Coffee", "Delta Print",
]
PRODUCTS = [
    "wireless earbuds", "standing desk", "espresso machine", "yoga mat", "running shoes",
    "mechanical keyboard", "air purifier", "backpack", "electric kettle", "smart watch",
    "office chair", "water bottle", "desk lamp", "phone case", "blender", "rain jacket",
]
ITEMS = [
    ("apple", "apples"), ("notebook", "notebooks"), ("ticket", "tickets"), ("cupcake", "cupcakes"),
    ("marble", "marbles"), ("book", "books"), ("pencil", "pencils"), ("shirt", "shirts"),
    ("plant", "plants"), ("chair", "chairs"), ("sticker", "stickers"), ("cookie", "cookies"),
    ("bottle", "bottles"), ("lamp", "lamps"), ("toy car", "toy cars"), ("orange", "oranges"),
]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
LANG_NAMES = ["French", "Spanish", "German", "Italian", "Portuguese", "Japanese", "Korean",
              "Dutch", "Polish", "Turkish", "Arabic", "Hindi", "Chinese", "Swedish"]
PROG_LANGS = ["Python", "TypeScript", "Go", "Rust", "Java", "C#", "Ruby", "C++", "Kotlin", "PHP"]


def a_(word: str) -> str:
    """'a word' or 'an word' by the first letter."""
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def first(r: R) -> str:
    return r.pick(FIRST_NAMES)


def full_name(r: R) -> str:
    return f"{r.pick(FIRST_NAMES)} {r.pick(LAST_NAMES)}"


def two_names(r: R) -> tuple[str, str]:
    a, b = r.sample(FIRST_NAMES, 2)
    return a, b


def city(r: R) -> str:
    return r.pick(CITIES)[0]


def two_cities(r: R) -> tuple[str, str]:
    a, b = r.sample(CITIES, 2)
    return a[0], b[0]


def email_of(r: R, name: str | None = None) -> str:
    name = name or full_name(r)
    user = name.lower().replace(" ", r.pick([".", "_", ""]))
    user = user.replace("ü", "u").replace("á", "a").replace("é", "e").replace("ó", "o").replace("í", "i")
    dom = r.pick(["example.com", "mail.example.org", "corp.example.net", "example.io"])
    return f"{user}@{dom}"


def date_str(r: R, base: _dt.date | None = None, spread: int = 60) -> str:
    base = base or _dt.date(2026, 11, 1)
    d = base + _dt.timedelta(days=r.randint(-spread // 4, spread))
    return d.isoformat()


def human_date(r: R) -> str:
    m = r.randint(1, 12)
    d = r.randint(1, 28)
    return r.pick([f"{MONTHS[m - 1]} {d}", f"{d} {MONTHS[m - 1]}", f"{m}/{d}", f"the {d}th"])


def time_str(r: R) -> str:
    h = r.randint(7, 19)
    m = r.pick([0, 0, 15, 30, 30, 45])
    if r.maybe(0.5):
        return f"{h:02d}:{m:02d}"
    suffix = "am" if h < 12 else "pm"
    hh = h if h <= 12 else h - 12
    return f"{hh}:{m:02d}{suffix}" if m else f"{hh}{suffix}"


def money(r: R, lo: float, hi: float, cur: str | None = None) -> str:
    v = r.uniform(lo, hi)
    cur = cur or r.pick(["$", "$", "€", "£"])
    if v >= 100:
        return f"{cur}{v:,.0f}"
    return f"{cur}{v:.2f}"


def sku(r: R) -> str:
    return f"{r.pick(['SKU', 'ITM', 'P', 'WH'])}-{r.randint(100, 99999):05d}"


def order_no(r: R) -> str:
    return r.pick([f"#{r.randint(10000, 999999)}", f"A-{r.randint(1000, 99999)}",
                   f"ORD-{r.randint(100000, 999999)}"])
