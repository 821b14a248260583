"""Per-trial coding profiles: how each trial names, codes and formats its variables.

A :class:`Coding` is pure data. Trials 0-7 of every topic use the eight hand-made profiles of
:data:`BASE_PROFILES` (one per delivery style, together covering every variant: column-name
styles, ID styles, sex/arm/yes-no codings, renumbered and text categories, Karnofsky instead of
ECOG, age vs month of birth, date formats, survival as dates/days/months, units, missing-value
codes, variables not collected, extra columns). Trials 8 and later draw a profile at random
within what their format allows (:func:`coding_for`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from repository.example.topic import seed_sequence

__all__ = [
    "Coding",
    "STYLES",
    "STYLE_FORMAT",
    "EXTENSION",
    "TEXT_STYLES",
    "BASE_PROFILES",
    "coding_for",
    "column_name",
    "CATEGORIES",
    "UNITS",
]

#: delivery styles in the order trials cycle through them
STYLES: tuple[str, ...] = ("csv", "csv-eu", "xlsx", "sav", "dta", "xpt", "parquet", "tsv")
#: delivery style -> format name the store's readers use
STYLE_FORMAT: Mapping[str, str] = {"csv": "csv", "csv-eu": "csv", "tsv": "csv", "xlsx": "xlsx",
                                   "sav": "sav", "dta": "dta", "xpt": "xpt",
                                   "parquet": "parquet"}
EXTENSION: Mapping[str, str] = {"csv": ".csv", "csv-eu": ".csv", "tsv": ".txt", "xlsx": ".xlsx",
                                "sav": ".sav", "dta": ".dta", "xpt": ".xpt",
                                "parquet": ".parquet"}
TEXT_STYLES = frozenset({"csv", "csv-eu", "tsv"})
_TEXT_LAYOUT: Mapping[str, dict[str, str]] = {
    "csv": {"encoding": "utf-8", "delimiter": ",", "decimal": "."},
    "csv-eu": {"encoding": "cp1252", "delimiter": ";", "decimal": ","},
    "tsv": {"encoding": "utf-8", "delimiter": "\t", "decimal": "."},
}


@dataclass(frozen=True)
class Coding:
    """How one trial delivers its data (see the module docstring)."""

    style: str
    naming: str = "lower"          # caps | lower | words | french | short
    id_style: str = "int"          # int | int1000 | prefixed | centre_seq
    centre: str = "int"            # int | padded | city
    sex: str = "12"                # MF | 12 | 01 | words | french
    arm: str = "01"                # labels | 01 | AB | BA | ctrl_exp | 12 | french
    boolean: str = "10"            # YN | 10 | yesno | 12 | french | native
    categorical: str = "numeric"   # numeric | renumbered | text | french
    ecog: str = "ecog"             # ecog | karnofsky
    age: str = "years"             # years | birth_month | birth_cols
    birth_format: str = "%Y-%m"
    dates: str = "native"          # native | a strftime pattern
    survival: str = "dates"        # dates | days | months | events (several files, below)
    units: Mapping[str, str] = field(default_factory=dict)
    bmi_delivered: bool = True
    missing: str = "blank"         # blank | nines | minus1 | NK | ND | dot
    not_collected: frozenset[str] = frozenset()
    extras: tuple[str, ...] = ()
    sort: str = "id"               # id | centre

    @property
    def format(self) -> str:
        return STYLE_FORMAT[self.style]

    @property
    def package(self) -> bool:
        """The trial delivers three files: baseline, visits and events (its follow-up, deaths,
        recurrences and adverse events in long tables)."""
        return self.survival == "events"

    @property
    def text(self) -> bool:
        return self.style in TEXT_STYLES

    @property
    def layout(self) -> dict[str, str]:
        return dict(_TEXT_LAYOUT.get(self.style, {}))

    @property
    def language(self) -> str:
        return "fr" if self.naming == "french" else "en"

    def unit(self, variable: str) -> str:
        return self.units.get(variable, UNITS[variable][0][0])


#: harmonised variable -> ((unit, multiply to harmonised, decimals delivered), ...); first = harmonised
UNITS: Mapping[str, tuple[tuple[str, float, int], ...]] = {
    "weight_kg": (("kg", 1.0, 1), ("lb", 0.45359237, 1)),
    "height_cm": (("cm", 1.0, 0), ("m", 100.0, 2)),
    "haemoglobin_gdl": (("g/dL", 1.0, 1), ("g/L", 0.1, 0), ("mmol/L", 1.611344, 2)),
    "albumin_gl": (("g/L", 1.0, 0), ("g/dL", 10.0, 1)),
    "creatinine_umol": (("umol/L", 1.0, 0), ("mg/dL", 88.42, 2)),
    "os_time_days": (("days", 1.0, 0), ("months", 30.4375, 2)),
    "dfs_time_days": (("days", 1.0, 0), ("months", 30.4375, 2)),
}

# column-name styles: slot -> (caps, lower, words, french, short); "{unit}" is filled in
_NAMES: Mapping[str, tuple[str, str, str, str, str]] = {
    "participant_id": ("PATNO", "subjid", "Patient number", "Numéro patient", "id"),
    "arm": ("TRT", "arm", "Treatment arm", "Bras", "grp"),
    "rand_date": ("RANDDT", "rand_date", "Date of randomisation", "Date de randomisation",
                  "rdate"),
    "centre": ("CENTRE", "site", "Centre", "Centre", "ctr"),
    "age": ("AGE", "age", "Age (years)", "Âge (ans)", "age"),
    "birth_ym": ("BIRTHYM", "birth_ym", "Month of birth", "Mois de naissance", "bym"),
    "birth_year": ("BIRTHYR", "birth_year", "Year of birth", "Année de naissance", "byr"),
    "birth_month": ("BIRTHMO", "birth_month", "Month of birth (1-12)",
                    "Mois de naissance (1-12)", "bmo"),
    "sex": ("SEX", "sex", "Sex", "Sexe", "gender"),
    "ecog": ("ECOG", "ps_ecog", "ECOG performance status", "Indice de performance ECOG", "ps"),
    "karnofsky": ("KPS", "kps", "Karnofsky index", "Indice de Karnofsky", "kps"),
    "weight_kg": ("WEIGHT", "weight", "Weight ({unit})", "Poids ({unit})", "wt"),
    "height_cm": ("HEIGHT", "height", "Height ({unit})", "Taille ({unit})", "ht"),
    "bmi": ("BMI", "bmi", "BMI (kg/m2)", "IMC (kg/m2)", "bmi"),
    "haemoglobin_gdl": ("HB", "haemoglobin", "Haemoglobin ({unit})", "Hémoglobine ({unit})",
                        "hb"),
    "albumin_gl": ("ALB", "albumin", "Albumin ({unit})", "Albumine ({unit})", "alb"),
    "creatinine_umol": ("CREAT", "creatinine", "Creatinine ({unit})", "Créatinine ({unit})",
                        "creat"),
    "cea_elevated": ("CEAHIGH", "cea_high", "CEA above ULN", "ACE élevé", "cea"),
    "tumour_site": ("TUMSITE", "tumour_site", "Tumour site", "Localisation tumorale", "tsite"),
    "histology_lauren": ("LAUREN", "lauren", "Lauren classification",
                         "Classification de Lauren", "laur"),
    "grade": ("GRADE", "grade", "Differentiation", "Différenciation", "diff"),
    "t_stage": ("PT", "pt_stage", "pT", "pT", "pt"),
    "n_stage": ("PN", "pn_stage", "pN", "pN", "pn"),
    "nodes_examined": ("NEXAM", "nodes_examined", "Lymph nodes examined", "Ganglions examinés",
                       "nex"),
    "nodes_positive": ("NPOS", "nodes_positive", "Positive lymph nodes", "Ganglions envahis",
                       "npos"),
    "resection_margin": ("RESECT", "margin", "Resection margin", "Marges de résection",
                         "rmarg"),
    "gastrectomy": ("GASTREC", "gastrectomy", "Type of gastrectomy", "Type de gastrectomie",
                    "gast"),
    "lymphadenectomy": ("LYMPHAD", "lymphadenectomy", "Lymphadenectomy",
                        "Curage ganglionnaire", "lnd"),
    "surgery_date": ("SURGDT", "surgery_date", "Date of surgery", "Date de chirurgie", "sdate"),
    "smoking": ("SMOKING", "smoking", "Smoking status", "Tabagisme", "smk"),
    "diabetes": ("DIABETES", "diabetes", "Diabetes", "Diabète", "dm"),
    "qol_baseline": ("QOL0", "qol_baseline", "QoL global score (baseline)",
                     "Qualité de vie (inclusion)", "qol0"),
    "qol_12m": ("QOL12", "qol_12m", "QoL global score (12 months)",
                "Qualité de vie (12 mois)", "qol12"),
    "chemo_started": ("CHEMOST", "chemo_started", "Chemotherapy started",
                      "Chimiothérapie débutée", "chst"),
    "grade3_toxicity": ("TOXG3", "tox_grade3", "Grade 3+ toxicity", "Toxicité grade 3+",
                        "tox3"),
    "recurrence_date": ("RECDT", "recurrence_date", "Date of recurrence", "Date de rechute",
                        "recdt"),
    "death_date": ("DTHDT", "death_date", "Date of death", "Date de décès", "dthdt"),
    "cause_of_death": ("DTHCAUSE", "death_cause", "Cause of death", "Cause du décès", "cod"),
    "last_fu_date": ("LASTFUDT", "last_fu_date", "Date of last follow-up",
                     "Date des dernières nouvelles", "lfudt"),
    "os_time": ("OSTIME", "os_time", "Overall survival ({unit})", "Survie globale ({unit})",
                "ostm"),
    "os_status": ("OSSTAT", "os_status", "Dead", "Décès", "dead"),
    "dfs_time": ("DFSTIME", "dfs_time", "Disease-free survival ({unit})",
                 "Survie sans rechute ({unit})", "dfstm"),
    "dfs_status": ("DFSSTAT", "dfs_status", "Recurrence or death", "Rechute ou décès", "dfsev"),
    # extra, trial-specific columns the topic does not use
    "crf_version": ("CRFVER", "crf_version", "CRF version", "Version CRF", "crfv"),
    "bsa": ("BSA", "bsa", "Body surface area (m2)", "Surface corporelle (m2)", "bsa"),
    "cycles": ("NCYCLES", "cycles", "Cycles received", "Cycles reçus", "ncyc"),
    "eligible": ("ELIGIBLE", "eligible", "Eligibility confirmed", "Éligibilité confirmée",
                 "elig"),
    "region": ("REGION", "region", "Region", "Région", "reg"),
    "study": ("STUDY", "study", "Study", "Étude", "study"),
}
_NAMING_INDEX = {"caps": 0, "lower": 1, "words": 2, "french": 3, "short": 4}
EXTRAS: tuple[str, ...] = ("crf_version", "bsa", "cycles", "eligible", "region", "study")


def column_name(coding: Coding, slot: str, unit: str | None = None) -> str:
    """The delivered column name of ``slot`` in ``coding``'s naming style."""
    name = _NAMES[slot][_NAMING_INDEX[coding.naming]]
    return name.replace("{unit}", unit or "")


