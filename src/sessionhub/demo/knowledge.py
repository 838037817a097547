"""What the demo's Egypt travel assistant knows: a small, fixed knowledge base (no model, no network).

Each topic has the words that point to it, a short answer, more detail for "tell me more", practical notes on
tickets and prices where they apply, and related topics to suggest next. Prices in Egypt change often, so the
answers say how tickets work and where to check, never a figure that would quietly go stale. Topics are in order of
preference when a question matches two equally well: specific places before the hubs around them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Topic:
    key: str
    title: str
    prompt: str
    """A question a visitor would ask about this topic; offered as a suggestion, and always answered by it."""
    keywords: tuple[str, ...]
    answer: str
    details: str
    costs: str | None = None
    related: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Industry:
    key: str
    label: str
    assistant: str
    welcome: str
    suggestions: tuple[str, ...]
    """Topic keys to suggest first."""


INDUSTRIES: dict[str, Industry] = {
    industry.key: industry
    for industry in (
        Industry(
            key="tour-operator",
            label="Tour operator",
            assistant="Horus, your tour planner",
            welcome="I plan trips through Egypt: where to go, in what order and when. Ask me about a place or a "
            "month, or ask for a sample itinerary.",
            suggestions=("itinerary", "giza", "luxor", "best_time"),
        ),
        Industry(
            key="hotel",
            label="Hotels & resorts",
            assistant="Nefertari, your concierge",
            welcome="Welcome! As your concierge I can help with excursions, dress code, tipping and getting around. "
            "What would you like to do during your stay?",
            suggestions=("hurghada", "sharm", "tipping", "transport"),
        ),
        Industry(
            key="cruise",
            label="Nile cruise line",
            assistant="Hapi, your cruise host",
            welcome="Ahlan wa sahlan aboard! I know the Nile between Luxor and Aswan and the temples along it. Ask "
            "about the route, the stops or the best season to sail.",
            suggestions=("nile_cruise", "edfu_kom_ombo", "aswan", "abu_simbel"),
        ),
        Industry(
            key="diving",
            label="Dive centre",
            assistant="Sobek, your dive guide",
            welcome="Ready to get wet? I know the Red Sea's reefs and wrecks, the seasons and the sea temperatures. "
            "Ask me where and when to dive.",
            suggestions=("red_sea_diving", "dahab", "sharm", "weather"),
        ),
        Industry(
            key="travel-agency",
            label="Travel agency",
            assistant="Thoth, your travel adviser",
            welcome="I answer the practical questions: visas, money, safety, health and what to pack. Then we can "
            "pick places to see.",
            suggestions=("visa", "currency", "safety", "dress_code"),
        ),
    )
}
DEFAULT_INDUSTRY = "tour-operator"

MONTHS = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip

# Long-term average daytime highs in °C (Cairo, Luxor, Hurghada) and the Red Sea's surface temperature at Hurghada.
MONTHLY_CLIMATE: tuple[tuple[int, int, int, int, str], ...] = (
    (19, 23, 21, 22, "peak season: mild days, cold desert nights, busy sites."),
    (21, 25, 22, 21, "still peak season; 22 February is Abu Simbel's sun festival."),
    (24, 29, 24, 22, "warming up; the khamsin, a hot sandy wind, can blow for a day or two."),
    (28, 35, 28, 23, "hot in the south by midday; Easter crowds; khamsin winds possible."),
    (32, 39, 31, 25, "very hot in Luxor and Aswan: see temples at opening time."),
    (34, 41, 33, 27, "Upper Egypt is scorching; the Red Sea coast is the place to be."),
    (35, 41, 34, 28, "summer heat inland; warmest sea for diving, busy resorts."),
    (35, 41, 34, 29, "the hottest month; sites quiet, prices low, start at dawn."),
    (33, 39, 32, 28, "still hot; the sea is at its warmest."),
    (30, 35, 29, 27, "the season opens: warm days, fewer crowds; 22 October is Abu Simbel's sun festival."),
    (25, 29, 26, 25, "ideal almost everywhere: warm days, pleasant evenings."),
    (21, 24, 23, 23, "busy holiday season; bring a jacket for evenings and desert nights."),
)

_T = Topic
TOPICS: dict[str, Topic] = {
    topic.key: topic
    for topic in (
        _T(
            key="giza",
            title="The Pyramids of Giza",
            prompt="What should I know about the Pyramids of Giza?",
            keywords=("pyramid", "giza", "khufu", "cheops", "khafre", "menkaure", "sphinx", "great pyramid"),
            answer="The three pyramids of Giza (Khufu, Khafre and Menkaure, built around 2600-2500 BC) and the "
            "Great Sphinx stand on a plateau at the western edge of Cairo. Go at opening time (8:00) to beat the "
            "heat and the tour buses, and allow three hours.",
            details="Inside the Great Pyramid a steep, narrow passage climbs to the King's Chamber: not for the "
            "claustrophobic. The panorama point south-west of the pyramids gives the classic photo of all nine. "
            "Camel and horse rides are offered everywhere: agree the price and the route before you get on.",
            costs="The plateau ticket is sold at the gate (cards accepted); entering the Great Pyramid and the "
            "smaller ones costs extra. Prices are set in Egyptian pounds and change yearly: check "
            "egymonuments.gov.eg before you go.",
            related=("cairo_museums", "saqqara", "sound_and_light"),
        ),
        _T(
            key="saqqara",
            title="Saqqara and Dahshur",
            prompt="Are Saqqara and Dahshur worth visiting?",
            keywords=("saqqara", "sakkara", "dahshur", "djoser", "step pyramid", "bent pyramid", "red pyramid"),
            answer="Yes: Saqqara has the Step Pyramid of Djoser, the oldest of them all (about 2670 BC), with "
            "beautifully carved tombs around it; Dahshur has the Bent and the Red Pyramid, far quieter than Giza. "
            "Both are 30-45 minutes south of Cairo and fit in one half-day with a driver.",
            details="At Dahshur you can climb down into the Red Pyramid, usually with nobody else there. Memphis, "
            "the old capital with its colossal statue of Ramesses II, lies on the way.",
            related=("giza", "cairo_museums", "transport"),
        ),
        _T(
            key="cairo_museums",
            title="Cairo's museums",
            prompt="Which museums should I see in Cairo?",
            keywords=("museum", "gem", "grand egyptian", "tutankhamun", "tutankhamen", "mummies", "mummy", "nmec"),
            answer="Three: the Grand Egyptian Museum (GEM) next to the Giza pyramids, home of Tutankhamun's "
            "treasures; the historic Egyptian Museum on Tahrir Square; and the National Museum of Egyptian "
            "Civilization (NMEC) in Fustat, where the royal mummies rest.",
            details="Give the GEM at least half a day. The Tahrir museum is dense and old-fashioned, which is part "
            "of its charm. At the NMEC the Royal Mummies Hall is a separate, quiet gallery: no photos inside.",
            costs="Each museum sells its own tickets, with extra fees for some galleries. Buy online or at the "
            "door; students with an ISIC card pay about half.",
            related=("giza", "islamic_cairo", "itinerary"),
        ),
        _T(
            key="islamic_cairo",
            title="Islamic and Coptic Cairo",
            prompt="What is there to see in old Cairo?",
            keywords=("islamic cairo", "coptic", "khan", "khalili", "bazaar", "citadel", "al azhar", "old cairo"),
            answer="Historic Cairo is a UNESCO site: walk from the Khan el-Khalili bazaar along Al-Muizz Street, "
            "past medieval mosques and madrasas, to Al-Azhar. The Citadel of Saladin with the Muhammad Ali Mosque "
            "overlooks the city, and Coptic Cairo has the Hanging Church and the Ben Ezra Synagogue.",
            details="Al-Muizz Street is best in the late afternoon and lit up at night. Cover shoulders and knees "
            "for mosques and churches; women bring a scarf for mosques. Bargain in the Khan: start at a third.",
            related=("dress_code", "shopping", "food"),
        ),
        _T(
            key="karnak",
            title="Karnak Temple",
            prompt="What is special about Karnak Temple?",
            keywords=("karnak", "hypostyle", "amun", "amun ra"),
            answer="Karnak is the largest temple complex ever built, enlarged by pharaohs over some 2,000 years. "
            "Its Great Hypostyle Hall has 134 giant papyrus columns. Allow at least two to three hours.",
            details="Look for the obelisk of Hatshepsut, the sacred lake and the open-air museum with its chapels. "
            "The evening sound and light show walks you through the complex.",
            costs="One ticket for the main complex; the open-air museum is extra.",
            related=("luxor", "valley_of_the_kings", "sound_and_light"),
        ),
        _T(
            key="valley_of_the_kings",
            title="The Valley of the Kings",
            prompt="Which tombs should I see in the Valley of the Kings?",
            keywords=("valley of the kings", "valley of kings", "tomb", "tombs", "seti", "ramesses vi", "kv62"),
            answer="The standard ticket opens three of the tombs open that day (they rotate). Ask at the gate which "
            "are open; Ramesses IV, Merenptah and Ramesses IX are good choices. Tutankhamun's, Seti I's and "
            "Ramesses VI's tombs need extra tickets, and Seti I's is the most beautiful of all.",
            details="Arrive at 6:00 or 7:00 when it opens: it gets very hot and crowded by 10:00. Flash is never "
            "allowed, and guides explain outside, not inside the tombs. A small train takes you from the visitor "
            "centre to the valley.",
            costs="Standard ticket for three tombs, plus separate tickets for the special tombs. Check current "
            "prices on egymonuments.gov.eg; bring cash in pounds as a backup to cards.",
            related=("west_bank", "luxor", "balloon"),
        ),
        _T(
            key="west_bank",
            title="Luxor's west bank",
            prompt="What else is on Luxor's west bank?",
            keywords=(
                "west bank",
                "hatshepsut",
                "deir el bahari",
                "memnon",
                "medinet habu",
                "valley of the queens",
                "nefertari",
            ),
            answer="Besides the Valley of the Kings: Hatshepsut's terraced temple at Deir el-Bahari, the Colossi of "
            "Memnon, Medinet Habu (Ramesses III's temple, with its colours still bright) and the Valley of the "
            "Queens, where Nefertari's tomb is the finest painted tomb in Egypt.",
            details="Nefertari's tomb has its own expensive ticket and limited time inside, and it is worth it. "
            "The Tombs of the Nobles at Sheikh Abd el-Qurna show scenes of daily life and are nearly empty.",
            related=("valley_of_the_kings", "balloon", "luxor"),
        ),
        _T(
            key="balloon",
            title="Hot-air balloons over Luxor",
            prompt="Is a balloon ride in Luxor a good idea?",
            keywords=("balloon", "balloon ride", "hot air", "sunrise flight"),
            answer="Yes, the sunrise flight over the west bank is unforgettable: pick-up around 5:00, about 45 "
            "minutes in the air over temples, fields and the Nile. Choose a licensed operator with a good safety "
            "record and do not pick only on price.",
            details="Flights are cancelled when the wind is too strong, so book for your first morning in Luxor "
            "to keep a spare day.",
            related=("west_bank", "luxor"),
        ),
        _T(
            key="luxor",
            title="Luxor",
            prompt="How many days do I need in Luxor?",
            keywords=("luxor", "thebes", "luxor temple", "east bank", "avenue of sphinxes"),
            answer="Luxor, ancient Thebes, is the world's greatest open-air museum: temples on the east bank "
            "(Karnak, Luxor Temple) and tombs on the west bank (Valley of the Kings, Hatshepsut's temple). Plan "
            "two full days, three if you like to take it slowly.",
            details="Luxor Temple is lovely lit up at night; the restored Avenue of Sphinxes links it to Karnak. "
            "Cross to the west bank by public ferry or a motorboat, and see the tombs early, before the heat.",
            related=("karnak", "valley_of_the_kings", "west_bank", "balloon"),
        ),
        _T(
            key="aswan",
            title="Aswan",
            prompt="What can I do in Aswan?",
            keywords=("aswan", "philae", "felucca", "nubian", "elephantine", "high dam", "unfinished obelisk"),
            answer="Aswan is the calmest town on the Nile: sail a felucca around Elephantine Island at sunset, take a "
            "boat to the temple of Philae, visit a colourful Nubian village on the west bank, and see the "
            "Unfinished Obelisk and the High Dam.",
            details="The Nubian Museum is small and excellent. Philae also has a sound and light show. Aswan is "
            "the starting point for Abu Simbel and for Lake Nasser cruises.",
            related=("abu_simbel", "nile_cruise", "edfu_kom_ombo"),
        ),
        _T(
            key="abu_simbel",
            title="Abu Simbel",
            prompt="How do I get to Abu Simbel?",
            keywords=("abu simbel", "ramesses ii temple", "sun festival", "lake nasser"),
            answer="Abu Simbel's two temples of Ramesses II and Nefertari are about 280 km south of Aswan. Go by "
            "road (about 3.5 hours each way, leaving around 4:00) or by a short flight from Aswan. The temples "
            "were cut up and moved 65 m higher in the 1960s to escape the rising Lake Nasser.",
            details="On 22 February and 22 October the rising sun lights the statues deep in the sanctuary: "
            "spectacular, and very crowded. A night in Abu Simbel lets you see the temples without the crowds, "
            "and the evening light show.",
            related=("aswan", "nile_cruise", "best_time"),
        ),
        _T(
            key="nile_cruise",
            title="Nile cruises",
            prompt="How long is a Nile cruise between Luxor and Aswan?",
            keywords=("cruise", "nile", "dahabiya", "dahabeya", "boat", "sail"),
            answer="A classic cruise between Luxor and Aswan takes 3 nights downstream (Aswan to Luxor) or 4 nights "
            "upstream, stopping at Edfu and Kom Ombo. A dahabiya, a small sailing boat with 6-12 cabins, takes 4-6 "
            "nights, moors at quiet islands and is far more intimate.",
            details="Lake Nasser cruises (3-4 nights between Aswan and Abu Simbel) visit temples reachable only by "
            "water. Book an outside cabin facing the river, and check whether guided visits are included.",
            costs="Prices depend on the boat and the season: from budget ships to luxury dahabiyas, often full "
            "board with excursions. Peak season (December-January) costs most.",
            related=("edfu_kom_ombo", "aswan", "luxor", "best_time"),
        ),
        _T(
            key="edfu_kom_ombo",
            title="Edfu and Kom Ombo",
            prompt="What is there to see at Edfu and Kom Ombo?",
            keywords=("edfu", "kom ombo", "esna", "horus temple", "crocodile", "cruise stops"),
            answer="Between Luxor and Aswan cruises stop at Esna (the lock and a temple with restored colours), "
            "Edfu (the temple of Horus, the best preserved in Egypt) and Kom Ombo (a double temple for Sobek and "
            "Horus, with a museum of mummified crocodiles).",
            details="Kom Ombo is right on the river and best at sunset. At Edfu, horse carriages take you from the "
            "quay to the temple: agree the price first.",
            related=("nile_cruise", "aswan", "luxor"),
        ),
        _T(
            key="red_sea_diving",
            title="Diving in the Red Sea",
            prompt="Where is the best diving in the Red Sea?",
            keywords=(
                "diving",
                "dive",
                "red sea",
                "snorkel",
                "snorkeling",
                "reef",
                "coral",
                "wreck",
                "thistlegorm",
                "padi",
                "brothers",
                "ras mohammed",
            ),
            answer="The Red Sea is one of the world's great dive areas: Ras Mohammed national park and the Straits of "
            "Tiran near Sharm el-Sheikh, the SS Thistlegorm wreck in the Gulf of Suez, the Giftun islands off "
            "Hurghada, and for experienced divers the Brothers, Daedalus and Elphinstone, with sharks.",
            details="Visibility is often 20-30 m and the water is warm all year (about 21 °C in February, 29 °C in "
            "August). Liveaboards reach the offshore reefs; beginners can take an open-water course in 3-4 days. "
            "Do not fly within 18-24 hours of your last dive.",
            costs="Day trips with two dives and courses are priced in euros at most centres; liveaboards are "
            "priced per week. Marine park fees are extra.",
            related=("sharm", "hurghada", "dahab", "weather"),
        ),
        _T(
            key="sharm",
            title="Sharm el-Sheikh",
            prompt="What is Sharm el-Sheikh like?",
            keywords=("sharm", "sharm el sheikh", "naama", "tiran", "sinai resort"),
            answer="Sharm el-Sheikh, at the southern tip of Sinai, is a resort town built for the reefs: Naama Bay "
            "for nightlife, Ras Mohammed and Tiran for snorkelling and diving, and a day trip to Mount Sinai and "
            "St Catherine's Monastery.",
            details="If you stay only in the South Sinai resorts for up to 15 days, many nationalities can get a "
            "free Sinai-only entry stamp instead of a visa: it does not allow trips to Cairo or Luxor.",
            related=("red_sea_diving", "mount_sinai", "dahab", "visa"),
        ),
        _T(
            key="hurghada",
            title="Hurghada and El Gouna",
            prompt="Should I stay in Hurghada or El Gouna?",
            keywords=("hurghada", "gouna", "el gouna", "makadi", "soma bay", "safaga", "giftun", "beach", "resort"),
            answer="Hurghada is the big, lively resort on the Red Sea coast with every kind of hotel; El Gouna, 20 km "
            "north, is a car-free lagoon town, calmer and more upmarket. Makadi Bay and Soma Bay to the south are "
            "quiet all-inclusive resorts with good house reefs.",
            details="Boat trips to the Giftun islands are the classic snorkelling day. Luxor is about 4 hours away "
            "by road, so a day trip or a short cruise fits in a beach holiday.",
            related=("red_sea_diving", "luxor", "weather"),
        ),
        _T(
            key="dahab",
            title="Dahab",
            prompt="Is Dahab good for a relaxed stay?",
            keywords=("dahab", "blue hole", "freediving", "kitesurf", "windsurf"),
            answer="Dahab is Sinai's laid-back town: cafés on the water, shore diving, freediving, windsurfing and "
            "kitesurfing. The famous Blue Hole is superb for snorkelling along the rim; its deep arch has killed "
            "many divers and is only for technical divers.",
            details="From Dahab, night trips climb Mount Sinai for the sunrise. Many small, cheaper dive centres "
            "and guesthouses line the bay.",
            related=("mount_sinai", "red_sea_diving", "sharm"),
        ),
        _T(
            key="mount_sinai",
            title="Mount Sinai and St Catherine",
            prompt="How do I climb Mount Sinai?",
            keywords=("mount sinai", "sinai", "catherine", "moses", "jebel musa"),
            answer="Most climbers start around 2:00 from St Catherine's Monastery to reach the 2,285 m summit for "
            "the sunrise: about 3 hours on the camel path, then the last 750 of the 3,750 Steps of Repentance. It "
            "is cold at the top, even in summer nights: bring warm layers and a torch.",
            details="St Catherine's Monastery, one of the oldest working monasteries in the world, opens to visitors "
            "in the morning on most days (not Fridays, Sundays or Orthodox holidays). Dress modestly.",
            related=("dahab", "sharm", "dress_code"),
        ),
        _T(
            key="siwa",
            title="Siwa Oasis",
            prompt="Is Siwa Oasis worth the long trip?",
            keywords=("siwa", "oasis", "oracle", "cleopatra spring", "shali", "great sand sea"),
            answer="Siwa, near the Libyan border, is a world apart: palm groves, salt lakes you float in, the "
            "mud-brick Shali fortress and the Oracle of Amun that Alexander the Great consulted. It is 8-9 hours by "
            "road from Cairo (via Marsa Matruh), so give it at least three nights.",
            details="Swim in Cleopatra's Spring, watch sunset from Fatnas island, and take a 4x4 trip into the Great "
            "Sand Sea dunes (a desert permit is arranged by the tour operator). Dress conservatively: Siwa is very "
            "traditional.",
            related=("white_desert", "alexandria", "dress_code"),
        ),
        _T(
            key="white_desert",
            title="The White Desert",
            prompt="Can I camp in the White Desert?",
            keywords=("white desert", "bahariya", "farafra", "black desert", "camping", "desert safari"),
            answer="Yes, and it is one of Egypt's great experiences: from Bahariya Oasis (about 5 hours from Cairo) "
            "a 4x4 crosses the Black Desert to the chalk-white rock formations of the White Desert, where you camp "
            "under the stars.",
            details="Go with a licensed operator; October to April is best, as summer days are very hot and winter "
            "nights close to freezing. Bring a warm sleeping layer.",
            related=("siwa", "best_time", "safety"),
        ),
        _T(
            key="alexandria",
            title="Alexandria",
            prompt="Is Alexandria worth a day trip from Cairo?",
            keywords=("alexandria", "alex", "bibliotheca", "qaitbay", "kom el shoqafa", "catacombs", "montaza"),
            answer="Yes: about 2.5-3 hours from Cairo by train or road. See the modern Bibliotheca Alexandrina, the "
            "Citadel of Qaitbay on the site of the ancient lighthouse, the Roman catacombs of Kom el-Shoqafa, and "
            "end with grilled fish along the Corniche.",
            details="Alexandria is at its best from spring to autumn, cooler than Cairo in summer. Stay a night to "
            "enjoy the seafront cafés, the old Cecil Hotel and the Montaza gardens.",
            related=("siwa", "food", "transport"),
        ),
        _T(
            key="sound_and_light",
            title="Sound and light shows",
            prompt="Are the sound and light shows worth it?",
            keywords=("sound and light", "light show", "evening show", "night show"),
            answer="They are old-fashioned and a bit theatrical, but seeing the monuments lit at night is lovely. "
            "Shows run at Giza, Karnak, Philae and Abu Simbel, in several languages on a rotating schedule.",
            details="Check the language schedule for the night you go, and bring a layer: desert evenings get "
            "cool from November to March.",
            related=("giza", "karnak", "abu_simbel"),
        ),
        _T(
            key="visa",
            title="Visas",
            prompt="Do I need a visa for Egypt?",
            keywords=("visa", "evisa", "e visa", "passport", "entry requirement", "immigration", "border"),
            answer="Most visitors need a visa. Many nationalities (including EU, UK and US citizens) can buy a "
            "single-entry tourist visa on arrival at the airport, at a bank counter before passport control, or "
            "apply online beforehand on the official portal visa2egypt.gov.eg. Your passport should be valid for "
            "at least 6 months.",
            details="The rules depend on your nationality and change from time to time: check with the Egyptian "
            "embassy or your government's travel advice. Use only the official e-Visa site; look-alike sites "
            "charge extra. For stays limited to the South Sinai resorts, a free Sinai-only stamp may be enough.",
            costs="The visa on arrival is paid in US dollars or euros, in cash: have the exact amount ready.",
            related=("currency", "safety", "sharm"),
        ),
        _T(
            key="currency",
            title="Money and currency",
            prompt="What currency do they use in Egypt?",
            keywords=(
                "currency",
                "money",
                "pound",
                "egp",
                "cash",
                "atm",
                "card",
                "exchange",
                "dollar",
                "euro",
                "budget",
                "expensive",
            ),
            answer="The Egyptian pound (EGP, written LE or E£, called 'guinea'). ATMs are everywhere in cities and "
            "resorts; cards work in hotels, bigger restaurants and at monument ticket offices. Keep cash in small "
            "notes for taxis, markets and tips.",
            details="Change money at banks or official exchange offices, never in the street. Small notes (5, 10, "
            "20 pounds) are always short: ask for them when you withdraw or pay. Tell your bank you are travelling.",
            related=("tipping", "shopping", "visa"),
        ),
        _T(
            key="tipping",
            title="Tipping (baksheesh)",
            prompt="How much should I tip in Egypt?",
            keywords=("tip", "tipping", "baksheesh", "bakshish", "gratuity"),
            answer="Tipping is part of daily life. In restaurants leave 10-15% even when a service charge is on the "
            "bill (it rarely reaches the staff). Give small notes to porters, bathroom attendants and guards who "
            "show you something, and tip guides and drivers at the end of a tour.",
            details="On a Nile cruise the crew usually shares a tips box: ask the guide what is customary per "
            "person per day. Nobody should demand a tip for unasked 'help': a firm 'la, shukran' (no, thank you) "
            "is fine.",
            related=("currency", "language", "nile_cruise"),
        ),
        _T(
            key="weather",
            title="Weather",
            prompt="What is the weather like in Egypt?",
            keywords=("weather", "temperature", "climate", "hot", "rain", "cold", "degrees", "sea temperature"),
            answer="Egypt is sunny and dry almost all year. Winters (December-February) are mild by day and cold at "
            "night, especially in the desert; summers (June-August) are very hot, over 40 °C in Luxor and Aswan. "
            "Name a month and I will tell you what to expect.",
            details="Rain is rare except on the Mediterranean coast in winter. The Red Sea coast is warm all year "
            "with a cooling breeze. Spring can bring the khamsin, a hot wind full of sand.",
            related=("best_time", "dress_code", "health"),
        ),
        _T(
            key="best_time",
            title="When to go",
            prompt="When is the best time to visit Egypt?",
            keywords=("best time", "when to go", "when to visit", "season", "high season", "low season"),
            answer="October to April is the best time for sightseeing: warm days, cool nights. December and January "
            "are the busiest and dearest. The Red Sea is good all year, and summer (June-August) is the low season "
            "in Luxor and Aswan, with very hot afternoons but empty temples at dawn.",
            details="Check the dates of Ramadan, which move about 11 days earlier each year: sites stay open, but "
            "hours are shorter and the evenings festive.",
            related=("weather", "ramadan", "itinerary"),
        ),
        _T(
            key="safety",
            title="Safety",
            prompt="Is Egypt safe for tourists?",
            keywords=("safe", "safety", "danger", "dangerous", "scam", "crime", "police", "security", "touts"),
            answer="The main tourist areas (Cairo, Luxor, Aswan, the Red Sea and South Sinai resorts) are visited by "
            "millions every year and are generally safe; tourist police are present at sites. Read your "
            "government's travel advice before you go: it lists the areas to avoid, such as North Sinai and the "
            "Libyan border.",
            details="The common annoyances are touts and small scams: fake 'closed today' stories, free gifts that "
            "are not free, taxis without meters. Use ride-hailing apps in cities, agree prices beforehand, and "
            "cross roads with care: traffic is the real danger.",
            related=("transport", "dress_code", "health"),
        ),
        _T(
            key="dress_code",
            title="Dress code",
            prompt="What should I wear in Egypt?",
            keywords=(
                "wear",
                "dress",
                "clothes",
                "clothing",
                "dress code",
                "modest",
                "headscarf",
                "shorts",
                "bikini",
                "pack",
                "packing",
            ),
            answer="Dress modestly in towns and at religious sites: shoulders and knees covered, for men and women. "
            "Women cover their hair with a scarf to enter mosques, and everyone takes off their shoes. Swimwear is "
            "fine at the beach and the pool of Red Sea resorts.",
            details="Light, loose cotton or linen is the most comfortable in the heat, with a hat and sunglasses. "
            "Bring a warm layer for winter nights, desert camps and Mount Sinai, and sturdy shoes for sites.",
            related=("islamic_cairo", "weather", "ramadan"),
        ),
        _T(
            key="ramadan",
            title="Travelling during Ramadan",
            prompt="What is it like to travel during Ramadan?",
            keywords=("ramadan", "fasting", "iftar", "eid"),
            answer="Ramadan is a fine time to travel: sites stay open with shorter hours, and evenings are festive "
            "with iftar meals and late-night streets. Out of respect, avoid eating, drinking and smoking in public "
            "during the day; hotels and tourist restaurants serve as usual.",
            details="Its dates move about 11 days earlier each year. Eid al-Fitr, at its end, is a holiday when "
            "Egyptians travel too: trains and resorts fill up.",
            related=("best_time", "dress_code", "food"),
        ),
        _T(
            key="food",
            title="Egyptian food",
            prompt="What should I eat in Egypt?",
            keywords=(
                "food",
                "eat",
                "dish",
                "koshari",
                "kushari",
                "falafel",
                "taameya",
                "ful",
                "molokhia",
                "restaurant",
                "vegetarian",
            ),
            answer="Try koshari (rice, lentils, pasta, chickpeas and a spicy tomato sauce), ful medames (slow-cooked "
            "fava beans), ta'ameya (Egyptian falafel made with fava beans), molokhia, stuffed pigeon, fiteer pastry "
            "and grilled fish by the sea. Vegetarians eat very well.",
            details="Drink bottled water and be careful with raw salads at street stalls if your stomach is "
            "sensitive. Fresh juices (mango, sugar cane) are everywhere; hibiscus tea (karkadeh) is served hot or "
            "cold.",
            related=("health", "alexandria", "ramadan"),
        ),
        _T(
            key="transport",
            title="Getting around",
            prompt="How do I get from Cairo to Luxor?",
            keywords=(
                "transport",
                "train",
                "sleeper",
                "flight",
                "fly",
                "bus",
                "taxi",
                "uber",
                "careem",
                "metro",
                "get around",
                "cairo to luxor",
                "cairo to aswan",
                "luxor to aswan",
            ),
            answer="Cairo to Luxor: a one-hour flight, or the overnight sleeper train (about 10 hours, with "
            "dinner and breakfast) that continues to Aswan. Day trains and buses are cheaper. In Cairo and "
            "Alexandria use Uber or Careem rather than street taxis; Cairo also has a cheap, fast metro.",
            details="Book the sleeper train and domestic flights a few days ahead in high season. Between Luxor "
            "and Aswan, a Nile cruise is itself the transport. Renting a car is possible but driving in Cairo is "
            "not for the faint-hearted: hire a car with a driver instead.",
            related=("nile_cruise", "safety", "itinerary"),
        ),
        _T(
            key="health",
            title="Health",
            prompt="What health precautions should I take?",
            keywords=(
                "health",
                "vaccine",
                "vaccination",
                "sick",
                "stomach",
                "doctor",
                "pharmacy",
                "insurance",
                "water",
                "sunburn",
            ),
            answer="Drink bottled water, protect yourself from the sun (hat, sunscreen, plenty to drink) and take "
            "travel insurance that covers medical evacuation. Check routine vaccinations with your doctor; hepatitis "
            "A and typhoid are often recommended.",
            details="Pharmacies are everywhere and helpful for minor illnesses. Hospitals in Cairo and the big "
            "resorts are good; smaller towns have basic care only.",
            related=("food", "weather", "safety"),
        ),
        _T(
            key="language",
            title="Language and useful phrases",
            prompt="Which Arabic phrases are useful?",
            keywords=("language", "arabic", "phrase", "phrases", "english", "speak", "hello in arabic"),
            answer="Egyptian Arabic is spoken, and English is common in tourist places. Useful words: 'salam "
            "aleikum' (hello), 'shukran' (thank you), 'la, shukran' (no, thank you), 'min fadlak/fadlik' (please, "
            "to a man/woman), 'bikam?' (how much?), 'ma'a salama' (goodbye).",
            details="Egyptians love it when visitors try a few words. 'Inshallah' (God willing) comes with any plan "
            "about the future, and 'yalla' means 'let's go'.",
            related=("tipping", "shopping", "food"),
        ),
        _T(
            key="shopping",
            title="Shopping and bargaining",
            prompt="What souvenirs should I buy?",
            keywords=("shopping", "souvenir", "buy", "bargain", "haggle", "papyrus", "spices", "cotton", "market"),
            answer="Good buys: spices, Egyptian cotton, papyrus (real papyrus does not crack when rolled), alabaster, "
            "silver cartouches with your name, perfume oils and lanterns. Bargaining is expected in markets: start "
            "around a third of the first price and walk away politely if it does not suit you.",
            details="Guides often take you to 'factories' that pay them a commission: buy there only if you like the "
            "price. Fixed-price shops exist in hotels and at the Khan el-Khalili.",
            related=("islamic_cairo", "currency", "language"),
        ),
        _T(
            key="itinerary",
            title="Sample itineraries",
            prompt="Can you suggest a 10-day itinerary?",
            keywords=(
                "itinerary",
                "sample plan",
                "10 day",
                "7 day",
                "ten day",
                "one week",
                "two weeks",
                "route",
                "where to go",
                "where should i go",
                "what to see",
                "recommend",
            ),
            answer="Ten days: 3 in Cairo (pyramids, Saqqara, museums, old Cairo), fly to Aswan, Abu Simbel by road or "
            "air, a 3-night cruise to Luxor, 2 days in Luxor, then fly back to Cairo. With 7 days, skip Abu Simbel "
            "and take the sleeper train. Add 3-4 days on the Red Sea to rest at the end.",
            details="Two weeks lets you add Alexandria, or Siwa or the White Desert, or a week of diving. Start in "
            "Cairo and end on the coast: sightseeing first, beach after.",
            related=("giza", "nile_cruise", "transport", "best_time"),
        ),
    )
}
