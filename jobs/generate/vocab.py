"""Fixed word lists and code tables the synthetic bank draws from (ASCII, Czech flavour)."""

import numpy as np

FIRST_NAMES_F = np.array(
    """Jana Eva Hana Anna Lenka Katerina Lucie Petra Veronika Martina Tereza Jitka
Michaela Zuzana Ivana Monika Barbora Klara Adela Simona Marketa Andrea Pavla Alena Dana Marie
Kristyna Natalie Eliska Nikola""".split()
)
FIRST_NAMES_M = np.array(
    """Jan Petr Josef Pavel Martin Tomas Jaroslav Miroslav Zdenek Vaclav Michal
Frantisek Jiri Karel Milan Lukas David Jakub Ondrej Vojtech Marek Filip Adam Radek Roman Daniel
Stepan Matej Libor Ales""".split()
)
LAST_NAMES = np.array(
    """Novak Svoboda Novotny Dvorak Cerny Prochazka Kucera Vesely Horak Nemec
Pokorny Marek Pospisil Hajek Jelinek Kral Ruzicka Benes Fiala Sedlacek Dolezal Zeman Kolar
Navratil Cermak Vanek Urban Blazek Kriz Kovar Bartos Vlcek Polak Musil Kopecky Simek Konecny
Maly Holub Stepanek""".split()
)
STREETS = np.array(
    """Vinohradska Narodni Vodickova Zitna Korunni Karlova Dlouha Jecna Slezska
Taboritska Seifertova Belehradska Francouzska Letenska Milady_Horakove Dejvicka Evropska
Plzenska Nadrazni Holesovicka Sokolovska Kurta_Konrada Vrsovicka Moskevska Budejovicka
Chodovska Roztylska Kodanska Krizikova Rohacova""".replace("_", " ").split()
)
EMAIL_DOMAINS = np.array(
    ["seznam.cz", "email.cz", "gmail.com", "centrum.cz", "post.cz", "volny.cz"]
)
OCCUPATIONS = np.array(
    [
        "employee",
        "self-employed",
        "civil servant",
        "teacher",
        "engineer",
        "nurse",
        "student",
        "retired",
        "manager",
        "driver",
        "sales",
        "it specialist",
    ]
)
HOME_OWNERSHIP = np.array(["own", "mortgage", "rent", "family"])
MARITAL = np.array(["single", "married", "divorced", "widowed"])
WEEKDAYS = np.array(["mon", "tue", "wed", "thu", "fri", "sat", "sun"])

# Prague's districts: (name, zip, centre lat, centre lon). The bank and its allies are in Prague.
DISTRICTS = [
    ("Praha 1", "11000", 50.0870, 14.4208),
    ("Praha 2", "12000", 50.0755, 14.4378),
    ("Praha 3", "13000", 50.0843, 14.4625),
    ("Praha 4", "14000", 50.0317, 14.4487),
    ("Praha 5", "15000", 50.0700, 14.4030),
    ("Praha 6", "16000", 50.1000, 14.3900),
    ("Praha 7", "17000", 50.1000, 14.4370),
    ("Praha 8", "18000", 50.1110, 14.4700),
    ("Praha 9", "19000", 50.1100, 14.5100),
    ("Praha 10", "10000", 50.0680, 14.4900),
]
DISTRICT_ZIPS = np.array([d[1] for d in DISTRICTS])
DISTRICT_LAT = np.array([d[2] for d in DISTRICTS])
DISTRICT_LON = np.array([d[3] for d in DISTRICTS])

FOREIGN_CITIES = np.array(
    [
        ("Vienna", "Austria"),
        ("Berlin", "Germany"),
        ("Rome", "Italy"),
        ("Paris", "France"),
        ("Barcelona", "Spain"),
        ("London", "United Kingdom"),
        ("Amsterdam", "Netherlands"),
        ("Budapest", "Hungary"),
    ]
)

CARD_ERRORS = np.array(
    [
        "Insufficient Balance",
        "Bad PIN",
        "Technical Glitch",
        "Bad CVV",
        "Bad Expiration",
        "Bad Card Number",
        "Bad PIN,Insufficient Balance",
    ]
)