def column_label(coding: Coding, slot: str, unit: str | None = None) -> str:
    """A descriptive variable label (what a statistical file stores as the variable label)."""
    index = 3 if coding.language == "fr" else 2
    return _NAMES[slot][index].replace("{unit}", unit or "")


# ---- category codings: harmonised code -> delivered code(s), per style -----------------------
# A tuple of delivered codes means the trial records a finer category (drawn at random among
# them): T4 -> T4a / T4b, ECOG 0 -> Karnofsky 100 / 90.

CATEGORIES: Mapping[str, Mapping[str, Mapping[Any, Any]]] = {
    "tumour_site": {
        "numeric": {1: 1, 2: 2, 3: 3, 4: 4},
        "renumbered": {1: 3, 2: 2, 3: 1, 4: 4},
        "text": {1: "cardia", 2: "body", 3: "antrum", 4: "whole stomach"},
        "french": {1: "cardia", 2: "corps", 3: "antre", 4: "estomac entier"},
    },
    "histology_lauren": {
        "numeric": {1: 1, 2: 2, 3: 3},
        "renumbered": {1: 2, 2: 1, 3: 3},
        "text": {1: "intestinal", 2: "diffuse", 3: "mixed"},
        "french": {1: "intestinal", 2: "diffus", 3: "mixte"},
    },
    "grade": {
        "numeric": {1: 1, 2: 2, 3: 3},
        "renumbered": {1: 3, 2: 2, 3: 1},
        "text": {1: "G1", 2: "G2", 3: "G3"},
        "french": {1: "bien", 2: "moyennement", 3: "peu"},
    },
    "t_stage": {
        "numeric": {1: 1, 2: 2, 3: 3, 4: 4},
        "renumbered": {1: 1, 2: 2, 3: 3, 4: (4, 5)},
        "text": {1: "T1", 2: "T2", 3: "T3", 4: ("T4a", "T4b")},
        "french": {1: "T1", 2: "T2", 3: "T3", 4: ("T4a", "T4b")},
    },
    "n_stage": {
        "numeric": {0: 0, 1: 1, 2: 2, 3: 3},
        "renumbered": {0: 0, 1: 1, 2: 2, 3: 3},
        "text": {0: "N0", 1: "N1", 2: "N2", 3: "N3"},
        "french": {0: "N0", 1: "N1", 2: "N2", 3: "N3"},
    },
    "resection_margin": {
        "numeric": {"R0": 0, "R1": 1},
        "renumbered": {"R0": 1, "R1": 2},
        "text": {"R0": "R0", "R1": "R1"},
        "french": {"R0": "R0", "R1": "R1"},
    },
    "gastrectomy": {
        "numeric": {"total": 1, "subtotal": 2},
        "renumbered": {"total": 2, "subtotal": 1},
        "text": {"total": "total", "subtotal": "subtotal"},
        "french": {"total": "totale", "subtotal": "partielle"},
    },
    "lymphadenectomy": {
        "numeric": {"D1": 1, "D2": 2},
        "renumbered": {"D1": 1, "D2": 2},
        "text": {"D1": "D1", "D2": "D2"},
        "french": {"D1": "D1", "D2": "D2"},
    },
    "smoking": {
        "numeric": {"never": 0, "former": 1, "current": 2},
        "renumbered": {"never": 1, "current": 2, "former": 3},
        "text": {"never": "never", "former": "ex-smoker", "current": "current"},
        "french": {"never": "jamais", "former": "ancien", "current": "actuel"},
    },
    "cause_of_death": {
        "numeric": {"gastric_cancer": 1, "other": 2, "unknown": 3},
        "renumbered": {"gastric_cancer": 1, "other": 2, "unknown": 3},
        "text": {"gastric_cancer": "gastric cancer", "other": "other", "unknown": "unknown"},
        "french": {"gastric_cancer": "cancer gastrique", "other": "autre",
                   "unknown": "inconnue"},
    },
}
#: value labels for numerically coded categories: harmonised code -> label
CATEGORY_LABELS: Mapping[str, Mapping[Any, str]] = {
    "tumour_site": {1: "Cardia/GEJ", 2: "Body", 3: "Antrum/pylorus", 4: "Whole stomach"},
    "histology_lauren": {1: "Intestinal", 2: "Diffuse", 3: "Mixed"},
    "grade": {1: "Well differentiated", 2: "Moderately differentiated",
              3: "Poorly differentiated"},
    "t_stage": {1: "T1", 2: "T2", 3: "T3", 4: "T4"},
    "n_stage": {0: "N0", 1: "N1", 2: "N2", 3: "N3"},
    "resection_margin": {"R0": "R0", "R1": "R1"},
    "gastrectomy": {"total": "Total", "subtotal": "Subtotal"},
    "lymphadenectomy": {"D1": "D1", "D2": "D2"},
    "smoking": {"never": "Never", "former": "Former", "current": "Current"},
    "cause_of_death": {"gastric_cancer": "Gastric cancer", "other": "Other",
                       "unknown": "Unknown"},
}
#: labels of finer delivered codes (renumbered T4a / T4b)
FINE_LABELS: Mapping[str, Mapping[Any, str]] = {"t_stage": {4: "T4a", 5: "T4b"}}

