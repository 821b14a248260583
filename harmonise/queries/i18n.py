"""The words of the query workbook, in the languages a trial may read it in (English, French).

A trial's workbook is written in its codebook's language (``Trial.language``) when we have the
words, in English otherwise; the hidden sheet records the language, so the answered workbook is
read back with the same headers. Response codes are accepted in any of the languages.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["LANGUAGES", "WORDS", "RESPONSE_WORDS", "words", "language"]

LANGUAGES = ("en", "fr")

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "sheet": "Queries",
        "instructions": "Instructions",
        "h_query": "Query",
        "h_participant": "Participant ID",
        "h_columns": "Your column(s)",
        "h_delivered": "Value(s) in your data",
        "h_question": "Question",
        "h_history": "Earlier answers and notes",
        "h_expected": "How to write a corrected value",
        "h_due": "Please answer by",
        "h_response": "Response (choose)",
        "h_corrected": "Corrected value",
        "h_comment": "Comment",
        "whole_trial": "(whole trial)",
        "several": "({n} participants: sheet {sheet})",
        "no_id": "(no ID: data row {row})",
        "blank": "(blank)",
        "also": "Because of this, also:",
        "you_sent": "{value} (you sent {sent}; corrected)",
        "list_hint": "on sheet {sheet}: one row per participant (Corrected value there); "
                     "choose the Response here. {columns}",
        "trial_hint": "a question about the whole trial: answer in Comment",
        "several_columns": "COLUMN=value; COLUMN=value, for the columns that change",
        "several_rows": "ROW=value for the row(s) that change, e.g. {example}",
        "history_response": "{date}: you answered {response}{value}{comment}",
        "history_reopen": "{date}: the curator asked again: {reason}",
        "history_auto": "{date}: the check still fails after the correction",
        "history_comment": "{date}: {author}: {comment}",
        "history_forward": "{date}: the curator: {comment}",
        "history_resolve": "{date}: accepted ({resolution})",
        "list_title": "Participants of query {query}",
        "list_intro": "Query {query}: {question}",
        "response_here": "Choose the Response for these participants on the {sheet} sheet, "
                         "row of query {query}.",
        "title": "Data queries for trial {trial}",
        "intro": "{n} question(s) about the data you sent for the {topic} individual "
                 "participant data meta-analysis. Sent on {when} by {by}. Please answer by "
                 "{due}.",
        "how": "How to answer",
        "responses": "Responses",
        "h_meaning": "What it means",
        "not_edit": "What not to edit",
    },
    "fr": {
        "sheet": "Questions",
        "instructions": "Instructions",
        "h_query": "Question n°",
        "h_participant": "Numéro patient",
        "h_columns": "Vos colonnes",
        "h_delivered": "Valeur(s) dans vos données",
        "h_question": "Question",
        "h_history": "Réponses et notes précédentes",
        "h_expected": "Comment écrire la valeur corrigée",
        "h_due": "À répondre avant le",
        "h_response": "Réponse (choisir)",
        "h_corrected": "Valeur corrigée",
        "h_comment": "Commentaire",
        "whole_trial": "(tout l'essai)",
        "several": "({n} patients : feuille {sheet})",
        "no_id": "(sans numéro : ligne {row})",
        "blank": "(vide)",
        "also": "En conséquence, aussi :",
        "you_sent": "{value} (vous aviez envoyé {sent} ; corrigé)",
        "list_hint": "sur la feuille {sheet} : une ligne par patient (Valeur corrigée là-bas) ; "
                     "choisissez la Réponse ici. {columns}",
        "trial_hint": "une question sur tout l'essai : répondez dans Commentaire",
        "several_columns": "COLONNE=valeur; COLONNE=valeur, pour les colonnes à corriger",
        "several_rows": "LIGNE=valeur pour la ou les lignes à corriger, par ex. {example}",
        "history_response": "{date} : vous avez répondu {response}{value}{comment}",
        "history_reopen": "{date} : le gestionnaire redemande : {reason}",
        "history_auto": "{date} : le contrôle échoue encore après la correction",
        "history_comment": "{date} : {author} : {comment}",
        "history_forward": "{date} : le gestionnaire : {comment}",
        "history_resolve": "{date} : accepté ({resolution})",
        "list_title": "Patients de la question {query}",
        "list_intro": "Question {query} : {question}",
        "response_here": "Choisissez la Réponse pour ces patients sur la feuille {sheet}, "
                         "ligne de la question {query}.",
        "title": "Questions sur les données de l'essai {trial}",
        "intro": "{n} question(s) sur les données envoyées pour la méta-analyse sur données "
                 "individuelles {topic}. Envoyé le {when} par {by}. Merci de répondre avant le "
                 "{due}.",
        "how": "Comment répondre",
        "responses": "Réponses",
        "h_meaning": "Signification",
        "not_edit": "Ce qu'il ne faut pas modifier",
    },
}

#: response code -> (label in the drop-down, what it means), per language
RESPONSE_WORDS: dict[str, dict[str, tuple[str, str]]] = {
    "en": {
        "typographical_error": ("Typographical error",
                                "The value was typed or transcribed wrongly. Write the right "
                                "value in Corrected value."),
        "data_missing": ("Data missing",
                         "The value is missing from the data you sent. If you found it, write "
                         "it in Corrected value; if it does not exist (not collected, lost), "
                         "leave Corrected value empty and say so in Comment."),
        "confirmed_correct": ("Confirmed correct",
                              "You checked the source (e.g. the case report form) and the value "
                              "you sent is right. Leave Corrected value empty."),
        "wrong_source": ("Wrong source",
                         "The value came from the wrong source document, visit or form. Write "
                         "the value from the right source in Corrected value if you have it; "
                         "say what happened in Comment."),
        "other": ("Other",
                  "None of the above (e.g. the value cannot be found any more). Explain in "
                  "Comment."),
    },
    "fr": {
        "typographical_error": ("Erreur de saisie",
                                "La valeur a été mal saisie ou mal recopiée. Écrivez la bonne "
                                "valeur dans Valeur corrigée."),
        "data_missing": ("Donnée manquante",
                         "La valeur manque dans les données envoyées. Si vous l'avez "
                         "retrouvée, écrivez-la dans Valeur corrigée ; si elle n'existe pas "
                         "(non recueillie, perdue), laissez Valeur corrigée vide et dites-le "
                         "dans Commentaire."),
        "confirmed_correct": ("Confirmée correcte",
                              "Vous avez vérifié la source (par exemple le cahier "
                              "d'observation) et la valeur envoyée est juste. Laissez Valeur "
                              "corrigée vide."),
        "wrong_source": ("Mauvaise source",
                         "La valeur vient du mauvais document, de la mauvaise visite ou du "
                         "mauvais formulaire. Écrivez la valeur de la bonne source dans Valeur "
                         "corrigée si vous l'avez ; expliquez dans Commentaire."),
        "other": ("Autre",
                  "Aucun des cas ci-dessus (par exemple la valeur est introuvable). Expliquez "
                  "dans Commentaire."),
    },
}

#: the numbered steps of the Instructions sheet, per language ({id_note}: the ID column)
STEPS: dict[str, tuple[str, ...]] = {
    "en": (
        "1. On the {sheet} sheet, each row is one question about your data: the participant by "
        "your own participant ID{id_note}, your own column name(s), the value(s) in your data "
        "now (after the corrections already accepted) and the question. What else fails "
        "because of the same value is listed under the question: one answer covers it all.",
        "2. In the yellow column Response, choose one answer from the list (see the table "
        "below).",
        "3. If a value was wrong or missing, write the right value in Corrected value, the way "
        "the column How to write a corrected value says (e.g. dates as DD/MM/YYYY if that is "
        "how your data write them; a code or its label for coded columns).",
        "4. If a question is about several of your columns, write each as COLUMN=value, "
        "separated by ';', e.g. SEX=2; AGE=64. Leave out columns that were right. To say a "
        "value should be empty, write COLUMN= with nothing after the =.",
        "5. A question about several participants lists them on a sheet of its own (named in "
        "the Participant ID column): write their corrected values there, one row per "
        "participant, and choose the Response on this question's row.",
        "6. Questions about the whole trial (Participant ID says (whole trial)) are answered "
        "in Comment.",
        "7. Leave a row empty if you cannot answer it yet: it stays open and comes back in the "
        "next workbook. You may send the workbook back with only some rows answered.",
        "8. Save the file as an Excel Workbook (.xlsx), under any name, and send it back. Do "
        "not save it as CSV: the answers could not be read back.",
    ),
    "fr": (
        "1. Sur la feuille {sheet}, chaque ligne est une question sur vos données : le patient "
        "par votre propre numéro{id_note}, vos noms de colonnes, la ou les valeurs actuelles "
        "de vos données (après les corrections déjà acceptées) et la question. Ce qui échoue "
        "aussi à cause de la même valeur est listé sous la question : une seule réponse "
        "couvre le tout.",
        "2. Dans la colonne jaune Réponse, choisissez une réponse dans la liste (voir le "
        "tableau ci-dessous).",
        "3. Si une valeur était fausse ou manquante, écrivez la bonne valeur dans Valeur "
        "corrigée, comme l'indique la colonne Comment écrire la valeur corrigée (par exemple "
        "les dates en JJ/MM/AAAA si vos données les écrivent ainsi ; un code ou son libellé "
        "pour les colonnes codées).",
        "4. Si une question porte sur plusieurs colonnes, écrivez chacune sous la forme "
        "COLONNE=valeur, séparées par ';', par exemple SEXE=2; AGE=64. Omettez les colonnes "
        "justes. Pour dire qu'une valeur doit être vide, écrivez COLONNE= sans rien après le =.",
        "5. Une question sur plusieurs patients les liste sur une feuille à part (nommée dans "
        "la colonne Numéro patient) : écrivez-y leurs valeurs corrigées, une ligne par "
        "patient, et choisissez la Réponse sur la ligne de la question.",
        "6. Les questions sur tout l'essai (Numéro patient indique (tout l'essai)) se "
        "répondent dans Commentaire.",
        "7. Laissez une ligne vide si vous ne pouvez pas encore y répondre : elle reste ouverte "
        "et reviendra dans le prochain classeur. Vous pouvez renvoyer le classeur avec "
        "seulement certaines lignes remplies.",
        "8. Enregistrez le fichier au format Classeur Excel (.xlsx), sous n'importe quel nom, "
        "et renvoyez-le. Ne l'enregistrez pas en CSV : les réponses ne pourraient pas être "
        "relues.",
    ),
}

#: the "what not to edit" paragraphs, per language
NOT_EDIT: dict[str, tuple[str, ...]] = {
    "en": (
        "The grey columns are protected: they are what we sent and are checked when the "
        "workbook comes back. Do not add, delete or reorder rows, and do not rename, hide or "
        "add sheets.",
        "When the workbook comes back, every row is checked before anything is recorded. If "
        "anything is wrong (a protected cell changed, a response not from the list, a "
        "corrected value that does not fit your column) we send you the list of problems and "
        "record nothing, so that no answer is half-recorded.",
        "Only the latest workbook we sent can be answered: an older one is refused.",
    ),
    "fr": (
        "Les colonnes grises sont protégées : c'est ce que nous avons envoyé, et elles sont "
        "vérifiées au retour du classeur. N'ajoutez, ne supprimez et ne déplacez pas de "
        "lignes ; ne renommez, ne masquez et n'ajoutez pas de feuilles.",
        "Au retour du classeur, chaque ligne est vérifiée avant tout enregistrement. Si quelque "
        "chose ne va pas (une cellule protégée modifiée, une réponse hors de la liste, une "
        "valeur corrigée qui ne convient pas à votre colonne), nous vous envoyons la liste des "
        "problèmes et rien n'est enregistré, pour qu'aucune réponse ne soit à moitié prise en "
        "compte.",
        "Seul le dernier classeur envoyé peut être rempli : un classeur plus ancien est refusé.",
    ),
}


def language(code: str | None) -> str:
    """The workbook language for a trial's language code (English when we have no words)."""
    text = (code or "en").strip().lower()[:2]
    return text if text in WORDS else "en"


def words(code: str | None) -> Mapping[str, str]:
    return WORDS[language(code)]
