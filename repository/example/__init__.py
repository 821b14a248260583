"""The example topic generator: ``ipdrepo example create DIR``.

:func:`create` writes a realistic, deterministic synthetic topic, "gastric-adjuvant" (adjuvant
chemotherapy versus surgery alone after curative resection of gastric cancer), delivered by
fictional trials in different file formats and codings, with each trial's codebook, the ground
truth, and planted data problems that later checks must find. The same seed gives byte-identical
files; the work is vectorised and written trial by trial, so a million participants take a
couple of minutes.

Modules: :mod:`.topic` (harmonised variables, derivations, trial registry), :mod:`.simulate`
(the generating model; pure numpy), :mod:`.codings` (per-trial coding profiles), :mod:`.encode`
(truth -> delivered columns + codebook rules), :mod:`.problems` (planting), :mod:`.writers`
(file formats; :mod:`.xlsx` is a streaming Excel writer), :mod:`.codebooks`, :mod:`.rejects`
(a delivery with direct identifiers), :mod:`.generate` (:func:`create`).

Directory layout
----------------
::

    topic.yaml                     topic, harmonised variables (name, label, type, unit, codes,
                                   plausible range), derivations, trial registry
    deliveries/<ACRONYM>.<ext>     one delivery per trial (.csv .xlsx .sav .dta .xpt .parquet .txt)
    deliveries/<ACRONYM>/          the trial that sends several files (the eighth, CHINOOK, when
                                   there are eight or more): baseline.<ext>, visits.<ext>,
                                   events.<ext> (see :mod:`.package`, :mod:`.longtables`)
    codebooks/<ACRONYM>.yaml       the trial's codebook (below)
    redeliveries/<ACRONYM>.<ext>   corrected re-delivery of the arm-imbalance trial
    rejects/<ACRONYM>-with-identifiers.csv   a delivery still carrying direct identifiers
    truth/participants.parquet     true harmonised values (+ trial, participant_id,
                                   delivery_row, redelivery_row)
    truth/visits.parquet           true long tables (trial, participant_id, the table's
    truth/events.parquet           variables; rows of the trial that sends several files only)
    truth/trial_effects.yaml       true per-trial effects, mu, tau, seed, model
    truth/planted.yaml             every planted problem and the trialist's answer
    README.md

Trial registry (``topic.yaml`` ``trials``): ``acronym``, ``title``, ``registry_ids`` (list of
``{registry: NCT|ISRCTN, id}``), ``country``, ``regimen``, ``allocation_ratio``, ``accrual``,
``data_cutoff``, ``arms`` (list of ``{code, label, arm, ratio, randomised_published}``: ``code``
is the arm's code in the delivery as text, ``arm`` the harmonised arm 0/1),
``randomised_published``, ``contact`` ``{name, email}``, ``delivery`` (``file``, ``format``
(csv, xlsx, sav, dta, xpt, parquet), ``style``, ``id_column``, ``rows``, ``codebook``,
``delivered_by``, ``received``; ``encoding`` and ``delimiter`` for text; ``sheet`` for Excel;
``redelivery`` ``{file, rows, received, reason}`` where there is one; for the trial that
sends several files, ``file`` is its directory and ``datasets`` lists ``{name, file, rows, key}``
(baseline first; ``key``: the columns identifying a row of a long file within a participant)).

Codebook format (``codebook_format: 1``)
----------------------------------------
A codebook says how to obtain every harmonised variable from the delivery, mechanically:

``delivery``
    ``file``, ``format``, ``style``, ``rows``, ``id_column``, ``sorted_by``; for text files
    ``encoding``, ``delimiter`` and ``decimal`` (``","``: numbers use a decimal comma); for
    Excel ``sheet``.
``missing_values``, ``missing_codes``
    A blank cell (system-missing in SPSS/Stata/SAS, null in Parquet, empty in text and Excel)
    always means missing. The trial's missing codes (9/99/999, -1, ".", "NK", "ND") are listed
    in ``missing_codes``, and per column in the column's ``missing`` (a code is only chosen
    where it cannot be a real value of the column).
``survival``
    ``delivered_as``: ``dates`` (recurrence, death and last follow-up dates; times and events
    derived), ``days`` or ``months`` (durations with status flags; ``days_per_month``
    30.4375).
``arms``
    As in the registry.
``columns``
    Every column of the file, in order: ``name``, ``label``, ``type`` (integer, decimal, text,
    date, boolean), ``format`` for dates, ``decimals``, ``unit``, ``missing`` (list of codes
    meaning missing), ``value_labels`` (as stored in .sav/.dta files), ``used_for`` (the
    harmonised variables it feeds; empty plus a ``note`` for trial-specific extra columns).
``variables``
    One entry per harmonised variable, with a ``rule``:

    ``id``
        ``source`` column is the trial's participant ID (harmonised as text; integers
        without decimals).
    ``constant``
        ``value`` for every row (the trial acronym).
    ``direct``
        The number in ``source`` (``type`` integer or decimal; zero-padded text such as "07"
        reads as an integer). With ``convert`` ``{multiply, round, to_unit}``:
        ``harmonised = round(value * multiply, round)``. Values in ``missing`` are missing.
    ``recode``
        ``codes`` maps each delivered code to the harmonised code; several delivered codes
        may map to one (pT4a/pT4b -> 4, Karnofsky 100/90 -> ECOG 0). Codes are compared on
        their text: a number matches its shortest text form (``1.0`` and ``"1"`` match ``1``),
        text is compared exactly. Values in ``missing`` and blanks are missing; every other
        delivered value is in ``codes``.
    ``date``
        ``format`` is a strftime pattern for text (``%y``: 00-68 -> 20xx, 69-99 -> 19xx), or
        ``native`` for a date type of the file (Excel, SPSS, Stata, SAS, Parquet dates).
    ``age_from_birth_month``
        ``source`` is one text column in ``format`` (``%Y-%m`` or ``%m/%Y``) or two integer
        columns [year, month]; age is the completed years from the first day of the birth month
        to ``reference`` (rand_date): ``((ry*12 + rm) - (by*12 + bm)) // 12``.
    ``derive``
        ``derivation`` names a formula over other harmonised variables (``from``); the
        formulas are in :data:`repository.example.topic.DERIVATIONS` and ``topic.yaml``.
    ``aggregate``
        (the trial that sends several files) one value per participant from its rows of a
        long table, in the mapping format's own terms (``take`` min/max/any/nearest,
        ``table``, ``value``, ``where``, ``from``, ``at``/``target``/``within``, ``else``):
        recurrence and death dates, last follow-up, quality of life at 12 months, grade 3+
        toxicity and the worst adverse-event grade.
    ``not_collected``
        The trial did not collect it ("impossible"); the truth is missing too.

``tables`` (the trial that sends several files)
    Per long table (``visits``, ``events``): ``dataset``, ``file``, ``rows``, ``key``,
    ``columns`` (as above) and ``variables`` with their rules (``visit_day`` is derived:
    ``visit_date`` - ``rand_date``).

Ground truth
------------
``truth/participants.parquet`` holds what a correct harmonisation of the corrected deliveries
gives: the harmonised variables (names and codes of ``topic.yaml``; strings for coded text
variables, 0/1 for ``arm`` and events, booleans for yes/no variables, dates as dates) for every
randomised participant, in randomisation order per trial, with ``participant_id`` (the trial's
own, correct ID), ``delivery_row`` (1-based data row in the first delivery; missing for the
participants the first delivery lacks) and ``redelivery_row``. Variables a trial did not collect
are missing. ``truth/visits.parquet`` and ``truth/events.parquet`` hold the true long tables.
Planted problems are listed in ``truth/planted.yaml`` (see
:mod:`repository.example.problems`); everywhere else decoding a delivery with its codebook
gives exactly the truth.
"""

from repository.example.generate import (
    DEFAULT_SEED,
    OUTPUTS,
    ExampleTopic,
    TrialDelivery,
    check_options,
    create,
)
from repository.example.problems import PROBLEM_ORDER
from repository.example.topic import DERIVATIONS, TOPIC, VARIABLE_NAMES, VARIABLES, Variable

__all__ = [
    "create",
    "check_options",
    "ExampleTopic",
    "TrialDelivery",
    "DEFAULT_SEED",
    "OUTPUTS",
    "PROBLEM_ORDER",
    "TOPIC",
    "VARIABLES",
    "VARIABLE_NAMES",
    "DERIVATIONS",
    "Variable",
]