SEX: Mapping[str, Mapping[int, Any]] = {
    "MF": {1: "M", 2: "F"}, "12": {1: 1, 2: 2}, "01": {1: 0, 2: 1},
    "words": {1: "male", 2: "female"}, "french": {1: "Homme", 2: "Femme"},
}
SEX_LABELS = {1: "Male", 2: "Female"}
ARM: Mapping[str, Mapping[int, Any]] = {
    "labels": {0: "Surgery alone", 1: "S+chemo"}, "01": {0: 0, 1: 1},
    "AB": {0: "B", 1: "A"}, "BA": {0: "A", 1: "B"},
    "ctrl_exp": {0: "control", 1: "experimental"}, "12": {0: 1, 1: 2},
    "french": {0: "B", 1: "A"},
}
BOOLEAN: Mapping[str, Mapping[bool, Any]] = {
    "YN": {True: "Y", False: "N"}, "10": {True: 1, False: 0}, "yesno": {True: "yes", False: "no"},
    "12": {True: 1, False: 2}, "french": {True: "oui", False: "non"},
    "native": {True: True, False: False},
}
KARNOFSKY: Mapping[int, tuple[int, ...]] = {0: (100, 90), 1: (80, 70), 2: (60, 50)}

_FRENCH_CITIES = ("Besançon", "Nîmes", "Créteil", "Orléans", "Saint-Étienne", "Amiens",
                  "Angers", "Brest", "Caen", "Dijon", "Grenoble", "Limoges", "Lyon", "Nancy",
                  "Poitiers", "Reims", "Rennes", "Rouen", "Toulouse", "Tours")
_CITIES = ("Leeds", "Bologna", "Leuven", "Utrecht", "Porto", "Graz", "Lund", "Bergen",
           "Padova", "Sevilla", "Gent", "Aarhus", "Turku", "Cork", "Basel", "Torino", "Nantes",
           "Krakow", "Brno", "Pisa")


def city_names(coding: Coding, n_centres: int) -> list[str]:
    cities = _FRENCH_CITIES if coding.language == "fr" else _CITIES
    out = []
    for i in range(n_centres):
        base = cities[i % len(cities)]
        out.append(base if i < len(cities) else f"{base} {i // len(cities) + 1}")
    return out


# ---- the eight base profiles ------------------------------------------------------------------

BASE_PROFILES: tuple[Coding, ...] = (
    Coding(style="csv", naming="lower", id_style="int1000", centre="int", sex="MF",
           arm="labels", boolean="YN", categorical="numeric", age="years", dates="%Y-%m-%d",
           survival="days", bmi_delivered=True, missing="blank", extras=("crf_version",)),
    Coding(style="csv-eu", naming="french", id_style="centre_seq", centre="city", sex="french",
           arm="french", boolean="french", categorical="french", age="birth_month",
           birth_format="%m/%Y", dates="%d/%m/%Y", survival="dates",
           units={"haemoglobin_gdl": "g/L"}, bmi_delivered=False, missing="ND",
           not_collected=frozenset({"smoking", "qol_baseline", "qol_12m"}),
           extras=("region",), sort="centre"),
    Coding(style="xlsx", naming="words", id_style="prefixed", centre="padded", sex="words",
           arm="ctrl_exp", boolean="yesno", categorical="text", age="years", dates="native",
           survival="months", units={"weight_kg": "lb", "albumin_gl": "g/dL",
                                     "creatinine_umol": "mg/dL"},
           bmi_delivered=False, missing="NK",
           not_collected=frozenset({"smoking", "diabetes"}), extras=("eligible", "cycles")),
    Coding(style="sav", naming="caps", id_style="int", centre="int", sex="12", arm="12",
           boolean="12", categorical="numeric", ecog="karnofsky", age="birth_cols",
           dates="native", survival="dates", units={"haemoglobin_gdl": "mmol/L"},
           bmi_delivered=True, missing="nines",
           not_collected=frozenset({"qol_baseline", "qol_12m"}), extras=("crf_version", "bsa")),
    Coding(style="dta", naming="short", id_style="int1000", centre="int", sex="01", arm="01",
           boolean="10", categorical="renumbered", age="years", dates="native",
           survival="dates", units={"height_cm": "m"}, bmi_delivered=False, missing="minus1",
           not_collected=frozenset({"cea_elevated"}), extras=("cycles",), sort="centre"),
    Coding(style="xpt", naming="caps", id_style="prefixed", centre="int", sex="MF", arm="01",
           boolean="YN", categorical="text", age="years", dates="native", survival="days",
           bmi_delivered=True, missing="dot",
           not_collected=frozenset({"qol_12m", "smoking"}), extras=("study",)),
    Coding(style="parquet", naming="lower", id_style="prefixed", centre="int", sex="words",
           arm="labels", boolean="native", categorical="text", age="birth_month",
           dates="native", survival="months", bmi_delivered=True, missing="blank",
           not_collected=frozenset({"cause_of_death", "qol_baseline", "qol_12m"}),
           extras=("bsa",)),
    Coding(style="tsv", naming="caps", id_style="int", centre="padded", sex="12", arm="BA",
           boolean="10", categorical="numeric", age="birth_month", dates="%m/%d/%y",
           survival="events", units={"weight_kg": "lb", "creatinine_umol": "mg/dL"},
           bmi_delivered=False, missing="nines", extras=("eligible",)),
)

_OPTIONAL = ("cea_elevated", "smoking", "diabetes", "qol_baseline", "qol_12m", "creatinine_umol",
             "albumin_gl", "grade", "cause_of_death", "chemo_started")


def coding_for(index: int, seed: int) -> Coding:
    """The coding of trial ``index``: a base profile for 0-7, a random one within its format
    for later trials (deterministic for ``seed``)."""
    if index < len(BASE_PROFILES):
        return BASE_PROFILES[index]
    style = STYLES[index % len(STYLES)]
    rng = np.random.default_rng(seed_sequence(seed, 4, index))

    def pick(options: tuple[Any, ...]) -> Any:
        return options[int(rng.integers(len(options)))]

    french = style in ("csv-eu", "xlsx", "parquet") and rng.random() < 0.25
    if style == "xpt":
        naming = "caps"
    elif style in ("sav", "dta"):
        naming = pick(("caps", "lower", "short"))
    else:
        naming = "french" if french else pick(("caps", "lower", "words", "short"))
    if style in TEXT_STYLES:
        dates = pick(("%Y-%m-%d", "%d/%m/%Y", "%m/%d/%y", "%d.%m.%Y", "%Y%m%d"))
        missing = pick(("blank", "nines", "minus1", "NK", "dot"))
    else:
        dates = "native"
        missing = pick(("blank", "nines", "minus1", "NK"))
    if french:
        missing = "ND"
    if style == "parquet":
        boolean = "native"
    else:
        boolean = "french" if french else pick(("YN", "10", "yesno", "12"))
    units = {name: pick(tuple(u[0] for u in options))
             for name, options in UNITS.items() if not name.endswith("time_days")}
    n_missing = int(rng.integers(0, 4))
    not_collected = frozenset(str(v) for v in rng.choice(_OPTIONAL, n_missing, replace=False))
    if "qol_baseline" in not_collected:
        not_collected |= {"qol_12m"}
    return replace(
        BASE_PROFILES[index % len(BASE_PROFILES)],
        naming=naming,
        id_style=pick(("int", "int1000", "prefixed", "centre_seq")),
        centre="city" if french else pick(("int", "padded", "city")),
        sex="french" if french else pick(("MF", "12", "01", "words")),
        arm="french" if french else pick(("labels", "01", "AB", "BA", "ctrl_exp", "12")),
        boolean=boolean,
        categorical="french" if french else pick(("numeric", "renumbered", "text")),
        ecog=pick(("ecog", "ecog", "ecog", "karnofsky")),
        age=pick(("years", "years", "birth_month", "birth_cols")),
        birth_format=pick(("%Y-%m", "%m/%Y")),
        dates=dates,
        survival=pick(("dates", "days", "months")),
        units=units,
        bmi_delivered=bool(rng.random() < 0.5),
        missing=missing,
        not_collected=not_collected,
        extras=tuple(str(e) for e in rng.choice(EXTRAS, int(rng.integers(0, 3)), replace=False)),
        sort=pick(("id", "id", "centre")),
    )
